//! Handing a customer to people: the packet an agent gets, and what the customer is told.

use crate::moments::Decision;
use warmline_domain::crm::{CrmConnector, CrmCustomer};
use warmline_domain::{Citation, CustomerSnapshot, HandoffPacket, Message, ReplyKind, Role};

/// Recent orders shown to the agent.
const SNAPSHOT_ORDERS: usize = 3;

fn money(cents: i64, currency: &str) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}{}.{:02} {currency}", cents / 100, cents % 100)
}

/// What the agent sees of a CRM customer. A failing call leaves its part empty: the
/// handoff never waits on, or fails because of, the CRM.
pub async fn snapshot(crm: &dyn CrmConnector, customer: &CrmCustomer) -> CustomerSnapshot {
    let p = &customer.profile;
    let orders = match crm
        .recent_orders(&customer.reference, SNAPSHOT_ORDERS)
        .await
    {
        Ok(orders) => orders,
        Err(e) => {
            tracing::warn!(error = %e, "CRM orders unavailable for the handoff");
            Vec::new()
        }
    };
    let cases = match crm.open_cases(&customer.reference).await {
        Ok(cases) => cases,
        Err(e) => {
            tracing::warn!(error = %e, "CRM cases unavailable for the handoff");
            Vec::new()
        }
    };
    CustomerSnapshot {
        name: p.name.clone(),
        tier: p.tier.clone(),
        language: p.language.clone(),
        membership: p.membership.clone(),
        lifetime_value: p
            .lifetime_value
            .as_ref()
            .map(|m| money(m.cents, &m.currency)),
        recent_orders: orders
            .iter()
            .map(|o| {
                format!(
                    "{} {} {}",
                    o.number,
                    o.status.as_str(),
                    money(o.total_cents, &o.currency)
                )
            })
            .collect(),
        open_cases: cases
            .iter()
            .map(|c| format!("{} ({})", c.subject, c.status))
            .collect(),
    }
}

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
        summary_by: None,
        cited,
        unanswered,
        customer: None,
        journey: None,
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

/// Whether people can take the conversation now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// Within business hours with an agent online; `wait`: the median of recent waits,
    /// when there are enough of them to say.
    Open { wait: Option<time::Duration> },
    /// Within business hours, but no agent is online.
    NoAgents,
    /// Outside business hours; `back`: when they open again (local time of the policy).
    Closed { back: Option<time::OffsetDateTime> },
}

impl Availability {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open { .. } => "open",
            Self::NoAgents => "no_agents",
            Self::Closed { .. } => "closed",
        }
    }
}

/// Accepted handoffs needed before a typical wait is quoted.
pub const MIN_WAITS_FOR_ESTIMATE: usize = 3;

/// The median of `waits`, when there are enough to quote.
pub fn typical_wait(waits: &[time::Duration]) -> Option<time::Duration> {
    if waits.len() < MIN_WAITS_FOR_ESTIMATE {
        return None;
    }
    let mut sorted = waits.to_vec();
    sorted.sort();
    Some(sorted[sorted.len() / 2])
}

fn minutes(d: time::Duration) -> String {
    match d.whole_minutes() {
        0 | 1 => "a minute or two".to_owned(),
        n => format!("about {n} minutes"),
    }
}

/// What the customer is told when their conversation is queued for a person: their place,
/// an honest wait, or when people are back. Nothing they write is lost either way.
pub fn queued_text(position: usize, availability: Availability) -> String {
    const KEPT: &str = "I've passed this to our team with everything you told me";
    match availability {
        Availability::Open { wait } => {
            let place = match position {
                0 | 1 => "You're next in line".to_owned(),
                n => format!("You're number {n} in line"),
            };
            let wait = wait
                .map(|w| format!(" (the wait is usually {})", minutes(w)))
                .unwrap_or_default();
            format!(
                "I'm bringing in a person from our team. {place}{wait}; they'll see our \
                 conversation, so you won't need to repeat yourself. You can keep writing here \
                 in the meantime."
            )
        }
        Availability::NoAgents => format!(
            "{KEPT}. No one is free to chat right now, so a person will reply here as soon as \
             they can. Nothing you write is lost: you can keep adding details here."
        ),
        Availability::Closed { back } => {
            let back = back
                .map(|t| {
                    let (h, m, _) = t.offset().as_hms();
                    format!(
                        " They're back at {:02}:{:02} (UTC{h:+03}:{:02}) on {} {} {}.",
                        t.hour(),
                        t.minute(),
                        m.abs(),
                        t.weekday(),
                        t.day(),
                        t.month()
                    )
                })
                .unwrap_or_default();
            format!(
                "{KEPT}. Our team is away right now.{back} A person will reply here then; nothing \
                 you write is lost, so you can keep adding details here."
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    #[test]
    fn the_wait_is_quoted_only_from_enough_handoffs() {
        let m = Duration::minutes;
        assert_eq!(typical_wait(&[m(1), m(9)]), None);
        assert_eq!(typical_wait(&[m(9), m(1), m(4)]), Some(m(4)));
        let open = queued_text(3, Availability::Open { wait: Some(m(4)) });
        assert!(
            open.contains("number 3 in line") && open.contains("about 4 minutes"),
            "{open}"
        );
        let first = queued_text(1, Availability::Open { wait: None });
        assert!(
            first.contains("next in line") && !first.contains("usually"),
            "{first}"
        );
    }

    #[test]
    fn without_people_the_customer_hears_when_and_that_nothing_is_lost() {
        let none = queued_text(1, Availability::NoAgents);
        assert!(none.contains("No one is free") && none.contains("Nothing you write is lost"));
        let back = time::macros::datetime!(2026-11-24 08:00 -05:00);
        let closed = queued_text(1, Availability::Closed { back: Some(back) });
        assert!(
            closed.contains("08:00 (UTC-05:00) on Tuesday 24 November"),
            "{closed}"
        );
        assert!(!closed.contains("in line"));
    }
}
