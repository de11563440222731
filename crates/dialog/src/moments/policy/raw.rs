//! The policy file as written (`knowledge/policy/moments.toml`), before validation. Every
//! table refuses unknown keys, so a misspelt setting is an error rather than silently ignored.

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    pub decision: RawDecision,
    pub weights: Weights,
    pub frustration: RawFrustration,
    #[serde(default)]
    pub explicit: RawExplicit,
    pub repeat: RawRepeat,
    pub matching: RawMatching,
    #[serde(default)]
    pub classes: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub topics: Vec<RawTopic>,
    #[serde(default)]
    pub tiers: BTreeMap<String, RawTier>,
    #[serde(default)]
    pub channel_rules: Vec<RawChannelRule>,
    pub hours: RawHours,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDecision {
    pub threshold: f32,
    #[serde(default)]
    pub always: Vec<String>,
}

/// How much each signal adds to the score.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    /// The customer asked for a person.
    pub explicit_request: f32,
    /// Frustration that rose, persisted, or burst out.
    pub frustration: f32,
    /// The latest message alone is mildly frustrated.
    pub frustration_mild: f32,
    /// The bot failed in a row, or the journey step failed repeatedly.
    pub repeated_failure: f32,
    /// The customer asked the same thing again after an "I don't know", or a third time.
    pub rephrased_question: f32,
    /// The customer asked the same thing again after an answer.
    pub rephrased_after_answer: f32,
    /// The journey step is experience-critical.
    pub experience_critical: f32,
    /// ... and it (or the bot) has already failed once.
    pub experience_critical_failure: f32,
    /// A channel rule sent the topic to a person.
    pub channel_rule: f32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFrustration {
    pub turns: usize,
    pub burst: f32,
    pub burst_cues: usize,
    pub rising: f32,
    pub mild: f32,
    /// Extra cues: pattern = weight.
    #[serde(default)]
    pub add: BTreeMap<String, f32>,
    /// Built-in cues to drop, as written in the built-in lexicon.
    #[serde(default)]
    pub remove: Vec<String>,
    #[serde(default)]
    pub profanity: Vec<String>,
    #[serde(default)]
    pub acronyms: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExplicit {
    #[serde(default)]
    pub add: Vec<String>,
    #[serde(default)]
    pub except: Vec<String>,
    /// Asks for a person, for recognition by meaning.
    #[serde(default)]
    pub exemplars: Vec<String>,
    /// Sentences near an ask that are not one ("are you a bot?").
    #[serde(default)]
    pub near_misses: Vec<String>,
    pub similarity: Option<f32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRepeat {
    pub no_answers: usize,
    pub step_failures: u32,
    pub similarity: f32,
    pub lookback: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMatching {
    pub hypothetical: Vec<String>,
    pub hypothetical_window: usize,
    /// Words that, just before a topic phrase, deny it ("not going to sue"); none: off.
    #[serde(default)]
    pub negation: Vec<String>,
    /// How many words before the phrase a negation reaches.
    #[serde(default = "default_negation_window")]
    pub negation_window: usize,
    /// Words that, later in the message, say the event told before them is over and settled
    /// ("...but the reset link worked"); none: off.
    #[serde(default)]
    pub settled: Vec<String>,
    /// How meaning decides (see `signals::meaning`).
    #[serde(default)]
    pub method: RawMethod,
    /// `classifier`: least probability that a message is not routine.
    #[serde(default = "default_confidence")]
    pub confidence: f32,
    /// `classifier`: whether the examples' wording counts beside their vectors.
    #[serde(default = "default_words")]
    pub words: bool,
    /// `classifier`: least probability that a message is routine that overrules a topic's
    /// phrases (none: never).
    #[serde(default)]
    pub veto: Option<f32>,
    /// `nearest`: least cosine similarity to an example.
    #[serde(default = "default_similarity")]
    pub embedding_similarity: f32,
    /// `nearest`: how much closer than every near miss an example must be (0: just closer).
    #[serde(default)]
    pub embedding_margin: f32,
    /// Ordinary questions, near misses of every kind.
    #[serde(default)]
    pub near_misses: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawMethod {
    #[default]
    Classifier,
    Nearest,
}

fn default_confidence() -> f32 {
    0.8
}

fn default_negation_window() -> usize {
    2
}

fn default_words() -> bool {
    true
}

fn default_similarity() -> f32 {
    0.5
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTopic {
    pub name: String,
    pub weight: f32,
    #[serde(default)]
    pub phrases: Vec<String>,
    #[serde(default)]
    pub except: Vec<String>,
    #[serde(default)]
    pub exemplars: Vec<String>,
    #[serde(default)]
    pub near_misses: Vec<String>,
    pub similarity: Option<f32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTier {
    pub threshold: f32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawChannelRule {
    pub topics: Vec<String>,
    pub channels: Vec<String>,
    pub route: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHours {
    /// A fixed offset ("-05:00"), or
    pub utc_offset: Option<String>,
    /// an IANA time zone ("America/Toronto") with its daylight-saving rules.
    pub time_zone: Option<String>,
    #[serde(default)]
    pub closed_dates: Vec<String>,
    pub open: Vec<RawWindow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWindow {
    pub days: Vec<String>,
    pub from: String,
    pub to: String,
}
