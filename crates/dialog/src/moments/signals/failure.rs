//! The bot failing the customer: "I don't know" twice in a row, a journey step failing
//! repeatedly, the same question asked again (word overlap after normalisation, stop words
//! left out), and a failure in an experience-critical step.

use super::super::decision::{Reason, Signal};
use super::super::policy::raw::{RawRepeat, Weights};
use super::super::text::{content_stems, covered, similarity, tokens};
use super::super::{BotOutcome, Context};

/// Questions with fewer content words than this are too short to call a rephrase.
const MIN_CONTENT_WORDS: usize = 2;

#[derive(Debug, Clone)]
pub(crate) struct RepeatRules {
    no_answers: usize,
    step_failures: u32,
    similarity: f32,
    lookback: usize,
}

impl RepeatRules {
    pub(crate) fn build(raw: &RawRepeat) -> Result<Self, (String, String)> {
        let f = |name: &str| format!("repeat.{name}");
        if !(1..=10).contains(&raw.no_answers) {
            return Err((
                f("no_answers"),
                format!("{} is out of range 1..=10", raw.no_answers),
            ));
        }
        if !(1..=10).contains(&raw.step_failures) {
            return Err((
                f("step_failures"),
                format!("{} is out of range 1..=10", raw.step_failures),
            ));
        }
        if !(raw.similarity > 0.0 && raw.similarity <= 1.0) {
            return Err((
                f("similarity"),
                format!("{} is out of range (0, 1]", raw.similarity),
            ));
        }
        if !(1..=20).contains(&raw.lookback) {
            return Err((
                f("lookback"),
                format!("{} is out of range 1..=20", raw.lookback),
            ));
        }
        Ok(Self {
            no_answers: raw.no_answers,
            step_failures: raw.step_failures,
            similarity: raw.similarity,
            lookback: raw.lookback,
        })
    }

    /// "I don't know" several times in a row just before this message, or a journey step
    /// that failed repeatedly.
    pub(crate) fn repeated_failure(&self, ctx: &Context, weights: &Weights) -> Option<Signal> {
        let misses = ctx
            .history
            .iter()
            .rev()
            .take_while(|t| t.bot == BotOutcome::NoAnswer)
            .count();
        if misses >= self.no_answers {
            return Some(Signal::new(
                Reason::RepeatedFailure,
                weights.repeated_failure,
                format!("{misses} answers in a row missing"),
            ));
        }
        let failures = ctx.step.as_ref().map_or(0, |s| s.failures);
        (failures >= self.step_failures).then(|| {
            Signal::new(
                Reason::RepeatedFailure,
                weights.repeated_failure,
                format!("journey step failed {failures} times"),
            )
        })
    }

    /// The customer asking again what they asked in one of their last few messages: fully
    /// weighted after an "I don't know" or on the third asking, less after an answer.
    pub(crate) fn rephrased(&self, ctx: &Context, weights: &Weights) -> Option<Signal> {
        let now = content_stems(&tokens(&ctx.message));
        if now.len() < MIN_CONTENT_WORDS {
            return None;
        }
        let similar: Vec<(f32, BotOutcome)> = ctx
            .history
            .iter()
            .rev()
            .take(self.lookback)
            .filter_map(|turn| {
                let before = content_stems(&tokens(&turn.customer));
                // A shorter re-ask whose words all come from the earlier question counts too
                // ("where are my points" after "my points didn't show up for my purchase").
                let sim = if covered(&now, &before) {
                    1.0
                } else {
                    similarity(&now, &before)
                };
                (before.len() >= MIN_CONTENT_WORDS && sim >= self.similarity)
                    .then_some((sim, turn.bot))
            })
            .collect();
        let best = similar.iter().map(|(s, _)| *s).fold(0.0, f32::max);
        if similar.iter().any(|(_, bot)| *bot == BotOutcome::NoAnswer) {
            Some(Signal::new(
                Reason::RephrasedQuestion,
                weights.rephrased_question,
                format!("after no answer, overlap {best:.2}"),
            ))
        } else if similar.len() >= 2 {
            Some(Signal::new(
                Reason::RephrasedQuestion,
                weights.rephrased_question,
                format!("asked {} times, overlap {best:.2}", similar.len() + 1),
            ))
        } else if !similar.is_empty() {
            Some(Signal::new(
                Reason::RephrasedQuestion,
                weights.rephrased_after_answer,
                format!("after an answer, overlap {best:.2}"),
            ))
        } else {
            None
        }
    }
}

/// An experience-critical journey step: a small score while it goes well, the full one once
/// it (or the bot's last answer) has failed.
pub(crate) fn experience_critical(ctx: &Context, weights: &Weights) -> Option<Signal> {
    let step = ctx.step.as_ref().filter(|s| s.experience_critical)?;
    let bot_missed = ctx
        .history
        .last()
        .is_some_and(|t| t.bot == BotOutcome::NoAnswer);
    Some(if step.failures > 0 || bot_missed {
        Signal::new(
            Reason::ExperienceCritical,
            weights.experience_critical_failure,
            "after a failure",
        )
    } else {
        Signal::new(Reason::ExperienceCritical, weights.experience_critical, "")
    })
}
