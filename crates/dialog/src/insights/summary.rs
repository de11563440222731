//! The analytics summary of a time window, computed from the store's facts. Every figure
//! carries its denominator; [`DEFINITIONS`] says what each one counts.

use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use time::{Duration, OffsetDateTime};
use warmline_domain::insights::SurveyFacts;
use warmline_domain::{ArticleHelpfulness, GapGroup, InsightsFacts, ReplyKind};

/// What each figure means, as shown on the dashboard, in the CSV and in `warmline report`.
pub const DEFINITIONS: &[(&str, &str)] = &[
    (
        "conversations",
        "conversations started in the window, by UTC day and channel",
    ),
    (
        "bot_resolved",
        "conversations where the customer wrote at least once and no handoff to a person was \
         created; denominator: conversations where the customer wrote",
    ),
    (
        "handed_off",
        "conversations with a handoff to a person; same denominator",
    ),
    (
        "durable_resolution",
        "bot-resolved conversations of identified customers after which the same customer \
         started no other conversation, on any channel, within N days of its last message; \
         denominator: such conversations whose N days have passed (anonymous ones cannot be \
         followed; those still inside their N days are counted as pending)",
    ),
    (
        "handoff_reasons",
        "reason codes of handoffs created in the window (a handoff can have several); \
         denominator: handoffs",
    ),
    (
        "median_wait",
        "median of accepted_at - created_at over handoffs created in the window that an agent \
         accepted; denominator: accepted handoffs",
    ),
    (
        "csat",
        "post-conversation survey scores (1-5) answered in the window: the mean, and the share \
         of 4s and 5s; denominator: surveys",
    ),
    (
        "support",
        "support score of knowledge replies (answers and \"I don't know\"): the share of the \
         question's weighted terms found in the cited passages; denominator: knowledge replies",
    ),
    (
        "helpfulness",
        "customers' ratings of bot replies: helpful / rated",
    ),
    (
        "content_gaps",
        "groups of similar questions the bot could not answer (all time, open and drafting), \
         by number of questions",
    ),
];

/// Options of a summary.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub since: OffsetDateTime,
    pub until: OffsetDateTime,
    /// Days without a new contact for a bot resolution to count as durable.
    pub durable_days: i64,
}

/// A count with what it is out of.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Ratio {
    pub count: u64,
    pub denominator: u64,
    /// count / denominator, `null` when the denominator is 0.
    pub rate: Option<f64>,
}

impl Ratio {
    pub fn new(count: u64, denominator: u64) -> Self {
        Self {
            count,
            denominator,
            rate: (denominator > 0).then(|| count as f64 / denominator as f64),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DayChannel {
    /// UTC date, `YYYY-MM-DD`.
    pub day: String,
    pub channel: String,
    pub conversations: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Durable {
    pub durable: Ratio,
    /// Bot-resolved conversations of identified customers still inside their N days.
    pub pending: u64,
    /// Bot-resolved conversations without a known customer (not followed).
    pub anonymous: u64,
    pub days: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ReasonCount {
    pub reason: String,
    /// Out of all the window's handoffs.
    pub handoffs: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Wait {
    /// Median wait for an agent, in seconds; `null` without accepted handoffs.
    pub median_seconds: Option<f64>,
    /// Denominator: accepted handoffs.
    pub accepted: u64,
    /// Handoffs of the window nobody accepted (yet).
    pub not_accepted: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CsatDay {
    pub day: String,
    pub surveys: u64,
    pub average: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Csat {
    /// Mean score; `null` without surveys.
    pub average: Option<f64>,
    /// Scores of 4 or 5, out of the surveys.
    pub satisfied: Ratio,
    pub by_day: Vec<CsatDay>,
    /// Surveys with a comment, newest first, verbatim.
    pub comments: Vec<SurveyFacts>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Support {
    /// Denominator: knowledge replies.
    pub replies: u64,
    /// Replies that answered (support at or above the bar).
    pub answered: Ratio,
    pub mean: Option<f64>,
    pub median: Option<f64>,
    /// Replies with support in [0, .25), [.25, .5), [.5, .75), [.75, 1].
    pub buckets: Vec<u64>,
}

/// The whole summary of a window.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Summary {
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub since: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub until: OffsetDateTime,
    pub conversations: u64,
    pub by_day_channel: Vec<DayChannel>,
    pub by_channel: BTreeMap<String, u64>,
    pub bot_resolved: Ratio,
    pub handed_off: Ratio,
    pub durable: Durable,
    /// Reason codes and the handoffs with each, most frequent first.
    pub handoff_reasons: Vec<ReasonCount>,
    pub handoffs: u64,
    pub wait: Wait,
    pub csat: Csat,
    pub support: Support,
    pub helpfulness: Ratio,
    pub articles: Vec<ArticleHelpfulness>,
    /// Open content-gap groups (all time).
    pub gap_groups_open: u64,
    pub top_gaps: Vec<GapGroup>,
    pub definitions: BTreeMap<String, String>,
}

/// Most survey comments listed.
const COMMENTS: usize = 100;

pub(crate) fn day(t: OffsetDateTime) -> String {
    let d = t.date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

/// Computes the summary of `facts` (the store's facts of `window`) as of `now`. Content gaps
/// and articles are filled in by the caller.
pub fn compute(facts: &InsightsFacts, window: Window, now: OffsetDateTime) -> Summary {
    let mut per_day: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut by_channel: BTreeMap<String, u64> = BTreeMap::new();
    for c in &facts.conversations {
        *per_day
            .entry((day(c.created_at), c.channel.as_str().to_owned()))
            .or_default() += 1;
        *by_channel.entry(c.channel.as_str().to_owned()).or_default() += 1;
    }
    let engaged: Vec<_> = facts
        .conversations
        .iter()
        .filter(|c| c.customer_messages > 0)
        .collect();
    let handed = engaged.iter().filter(|c| c.handed_off).count() as u64;
    let resolved: Vec<_> = engaged.iter().filter(|c| !c.handed_off).collect();
    let total = engaged.len() as u64;

    // Durable resolution: no other conversation of the customer within N days.
    let mut contacts: HashMap<_, Vec<_>> = HashMap::new();
    for (customer, at, id) in &facts.later_contacts {
        contacts.entry(*customer).or_default().push((*at, *id));
    }
    let window_len = Duration::days(window.durable_days);
    let (mut durable, mut eligible, mut pending, mut anonymous) = (0, 0, 0, 0);
    for c in &resolved {
        let Some(customer) = c.customer_id else {
            anonymous += 1;
            continue;
        };
        let end = c.last_activity + window_len;
        if end > now {
            pending += 1;
            continue;
        }
        eligible += 1;
        let came_back = contacts.get(&customer).is_some_and(|list| {
            list.iter()
                .any(|(at, id)| *id != c.id && *at > c.created_at && *at <= end)
        });
        durable += u64::from(!came_back);
    }

    let mut reasons: HashMap<&str, u64> = HashMap::new();
    for h in &facts.handoffs {
        let mut seen: Vec<&str> = h.reasons.iter().map(String::as_str).collect();
        seen.sort_unstable();
        seen.dedup();
        for r in seen {
            *reasons.entry(r).or_default() += 1;
        }
    }
    let mut handoff_reasons: Vec<ReasonCount> = reasons
        .into_iter()
        .map(|(r, n)| ReasonCount {
            reason: r.to_owned(),
            handoffs: n,
        })
        .collect();
    handoff_reasons.sort_by(|a, b| b.handoffs.cmp(&a.handoffs).then(a.reason.cmp(&b.reason)));

    let mut waits: Vec<f64> = facts
        .handoffs
        .iter()
        .filter_map(|h| h.accepted_at.map(|a| (a - h.created_at).as_seconds_f64()))
        .collect();
    let accepted = waits.len() as u64;

    Summary {
        since: window.since,
        until: window.until,
        conversations: facts.conversations.len() as u64,
        by_day_channel: per_day
            .into_iter()
            .map(|((day, channel), conversations)| DayChannel {
                day,
                channel,
                conversations,
            })
            .collect(),
        by_channel,
        bot_resolved: Ratio::new(resolved.len() as u64, total),
        handed_off: Ratio::new(handed, total),
        durable: Durable {
            durable: Ratio::new(durable, eligible),
            pending,
            anonymous,
            days: window.durable_days,
        },
        handoff_reasons,
        handoffs: facts.handoffs.len() as u64,
        wait: Wait {
            median_seconds: median(&mut waits),
            accepted,
            not_accepted: facts.handoffs.len() as u64 - accepted,
        },
        csat: csat(&facts.surveys),
        support: support(&facts.replies),
        helpfulness: Ratio::new(facts.ratings.0, facts.ratings.1),
        articles: Vec::new(),
        gap_groups_open: 0,
        top_gaps: Vec::new(),
        definitions: DEFINITIONS
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

fn csat(surveys: &[SurveyFacts]) -> Csat {
    let n = surveys.len() as u64;
    let sum: u64 = surveys.iter().map(|s| u64::from(s.score)).sum();
    let satisfied = surveys.iter().filter(|s| s.score >= 4).count() as u64;
    let mut days: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for s in surveys {
        let e = days.entry(day(s.at)).or_default();
        e.0 += 1;
        e.1 += u64::from(s.score);
    }
    let mut comments: Vec<SurveyFacts> = surveys
        .iter()
        .filter(|s| s.comment.as_deref().is_some_and(|c| !c.trim().is_empty()))
        .cloned()
        .collect();
    comments.sort_by_key(|c| std::cmp::Reverse(c.at));
    comments.truncate(COMMENTS);
    Csat {
        average: (n > 0).then(|| sum as f64 / n as f64),
        satisfied: Ratio::new(satisfied, n),
        by_day: days
            .into_iter()
            .map(|(day, (surveys, sum))| CsatDay {
                day,
                surveys,
                average: sum as f64 / surveys as f64,
            })
            .collect(),
        comments,
    }
}

fn support(replies: &[(ReplyKind, f32)]) -> Support {
    let mut values: Vec<f64> = replies.iter().map(|(_, s)| f64::from(*s)).collect();
    let n = values.len() as u64;
    let answered = replies
        .iter()
        .filter(|(k, _)| *k == ReplyKind::Answer)
        .count() as u64;
    let mut buckets = vec![0u64; 4];
    for v in &values {
        buckets[((v * 4.0).floor() as usize).min(3)] += 1;
    }
    let mean = (n > 0).then(|| values.iter().sum::<f64>() / n as f64);
    Support {
        replies: n,
        answered: Ratio::new(answered, n),
        mean,
        median: median(&mut values),
        buckets,
    }
}

#[cfg(test)]
#[path = "summary_tests.rs"]
mod tests;
