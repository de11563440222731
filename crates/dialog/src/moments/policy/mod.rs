//! The moments policy: what makes a moment of truth for this business. It's a file the
//! business edits without code (`knowledge/policy/moments.toml`): thresholds, signal weights,
//! additions to the built-in lexicons, high-stakes topics with their phrases and example
//! sentences, tier and channel rules, and business hours. [`Policy::default`] is the shipped
//! Juniper Market file, built in.

mod error;
mod hours;
pub(crate) mod raw;

pub use error::PolicyError;
pub use hours::BusinessHours;
pub use raw::Weights;

use super::decision::Route;
use super::lexicon::CLASSES;
use super::pattern::Classes;
use super::signals::explicit::ExplicitRules;
use super::signals::failure::RepeatRules;
use super::signals::frustration::FrustrationRules;
use super::signals::meaning::MeaningRules;
use super::signals::topics::{TopicRules, is_name};
use raw::RawPolicy;
use std::collections::BTreeMap;
use std::path::Path;
use warmline_domain::Channel;

/// The shipped policy for the Juniper Market sample business.
const DEFAULT_POLICY: &str = include_str!("../../../../../knowledge/policy/moments.toml");
const DEFAULT_ORIGIN: &str = "knowledge/policy/moments.toml (built in)";

/// A validated, compiled moments policy. Build it with [`Policy::load`],
/// [`Policy::from_toml`] or [`Policy::default`].
#[derive(Debug, Clone)]
pub struct Policy {
    origin: String,
    pub(crate) threshold: f32,
    pub(crate) always: Vec<String>,
    pub(crate) weights: Weights,
    pub(crate) frustration: FrustrationRules,
    pub(crate) explicit: ExplicitRules,
    pub(crate) repeat: RepeatRules,
    pub(crate) topics: TopicRules,
    pub(crate) meaning: MeaningRules,
    pub(crate) tiers: BTreeMap<String, f32>,
    pub(crate) channel_rules: Vec<ChannelRule>,
    hours: BusinessHours,
}

/// "On these channels, these topics go to a person (or to a voice call)".
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChannelRule {
    pub topics: Vec<String>,
    pub channels: Vec<Channel>,
    pub route: Route,
}

impl Policy {
    /// Reads and validates the policy file at `path`.
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Parses and validates policy text; `origin` names it in errors (usually the path).
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, PolicyError> {
        let raw: RawPolicy =
            toml::from_str(text).map_err(|e| PolicyError::parse(origin, text, &e))?;
        build(&raw, origin).map_err(|(field, message)| PolicyError::Invalid {
            origin: origin.to_owned(),
            field,
            message,
        })
    }

    /// Where the policy came from (a path, or the built-in default).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The score at which a customer with no special tier is escalated.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// The threshold for a customer of `tier` (case-insensitive; unknown tiers get the
    /// default).
    pub fn threshold_for(&self, tier: Option<&str>) -> f32 {
        tier.and_then(|t| self.tiers.get(&t.trim().to_lowercase()))
            .copied()
            .unwrap_or(self.threshold)
    }

    pub fn weights(&self) -> &Weights {
        &self.weights
    }

    /// The high-stakes topics' names, in policy order.
    pub fn topics(&self) -> impl Iterator<Item = &str> {
        self.topics.topics.iter().map(|t| t.name.as_str())
    }

    /// When people are there to take a hand-off.
    pub fn hours(&self) -> &BusinessHours {
        &self.hours
    }
}

impl Default for Policy {
    /// The shipped Juniper Market policy. Its validity is checked by a test, so this can't
    /// fail in a released build; if it ever did, the error names the field.
    fn default() -> Self {
        Self::from_toml(DEFAULT_POLICY, DEFAULT_ORIGIN)
            .expect("the built-in moments policy is valid")
    }
}

/// The built-in word classes (`@person`, `@someone`...), before the policy adds to them.
pub(crate) fn builtin_classes() -> Classes {
    CLASSES
        .iter()
        .map(|(name, members)| {
            (
                name.to_string(),
                members.iter().map(|m| m.to_string()).collect(),
            )
        })
        .collect()
}

/// Reason codes that `decision.always` may name.
fn known_reason(code: &str, topics: &TopicRules) -> bool {
    match code.strip_prefix("high_stakes:") {
        Some(topic) => topics.topics.iter().any(|t| t.name == topic),
        None => matches!(
            code,
            "explicit_request"
                | "frustration"
                | "repeated_failure"
                | "rephrased_question"
                | "experience_critical"
        ),
    }
}

fn build(raw: &RawPolicy, origin: &str) -> Result<Policy, (String, String)> {
    let threshold = raw.decision.threshold;
    if !(threshold > 0.0 && threshold <= 10.0) {
        return Err((
            "decision.threshold".into(),
            format!("{threshold} is out of range (0, 10]"),
        ));
    }
    check_weights(&raw.weights)?;
    let mut classes = builtin_classes();
    for (name, members) in &raw.classes {
        if !is_name(name) {
            return Err((
                format!("classes.{name}"),
                "class names are lower case letters, digits and _".into(),
            ));
        }
        if members.is_empty() || members.iter().any(|m| m.trim().is_empty()) {
            return Err((
                format!("classes.{name}"),
                "list at least one member, none empty".into(),
            ));
        }
        classes
            .entry(name.clone())
            .or_default()
            .extend(members.iter().cloned());
    }
    let topics = TopicRules::build(&raw.topics, &raw.matching, &classes)?;
    for (i, code) in raw.decision.always.iter().enumerate() {
        if !known_reason(code, &topics) {
            return Err((
                format!("decision.always[{i}]"),
                format!(
                    "unknown reason {code:?}: use explicit_request, frustration, repeated_failure, rephrased_question, experience_critical or high_stakes:<topic>"
                ),
            ));
        }
    }
    let mut tiers = BTreeMap::new();
    for (name, tier) in &raw.tiers {
        if !is_name(name) {
            return Err((
                format!("tiers.{name}"),
                "tier names are lower case letters, digits and _".into(),
            ));
        }
        if !(tier.threshold > 0.0 && tier.threshold <= 10.0) {
            return Err((
                format!("tiers.{name}.threshold"),
                format!("{} is out of range (0, 10]", tier.threshold),
            ));
        }
        tiers.insert(name.clone(), tier.threshold);
    }
    let channel_rules = channel_rules(raw, &topics)?;
    let hours = BusinessHours::from_raw(&raw.hours)?;
    Ok(Policy {
        origin: origin.to_owned(),
        threshold,
        always: raw.decision.always.clone(),
        weights: raw.weights.clone(),
        frustration: FrustrationRules::build(&raw.frustration, &classes)?,
        explicit: ExplicitRules::build(&raw.explicit, &classes)?,
        repeat: RepeatRules::build(&raw.repeat)?,
        meaning: MeaningRules::build(&raw.explicit, &topics, &raw.matching)?,
        topics,
        tiers,
        channel_rules,
        hours,
    })
}

fn check_weights(w: &Weights) -> Result<(), (String, String)> {
    for (name, v) in [
        ("explicit_request", w.explicit_request),
        ("frustration", w.frustration),
        ("frustration_mild", w.frustration_mild),
        ("repeated_failure", w.repeated_failure),
        ("rephrased_question", w.rephrased_question),
        ("rephrased_after_answer", w.rephrased_after_answer),
        ("experience_critical", w.experience_critical),
        ("experience_critical_failure", w.experience_critical_failure),
        ("channel_rule", w.channel_rule),
    ] {
        if !(0.0..=10.0).contains(&v) {
            return Err((
                format!("weights.{name}"),
                format!("{v} is out of range 0..=10"),
            ));
        }
    }
    Ok(())
}

fn channel_rules(
    raw: &RawPolicy,
    topics: &TopicRules,
) -> Result<Vec<ChannelRule>, (String, String)> {
    let names: Vec<&str> = topics.topics.iter().map(|t| t.name.as_str()).collect();
    let mut rules = Vec::new();
    for (i, rule) in raw.channel_rules.iter().enumerate() {
        let f = |name: &str| format!("channel_rules[{i}].{name}");
        if rule.topics.is_empty() {
            return Err((f("topics"), "list at least one topic".into()));
        }
        for topic in &rule.topics {
            if !names.contains(&topic.as_str()) {
                return Err((
                    f("topics"),
                    format!(
                        "unknown topic {topic:?}; the topics are {}",
                        names.join(", ")
                    ),
                ));
            }
        }
        if rule.channels.is_empty() {
            return Err((f("channels"), "list at least one channel".into()));
        }
        let channels = rule
            .channels
            .iter()
            .map(|c| c.parse::<Channel>().map_err(|e| (f("channels"), e)))
            .collect::<Result<Vec<_>, _>>()?;
        let route = Route::parse(&rule.route).ok_or_else(|| {
            (
                f("route"),
                format!("unknown route {:?}; use \"agent\" or \"voice\"", rule.route),
            )
        })?;
        rules.push(ChannelRule {
            topics: rule.topics.clone(),
            channels,
            route,
        });
    }
    Ok(rules)
}

#[cfg(test)]
mod tests;
