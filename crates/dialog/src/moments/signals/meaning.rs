//! Recognition by meaning, when an embedder is configured. A message asks for a person, or
//! belongs to a high-stakes topic, when one of that kind's example sentences is close enough
//! to it (the kind's `similarity`) and closer, by at least `matching.embedding_margin`, than
//! every near miss: example sentences that share the subject but are routine ("how do I reset
//! my password" beside a locked account, "are you a bot?" beside an ask for a person).
//!
//! Phrases stay the first line: they decide without a model and say exactly why. Meaning
//! catches the wordings no phrase list foresaw.

use super::super::policy::raw::{RawExplicit, RawMatching};
use super::super::text::{drop_quoted, fold};
use super::topics::TopicRules;

/// What a group of example sentences stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The customer asks for a person.
    Explicit,
    /// High-stakes topic `i` of the policy.
    Topic(usize),
}

#[derive(Debug, Clone)]
pub(crate) struct Examples {
    pub kind: Kind,
    pub sentences: Vec<String>,
    /// Least cosine similarity to one of `sentences` that counts.
    pub similarity: f32,
}

#[derive(Debug, Clone)]
pub(crate) struct MeaningRules {
    /// Only kinds with example sentences.
    pub kinds: Vec<Examples>,
    /// Every kind's near misses, pooled: a message closest to any of them is routine.
    pub near_misses: Vec<String>,
    pub margin: f32,
}

/// The embedded example sentences, in the order of [`MeaningRules::kinds`], and the near
/// misses.
#[derive(Debug, Clone, Default)]
pub(crate) struct Vectors {
    pub kinds: Vec<Vec<Vec<f32>>>,
    pub near_misses: Vec<Vec<f32>>,
}

impl MeaningRules {
    pub(crate) fn build(
        explicit: &RawExplicit,
        topics: &TopicRules,
        matching: &RawMatching,
    ) -> Result<Self, (String, String)> {
        if !(0.0..=1.0).contains(&matching.embedding_margin) {
            return Err((
                "matching.embedding_margin".into(),
                format!("{} is out of range 0..=1", matching.embedding_margin),
            ));
        }
        let explicit_similarity = explicit.similarity.unwrap_or(matching.embedding_similarity);
        if !(explicit_similarity > 0.0 && explicit_similarity <= 1.0) {
            return Err((
                "explicit.similarity".into(),
                format!("{explicit_similarity} is out of range (0, 1]"),
            ));
        }
        let mut kinds = vec![Examples {
            kind: Kind::Explicit,
            sentences: explicit.exemplars.clone(),
            similarity: explicit_similarity,
        }];
        let mut near_misses = matching.near_misses.clone();
        near_misses.extend(explicit.near_misses.iter().cloned());
        for (i, topic) in topics.topics.iter().enumerate() {
            kinds.push(Examples {
                kind: Kind::Topic(i),
                sentences: topic.exemplars.clone(),
                similarity: topic.similarity,
            });
            near_misses.extend(topic.near_misses.iter().cloned());
        }
        for (field, list) in [
            ("explicit.exemplars", &explicit.exemplars),
            ("explicit.near_misses", &explicit.near_misses),
            ("matching.near_misses", &matching.near_misses),
        ] {
            if let Some(i) = list.iter().position(|s| s.trim().is_empty()) {
                return Err((
                    format!("{field}[{i}]"),
                    "an example sentence is empty".into(),
                ));
            }
        }
        kinds.retain(|k| !k.sentences.is_empty());
        Ok(Self {
            kinds,
            near_misses,
            margin: matching.embedding_margin,
        })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    /// Every sentence to embed, as [`for_meaning`] gives it: the kinds' examples in order,
    /// then the near misses.
    pub(crate) fn sentences(&self) -> Vec<String> {
        self.kinds
            .iter()
            .flat_map(|k| k.sentences.iter())
            .chain(&self.near_misses)
            .map(|s| for_meaning(s))
            .collect()
    }

    /// Splits the vectors of [`MeaningRules::sentences`] back into their groups.
    pub(crate) fn vectors(&self, all: Vec<Vec<f32>>) -> Vectors {
        let mut all = all.into_iter();
        Vectors {
            kinds: self
                .kinds
                .iter()
                .map(|k| all.by_ref().take(k.sentences.len()).collect())
                .collect(),
            near_misses: all.collect(),
        }
    }

    /// The kinds `message` (a unit vector) is recognised as, each with its closest example's
    /// similarity.
    pub(crate) fn hits(&self, message: &[f32], vectors: &Vectors) -> Vec<(Kind, f32)> {
        let closest = |vs: &[Vec<f32>]| {
            vs.iter()
                .map(|v| warmline_domain::embed::dot(message, v))
                .fold(f32::MIN, f32::max)
        };
        let near_miss = closest(&vectors.near_misses);
        self.kinds
            .iter()
            .zip(&vectors.kinds)
            .filter_map(|(k, vs)| {
                let best = closest(vs);
                (best >= k.similarity && best >= near_miss + self.margin).then_some((k.kind, best))
            })
            .collect()
    }
}

/// A message or example as it is embedded: folded, short quotes dropped (as phrases see it).
pub(crate) fn for_meaning(text: &str) -> String {
    drop_quoted(&fold(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(margin: f32) -> MeaningRules {
        MeaningRules {
            kinds: vec![
                Examples {
                    kind: Kind::Explicit,
                    sentences: vec!["a".into()],
                    similarity: 0.5,
                },
                Examples {
                    kind: Kind::Topic(3),
                    sentences: vec!["b".into(), "c".into()],
                    similarity: 0.7,
                },
            ],
            near_misses: vec!["d".into()],
            margin,
        }
    }

    fn unit(x: f32, y: f32) -> Vec<f32> {
        let n = (x * x + y * y).sqrt();
        vec![x / n, y / n]
    }

    #[test]
    fn a_kind_needs_its_similarity_and_the_margin_over_near_misses() {
        let r = rules(0.05);
        assert_eq!(r.sentences(), ["a", "b", "c", "d"]);
        let v = r.vectors(vec![
            unit(1.0, 0.0),
            unit(0.0, 1.0),
            unit(1.0, 1.0),
            unit(-1.0, 1.0),
        ]);
        assert_eq!(v.kinds.len(), 2);
        assert_eq!(v.kinds[1].len(), 2);
        assert_eq!(v.near_misses.len(), 1);
        // Close to "a" (1.00) and to "c" (0.74), far from the near miss (-0.67).
        let hits = r.hits(&unit(1.0, 0.05), &v);
        assert_eq!(
            hits.iter().map(|h| h.0).collect::<Vec<_>>(),
            [Kind::Explicit, Kind::Topic(3)]
        );
        // Halfway between "b" and the near miss (0.92 to both): not past the margin.
        let hits = r.hits(&unit(-0.383, 0.924), &v);
        assert!(hits.is_empty(), "{hits:?}");
        let hits = r.hits(&unit(-0.2, 1.0), &v);
        assert_eq!(
            hits.iter().map(|h| h.0).collect::<Vec<_>>(),
            [Kind::Topic(3)]
        );
        // Without a margin the closer kind wins.
        let hits = rules(0.0).hits(&unit(0.1, 1.0), &v);
        assert_eq!(
            hits.iter().map(|h| h.0).collect::<Vec<_>>(),
            [Kind::Topic(3)]
        );
    }
}
