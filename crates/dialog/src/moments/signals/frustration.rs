//! Frustration, as a trend over the customer's last few turns rather than one word.
//!
//! Each turn gets a score: lexicon cues (negated ones dropped, "very"/"so" strengthening,
//! "a bit" softening, "at myself" cancelling), swear words (masked ones too), angry emoji;
//! then ALL CAPS and "!!!"/"???" amplify a turn that already has a cue (alone they count
//! little: excitement is typed in caps too), and laughter, thanks and "no worries" subtract.
//! The signal fires when the score rises across turns, stays high, or one turn bursts with
//! several cues at once; a mildly frustrated latest turn alone adds a smaller score.

use super::super::decision::{Reason, Signal};
use super::super::lexicon::{
    ACRONYMS, ANGRY_EMOJI, CALM_EMOJI, DIMINISHERS, FRUSTRATION, INTENSIFIERS, NEGATION_WINDOW,
    NEGATORS, PROFANITY,
};
use super::super::pattern::{Classes, Pattern, Span, overlaps};
use super::super::policy::raw::{RawFrustration, Weights};
use super::super::text::{Token, fold, tokens};
use super::{compile_all, preceded_by};
use std::collections::HashSet;

/// Score of one swear word (two at most count).
const PROFANITY_SCORE: f32 = 0.6;
/// Score of an angry emoji (once), and what a happy one takes off (twice at most).
const EMOJI_SCORE: f32 = 0.6;
const CALM_EMOJI_SCORE: f32 = 0.4;
/// Shouting in caps, and runs of "!!" / "??".
const CAPS_SCORE: f32 = 0.5;
/// A whole message in caps shouts louder.
const ALL_CAPS_SCORE: f32 = 0.7;
const PUNCT_SCORE: f32 = 0.3;
/// Share of the amplifiers that counts on a turn without any cue.
const BARE_AMPLIFIER: f32 = 0.4;
/// Multipliers of "very"/"so" and "a bit"/"kind of".
const INTENSIFY: f32 = 1.5;
const SOFTEN: f32 = 0.7;
/// A previous turn at least this frustrated makes a stronger latest turn "rising".
const PRIOR: f32 = 0.2;

#[derive(Debug, Clone)]
pub(crate) struct FrustrationRules {
    turns: usize,
    burst: f32,
    burst_cues: usize,
    rising: f32,
    mild: f32,
    cues: Vec<(Pattern, f32)>,
    profanity: Vec<Pattern>,
    acronyms: HashSet<String>,
    intensifiers: Vec<Pattern>,
    diminishers: Vec<Pattern>,
}

/// One turn's frustration: its score and how many distinct cues made it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct TurnScore {
    pub score: f32,
    pub cues: usize,
}

impl FrustrationRules {
    pub(crate) fn build(raw: &RawFrustration, classes: &Classes) -> Result<Self, (String, String)> {
        let f = |name: &str| format!("frustration.{name}");
        if !(1..=10).contains(&raw.turns) {
            return Err((f("turns"), format!("{} is out of range 1..=10", raw.turns)));
        }
        if !(1..=10).contains(&raw.burst_cues) {
            return Err((
                f("burst_cues"),
                format!("{} is out of range 1..=10", raw.burst_cues),
            ));
        }
        for (name, v) in [
            ("burst", raw.burst),
            ("rising", raw.rising),
            ("mild", raw.mild),
        ] {
            if !(v > 0.0 && v <= 10.0) {
                return Err((f(name), format!("{v} is out of range (0, 10]")));
            }
        }
        for (i, r) in raw.remove.iter().enumerate() {
            if !FRUSTRATION.iter().any(|(p, _)| p == r) {
                return Err((
                    format!("frustration.remove[{i}]"),
                    format!(
                        "{r:?} is not a built-in cue (write it exactly as the built-in lexicon does)"
                    ),
                ));
            }
        }
        let mut cues = Vec::new();
        for (source, weight) in FRUSTRATION
            .iter()
            .filter(|(p, _)| !raw.remove.iter().any(|r| r == p))
        {
            let p = Pattern::compile(source, classes)
                .map_err(|e| ("(built-in) frustration".to_owned(), e))?;
            cues.push((p, *weight));
        }
        for (source, weight) in &raw.add {
            if !(-2.0..=2.0).contains(weight) {
                return Err((
                    format!("frustration.add.{source:?}"),
                    format!("weight {weight} is out of range -2..=2"),
                ));
            }
            let p = Pattern::compile(source, classes)
                .map_err(|e| (format!("frustration.add.{source:?}"), e))?;
            cues.push((p, *weight));
        }
        let mut profanity = compile_all(PROFANITY, classes, "(built-in) profanity")?;
        profanity.extend(compile_all(
            &raw.profanity,
            classes,
            "frustration.profanity",
        )?);
        let acronyms = ACRONYMS
            .iter()
            .map(|a| a.to_string())
            .chain(raw.acronyms.iter().map(|a| a.to_uppercase()))
            .collect();
        Ok(Self {
            turns: raw.turns,
            burst: raw.burst,
            burst_cues: raw.burst_cues,
            rising: raw.rising,
            mild: raw.mild,
            cues,
            profanity,
            acronyms,
            intensifiers: compile_all(INTENSIFIERS, classes, "(built-in) intensifiers")?,
            diminishers: compile_all(DIMINISHERS, classes, "(built-in) diminishers")?,
        })
    }

    /// The frustration signal for the customer's turns (oldest first, latest last).
    /// Frustration right after the bot failed to answer counts in full: it is a reaction to
    /// the failure, not a passing word.
    pub(crate) fn assess(
        &self,
        turns: &[&str],
        after_failure: bool,
        weights: &Weights,
    ) -> Option<Signal> {
        let recent = &turns[turns.len().saturating_sub(self.turns)..];
        let scores: Vec<TurnScore> = recent.iter().rev().map(|t| self.turn(t)).collect();
        let now = *scores.first()?;
        let before = scores.get(1).copied().unwrap_or_default();
        let high = scores.iter().filter(|s| s.score >= self.mild).count();
        let detail = if now.score >= self.burst && now.cues >= self.burst_cues {
            "burst"
        } else if now.score >= self.rising && before.score >= PRIOR && now.score > before.score {
            "rising"
        } else if now.score >= self.mild && high >= 2 {
            "sustained"
        } else if now.score >= self.mild && after_failure {
            "after a failed answer"
        } else if now.score >= self.mild {
            return Some(Signal::new(
                Reason::Frustration,
                weights.frustration_mild,
                "mild, latest turn",
            ));
        } else {
            return None;
        };
        Some(Signal::new(
            Reason::Frustration,
            weights.frustration,
            format!("{detail} over {} turns", scores.len()),
        ))
    }

    /// Scores one customer turn.
    pub(crate) fn turn(&self, text: &str) -> TurnScore {
        let toks = tokens(text);
        let (mut base, calm, mut cues) = self.lexicon(&toks);
        let swears = self
            .profanity
            .iter()
            .map(|p| p.find(&toks).len())
            .sum::<usize>()
            + masked_swears(text);
        base += PROFANITY_SCORE * swears.min(2) as f32;
        cues += swears.min(2);
        let angry = text.chars().any(|c| ANGRY_EMOJI.contains(&c));
        if angry {
            base += EMOJI_SCORE;
            cues += 1;
        }
        let happy = text
            .chars()
            .filter(|c| CALM_EMOJI.contains(c))
            .count()
            .min(2);
        let calm = calm - CALM_EMOJI_SCORE * happy as f32;
        let (caps, punct) = (self.shouting(text), punctuation(text));
        let amplifier = caps + punct;
        let felt = base + calm;
        if base > 0.0 && felt > 0.0 {
            cues += usize::from(caps > 0.0) + usize::from(punct > 0.0);
            return TurnScore {
                score: felt + amplifier,
                cues,
            };
        }
        // No cue, or calm outweighs it: caps and "!!" alone say little.
        TurnScore {
            score: (amplifier * BARE_AMPLIFIER + felt.min(0.0)).max(0.0),
            cues,
        }
    }

    /// Sum of the frustration cues, sum of the calming ones (negative), and the cue count.
    fn lexicon(&self, toks: &[Token]) -> (f32, f32, usize) {
        let mut found: Vec<(Span, f32)> = self
            .cues
            .iter()
            .flat_map(|(p, w)| p.find(toks).into_iter().map(move |s| (s, *w)))
            .collect();
        // Longest first, so "not happy" beats "happy" and "hate to bother" beats "hate".
        found.sort_by(|a, b| {
            (b.0.1 - b.0.0)
                .cmp(&(a.0.1 - a.0.0))
                .then(a.0.0.cmp(&b.0.0))
        });
        let mut taken: Vec<Span> = Vec::new();
        let (mut base, mut calm, mut cues) = (0.0, 0.0, 0);
        for (span, weight) in found {
            if taken.iter().any(|t| overlaps(*t, span)) {
                continue;
            }
            taken.push(span);
            if weight < 0.0 {
                calm += weight;
                continue;
            }
            let weight = self.adjusted(toks, span, weight);
            if weight > 0.0 {
                base += weight;
                cues += 1;
            }
        }
        (base, calm, cues)
    }

    /// A cue's weight after negation ("not angry"), self-blame ("annoyed at myself"),
    /// intensifiers and softeners.
    fn adjusted(&self, toks: &[Token], (start, end): Span, weight: f32) -> f32 {
        let starts_negated = NEGATORS.contains(&toks[start].raw.as_str());
        if !starts_negated && preceded_by(toks, start, NEGATION_WINDOW, NEGATORS) {
            return 0.0;
        }
        let after = &toks[end..(end + 2).min(toks.len())];
        if after
            .iter()
            .any(|t| matches!(t.raw.as_str(), "myself" | "ourselves"))
        {
            return 0.0;
        }
        let just_before = |patterns: &[Pattern]| {
            patterns.iter().any(|p| {
                p.find(toks)
                    .iter()
                    .any(|&(_, e)| e <= start && e + 1 >= start)
            })
        };
        if just_before(&self.diminishers) {
            weight * SOFTEN
        } else if just_before(&self.intensifiers) {
            weight * INTENSIFY
        } else {
            weight
        }
    }

    /// Shouting: several words in capitals that aren't abbreviations.
    fn shouting(&self, text: &str) -> f32 {
        let words: Vec<&str> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.chars().any(char::is_alphabetic))
            .collect();
        let caps = words
            .iter()
            .filter(|w| {
                w.chars().count() >= 2
                    && w.chars().all(|c| !c.is_lowercase())
                    && !self.acronyms.contains(**w)
            })
            .count();
        if caps >= 5 && caps * 5 >= words.len() * 4 {
            ALL_CAPS_SCORE
        } else if caps >= 4 || (caps >= 2 && caps * 2 >= words.len()) {
            CAPS_SCORE
        } else {
            0.0
        }
    }
}

/// "!!", "???" and "?!": runs of two or more.
fn punctuation(text: &str) -> f32 {
    let mut run = 0;
    let mut longest = 0;
    for c in text.chars() {
        run = if c == '!' || c == '?' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    if longest >= 2 { PUNCT_SCORE } else { 0.0 }
}

/// Swear words masked with `*` or `#` ("f***", "sh*t"), and grawlix ("#$%@!").
fn masked_swears(text: &str) -> usize {
    fold(text)
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| ".,;:!?\"'()".contains(c)))
        .filter(|w| {
            let masked = w.chars().next().is_some_and(char::is_alphabetic)
                && w.chars().skip(1).any(|c| c == '*' || c == '#')
                && w.chars().all(|c| c.is_alphabetic() || c == '*' || c == '#');
            let symbols: HashSet<char> = w.chars().filter(|c| *c != '!').collect();
            let grawlix = w.chars().count() >= 3
                && w.chars().all(|c| "#$%@&*!".contains(c))
                && symbols.len() >= 2;
            masked || grawlix
        })
        .count()
}
