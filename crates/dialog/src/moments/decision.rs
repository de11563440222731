//! What the detector decides, and why: reason codes and scores that can be logged (they
//! carry nothing the customer wrote), and a one-line explanation for the agent.

use std::fmt;

/// Why a signal fired. [`Reason::code`] is the stable, loggable code.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reason {
    /// `explicit_request`: the customer asked for a person.
    ExplicitRequest,
    /// `frustration`: frustration rising, sustained, in a burst, or (weaker) mild now.
    Frustration,
    /// `repeated_failure`: the bot couldn't answer several times in a row, or the journey
    /// step failed repeatedly.
    RepeatedFailure,
    /// `rephrased_question`: the customer asked the same thing again.
    RephrasedQuestion,
    /// `high_stakes:<topic>`: a topic of the policy (fraud, bereavement, ...).
    HighStakes(String),
    /// `experience_critical`: the journey step is marked experience-critical.
    ExperienceCritical,
    /// `tier:<name>`: the customer's tier changed the threshold (scores nothing itself).
    Tier(String),
    /// `channel_rule`: the policy sends this topic to a person on this channel.
    ChannelRule,
    /// `journey:<id>`: a step of the journey hands the customer to a person.
    Journey(String),
}

impl Reason {
    /// The reason code, e.g. `explicit_request` or `high_stakes:fraud`.
    pub fn code(&self) -> String {
        match self {
            Self::ExplicitRequest => "explicit_request".into(),
            Self::Frustration => "frustration".into(),
            Self::RepeatedFailure => "repeated_failure".into(),
            Self::RephrasedQuestion => "rephrased_question".into(),
            Self::HighStakes(topic) => format!("high_stakes:{topic}"),
            Self::ExperienceCritical => "experience_critical".into(),
            Self::Tier(tier) => format!("tier:{tier}"),
            Self::ChannelRule => "channel_rule".into(),
            Self::Journey(id) => format!("journey:{id}"),
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::ExplicitRequest => "asked for a person".into(),
            Self::Frustration => "frustrated".into(),
            Self::RepeatedFailure => "the bot kept failing".into(),
            Self::RephrasedQuestion => "asked the same question again".into(),
            Self::HighStakes(topic) => format!("high-stakes topic {}", topic.replace('_', " ")),
            Self::ExperienceCritical => "experience-critical step".into(),
            Self::Tier(tier) => format!("{tier} customer"),
            Self::ChannelRule => "channel rule".into(),
            Self::Journey(id) => format!("journey {id} hands over"),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code())
    }
}

/// One signal that fired.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    pub reason: Reason,
    /// What it adds to the decision's score.
    pub score: f32,
    /// How it fired, in the policy's words ("rising over 3 turns", "phrase", "similar to an
    /// example (0.71)"); never the customer's text.
    pub detail: String,
}

impl Signal {
    pub(crate) fn new(reason: Reason, score: f32, detail: impl Into<String>) -> Self {
        Self {
            reason,
            score,
            detail: detail.into(),
        }
    }
}

/// Where an escalation should go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Route {
    /// A person in this conversation (live chat, or the queue for this channel).
    #[default]
    Agent,
    /// A voice call: the policy says this topic can't be handled on this channel.
    Voice,
}

impl Route {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Voice => "voice",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "agent" | "human" => Some(Self::Agent),
            "voice" => Some(Self::Voice),
            _ => None,
        }
    }
}

/// The detector's verdict on one customer message.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Hand the conversation to a person now.
    pub escalate: bool,
    /// Sum of the signals' scores.
    pub score: f32,
    /// The score at which this customer is escalated (their tier's, or the policy's).
    pub threshold: f32,
    /// Where to send the customer, if escalated.
    pub route: Route,
    /// Signals that fired, strongest first.
    pub signals: Vec<Signal>,
    /// The signal that escalates whatever the score (an `always` reason or a channel rule).
    pub forced_by: Option<Reason>,
}

impl Decision {
    /// The decision of a journey step that hands the customer to a person.
    pub fn journey_handoff(journey: &str) -> Self {
        let reason = Reason::Journey(journey.to_owned());
        Self {
            escalate: true,
            score: 0.0,
            threshold: 0.0,
            route: Route::Agent,
            signals: vec![Signal::new(reason.clone(), 0.0, "")],
            forced_by: Some(reason),
        }
    }

    /// The reason codes that fired, strongest first.
    pub fn reasons(&self) -> Vec<String> {
        self.signals.iter().map(|s| s.reason.code()).collect()
    }

    /// The strongest signal, if any fired (tier adjustments score nothing and come last).
    pub fn primary(&self) -> Option<&Signal> {
        self.signals.first().filter(|s| s.score > 0.0)
    }

    /// Whether `reason` (a code such as `high_stakes:fraud`) fired.
    pub fn fired(&self, code: &str) -> bool {
        self.signals.iter().any(|s| s.reason.code() == code)
    }

    /// A short sentence for the agent taking over, or for a log reader: what fired and why.
    pub fn explanation(&self) -> String {
        let why: Vec<String> = self
            .signals
            .iter()
            .map(|s| match s.detail.is_empty() {
                true => s.reason.describe(),
                false => format!("{} ({})", s.reason.describe(), s.detail),
            })
            .collect();
        let why = if why.is_empty() {
            "nothing fired".to_owned()
        } else {
            why.join("; ")
        };
        match (self.escalate, &self.forced_by) {
            (true, Some(reason)) => format!(
                "hand over ({}): {why}; {reason} always escalates",
                self.route.as_str()
            ),
            (true, None) => format!(
                "hand over ({}): {why}; score {:.2} reaches {:.2}",
                self.route.as_str(),
                self.score,
                self.threshold
            ),
            (false, _) => format!(
                "keep with the bot: {why}; score {:.2} below {:.2}",
                self.score, self.threshold
            ),
        }
    }
}

/// `escalate route=voice score=2.00/1.00 high_stakes:fraud=2.00 channel_rule=1.00`: codes
/// and scores only, safe to log.
impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.escalate {
            true => write!(f, "escalate route={}", self.route.as_str())?,
            false => f.write_str("stay")?,
        }
        write!(f, " score={:.2}/{:.2}", self.score, self.threshold)?;
        for s in &self.signals {
            write!(f, " {}={:.2}", s.reason.code(), s.score)?;
        }
        Ok(())
    }
}
