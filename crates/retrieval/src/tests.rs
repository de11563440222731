//! Retrieval over the sample knowledge base and over temporary folders: ranking, filters,
//! typos, incremental sync and live reindex.

use super::*;
use serde::Deserialize;
use std::time::{Duration, Instant};
use warmline_domain::{Audience, Channel};

pub(crate) fn sample_knowledge() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../knowledge")
}

fn sample_index() -> KnowledgeIndex {
    let index = KnowledgeIndex::in_ram("http://kb.test").unwrap();
    let loaded = load_dir(&sample_knowledge()).unwrap();
    index.sync(loaded, &mut |_, _| {}).unwrap();
    index
}

#[derive(Deserialize)]
struct Eval {
    answerable: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    q: String,
    article: String,
}

fn top_articles(index: &KnowledgeIndex, q: &str, channel: Channel, n: usize) -> Vec<String> {
    let hits = index
        .search(&SearchQuery::customer(q, channel, 10))
        .unwrap()
        .hits;
    let mut ids: Vec<String> = Vec::new();
    for hit in hits {
        if !ids.contains(&hit.article_id) {
            ids.push(hit.article_id);
        }
    }
    ids.truncate(n);
    ids
}

#[test]
fn the_sample_knowledge_base_loads_cleanly() {
    let loaded = load_dir(&sample_knowledge()).unwrap();
    assert!(loaded.problems.is_empty(), "{:#?}", loaded.problems);
    let published = loaded
        .articles
        .iter()
        .filter(|a| a.status == Status::Published)
        .count();
    assert!(published >= 40, "only {published} published articles");
}

#[test]
fn each_eval_question_finds_its_article() {
    let index = sample_index();
    let text = std::fs::read_to_string(sample_knowledge().join("eval/questions.yaml")).unwrap();
    let eval: Eval = serde_saphyr::from_str(&text).unwrap();
    let (mut top1, mut top3) = (0, 0);
    let mut misses = Vec::new();
    for case in &eval.answerable {
        let found = top_articles(&index, &case.q, Channel::Web, 3);
        if found.first() == Some(&case.article) {
            top1 += 1;
        }
        if found.contains(&case.article) {
            top3 += 1;
        } else {
            misses.push(format!("{:?} → {found:?}, wanted {}", case.q, case.article));
        }
    }
    let n = eval.answerable.len() as f32;
    let (p1, p3) = (top1 as f32 / n, top3 as f32 / n);
    eprintln!(
        "hit@1 {p1:.3} hit@3 {p3:.3} over {n} questions; misses:\n{}",
        misses.join("\n")
    );
    assert!(p1 >= 0.75, "hit@1 {p1:.3}");
    assert!(p3 >= 0.93, "hit@3 {p3:.3}");
}

#[test]
fn typos_are_corrected_to_words_the_knowledge_base_uses() {
    let index = sample_index();
    let result = index
        .search(&SearchQuery::customer(
            "how long does a refnud take",
            Channel::Web,
            5,
        ))
        .unwrap();
    let refund = result
        .terms
        .iter()
        .find(|t| t.original == "refnud")
        .unwrap();
    assert_eq!(refund.term, "refund");
    assert!(refund.known);
    assert_eq!(result.hits[0].article_id, "refund-timing");
    // Unknown words stay unknown and weigh the most.
    let result = index
        .search(&SearchQuery::customer("zebra refund", Channel::Web, 5))
        .unwrap();
    let zebra = &result.terms[0];
    assert!(!zebra.known);
    assert!(zebra.idf > result.terms[1].idf);
}

#[test]
fn drafts_and_agent_guidance_are_not_shown_to_customers() {
    let index = sample_index();
    let catalog = index.catalog();
    let hidden: Vec<&Article> = catalog
        .articles
        .values()
        .filter(|a| a.status == Status::Draft || a.audience == Audience::Agent)
        .collect();
    assert!(!hidden.is_empty());
    for article in hidden {
        let found = top_articles(&index, &article.title, Channel::Web, 10);
        assert!(!found.contains(&article.id), "{} leaked", article.id);
    }
    let agent_only = catalog
        .articles
        .values()
        .find(|a| a.audience == Audience::Agent && a.status == Status::Published)
        .unwrap();
    let mut q = SearchQuery::customer(agent_only.title.clone(), Channel::Web, 5);
    q.audience = Audience::Agent;
    let hits = index.search(&q).unwrap().hits;
    assert!(hits.iter().any(|h| h.article_id == agent_only.id));
}

#[test]
fn channel_restricted_articles_appear_only_on_their_channels() {
    let index = sample_index();
    let catalog = index.catalog();
    let restricted = catalog
        .articles
        .values()
        .find(|a| !a.channels.is_empty() && a.status == Status::Published)
        .expect("the sample has a channel-restricted article");
    let allowed = restricted.channels[0];
    let refused = Channel::ALL
        .into_iter()
        .find(|c| !restricted.on_channel(*c))
        .unwrap();
    assert!(top_articles(&index, &restricted.title, allowed, 3).contains(&restricted.id));
    assert!(!top_articles(&index, &restricted.title, refused, 10).contains(&restricted.id));
}

#[test]
fn hits_carry_urls_titles_and_highlighted_snippets() {
    let index = sample_index();
    let mut q = SearchQuery::customer("store opening hours", Channel::Web, 3);
    q.snippets = true;
    let hit = &index.search(&q).unwrap().hits[0];
    assert_eq!(hit.article_id, "store-hours");
    assert_eq!(hit.url, "http://kb.test/kb/store-hours");
    assert!(!hit.title.is_empty() && !hit.text.is_empty());
    assert!(hit.snippet.contains("<b>"), "{}", hit.snippet);
}

#[test]
fn a_question_without_known_words_finds_nothing() {
    let index = sample_index();
    let result = index
        .search(&SearchQuery::customer("xylophone quasar", Channel::Web, 5))
        .unwrap();
    assert!(result.hits.is_empty());
    assert!(result.terms.iter().all(|t| !t.known));
    assert!(
        index
            .search(&SearchQuery::customer("   ", Channel::Web, 5))
            .unwrap()
            .hits
            .is_empty()
    );
}

fn article(id: &str, body: &str) -> String {
    format!("---\nid: {id}\ntitle: Article {id}\n---\n{body}\n")
}

fn write(dir: &Path, name: &str, content: &str) {
    std::fs::create_dir_all(dir.join("articles")).unwrap();
    std::fs::write(dir.join("articles").join(name), content).unwrap();
}

#[test]
fn sync_is_incremental_and_persisted() {
    let kb = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    write(
        kb.path(),
        "a.md",
        &article("a", "Parcels travel by pigeon."),
    );
    write(
        kb.path(),
        "b.md",
        &article("b", "Refunds arrive by carrier owl."),
    );
    write(kb.path(), "c.md", &article("c", "Stores open at dawn."));

    let index = KnowledgeIndex::open(data.path(), "").unwrap();
    let first = index
        .sync(load_dir(kb.path()).unwrap(), &mut |_, _| {})
        .unwrap();
    assert_eq!((first.added, first.updated, first.removed), (3, 0, 0));

    write(
        kb.path(),
        "b.md",
        &article("b", "Refunds arrive by dragon."),
    );
    std::fs::remove_file(kb.path().join("articles/c.md")).unwrap();
    let mut progress = Vec::new();
    let second = index
        .sync(load_dir(kb.path()).unwrap(), &mut |d, t| {
            progress.push((d, t))
        })
        .unwrap();
    assert_eq!(
        (
            second.added,
            second.updated,
            second.removed,
            second.unchanged
        ),
        (0, 1, 1, 1)
    );
    assert_eq!(progress, [(1, 1)], "only the changed article is re-indexed");
    let q = |text: &str| SearchQuery::customer(text, Channel::Web, 5);
    assert!(index.search(&q("owl")).unwrap().hits.is_empty());
    assert_eq!(index.search(&q("dragon")).unwrap().hits[0].article_id, "b");
    assert!(index.search(&q("dawn")).unwrap().hits.is_empty());
    drop(index);

    let reopened = KnowledgeIndex::open(data.path(), "").unwrap();
    let third = reopened
        .sync(load_dir(kb.path()).unwrap(), &mut |_, _| {})
        .unwrap();
    assert!(!third.changed(), "{third:?}");
    assert_eq!(
        reopened.search(&q("pigeon")).unwrap().hits[0].article_id,
        "a"
    );
    assert_eq!(reopened.passage_count(), 2);
}

#[test]
fn a_second_process_on_the_same_index_is_refused_clearly() {
    let data = tempfile::tempdir().unwrap();
    let _first = KnowledgeIndex::open(data.path(), "").unwrap();
    let err = KnowledgeIndex::open(data.path(), "").err().unwrap();
    assert!(matches!(err, RetrievalError::Locked { .. }), "{err}");
    assert!(err.to_string().contains("--data-dir"));
}

#[test]
fn edits_reach_the_index_without_restart() {
    let kb = tempfile::tempdir().unwrap();
    write(
        kb.path(),
        "a.md",
        &article("a", "Parcels travel by pigeon."),
    );
    let index = KnowledgeIndex::in_ram("").unwrap();
    let base = KnowledgeBase::new(index, kb.path());
    base.resync().unwrap();
    let _watch = watch::watch(base.clone(), |r| {
        r.unwrap();
    })
    .unwrap();

    write(kb.path(), "b.md", &article("b", "Gift wrap costs a smile."));
    let q = SearchQuery::customer("gift wrap", Channel::Web, 5);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let hits = base.index().search(&q).unwrap().hits;
        if hits.first().is_some_and(|h| h.article_id == "b") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new article was never indexed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
