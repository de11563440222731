//! Recognition by meaning, when an embedder is configured. Each kind (an ask for a person, or
//! a high-stakes topic) has example sentences; near misses are sentences that share a kind's
//! subject but are routine ("how do I reset my password" beside a locked account, "are you a
//! bot?" beside an ask for a person). Two ways to decide, `matching.method`:
//!
//! - `classifier` (the default): a multinomial logistic regression over the embedded examples
//!   and, with `matching.words`, their wording (each kind a class, the pooled near misses the
//!   class "routine"), trained once at start (see `classifier`).
//!   A message is recognised as its most likely kind when the probability that it is not
//!   routine reaches `matching.confidence`; with `matching.veto`, a message it is that sure
//!   is routine loses the phrase hits of the topics it knows.
//! - `nearest`: a kind fires when one of its examples is close enough (the kind's
//!   `similarity`) and closer, by at least `matching.embedding_margin`, than every near miss.
//!
//! Phrases stay the first line: they decide without a model and say exactly why. Meaning
//! catches the wordings no phrase list foresaw.

use super::super::policy::raw::{RawExplicit, RawMatching, RawMethod};
use super::super::text::fold;
use super::classifier::Classifier;
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

/// How a message's vector is matched against the examples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Method {
    /// The closest example decides, past the margin over every near miss.
    Nearest { margin: f32 },
    /// A classifier trained on the examples decides, at this confidence that the message is
    /// not routine; with `words`, their wording counts beside their vectors.
    Classifier {
        confidence: f32,
        words: bool,
        /// Least probability that a message is routine that overrules the topics' phrases
        /// (none: phrases always count).
        veto: Option<f32>,
    },
}

/// What meaning makes of a message.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Recognised {
    /// The kinds it is recognised as, each with its score.
    pub kinds: Vec<(Kind, f32)>,
    /// The classifier is sure enough that it is routine (`matching.veto`) to overrule a phrase
    /// of a topic it knows.
    pub routine: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct MeaningRules {
    /// Only kinds with example sentences.
    pub kinds: Vec<Examples>,
    /// Every kind's near misses, pooled: a message closest to any of them is routine.
    pub near_misses: Vec<String>,
    pub method: Method,
}

/// Fewest near misses the classifier accepts: they are its only picture of "routine".
const MIN_NEAR_MISSES: usize = 20;
/// Fewest example sentences per kind the classifier accepts.
const MIN_EXAMPLES: usize = 3;

/// What matching needs from the embedded example sentences.
#[derive(Debug, Clone)]
pub(crate) enum Vectors {
    /// Method `nearest`: the examples' vectors, in the order of [`MeaningRules::kinds`], and
    /// the near misses'.
    Nearest {
        kinds: Vec<Vec<Vec<f32>>>,
        near_misses: Vec<Vec<f32>>,
    },
    /// Method `classifier`: only what it learned from them (the thousands of vectors are not
    /// kept); none without kinds.
    Classifier(Option<Classifier>),
}

impl MeaningRules {
    pub(crate) fn build(
        explicit: &RawExplicit,
        topics: &TopicRules,
        matching: &RawMatching,
    ) -> Result<Self, (String, String)> {
        let method = match matching.method {
            RawMethod::Nearest => {
                if !(0.0..=1.0).contains(&matching.embedding_margin) {
                    return Err((
                        "matching.embedding_margin".into(),
                        format!("{} is out of range 0..=1", matching.embedding_margin),
                    ));
                }
                Method::Nearest {
                    margin: matching.embedding_margin,
                }
            }
            RawMethod::Classifier => {
                if !(matching.confidence > 0.0 && matching.confidence < 1.0) {
                    return Err((
                        "matching.confidence".into(),
                        format!("{} is out of range (0, 1)", matching.confidence),
                    ));
                }
                if let Some(veto) = matching.veto
                    && !(veto > 0.0 && veto < 1.0)
                {
                    return Err((
                        "matching.veto".into(),
                        format!("{veto} is out of range (0, 1)"),
                    ));
                }
                Method::Classifier {
                    confidence: matching.confidence,
                    words: matching.words,
                    veto: matching.veto,
                }
            }
        };
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
        if matches!(method, Method::Classifier { .. }) && !kinds.is_empty() {
            if near_misses.len() < MIN_NEAR_MISSES {
                return Err((
                    "matching.near_misses".into(),
                    format!(
                        "method \"classifier\" learns what is routine from the near misses: \
                         give at least {MIN_NEAR_MISSES} (there are {}), or use method \"nearest\"",
                        near_misses.len()
                    ),
                ));
            }
            if let Some(k) = kinds.iter().find(|k| k.sentences.len() < MIN_EXAMPLES) {
                let field = match k.kind {
                    Kind::Explicit => "explicit.exemplars".to_owned(),
                    Kind::Topic(i) => format!("topics.{}.exemplars", topics.topics[i].name),
                };
                return Err((
                    field,
                    format!(
                        "method \"classifier\" needs at least {MIN_EXAMPLES} examples per kind \
                         (there are {}), or use method \"nearest\"",
                        k.sentences.len()
                    ),
                ));
            }
        }
        Ok(Self {
            kinds,
            near_misses,
            method,
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

    /// Splits the vectors of [`MeaningRules::sentences`] (`sentences`, as it gave them, and
    /// `all`, their vectors) back into their groups, and trains the classifier on them (method
    /// `classifier`; CPU-bound: call off the async workers).
    pub(crate) fn vectors(
        &self,
        sentences: &[String],
        all: Vec<Vec<f32>>,
    ) -> Result<Vectors, String> {
        let mut all = all.into_iter();
        let kinds: Vec<Vec<Vec<f32>>> = self
            .kinds
            .iter()
            .map(|k| all.by_ref().take(k.sentences.len()).collect())
            .collect();
        let near_misses: Vec<Vec<f32>> = all.collect();
        Ok(match self.method {
            Method::Nearest { .. } => Vectors::Nearest { kinds, near_misses },
            Method::Classifier { .. } if kinds.is_empty() => Vectors::Classifier(None),
            Method::Classifier { words, .. } => {
                // Each vector with its sentence, in the order of `sentences()`: the kinds',
                // then the near misses'. Class 0 is routine, class i + 1 is kinds[i].
                fn pair<'a>(
                    vectors: &'a [Vec<f32>],
                    texts: &mut impl Iterator<Item = &'a str>,
                ) -> Vec<(&'a [f32], &'a str)> {
                    vectors.iter().map(Vec::as_slice).zip(texts).collect()
                }
                let mut texts = sentences.iter().map(String::as_str);
                let by_kind: Vec<Vec<(&[f32], &str)>> =
                    kinds.iter().map(|k| pair(k, &mut texts)).collect();
                let classes: Vec<Vec<(&[f32], &str)>> =
                    std::iter::once(pair(&near_misses, &mut texts))
                        .chain(by_kind)
                        .collect();
                Vectors::Classifier(Some(Classifier::train(&classes, words)?))
            }
        })
    }

    /// The kinds a message is recognised as, each with its score: the closest example's
    /// similarity (`nearest`), or the probability that the message is not routine
    /// (`classifier`); and whether the classifier overrules phrases. `text` is the message as
    /// [`for_meaning`] gives it, `message` its unit vector.
    pub(crate) fn hits(&self, text: &str, message: &[f32], vectors: &Vectors) -> Recognised {
        match (self.method, vectors) {
            (
                Method::Classifier {
                    confidence, veto, ..
                },
                Vectors::Classifier(Some(classifier)),
            ) => {
                let p = classifier.probabilities(message, text);
                let routine = p.first().copied().unwrap_or(1.0);
                let likeliest = p
                    .iter()
                    .enumerate()
                    .skip(1)
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map(|(class, _)| class - 1);
                let kinds = match likeliest {
                    Some(i) if 1.0 - routine >= confidence => {
                        vec![(self.kinds[i].kind, 1.0 - routine)]
                    }
                    _ => Vec::new(),
                };
                Recognised {
                    kinds,
                    routine: veto.is_some_and(|veto| routine >= veto),
                }
            }
            (Method::Nearest { margin }, Vectors::Nearest { kinds, near_misses }) => {
                let closest = |vs: &[Vec<f32>]| {
                    vs.iter()
                        .map(|v| warmline_domain::embed::dot(message, v))
                        .fold(f32::MIN, f32::max)
                };
                let near_miss = closest(near_misses);
                let kinds = self
                    .kinds
                    .iter()
                    .zip(kinds)
                    .filter_map(|(k, vs)| {
                        let best = closest(vs);
                        (best >= k.similarity && best >= near_miss + margin)
                            .then_some((k.kind, best))
                    })
                    .collect();
                Recognised {
                    kinds,
                    routine: false,
                }
            }
            // No classifier (no kinds), or vectors of the other method: nothing to match.
            _ => Recognised::default(),
        }
    }

    /// How a hit with `score` is explained in a decision's reasons.
    pub(crate) fn describe(&self, score: f32) -> String {
        match self.method {
            Method::Nearest { .. } => format!("similar to an example ({score:.2})"),
            Method::Classifier { .. } => format!("recognised by meaning ({score:.2})"),
        }
    }
}

/// A message or example as it is embedded: folded. Unlike phrases, meaning keeps quoted
/// words: a quoted screen ("it just shows 'account frozen, contact us'") can be the whole
/// point, and the classifier's near misses already keep mentions ("what does 'chargeback'
/// mean") routine. Measured on dev: precision 0.953 -> 0.962 at the same recall.
pub(crate) fn for_meaning(text: &str) -> String {
    fold(text)
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
            method: Method::Nearest { margin },
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
        let v = r
            .vectors(
                &r.sentences(),
                vec![
                    unit(1.0, 0.0),
                    unit(0.0, 1.0),
                    unit(1.0, 1.0),
                    unit(-1.0, 1.0),
                ],
            )
            .unwrap();
        let Vectors::Nearest { kinds, near_misses } = &v else {
            panic!("{v:?}");
        };
        assert_eq!(kinds.len(), 2);
        assert_eq!(kinds[1].len(), 2);
        assert_eq!(near_misses.len(), 1);
        // Close to "a" (1.00) and to "c" (0.74), far from the near miss (-0.67).
        let hits = r.hits("", &unit(1.0, 0.05), &v).kinds;
        assert_eq!(
            hits.iter().map(|h| h.0).collect::<Vec<_>>(),
            [Kind::Explicit, Kind::Topic(3)]
        );
        // Halfway between "b" and the near miss (0.92 to both): not past the margin.
        let hits = r.hits("", &unit(-0.383, 0.924), &v).kinds;
        assert!(hits.is_empty(), "{hits:?}");
        let hits = r.hits("", &unit(-0.2, 1.0), &v).kinds;
        assert_eq!(
            hits.iter().map(|h| h.0).collect::<Vec<_>>(),
            [Kind::Topic(3)]
        );
        // Without a margin the closer kind wins.
        let hits = rules(0.0).hits("", &unit(0.1, 1.0), &v).kinds;
        assert_eq!(
            hits.iter().map(|h| h.0).collect::<Vec<_>>(),
            [Kind::Topic(3)]
        );
    }

    /// Points on the unit circle around `degrees`, a few degrees apart.
    fn around(degrees: f32, n: usize) -> Vec<Vec<f32>> {
        (0..n)
            .map(|i| {
                let a = (degrees + i as f32 * 4.0 - n as f32 * 2.0).to_radians();
                vec![a.cos(), a.sin()]
            })
            .collect()
    }

    #[test]
    fn the_classifier_learns_the_kinds_from_their_examples_and_routine_from_near_misses() {
        let r = MeaningRules {
            kinds: vec![
                Examples {
                    kind: Kind::Explicit,
                    sentences: vec!["x".into(); 8],
                    similarity: 0.5,
                },
                Examples {
                    kind: Kind::Topic(2),
                    sentences: vec!["y".into(); 8],
                    similarity: 0.5,
                },
            ],
            near_misses: vec!["z".into(); 16],
            method: Method::Classifier {
                confidence: 0.8,
                words: true,
                veto: Some(0.9),
            },
        };
        // Asks for a person near 0 degrees, the topic near 90, routine near 200.
        let mut all = around(0.0, 8);
        all.extend(around(90.0, 8));
        all.extend(around(200.0, 16));
        let v = r.vectors(&r.sentences(), all).unwrap();
        let recognised = |deg: f32| {
            let a = deg.to_radians();
            r.hits("", &[a.cos(), a.sin()], &v)
        };
        let at = |deg: f32| recognised(deg).kinds;
        let ask = at(3.0);
        assert_eq!(ask.len(), 1, "{ask:?}");
        assert_eq!(ask[0].0, Kind::Explicit);
        assert!(ask[0].1 >= 0.8, "{ask:?}");
        assert_eq!(at(85.0)[0].0, Kind::Topic(2));
        assert!(
            at(205.0).is_empty(),
            "routine is not recognised as anything"
        );
        // Between a kind and routine the classifier is unsure: below the confidence.
        let unsure = at(145.0);
        assert!(unsure.is_empty(), "{unsure:?}");
        // Sure it is routine (at least the veto, 0.9): phrases are overruled; unsure, not.
        assert!(recognised(205.0).routine);
        assert!(!recognised(145.0).routine);
        assert!(!recognised(85.0).routine);
        assert_eq!(r.describe(0.912), "recognised by meaning (0.91)");
    }
}
