//! Answer quality on the sample knowledge base's evaluation set: questions it answers must
//! get a grounded answer citing the right article; questions it does not answer must get an
//! honest "I don't know", never an invented answer.

use serde::Deserialize;
use std::sync::Arc;
use warmline::open_knowledge;
use warmline_dialog::{Dialog, DialogConfig, Start};
use warmline_domain::{Channel, ReplyKind};
use warmline_store::SqliteStore;

mod common;

#[derive(Deserialize)]
struct Eval {
    answerable: Vec<Case>,
    unanswerable: Vec<String>,
}

#[derive(Deserialize)]
struct Case {
    q: String,
    article: String,
}

async fn dialog(embedder: Option<std::sync::Arc<dyn warmline_domain::Embedder>>) -> Dialog {
    let knowledge = common::sample_knowledge();
    let kb = open_knowledge(&knowledge, None, "", embedder).unwrap();
    tokio::task::block_in_place(|| kb.resync()).unwrap();
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    Dialog::new(store, Arc::new(kb), DialogConfig::default())
}

#[tokio::test(flavor = "multi_thread")]
async fn grounded_answers_on_the_evaluation_set() {
    answer_quality(None).await;
}

/// The same floors with hybrid retrieval (what `serve` uses once the embedding model is
/// fetched).
#[tokio::test(flavor = "multi_thread")]
async fn grounded_answers_with_hybrid_retrieval() {
    answer_quality(Some(common::embedder())).await;
}

async fn answer_quality(embedder: Option<std::sync::Arc<dyn warmline_domain::Embedder>>) {
    let text =
        std::fs::read_to_string(common::sample_knowledge().join("eval/questions.yaml")).unwrap();
    let eval: Eval = serde_saphyr::from_str(&text).unwrap();
    let dialog = dialog(embedder).await;
    let conversation = dialog
        .start(Start {
            channel: Channel::Web,
            ..Start::default()
        })
        .await
        .unwrap();

    let (mut right, mut wrong_article, mut refused) = (0, Vec::new(), Vec::new());
    for case in &eval.answerable {
        let reply = dialog.answer(&conversation, &case.q).await.unwrap();
        match reply.kind {
            ReplyKind::Answer if reply.citations[0].article_id == case.article => right += 1,
            ReplyKind::Answer => wrong_article.push(format!(
                "{:?} cited {}, wanted {}",
                case.q, reply.citations[0].article_id, case.article
            )),
            ReplyKind::NoAnswer => {
                refused.push(format!("{:?} (support {:.2})", case.q, reply.support))
            }
        }
        if reply.kind == ReplyKind::Answer {
            assert!(reply.text.ends_with("[1]"), "{}", reply.text);
            assert!(!reply.citations[0].passage.is_empty());
        }
    }
    let mut invented = Vec::new();
    for q in &eval.unanswerable {
        let reply = dialog.answer(&conversation, q).await.unwrap();
        if reply.kind == ReplyKind::Answer {
            invented.push(format!("{q:?} → {}", reply.citations[0].article_id));
        } else {
            assert!(reply.citations.is_empty());
        }
    }
    let n = eval.answerable.len() as f32;
    let accuracy = right as f32 / n;
    let refusal_rate = refused.len() as f32 / n;
    let honesty = 1.0 - invented.len() as f32 / eval.unanswerable.len() as f32;
    eprintln!(
        "answered with the right article: {accuracy:.3} ({right}/{n}); refused: {refusal_rate:.3}; \
         honest on unanswerable: {honesty:.3}\nwrong article:\n  {}\nrefused:\n  {}\ninvented:\n  {}",
        wrong_article.join("\n  "),
        refused.join("\n  "),
        invented.join("\n  ")
    );
    assert!(accuracy >= 0.68, "right-article answers {accuracy:.3}");
    assert!(
        refusal_rate <= 0.25,
        "refused {refusal_rate:.3} of answerable questions"
    );
    assert!(
        honesty >= 0.90,
        "answered {} unanswerable questions",
        invented.len()
    );
}
