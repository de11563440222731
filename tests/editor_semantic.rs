//! The editor's one-article publish and its draft preview with the real MiniLM embeddings:
//! a published article is found by meaning within a second, embedding only its own passages;
//! a draft preview is found by meaning while the live index stays as it was.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};
use warmline::open_knowledge;
use warmline_domain::{Channel, KnowledgeSearch, SearchQuery};
use warmline_retrieval::KnowledgeBase;
use warmline_retrieval::overlay::store_article;

const PARROTS: &str = "---\nid: parrot-food\ntitle: Food for pet birds\n---\n\n\
## Seed mixes\n\nOur aviary range has seed mixes for budgies, parrots and canaries.\n";

fn small_folder(dir: &Path) {
    for name in ["gift-cards.md", "refund-timing.md", "account-locked.md"] {
        std::fs::copy(
            common::sample_knowledge().join("articles").join(name),
            dir.join(name),
        )
        .unwrap();
    }
}

async fn top(kb: &KnowledgeBase, text: &str) -> (String, Option<f32>) {
    let hits = kb
        .search(&SearchQuery::customer(text, Channel::Web, 3))
        .await
        .unwrap()
        .hits;
    hits.first()
        .map(|h| (h.article_id.clone(), h.similarity))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_one_article_embeds_only_it_and_previews_leave_the_index_alone() {
    let folder = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    small_folder(folder.path());
    let kb = open_knowledge(
        folder.path(),
        Some(&data.path().join("index")),
        "",
        Some(common::embedder()),
    )
    .unwrap();
    tokio::task::block_in_place(|| kb.resync()).unwrap();
    let question = "what do you sell to feed my budgie?";
    assert_ne!(top(&kb, question).await.0, "parrot-food");

    // A draft preview finds it by meaning; the live base does not change.
    let draft = store_article("parrot-food", PARROTS).unwrap();
    let preview = tokio::task::block_in_place(|| kb.preview(draft.clone())).unwrap();
    let (id, similarity) = top(&preview, question).await;
    assert_eq!(id, "parrot-food");
    assert!(similarity.is_some_and(|s| s > 0.3), "{similarity:?}");
    assert_ne!(top(&kb, question).await.0, "parrot-food");

    // Publishing: one article indexed and embedded, searchable within a second.
    let started = Instant::now();
    let report = tokio::task::block_in_place(|| kb.apply("parrot-food", Some(draft))).unwrap();
    let took = started.elapsed();
    assert_eq!((report.added, report.updated, report.removed), (1, 0, 0));
    assert_eq!(report.unchanged, 3);
    assert_eq!(top(&kb, question).await.0, "parrot-food");
    assert!(took < Duration::from_secs(1), "publishing took {took:?}");
    println!("one article indexed and embedded in {took:?}");

    // Hiding it removes it (and the folder's articles stay).
    tokio::task::block_in_place(|| kb.apply("parrot-food", None)).unwrap();
    assert_ne!(top(&kb, question).await.0, "parrot-food");
    assert_eq!(
        top(&kb, "how long do refunds take to reach my card")
            .await
            .0,
        "refund-timing"
    );
}
