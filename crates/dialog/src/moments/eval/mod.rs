//! The labelled evaluation set (`knowledge/eval/moments.yaml`) and how the detector does on
//! it: precision, recall and F1 per split, on the must-escalate categories and per category,
//! and the items it gets wrong. The detector never sees this file; only this module reads it.

mod report;

pub use report::{Counts, Outcome, Report};

use super::decision::Route;
use super::{BotOutcome, Context, Detector, PastTurn, StepState};
use serde::Deserialize;
use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use warmline_domain::Channel;

/// Which half of the set an item belongs to: tune on `dev`, report `test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Dev,
    Test,
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Dev => "dev",
            Self::Test => "test",
        })
    }
}

/// One labelled item, ready to assess.
#[derive(Debug, Clone)]
pub struct EvalItem {
    pub id: String,
    pub split: Split,
    /// The signal family it probes (negatives in a category are its near misses).
    pub category: String,
    /// Should the detector escalate?
    pub escalate: bool,
    /// A must-escalate positive (explicit ask, fraud, safety, bereavement, legal, locked).
    pub must: bool,
    /// For positives: the reason code expected to fire.
    pub reason: Option<String>,
    /// The expected route when it is not a plain agent.
    pub route: Option<Route>,
    pub context: Context,
}

/// The evaluation set.
#[derive(Debug, Clone)]
pub struct EvalSet {
    pub items: Vec<EvalItem>,
}

/// Why the evaluation set could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot read evaluation set {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("{origin}: item {id}: {message}")]
    Invalid {
        origin: String,
        id: String,
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSet {
    items: Vec<RawItem>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawItem {
    id: String,
    split: Split,
    category: String,
    escalate: bool,
    #[serde(default)]
    must: bool,
    reason: Option<String>,
    say: Option<String>,
    turns: Option<Vec<RawTurn>>,
    channel: Option<Channel>,
    tier: Option<String>,
    step: Option<RawStep>,
    route: Option<String>,
    #[allow(dead_code)]
    note: Option<String>,
    /// The language, when not English (`fr`, `es`): for reading figures by language.
    #[allow(dead_code)]
    lang: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTurn {
    say: String,
    bot: Option<RawBot>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum RawBot {
    Answered,
    NoAnswer,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    failures: u32,
    critical: bool,
}

impl EvalSet {
    /// Reads and checks the set at `path`.
    pub fn load(path: &Path) -> Result<Self, EvalError> {
        let text = std::fs::read_to_string(path).map_err(|source| EvalError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_yaml(&text, &path.display().to_string())
    }

    /// Parses and checks set text; `origin` names it in errors.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Self, EvalError> {
        let raw: RawSet = serde_saphyr::from_str(text).map_err(|e| EvalError::Parse {
            origin: origin.to_owned(),
            message: e.to_string(),
        })?;
        let mut seen = HashSet::new();
        let items = raw
            .items
            .into_iter()
            .map(|item| {
                let invalid = |message: &str| EvalError::Invalid {
                    origin: origin.to_owned(),
                    id: item.id.clone(),
                    message: message.to_owned(),
                };
                if !seen.insert(item.id.clone()) {
                    return Err(invalid("duplicate id"));
                }
                item_from_raw(&item).map_err(|m| invalid(&m))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { items })
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

fn item_from_raw(item: &RawItem) -> Result<EvalItem, String> {
    if item.escalate && item.reason.as_deref().is_none_or(str::is_empty) {
        return Err("a positive needs the reason expected to fire".into());
    }
    if item.must && !item.escalate {
        return Err("`must` marks positives only".into());
    }
    let turns: Vec<(String, Option<RawBot>)> = match (&item.say, &item.turns) {
        (Some(say), None) => vec![(say.clone(), None)],
        (None, Some(turns)) if !turns.is_empty() => {
            turns.iter().map(|t| (t.say.clone(), t.bot)).collect()
        }
        _ => return Err("give either `say` or a non-empty `turns`".into()),
    };
    let Some(((message, last_bot), earlier)) = turns.split_last() else {
        return Err("no message".into());
    };
    if last_bot.is_some() {
        return Err("the last turn is the message assessed: it has no `bot`".into());
    }
    let history = earlier
        .iter()
        .map(|(say, bot)| match bot {
            Some(RawBot::Answered) => Ok(PastTurn::new(say.clone(), BotOutcome::Answered)),
            Some(RawBot::NoAnswer) => Ok(PastTurn::new(say.clone(), BotOutcome::NoAnswer)),
            None => {
                Err("every turn but the last needs `bot: answered` or `bot: no_answer`".to_owned())
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let route = match item.route.as_deref() {
        None => None,
        Some(r) => Some(Route::parse(r).ok_or_else(|| format!("unknown route {r:?}"))?),
    };
    Ok(EvalItem {
        id: item.id.clone(),
        split: item.split,
        category: item.category.clone(),
        escalate: item.escalate,
        must: item.must,
        reason: item.reason.clone(),
        route,
        context: Context {
            message: message.clone(),
            history,
            step: item.step.as_ref().map(|s| StepState {
                failures: s.failures,
                experience_critical: s.critical,
            }),
            tier: item.tier.clone(),
            channel: item.channel.unwrap_or(Channel::Web),
        },
    })
}

/// Runs the detector on every item of `set`.
pub async fn evaluate(detector: &Detector, set: &EvalSet) -> Report {
    let mut outcomes = Vec::with_capacity(set.items.len());
    for item in &set.items {
        let decision = detector.assess(&item.context).await;
        outcomes.push(Outcome {
            id: item.id.clone(),
            split: item.split,
            category: item.category.clone(),
            expected: item.escalate,
            must: item.must,
            escalated: decision.escalate,
            reason_fired: item.reason.as_deref().is_some_and(|r| decision.fired(r)),
            route_ok: item.route.is_none_or(|r| decision.route == r),
            reasons: decision.reasons(),
            explained: decision
                .signals
                .iter()
                .map(|s| match s.detail.as_str() {
                    "" | "phrase" => s.reason.code(),
                    detail => format!("{} ({detail})", s.reason.code()),
                })
                .collect(),
        });
    }
    Report { outcomes }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_checked() {
        let bad = |yaml: &str| EvalSet::from_yaml(yaml, "t.yaml").unwrap_err().to_string();
        let one = |rest: &str| format!("items:\n  - {{id: a, split: dev, category: c, {rest}}}\n");
        assert!(bad(&one("escalate: true, say: hi")).contains("reason"));
        assert!(bad(&one("escalate: false, must: true, say: hi")).contains("must"));
        assert!(bad(&one("escalate: false")).contains("say"));
        assert!(bad(&one("escalate: false, say: hi, colour: red")).contains("colour"));
        let turns = "escalate: false, turns: [{say: a, bot: answered}, {say: b, bot: answered}]";
        assert!(bad(&one(turns)).contains("last turn"));
        let twice = "items:\n  - {id: a, split: dev, category: c, escalate: false, say: x}\n  - {id: a, split: test, category: c, escalate: false, say: y}\n";
        assert!(bad(twice).contains("duplicate"));
    }

    #[test]
    fn a_dialogue_becomes_a_context() {
        let yaml = "items:\n  - id: a\n    split: test\n    category: c\n    escalate: true\n    reason: x\n    channel: sms\n    tier: vip\n    step: {failures: 1, critical: true}\n    turns:\n      - {say: one, bot: no_answer}\n      - {say: two}\n";
        let set = EvalSet::from_yaml(yaml, "t.yaml").unwrap();
        let item = &set.items[0];
        assert_eq!(item.context.message, "two");
        assert_eq!(
            item.context.history,
            [PastTurn::new("one", BotOutcome::NoAnswer)]
        );
        assert_eq!(item.context.channel, Channel::Sms);
        assert_eq!(
            item.context.step,
            Some(StepState {
                failures: 1,
                experience_critical: true
            })
        );
        assert_eq!(item.split, Split::Test);
    }
}
