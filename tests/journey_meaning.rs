//! Starting a journey by meaning (real MiniLM): customers who ask for a task in words no
//! trigger phrase covers can still get the journey, and questions about the same topics still
//! get answers (no question may start a journey). Needs the default models (`scripts/test`
//! fetches them).

mod common;

use std::path::Path;
use warmline_dialog::journey::Library;
use warmline_dialog::journey::similar::{Examples, MIN_SIMILARITY};

/// Asked in words the sample journeys' trigger phrases miss.
const ASKING_FOR_A_TASK: &[(&str, &str)] = &[
    ("my delivery is late, any news?", "order-status"),
    (
        "I ordered a lamp last week and nothing has shown up",
        "order-status",
    ),
    ("has anything been shipped to me yet", "order-status"),
    ("I'd like to send back the jumper I got", "return-item"),
    (
        "the dress is too small so I'm bringing it back",
        "return-item",
    ),
    ("my juniper card has disappeared", "lost-card"),
    ("I dropped my credit card somewhere in town", "lost-card"),
    (
        "I'm moving house, can the parcel go to my new flat",
        "change-address",
    ),
    ("ship it to my work address please", "change-address"),
];

/// Knowledge questions on the same topics: these must not start a journey.
const QUESTIONS: &[&str] = &[
    "How long do refunds take?",
    "How long do I have to return an item?",
    "Can I return something without a receipt?",
    "What is your return policy for electronics?",
    "Do you ship to Canada?",
    "How much does shipping cost?",
    "What happens if my parcel is lost?",
    "How do I reset my password?",
    "What are your store hours?",
    "How do I pay my Juniper Pay bill?",
    "What is the interest rate on the Juniper Pay card?",
    "Can I change my order after placing it?",
    "Do you price match?",
    "How do gift cards work?",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_asking_for_a_task_in_other_words_get_the_journey() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge/journeys");
    let (library, errors) = Library::load_dir(&dir);
    assert!(errors.is_empty(), "{errors:?}");
    let embedder = common::embedder();
    let examples = Examples::new(embedder.clone());
    let texts: Vec<String> = ASKING_FOR_A_TASK
        .iter()
        .map(|(t, _)| (*t).to_owned())
        .chain(QUESTIONS.iter().map(|q| (*q).to_owned()))
        .collect();
    let vectors = embedder.embed(texts).await.unwrap();
    let mut found = 0;
    for ((text, want), v) in ASKING_FOR_A_TASK.iter().zip(&vectors) {
        assert!(
            library.triggered_by(text).is_none(),
            "a trigger phrase matches {text:?}"
        );
        let got = examples.closest(&library, v).await.map(|j| j.id.clone());
        assert!(
            got.is_none() || got.as_deref() == Some(*want),
            "{text:?} -> {got:?}"
        );
        found += usize::from(got.as_deref() == Some(*want));
    }
    for (q, v) in QUESTIONS.iter().zip(&vectors[ASKING_FOR_A_TASK.len()..]) {
        let got = examples.closest(&library, v).await.map(|j| j.id.clone());
        assert!(
            got.is_none(),
            "the question {q:?} started {got:?} (threshold {MIN_SIMILARITY})"
        );
    }
    // Measured: 2 of 9 (the rest score 0.40–0.69, below questions' 0.75; see MIN_SIMILARITY).
    assert!(
        found >= 2,
        "only {found} of {} found",
        ASKING_FOR_A_TASK.len()
    );
}
