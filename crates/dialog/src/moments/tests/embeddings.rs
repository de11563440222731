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
    // The bag-of-words fake is cruder than a sentence model: nearest example, with a lower
    // similarity.
    let text_policy = include_str!("../../../../../knowledge/policy/moments.toml");
    let edited = text_policy
        .replace("method = \"classifier\"", "method = \"nearest\"")
        .replace("embedding_similarity = 0.50", "embedding_similarity = 0.6");
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
    // The examples once (in batches of 64), then once per message.
    let batches = detector.policy().meaning.sentences().len().div_ceil(64);
    assert!(batches > 1, "{batches}");
    assert_eq!(words.calls.load(Ordering::SeqCst), batches + 2);
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

/// A policy whose only meaning examples are the given ones (phrases as shipped), matched by
/// nearest example with `margin`.
fn with_examples(explicit: &[&str], fraud: &[&str], near: &[&str], margin: f32) -> Policy {
    Policy::from_toml(
        &examples_policy(
            explicit,
            fraud,
            near,
            &format!("method = \"nearest\"\nembedding_margin = {margin}"),
        ),
        "test",
    )
    .unwrap()
}

/// The text of such a policy, with `method` lines in `[matching]`.
fn examples_policy(explicit: &[&str], fraud: &[&str], near: &[&str], method: &str) -> String {
    let list = |xs: &[&str]| {
        xs.iter()
            .map(|x| format!("{x:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        r#"
[decision]
threshold = 1.0
always = ["explicit_request", "high_stakes:fraud"]
[weights]
explicit_request = 1.5
frustration = 1.0
frustration_mild = 0.7
repeated_failure = 1.0
rephrased_question = 1.0
rephrased_after_answer = 0.6
experience_critical = 0.5
experience_critical_failure = 1.0
channel_rule = 1.0
[frustration]
turns = 3
burst = 1.3
burst_cues = 2
rising = 0.8
mild = 0.4
[explicit]
exemplars = [{}]
[repeat]
no_answers = 2
step_failures = 2
similarity = 0.6
lookback = 3
[matching]
hypothetical = ["if"]
hypothetical_window = 3
embedding_similarity = 0.3
{method}
near_misses = [{}]
[[topics]]
name = "fraud"
weight = 2.0
exemplars = [{}]
[hours]
utc_offset = "+00:00"
[[hours.open]]
days = ["mon"]
from = "08:00"
to = "09:00"
"#,
        list(explicit),
        list(near),
        list(fraud)
    )
}

#[tokio::test]
async fn near_misses_keep_routine_questions_from_a_kind_and_asks_for_a_person_count_by_meaning() {
    let fraud = ["strange purchases appeared on my juniper statement"];
    let near = ["which purchases appear on my juniper statement first"];
    let ask = ["wants proper handling upstairs pronto"];
    let policy = |margin| with_examples(&ask, &fraud, &near, margin);
    let words = Arc::new(Words::default());
    let detector = Detector::new(policy(0.0), Some(words.clone()));
    // Closest to the fraud example: fires by meaning (no phrase has these words).
    let d = detector
        .assess(&Context::new(
            "strange purchases on statement appeared",
            Channel::Web,
        ))
        .await;
    assert!(d.fired("high_stakes:fraud"), "{d}");
    // Closer to the near miss than to the example: routine.
    let routine = "which purchases appear first on the statement";
    let d = detector.assess(&Context::new(routine, Channel::Web)).await;
    assert!(!d.escalate, "{d}");
    // An ask for a person in words no phrase has, recognised by meaning, even after "if".
    let d = detector
        .assess(&Context::new(
            "if possible, proper handling upstairs pronto",
            Channel::Web,
        ))
        .await;
    assert!(d.escalate && d.fired("explicit_request"), "{d}");
    assert!(d.signals[0].detail.contains("similar to an example"), "{d}");
    // A margin: a message about as close to the near miss as to the example is routine.
    let detector = Detector::new(policy(0.5), Some(words));
    let d = detector
        .assess(&Context::new(
            "strange purchases on statement appeared",
            Channel::Web,
        ))
        .await;
    assert!(!d.fired("high_stakes:fraud"), "{d}");
}

#[tokio::test]
async fn meaning_does_not_report_a_topic_its_phrases_tell_as_settled_or_in_another_sense() {
    let fraud = ["strange purchases appeared on my juniper statement"];
    let near = ["which stores open early on sunday"];
    let method = "method = \"nearest\"\nsettled = [\"refund =worked\"]";
    let text = examples_policy(&[], &fraud, &near, method).replace(
        "name = \"fraud\"\nweight = 2.0\n",
        "name = \"fraud\"\nweight = 2.0\nphrases = [\"strange purchases\"]\nexcept = [\"sister s strange\"]\n",
    );
    let detector = Detector::new(
        Policy::from_toml(&text, "test").unwrap(),
        Some(Arc::new(Words::default())),
    );
    let fires = |text: &'static str| {
        let detector = &detector;
        async move {
            detector
                .assess(&Context::new(text, Channel::Web))
                .await
                .fired("high_stakes:fraud")
        }
    };
    // By phrase, and by meaning alone (the phrase's words apart).
    assert!(fires("strange purchases appeared on my juniper statement").await);
    assert!(fires("purchases appeared strange on my juniper statement").await);
    // The exception reads the words in another sense; settled words follow the phrase.
    assert!(!fires("my sister's strange purchases appeared on my juniper statement").await);
    assert!(
        !fires("strange purchases appeared on my juniper statement but the refund worked").await
    );
    // Settled words before the phrase don't settle it.
    assert!(
        fires("the refund worked before, now strange purchases appeared on my juniper statement")
            .await
    );
}

#[test]
fn a_bad_margin_or_an_empty_example_is_refused_with_its_field() {
    let text = include_str!("../../../../../knowledge/policy/moments.toml");
    for (from, to, field) in [
        (
            "method = \"classifier\"",
            "method = \"nearest\"\nembedding_margin = 1.5",
            "matching.embedding_margin",
        ),
        ("confidence = 0.", "confidence = 1.", "matching.confidence"),
        (
            "exemplars = [\n    \"get me a human\",",
            "exemplars = [\n    \" \",",
            "explicit.exemplars[0]",
        ),
    ] {
        let edited = text.replace(from, to);
        assert_ne!(edited, text, "{from}");
        let err = Policy::from_toml(&edited, "edited")
            .unwrap_err()
            .to_string();
        assert!(err.contains(field), "{err}");
    }
}

/// The fewest examples per kind the classifier takes.
const FEW_ASKS: [&str; 3] = [
    "put me through to someone",
    "a human please",
    "can i speak to staff",
];
const FEW_FRAUD: [&str; 3] = [
    "charges i never made",
    "my card was stolen",
    "someone is in my account",
];

#[test]
fn the_classifier_needs_near_misses_and_enough_examples_per_kind() {
    let (asks, fraud) = (FEW_ASKS, FEW_FRAUD);
    let classifier = "method = \"classifier\"\nconfidence = 0.8";
    let err = |explicit: &[&str], fraud: &[&str], near: &[&str]| {
        Policy::from_toml(&examples_policy(explicit, fraud, near, classifier), "test")
            .err()
            .map(|e| e.to_string())
    };
    let one = ["where is my order"];
    let msg = err(&asks, &fraud, &one).expect("one near miss is too few");
    assert!(
        msg.contains("matching.near_misses") && msg.contains("at least 20"),
        "{msg}"
    );
    let many = ["where is my order"; 20];
    assert_eq!(err(&asks, &fraud, &many), None);
    let msg = err(&asks, &fraud[..1], &many).expect("one fraud example is too few");
    assert!(msg.contains("topics.fraud.exemplars"), "{msg}");
    assert!(
        msg.contains("method \"nearest\""),
        "names the way out: {msg}"
    );
}

#[tokio::test]
async fn the_classifier_recognises_a_kind_by_meaning_and_keeps_routine_questions_out() {
    let asks = [
        "want proper handling upstairs pronto",
        "escalate upstairs to proper staff",
        "proper staff handling wanted pronto",
    ];
    let fraud = [
        "strange purchases appeared on my juniper statement",
        "unknown purchases showed on statement",
        "statement shows purchases i never made",
    ];
    let near: Vec<String> = (0..24)
        .map(|i| {
            format!(
                "which purchases appear on my juniper statement first {}",
                ["delivery", "returns", "sizes", "colours"][i % 4]
            )
        })
        .collect();
    let near: Vec<&str> = near.iter().map(String::as_str).collect();
    let policy = Policy::from_toml(
        &examples_policy(
            &asks,
            &fraud,
            &near,
            "method = \"classifier\"\nconfidence = 0.6",
        ),
        "test",
    )
    .unwrap();
    let detector = Detector::new(policy, Some(Arc::new(Words::default())));
    let d = detector
        .assess(&Context::new(
            "strange unknown purchases never made",
            Channel::Web,
        ))
        .await;
    assert!(d.fired("high_stakes:fraud"), "{d}");
    assert!(
        d.signals
            .iter()
            .any(|s| s.detail.contains("recognised by meaning")),
        "{d}"
    );
    let d = detector
        .assess(&Context::new(
            "which purchases appear first on the statement",
            Channel::Web,
        ))
        .await;
    assert!(!d.escalate, "{d}");
    let d = detector
        .assess(&Context::new("proper staff upstairs pronto", Channel::Web))
        .await;
    assert!(d.fired("explicit_request"), "{d}");
}

/// One vector for every sentence: only the words can tell them apart.
struct Flat;

#[async_trait]
impl Embedder for Flat {
    fn model_id(&self) -> &str {
        "flat"
    }
    fn dimensions(&self) -> usize {
        2
    }
    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, DomainError> {
        self.embed_blocking(texts)
    }
    fn embed_blocking(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, DomainError> {
        Ok(texts.iter().map(|_| vec![1.0, 0.0]).collect())
    }
}

/// Asks for a person and examples of a hacked account, for the classifier tests below.
const ASKS: [&str; 3] = ["a human please", "a human now", "put a human on"];
const HACKED: [&str; 3] = [
    "someone hacked my account and ordered a tv",
    "my account was hacked last night",
    "hacked account, orders i never placed",
];

/// 24 near misses: `template` with `{n}` numbered and `{thing}` a tv or a sofa.
fn numbered(template: &str) -> Vec<String> {
    (0..24)
        .map(|i| {
            template
                .replace("{n}", &i.to_string())
                .replace("{thing}", ["tv", "sofa"][i % 2])
        })
        .collect()
}

#[tokio::test]
async fn the_classifier_reads_the_words_of_the_message_unless_told_not_to() {
    let near = numbered("where is my order number {n}, the {thing} one");
    let near: Vec<&str> = near.iter().map(String::as_str).collect();
    let message = Context::new("i think my account got hacked", Channel::Web);
    for (words, fires) in [("true", true), ("false", false)] {
        let method = format!("method = \"classifier\"\nconfidence = 0.6\nwords = {words}");
        let policy =
            Policy::from_toml(&examples_policy(&ASKS, &HACKED, &near, &method), "test").unwrap();
        let detector = Detector::new(policy, Some(Arc::new(Flat)));
        let d = detector.assess(&message).await;
        assert_eq!(d.fired("high_stakes:fraud"), fires, "words = {words}: {d}");
        let d = detector
            .assess(&Context::new("where is my sofa order", Channel::Web))
            .await;
        assert!(!d.escalate, "words = {words}: {d}");
    }
}

#[tokio::test]
async fn a_classifier_sure_of_routine_overrules_a_topic_phrase_only_with_a_veto() {
    let near = numbered(
        "my account was hacked years ago, all sorted since, where is my {thing} order {n}",
    );
    let near: Vec<&str> = near.iter().map(String::as_str).collect();
    // Told as the past and settled: the phrase "hacked" matches, the classifier says routine.
    let settled = Context::new(
        "my account was hacked years ago, all sorted since, where is my sofa order",
        Channel::Web,
    );
    let now = Context::new("hacked account, someone ordered a tv", Channel::Web);
    for (veto, fires) in [("", true), ("veto = 0.9", false)] {
        let method = format!("method = \"classifier\"\nconfidence = 0.6\n{veto}");
        let text = examples_policy(&ASKS, &HACKED, &near, &method).replace(
            "name = \"fraud\"\nweight = 2.0\n",
            "name = \"fraud\"\nweight = 2.0\nphrases = [\"hacked\"]\n",
        );
        let policy = Policy::from_toml(&text, "test").unwrap();
        let detector = Detector::new(policy, Some(Arc::new(Words::default())));
        let d = detector.assess(&settled).await;
        assert_eq!(d.fired("high_stakes:fraud"), fires, "{veto:?}: {d}");
        // Phrases alone (no model) always count.
        assert!(detector.assess_phrases(&settled).fired("high_stakes:fraud"));
        let d = detector.assess(&now).await;
        assert!(d.fired("high_stakes:fraud"), "{veto:?}: {d}");
    }
    let bad = examples_policy(&ASKS, &HACKED, &near, "method = \"classifier\"\nveto = 1.5");
    let err = Policy::from_toml(&bad, "test").unwrap_err().to_string();
    assert!(err.contains("matching.veto"), "{err}");
}

#[tokio::test]
async fn a_restart_embeds_only_the_examples_the_policy_added() {
    let dir = tempfile::tempdir().unwrap();
    let (asks, fraud) = (FEW_ASKS, FEW_FRAUD);
    let near: Vec<String> = (0..24)
        .map(|i| format!("where is my order number {i}"))
        .collect();
    let near: Vec<&str> = near.iter().map(String::as_str).collect();
    let text = examples_policy(&asks, &fraud, &near, "method = \"classifier\"");
    let start = |text: &str| {
        let words = Arc::new(Words::default());
        let detector = Detector::new(
            Policy::from_toml(text, "test").unwrap(),
            Some(words.clone()),
        )
        .with_example_cache(dir.path());
        (detector, words)
    };
    let (first, words) = start(&text);
    first.warm_up().await.unwrap();
    assert_eq!(
        words.calls.load(Ordering::SeqCst),
        1,
        "30 sentences: one batch"
    );
    let said = Context::new("there are charges i never made on my card", Channel::Web);
    let before = first.assess(&said).await;
    // The file is written in the background.
    let file = dir.path().join("moments-words.bin");
    for _ in 0..100 {
        if file.exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(file.exists());

    let (again, words) = start(&text);
    again.warm_up().await.unwrap();
    assert_eq!(
        words.calls.load(Ordering::SeqCst),
        0,
        "every vector came from the file"
    );
    assert_eq!(again.assess(&said).await.to_string(), before.to_string());

    // One more example: only it is embedded.
    let edited = text.replace(
        "\"my card was stolen\"",
        "\"my card was stolen\", \"a stranger bought things with my card\"",
    );
    assert_ne!(edited, text);
    let (edited, words) = start(&edited);
    edited.warm_up().await.unwrap();
    assert_eq!(words.calls.load(Ordering::SeqCst), 1);
}
