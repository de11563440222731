//! High-stakes topics (fraud, bereavement, legal threats...): phrases from the policy file,
//! and optionally closeness in meaning to the topic's example sentences when an embedder is
//! configured. A phrase inside a hypothetical ("if I cancel Plus, do I keep my points?") is
//! a question about the topic, not the topic happening, and doesn't count.

use super::super::pattern::{Classes, Pattern};
use super::super::policy::raw::{RawMatching, RawTopic};
use super::super::text::Token;
use super::{compile_all, span_before, spans_of, spans_without};

#[derive(Debug, Clone)]
pub(crate) struct Topic {
    pub name: String,
    pub weight: f32,
    phrases: Vec<Pattern>,
    except: Vec<Pattern>,
    /// Example sentences for embedding similarity (none: phrases only).
    pub exemplars: Vec<String>,
    /// Routine sentences close to the topic (see [`super::meaning`]).
    pub near_misses: Vec<String>,
    /// Least cosine similarity to an example that counts.
    pub similarity: f32,
}

#[derive(Debug, Clone)]
pub(crate) struct TopicRules {
    pub topics: Vec<Topic>,
    hypothetical: Vec<Pattern>,
    window: usize,
    negation: Vec<Pattern>,
    negation_window: usize,
    settled: Vec<Pattern>,
}

/// What a message's phrases say of the topics (see [`TopicRules::told`]).
#[derive(Debug, Default)]
pub(crate) struct Told {
    /// Topics (by index) a phrase reports.
    pub reported: Vec<usize>,
    /// Topics (by index) meaning must not report: told as settled, or excepted.
    pub quiet: Vec<usize>,
}

/// How a topic was recognised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Hit {
    Phrase,
    /// Cosine similarity to the closest example.
    Meaning(f32),
}

impl TopicRules {
    pub(crate) fn build(
        raw: &[RawTopic],
        matching: &RawMatching,
        classes: &Classes,
    ) -> Result<Self, (String, String)> {
        if !(matching.embedding_similarity > 0.0 && matching.embedding_similarity <= 1.0) {
            return Err((
                "matching.embedding_similarity".into(),
                format!("{} is out of range (0, 1]", matching.embedding_similarity),
            ));
        }
        if matching.hypothetical_window > 10 {
            return Err((
                "matching.hypothetical_window".into(),
                format!("{} is out of range 0..=10", matching.hypothetical_window),
            ));
        }
        if matching.negation_window > 10 {
            return Err((
                "matching.negation_window".into(),
                format!("{} is out of range 0..=10", matching.negation_window),
            ));
        }
        let mut topics: Vec<Topic> = Vec::new();
        for (i, t) in raw.iter().enumerate() {
            let f = |name: &str| format!("topics[{i}].{name}");
            if !is_name(&t.name) {
                return Err((
                    f("name"),
                    format!("{:?} must be lower case letters, digits and _", t.name),
                ));
            }
            if topics.iter().any(|o| o.name == t.name) {
                return Err((f("name"), format!("topic {:?} is defined twice", t.name)));
            }
            if !(0.0..=10.0).contains(&t.weight) {
                return Err((
                    f("weight"),
                    format!("{} is out of range 0..=10 (topic {})", t.weight, t.name),
                ));
            }
            if t.phrases.is_empty() && t.exemplars.is_empty() {
                return Err((
                    f("phrases"),
                    format!("topic {} needs phrases or exemplars", t.name),
                ));
            }
            let similarity = t.similarity.unwrap_or(matching.embedding_similarity);
            if !(similarity > 0.0 && similarity <= 1.0) {
                return Err((
                    f("similarity"),
                    format!("{similarity} is out of range (0, 1] (topic {})", t.name),
                ));
            }
            let named =
                |(field, msg): (String, String)| (field, format!("{msg} (topic {})", t.name));
            topics.push(Topic {
                name: t.name.clone(),
                weight: t.weight,
                phrases: compile_all(&t.phrases, classes, &f("phrases")).map_err(named)?,
                except: compile_all(&t.except, classes, &f("except")).map_err(named)?,
                exemplars: t.exemplars.clone(),
                near_misses: t.near_misses.clone(),
                similarity,
            });
        }
        Ok(Self {
            topics,
            hypothetical: compile_all(&matching.hypothetical, classes, "matching.hypothetical")?,
            window: matching.hypothetical_window,
            negation: compile_all(&matching.negation, classes, "matching.negation")?,
            negation_window: matching.negation_window,
            settled: compile_all(&matching.settled, classes, "matching.settled")?,
        })
    }

    /// What the message's phrases say of each topic: which they report (outside a
    /// hypothetical, not right after a negation: "I'm not going to sue", and not told as
    /// settled: "I was locked out, but the reset link worked") and which meaning must not
    /// report either (told as settled, or read by an exception in another sense: "my
    /// coworker's dad died").
    pub(crate) fn told(&self, toks: &[Token]) -> Told {
        // Found once per message, not once per phrase match.
        let hypothetical = spans_of(toks, &self.hypothetical);
        let negation = spans_of(toks, &self.negation);
        let settled = spans_of(toks, &self.settled);
        let mut told = Told::default();
        for (i, t) in self.topics.iter().enumerate() {
            let (open, excepted) = spans_without(toks, &t.phrases, &t.except);
            // Settled words after the first counted match settle the topic: whatever is said
            // of it after that (a conjunction's part can sit anywhere) is about that event.
            let first = open
                .into_iter()
                .filter(|&(start, _)| {
                    !span_before(toks, start, self.window, &hypothetical)
                        && !span_before(toks, start, self.negation_window, &negation)
                })
                .min();
            let is_settled = first.is_some_and(|(_, end)| settled.iter().any(|&(s, _)| s >= end));
            if first.is_some() && !is_settled {
                told.reported.push(i);
            }
            if is_settled || !excepted.is_empty() {
                told.quiet.push(i);
            }
        }
        told
    }

    /// Whether the message is phrased as a hypothetical anywhere (embedding hits, which can't
    /// say where the topic sits in the message, are dropped then).
    pub(crate) fn hypothetical(&self, toks: &[Token]) -> bool {
        self.hypothetical.iter().any(|p| !p.find(toks).is_empty())
    }
}

/// Names of topics, tiers and classes: lower case, digits, underscores.
pub(crate) fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
}
