//! Topics recognised by meaning when an embedder is configured.

use super::super::*;
use async_trait::async_trait;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use warmline_domain::{DomainError, Embedder};

fn say(text: &str) -> Decision {
    super::signals::detector().assess_phrases(&Context::new(text, Channel::Web))
}

/// Bag-of-words vectors: sentences sharing words are similar. Counts its calls.
#[derive(Default)]
struct Words {
    calls: AtomicUsize,
    fail: bool,
}

#[async_trait]
impl Embedder for Words {
    fn model_id(&self) -> &str {
        "words"
    }
    fn dimensions(&self) -> usize {
        256
    }
    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, DomainError> {
        self.embed_blocking(texts)
    }
    fn embed_blocking(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, DomainError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.fail {
            return Err(DomainError::unavailable("model down (test)"));
        }
        Ok(texts.iter().map(|t| bag(t)).collect())
    }
}

fn bag(text: &str) -> Vec<f32> {
    let mut v = vec![0.0f32; 256];
    for w in text
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 3)
    {
        let h = w
            .bytes()
            .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
        v[(h % 256) as usize] += 1.0;
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
    v.iter().map(|x| x / norm).collect()
}

#[tokio::test]
async fn with_an_embedder_topics_are_also_recognised_by_meaning_and_examples_embedded_once() {
    // No phrase covers this; it shares most words with a fraud example.
    let text = "there are charges on my account that nobody here made";
    assert!(!say(text).fired("high_stakes:fraud"));
    // The bag-of-words fake is cruder than a sentence model: accept a lower similarity.
    let text_policy = include_str!("../../../../../knowledge/policy/moments.toml");
    let edited = text_policy.replace("embedding_similarity = 0.80", "embedding_similarity = 0.6");
    assert_ne!(edited, text_policy);
    let policy = Policy::from_toml(&edited, "edited").unwrap();
    let words = Arc::new(Words::default());
    let detector = Detector::new(policy, Some(words.clone()));
    let d = detector.assess(&Context::new(text, Channel::Web)).await;
    assert!(d.escalate && d.fired("high_stakes:fraud"), "{d}");
    assert!(d.signals[0].detail.contains("similar to an example"), "{d}");
    detector
        .assess(&Context::new("what are your hours", Channel::Web))
        .await;
    // Once for the examples, once per message.
    assert_eq!(words.calls.load(Ordering::SeqCst), 3);
    // Hypotheticals don't count by meaning either.
    let d = detector
        .assess(&Context::new(
            format!("if {text}, what then?"),
            Channel::Web,
        ))
        .await;
    assert!(!d.fired("high_stakes:fraud"), "{d}");
}

#[tokio::test]
async fn a_failing_embedder_falls_back_to_phrases() {
    let detector = Detector::new(
        Policy::default(),
        Some(Arc::new(Words {
            fail: true,
            ..Words::default()
        })),
    );
    let d = detector
        .assess(&Context::new("someone used my card", Channel::Web))
        .await;
    assert!(d.escalate && d.fired("high_stakes:fraud"));
}
