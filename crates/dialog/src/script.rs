//! Conversation tests as code: YAML scripts of customer turns, each with assertions about the
//! reply, the journey and the handoff, run against the real dialog manager
//! (`warmline test <dir>`).
//!
//! ```yaml
//! name: Anonymous order status
//! channel: web                    # optional (default web)
//! customer: maya.thompson@example.com   # optional channel identity
//! turns:
//!   - say: where is my order
//!     expect:
//!       journey: order-status     # the journey in progress after the turn ("none": none)
//!       step: order
//!       reply_contains: order number        # a string or a list
//!   - say: JM-204518837
//!     expect: { step: email, latency_under_ms: 200 }
//!   - say: maya.thompson@example.com
//!     expect:
//!       kind: journey             # answer | no_answer | journey | small_talk | none
//!       suggests: Yes             # quick replies offered (a string or a list)
//!       cites: order-status
//!       slots: { order.status_code: delivered }
//!       journey: none
//!   - say: I want to talk to a person
//!     expect: { hands_off: explicit_request }   # a reason code (prefix) of the handoff
//! ```

use crate::{Dialog, Start, Turn};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use warmline_domain::{Channel, CustomerIdentity};

/// One script file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    pub name: String,
    #[serde(default)]
    pub channel: Option<Channel>,
    /// The channel identity of the customer (email, phone, external id), if known.
    #[serde(default)]
    pub customer: Option<String>,
    pub turns: Vec<ScriptTurn>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptTurn {
    pub say: String,
    #[serde(default)]
    pub expect: Expect,
}

/// Assertions about one turn; every one given must hold.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    #[serde(default)]
    pub reply_contains: OneOrMany,
    #[serde(default)]
    pub reply_lacks: OneOrMany,
    #[serde(default)]
    pub kind: Option<String>,
    /// Quick replies the reply must offer.
    #[serde(default)]
    pub suggests: OneOrMany,
    #[serde(default)]
    pub cites: OneOrMany,
    #[serde(default)]
    pub journey: Option<String>,
    #[serde(default)]
    pub step: Option<String>,
    #[serde(default)]
    pub slots: BTreeMap<String, String>,
    #[serde(default)]
    pub hands_off: Option<String>,
    #[serde(default)]
    pub latency_under_ms: Option<u64>,
}

/// A string or a list of strings.
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn items(&self) -> Vec<&str> {
        match self {
            Self::None => Vec::new(),
            Self::One(s) => vec![s.as_str()],
            Self::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// A script that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ScriptError {
    pub file: PathBuf,
    pub message: String,
}

/// The scripts (`*.yaml`, `*.yml`) in `dir`, sorted by file name.
pub fn load_dir(dir: &Path) -> Result<Vec<(PathBuf, Script)>, ScriptError> {
    let err = |file: &Path, message: String| ScriptError {
        file: file.to_owned(),
        message,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| err(dir, format!("cannot read the folder: {e}")))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(err(dir, "no *.yaml conversation scripts here".into()));
    }
    files
        .into_iter()
        .map(|file| {
            let text = std::fs::read_to_string(&file).map_err(|e| err(&file, e.to_string()))?;
            let script: Script = serde_saphyr::from_str(&text).map_err(|e| {
                err(
                    &file,
                    e.to_string()
                        .lines()
                        .next()
                        .unwrap_or("not valid YAML")
                        .to_owned(),
                )
            })?;
            if script.turns.is_empty() {
                return Err(err(&file, "a script needs at least one turn".into()));
            }
            Ok((file, script))
        })
        .collect()
}

/// How a script went.
#[derive(Debug)]
pub struct Outcome {
    pub name: String,
    /// One line per failed assertion: `turn 3 ("JM-1"): step is "email", expected "order"`.
    pub failures: Vec<String>,
    pub latencies: Vec<Duration>,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Runs `script` in a new conversation. Stops at the first turn that fails (later turns
/// would only repeat the damage).
pub async fn run(dialog: &Dialog, script: &Script) -> Outcome {
    let mut outcome = Outcome {
        name: script.name.clone(),
        failures: Vec::new(),
        latencies: Vec::new(),
    };
    let channel = script.channel.unwrap_or(Channel::Web);
    let start = Start {
        channel,
        identity: script.customer.as_ref().map(|id| CustomerIdentity {
            channel,
            external_id: id.clone(),
        }),
        ..Start::default()
    };
    let conversation = match dialog.start(start).await {
        Ok(c) => c,
        Err(e) => {
            outcome
                .failures
                .push(format!("cannot start the conversation: {e}"));
            return outcome;
        }
    };
    for (i, step) in script.turns.iter().enumerate() {
        let started = Instant::now();
        let turn = dialog.handle(conversation.id, &step.say).await;
        let took = started.elapsed();
        outcome.latencies.push(took);
        let label = format!("turn {} ({:?})", i + 1, step.say);
        let turn = match turn {
            Ok(t) => t,
            Err(e) => {
                outcome.failures.push(format!("{label}: failed: {e}"));
                return outcome;
            }
        };
        let memory = dialog.memory(&conversation).await;
        let problems = check(&step.expect, &turn, memory.as_ref(), took);
        if !problems.is_empty() {
            outcome
                .failures
                .extend(problems.into_iter().map(|p| format!("{label}: {p}")));
            return outcome;
        }
    }
    outcome
}

fn check(
    expect: &Expect,
    turn: &Turn,
    memory: Option<&warmline_domain::Memory>,
    took: Duration,
) -> Vec<String> {
    let mut problems = Vec::new();
    let reply = turn.reply.as_ref().map(|(r, _)| r);
    let text = reply.map_or("", |r| r.text.as_str());
    let lower = text.to_lowercase();
    for want in expect.reply_contains.items() {
        if !lower.contains(&want.to_lowercase()) {
            problems.push(format!("reply lacks {want:?}; it was {text:?}"));
        }
    }
    for unwanted in expect.reply_lacks.items() {
        if lower.contains(&unwanted.to_lowercase()) {
            problems.push(format!("reply has {unwanted:?}; it was {text:?}"));
        }
    }
    if let Some(kind) = &expect.kind {
        let got = reply.map_or("none", |r| r.kind.as_str());
        if got != kind {
            problems.push(format!("reply kind is {got}, expected {kind}"));
        }
    }
    for button in expect.suggests.items() {
        if !reply.is_some_and(|r| r.suggestions.iter().any(|s| s == button)) {
            let offered = reply.map(|r| r.suggestions.clone()).unwrap_or_default();
            problems.push(format!("does not offer {button:?}; offers {offered:?}"));
        }
    }
    for article in expect.cites.items() {
        if !reply.is_some_and(|r| r.citations.iter().any(|c| c.article_id == article)) {
            let cited: Vec<&str> = reply
                .map(|r| r.citations.iter().map(|c| c.article_id.as_str()).collect())
                .unwrap_or_default();
            problems.push(format!("does not cite {article}; cites {cited:?}"));
        }
    }
    let progress = memory.and_then(|m| m.journey.as_ref());
    if let Some(journey) = &expect.journey {
        let got = progress.map_or("none", |p| p.journey.as_str());
        if got != journey {
            problems.push(format!("journey is {got}, expected {journey}"));
        }
    }
    if let Some(step) = &expect.step {
        let got = progress.map_or("none", |p| p.step.as_str());
        if got != step {
            problems.push(format!("step is {got:?}, expected {step:?}"));
        }
    }
    for (slot, want) in &expect.slots {
        let got = memory
            .and_then(|m| m.slots.get(slot))
            .map(|v| crate::journey::template::show(Some(v)));
        if got.as_deref() != Some(want.as_str()) {
            problems.push(format!("slot {slot} is {got:?}, expected {want:?}"));
        }
    }
    if let Some(reason) = &expect.hands_off {
        let reasons = turn
            .moment
            .as_ref()
            .map(|d| d.reasons())
            .unwrap_or_default();
        let queued = turn.queued.is_some();
        if !queued || !reasons.iter().any(|r| r.starts_with(reason.as_str())) {
            problems.push(format!(
                "expected a handoff for {reason}; queued: {queued}, reasons: {reasons:?}"
            ));
        }
    }
    if let Some(limit) = expect.latency_under_ms
        && took > Duration::from_millis(limit)
    {
        problems.push(format!("took {} ms, limit {limit} ms", took.as_millis()));
    }
    problems
}
