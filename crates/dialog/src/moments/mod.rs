//! The moment-of-truth detector: when a customer must be handed to a person.
//!
//! Given the customer's latest message and the recent conversation, [`Detector::assess`]
//! returns a [`Decision`]: escalate or not, the total score, and the [`Signal`]s that fired,
//! each with a reason code and a score. Signals:
//!
//! - `explicit_request`: the customer asks for a person (not "are you a human?").
//! - `frustration`: a rising, sustained or bursting trend over the last customer turns.
//! - `repeated_failure` and `rephrased_question`: the bot failed twice in a row, the journey
//!   step failed repeatedly, or the customer asks the same thing again.
//! - `high_stakes:<topic>`: fraud, money sent to the wrong place, locked account,
//!   bereavement, legal threat, safety, cancellation... as the policy defines them.
//! - `experience_critical`, `tier:<name>` and `channel_rule`: the journey step, the
//!   customer's tier (which lowers the threshold) and per-channel routing.
//!
//! Parts:
//!
//! - [`policy`]: the policy file (`knowledge/policy/moments.toml`), validated, with business
//!   hours; [`Policy::default`] is the shipped one.
//! - [`Detector`] (`detector.rs`) weighs the signals (`signals/`), which share the text
//!   normalisation (`text.rs`), the phrase patterns (`pattern.rs`) and the built-in lexicons
//!   (`lexicon.rs`).
//! - [`decision`]: [`Decision`], [`Signal`], [`Reason`], [`Route`].
//! - [`eval`]: the labelled evaluation set and its report.
//!
//! Decisions are logged at debug level with reason codes and scores only: never the
//! customer's words.

pub mod decision;
mod detector;
pub mod eval;
mod example_cache;
mod lexicon;
pub(crate) mod pattern;
pub mod policy;
mod signals;
pub(crate) mod text;

pub use decision::{Decision, Reason, Route, Signal};
pub use detector::Detector;
pub use policy::{BusinessHours, Policy, PolicyError, Weights};

use warmline_domain::{Channel, Message, ReplyKind, Role};

/// How the bot's reply to a customer message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BotOutcome {
    /// It answered (or didn't reply at all: nothing failed that the bot knows of).
    #[default]
    Answered,
    /// It said it didn't know.
    NoAnswer,
}

/// An earlier customer message and how the bot's reply to it went.
#[derive(Debug, Clone, PartialEq)]
pub struct PastTurn {
    pub customer: String,
    pub bot: BotOutcome,
}

impl PastTurn {
    pub fn new(customer: impl Into<String>, bot: BotOutcome) -> Self {
        Self {
            customer: customer.into(),
            bot,
        }
    }
}

/// Where the customer is in a journey (a guided flow such as paying a bill).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StepState {
    /// How many times this step has failed (wrong code, payment refused...).
    pub failures: u32,
    /// The journey marks this step `experience_critical`.
    pub experience_critical: bool,
}

/// What the detector looks at for one customer message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    /// The customer's latest message.
    pub message: String,
    /// The customer's earlier messages, oldest first, each with how the bot's reply went.
    pub history: Vec<PastTurn>,
    /// The current journey step, if the customer is in one.
    pub step: Option<StepState>,
    /// The customer's tier (`vip`, `gold`...), if known.
    pub tier: Option<String>,
    pub channel: Channel,
}

impl Context {
    /// A single message with no history.
    pub fn new(message: impl Into<String>, channel: Channel) -> Self {
        Self {
            message: message.into(),
            channel,
            ..Self::default()
        }
    }

    /// The context of the latest customer message in `messages` (a transcript, oldest first):
    /// earlier customer messages become the history, each with the outcome of the bot reply
    /// that followed it. `None` if there is no customer message.
    pub fn from_transcript(messages: &[Message], channel: Channel) -> Option<Self> {
        let mut history: Vec<PastTurn> = Vec::new();
        for m in messages {
            match m.role {
                Role::Customer => history.push(PastTurn::new(m.text.clone(), BotOutcome::Answered)),
                Role::Bot if m.reply_kind == Some(ReplyKind::NoAnswer) => {
                    if let Some(last) = history.last_mut() {
                        last.bot = BotOutcome::NoAnswer;
                    }
                }
                _ => {}
            }
        }
        let latest = history.pop()?;
        Some(Self {
            message: latest.customer,
            history,
            channel,
            ..Self::default()
        })
    }

    pub fn with_history(mut self, history: Vec<PastTurn>) -> Self {
        self.history = history;
        self
    }

    pub fn with_step(mut self, step: StepState) -> Self {
        self.step = Some(step);
        self
    }

    pub fn with_tier(mut self, tier: impl Into<String>) -> Self {
        self.tier = Some(tier.into());
        self
    }
}

#[cfg(test)]
mod tests;
