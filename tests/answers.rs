//! Answer quality on the sample knowledge base's evaluation set: questions it answers must
//! get a grounded answer citing the right article; questions it does not answer must get an
//! honest "I don't know", never an invented answer.

use std::sync::Arc;
use warmline::open_knowledge;
use warmline::quality::{AnswerSet, evaluate_answers};
use warmline_dialog::{Dialog, DialogConfig};
use warmline_domain::Embedder;
use warmline_store::SqliteStore;

mod common;

async fn dialog(embedder: Option<Arc<dyn Embedder>>) -> Dialog {
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

async fn answer_quality(embedder: Option<Arc<dyn Embedder>>) {
    let text =
        std::fs::read_to_string(common::sample_knowledge().join("eval/questions.yaml")).unwrap();
    let set: AnswerSet = serde_saphyr::from_str(&text).unwrap();
    let dialog = dialog(embedder).await;
    let scores = evaluate_answers(&dialog, &set, None).await.unwrap();
    // Extractive answers quote one passage and cite it once.
    for (q, answer) in &scores.answers {
        assert!(
            answer.ends_with("[1]") || !answer.contains('['),
            "{q:?}: {answer}"
        );
    }
    let (accuracy, refusal_rate, honesty) =
        (scores.accuracy(), scores.refusal_rate(), scores.honesty());
    eprintln!(
        "answered with the right article: {accuracy:.3} ({}/{}); refused: {refusal_rate:.3}; \
         honest on unanswerable: {honesty:.3}\nwrong article:\n  {}\nrefused:\n  {}\ninvented:\n  {}",
        scores.right,
        scores.answerable,
        scores.wrong_article.join("\n  "),
        scores.refused.join("\n  "),
        scores.invented.join("\n  ")
    );
    assert!(accuracy >= 0.68, "right-article answers {accuracy:.3}");
    assert!(
        refusal_rate <= 0.25,
        "refused {refusal_rate:.3} of answerable questions"
    );
    assert!(
        honesty >= 0.90,
        "answered {} unanswerable questions",
        scores.invented.len()
    );
}
