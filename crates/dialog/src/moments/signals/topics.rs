//! High-stakes topics (fraud, bereavement, legal threats...): phrases from the policy file,
//! and optionally closeness in meaning to the topic's example sentences when an embedder is
//! configured. A phrase inside a hypothetical ("if I cancel Plus, do I keep my points?") is
//! a question about the topic, not the topic happening, and doesn't count.

use super::super::pattern::{Classes, Pattern, overlaps};
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

    /// The topics (by index) whose phrases match outside a hypothetical, not right after a
    /// negation ("I'm not going to sue") and not before words that say it is settled ("I was
    /// locked out, but the reset link worked").
    pub(crate) fn phrase_hits(&self, toks: &[Token]) -> Vec<usize> {
        self.told(toks)
            .into_iter()
            .filter(|&(_, settled)| !settled)
            .map(|(i, _)| i)
            .collect()
    }

    /// The topics (by index) told first and then said to be settled: meaning doesn't get to
    /// report them either.
    pub(crate) fn settled(&self, toks: &[Token]) -> Vec<usize> {
        self.told(toks)
            .into_iter()
            .filter(|&(_, settled)| settled)
            .map(|(i, _)| i)
            .collect()
    }

    /// The topics whose phrases match outside a hypothetical and not right after a negation,
    /// each with whether settled words follow its first such match (whatever is said of it
    /// after that, a conjunction's part can sit anywhere, is about the settled event).
    fn told(&self, toks: &[Token]) -> Vec<(usize, bool)> {
        // Found once per message, not once per phrase match.
        let hypothetical = spans_of(toks, &self.hypothetical);
        let negation = spans_of(toks, &self.negation);
        let settled = spans_of(toks, &self.settled);
        self.topics
            .iter()
            .enumerate()
            .filter_map(|(i, t)| {
                let (_, end) = spans_without(toks, &t.phrases, &t.except)
                    .into_iter()
                    .filter(|&(start, _)| {
                        !span_before(toks, start, self.window, &hypothetical)
                            && !span_before(toks, start, self.negation_window, &negation)
                    })
                    .min()?;
                Some((i, settled.iter().any(|&(s, _)| s >= end)))
            })
            .collect()
    }

    /// Whether the message is phrased as a hypothetical anywhere (embedding hits, which can't
    /// say where the topic sits in the message, are dropped then).
    pub(crate) fn hypothetical(&self, toks: &[Token]) -> bool {
        self.hypothetical.iter().any(|p| !p.find(toks).is_empty())
    }

    /// The topics (by index) one of whose phrases an exception cancels ("my coworker's dad
    /// died"): the message says those words in the sense that is not the topic, so meaning
    /// doesn't get to report the topic either.
    pub(crate) fn excepted(&self, toks: &[Token]) -> Vec<usize> {
        self.topics
            .iter()
            .enumerate()
            .filter(|(_, t)| {
                let blocked = spans_of(toks, &t.except);
                !blocked.is_empty()
                    && spans_of(toks, &t.phrases)
                        .into_iter()
                        .any(|span| blocked.iter().any(|b| overlaps(span, *b)))
            })
            .map(|(i, _)| i)
            .collect()
    }
}

/// Names of topics, tiers and classes: lower case, digits, underscores.
pub(crate) fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
}
