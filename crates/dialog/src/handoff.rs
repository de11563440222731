//! Handing a customer to people: the packet an agent gets, and what the customer is told.

use crate::moments::Decision;
use warmline_domain::{Citation, HandoffPacket, Message, ReplyKind, Role};

/// Customer messages quoted in the summary (the most recent ones).
const SUMMARY_MESSAGES: usize = 3;
/// Longest summary, in characters.
const SUMMARY_CHARS: usize = 600;

/// What the agent needs so the customer never repeats themselves, built from the transcript
/// (oldest first) without a model: the reasons, the customer's latest messages, the articles
/// the bot cited and the questions it could not answer.
pub fn packet(decision: &Decision, transcript: &[Message]) -> HandoffPacket {
    let mut cited: Vec<Citation> = Vec::new();
    let mut unanswered = Vec::new();
    let mut last_question: Option<&str> = None;
    for m in transcript {
        match m.role {
            Role::Customer => last_question = Some(&m.text),
            Role::Bot => {
                for c in &m.citations {
                    if !cited.iter().any(|k| k.article_id == c.article_id) {
                        cited.push(c.clone());
                    }
                }
                if m.reply_kind == Some(ReplyKind::NoAnswer)
                    && let Some(q) = last_question.take()
                {
                    unanswered.push(q.to_owned());
                }
            }
            Role::Agent | Role::System => {}
        }
    }
    let asked: Vec<&str> = transcript
        .iter()
        .filter(|m| m.role == Role::Customer)
        .map(|m| m.text.as_str())
        .collect();
    let recent = &asked[asked.len().saturating_sub(SUMMARY_MESSAGES)..];
    let mut summary = match recent {
        [] => String::new(),
        [only] => format!("The customer wrote: \"{only}\""),
        _ => format!(
            "The customer's last {} messages: {}",
            recent.len(),
            recent
                .iter()
                .map(|t| format!("\"{t}\""))
                .collect::<Vec<_>>()
                .join(" / ")
        ),
    };
    if summary.chars().count() > SUMMARY_CHARS {
        summary = summary.chars().take(SUMMARY_CHARS - 1).collect::<String>() + "…";
    }
    HandoffPacket {
        reasons: decision.reasons(),
        explanation: decision.explanation(),
        summary,
        cited,
        unanswered,
    }
}

/// Queue priority: the detector's score (tenths), must-escalate topics and VIPs first.
pub fn priority(decision: &Decision) -> i32 {
    let mut p = (decision.score * 10.0).round() as i32;
    if decision.forced_by.is_some() {
        p += 20;
    }
    if decision.reasons().iter().any(|r| r.starts_with("tier:")) {
        p += 10;
    }
    p
}

/// What the customer is told when their conversation is queued for a person.
pub fn queued_text(position: usize) -> String {
    let place = match position {
        0 | 1 => "You're next in line".to_owned(),
        n => format!("You're number {n} in line"),
    };
    format!(
        "I'm bringing in a person from our team. {place}; they'll see our conversation, so you \
         won't need to repeat yourself. You can keep writing here in the meantime."
    )
}
