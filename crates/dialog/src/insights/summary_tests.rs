//! The metric definitions on a hand-built set of conversations with known answers.

use super::*;
use time::macros::datetime;
use warmline_domain::insights::{ConversationFacts, HandoffFacts};
use warmline_domain::{Channel, ConversationId, CustomerId};

fn conversation(
    channel: Channel,
    customer: Option<CustomerId>,
    at: OffsetDateTime,
    last: OffsetDateTime,
    wrote: u64,
    handed_off: bool,
) -> ConversationFacts {
    ConversationFacts {
        id: ConversationId::new(),
        channel,
        customer_id: customer,
        created_at: at,
        last_activity: last,
        customer_messages: wrote,
        handed_off,
    }
}

fn survey(score: u8, comment: Option<&str>, at: OffsetDateTime) -> SurveyFacts {
    SurveyFacts {
        conversation_id: ConversationId::new(),
        score,
        comment: comment.map(str::to_owned),
        at,
    }
}

/// Ten conversations over two days:
/// - ana: web on day 1 (bot), back by SMS on day 3 (within 7 days): not durable;
/// - ben: web on day 1 (bot), never back: durable;
/// - cleo: telegram on day 2 (bot), back on day 20 (after 7 days): durable;
/// - dan: web on day 2 (bot), last message 2 days before `now`: pending;
/// - two anonymous api conversations (bot) on day 1;
/// - one web conversation with no customer message;
/// - three handed off (web day 1, sms day 2, sms day 2).
fn facts() -> (InsightsFacts, OffsetDateTime) {
    let d1 = datetime!(2026-11-01 10:00 UTC);
    let d2 = datetime!(2026-11-02 10:00 UTC);
    let now = datetime!(2026-11-10 12:00 UTC);
    let (ana, ben, cleo, dan) = (
        CustomerId::new(),
        CustomerId::new(),
        CustomerId::new(),
        CustomerId::new(),
    );
    let min = Duration::minutes;
    let mut conversations = vec![
        conversation(Channel::Web, Some(ana), d1, d1 + min(5), 2, false),
        conversation(Channel::Web, Some(ben), d1, d1 + min(3), 1, false),
        conversation(Channel::Telegram, Some(cleo), d2, d2 + min(1), 1, false),
        conversation(
            Channel::Web,
            Some(dan),
            d2,
            now - Duration::days(2),
            3,
            false,
        ),
        conversation(Channel::Api, None, d1, d1, 1, false),
        conversation(Channel::Api, None, d1, d1, 1, false),
        conversation(Channel::Web, None, d1, d1, 0, false),
        conversation(Channel::Web, None, d1, d1 + min(30), 4, true),
        conversation(Channel::Sms, None, d2, d2 + min(30), 2, true),
        conversation(
            Channel::Sms,
            Some(ben),
            d2 + Duration::days(20),
            d2,
            2,
            true,
        ),
    ];
    // ben's third conversation is outside the window (20 days later): drop it from the
    // window's conversations but keep it as a later contact (beyond his 7 days, within 30).
    let bens_later = conversations.pop().unwrap();
    conversations.push(conversation(Channel::Sms, None, d2, d2 + min(30), 2, true));
    let mut later: Vec<_> = conversations
        .iter()
        .filter_map(|c| c.customer_id.map(|p| (p, c.created_at, c.id)))
        .collect();
    later.push((ana, datetime!(2026-11-03 09:00 UTC), ConversationId::new()));
    later.push((cleo, datetime!(2026-11-20 09:00 UTC), ConversationId::new()));
    later.push((ben, bens_later.created_at, bens_later.id));
    let handoffs = vec![
        HandoffFacts {
            reasons: vec!["repeated_failure".into(), "frustration".into()],
            created_at: d1,
            accepted_at: Some(d1 + Duration::seconds(60)),
        },
        HandoffFacts {
            reasons: vec!["explicit_request".into()],
            created_at: d2,
            accepted_at: Some(d2 + Duration::seconds(180)),
        },
        HandoffFacts {
            reasons: vec!["repeated_failure".into()],
            created_at: d2,
            accepted_at: None,
        },
    ];
    let surveys = vec![
        survey(5, Some("Ana was lovely, thank you"), d1),
        survey(2, None, d2),
        survey(4, Some("  "), d2),
    ];
    let replies = vec![
        (ReplyKind::Answer, 1.0),
        (ReplyKind::Answer, 0.8),
        (ReplyKind::NoAnswer, 0.2),
        (ReplyKind::NoAnswer, 0.3),
        (ReplyKind::Answer, 0.6),
    ];
    let facts = InsightsFacts {
        conversations,
        later_contacts: later,
        handoffs,
        surveys,
        replies,
        ratings: (3, 4),
    };
    (facts, now)
}

fn window() -> Window {
    Window {
        since: datetime!(2026-11-01 00:00 UTC),
        until: datetime!(2026-11-03 00:00 UTC),
        durable_days: 7,
    }
}

#[test]
fn conversations_per_day_and_channel() {
    let (facts, now) = facts();
    let s = compute(&facts, window(), now);
    assert_eq!(s.conversations, 10);
    let rows: Vec<_> = s
        .by_day_channel
        .iter()
        .map(|r| (r.day.as_str(), r.channel.as_str(), r.conversations))
        .collect();
    assert_eq!(
        rows,
        [
            ("2026-11-01", "api", 2),
            ("2026-11-01", "web", 4),
            ("2026-11-02", "sms", 2),
            ("2026-11-02", "telegram", 1),
            ("2026-11-02", "web", 1),
        ]
    );
    assert_eq!(s.by_channel["web"], 5);
}

#[test]
fn bot_resolved_and_handed_off_out_of_conversations_where_the_customer_wrote() {
    let (facts, now) = facts();
    let s = compute(&facts, window(), now);
    assert_eq!(s.bot_resolved, Ratio::new(6, 9));
    assert_eq!(s.handed_off, Ratio::new(3, 9));
    assert_eq!(s.handed_off.rate, Some(1.0 / 3.0));
}

#[test]
fn durable_resolution_counts_a_return_on_another_channel_within_the_window() {
    let (facts, now) = facts();
    let s = compute(&facts, window(), now);
    // ana came back by SMS within 7 days; ben and cleo did not; dan is still inside his days.
    assert_eq!(s.durable.durable, Ratio::new(2, 3));
    assert_eq!(s.durable.pending, 1);
    assert_eq!(s.durable.anonymous, 2);
    // With a 30-day window ben's return 20 days later counts, cleo's too, and dan is pending.
    let long = Window {
        durable_days: 30,
        ..window()
    };
    let s = compute(&facts, long, datetime!(2027-01-01 00:00 UTC));
    assert_eq!(s.durable.durable, Ratio::new(1, 4), "only dan stayed away");
}

#[test]
fn handoff_reasons_and_median_wait() {
    let (facts, now) = facts();
    let s = compute(&facts, window(), now);
    assert_eq!(s.handoffs, 3);
    let reasons: Vec<_> = s
        .handoff_reasons
        .iter()
        .map(|r| (r.reason.as_str(), r.handoffs))
        .collect();
    assert_eq!(
        reasons,
        [
            ("repeated_failure", 2),
            ("explicit_request", 1),
            ("frustration", 1)
        ]
    );
    assert_eq!(s.wait.median_seconds, Some(120.0));
    assert_eq!((s.wait.accepted, s.wait.not_accepted), (2, 1));
}

#[test]
fn csat_and_comments_verbatim() {
    let (facts, now) = facts();
    let s = compute(&facts, window(), now);
    assert_eq!(s.csat.average, Some(11.0 / 3.0));
    assert_eq!(s.csat.satisfied, Ratio::new(2, 3));
    assert_eq!(s.csat.by_day.len(), 2);
    assert_eq!(s.csat.by_day[1].average, 3.0);
    assert_eq!(s.csat.comments.len(), 1);
    assert_eq!(
        s.csat.comments[0].comment.as_deref(),
        Some("Ana was lovely, thank you")
    );
}

#[test]
fn support_scores_and_helpfulness() {
    let (facts, now) = facts();
    let s = compute(&facts, window(), now);
    assert_eq!(s.support.replies, 5);
    assert_eq!(s.support.answered, Ratio::new(3, 5));
    assert!((s.support.mean.unwrap() - 0.58).abs() < 1e-6);
    assert!((s.support.median.unwrap() - 0.6).abs() < 1e-6);
    assert_eq!(s.support.buckets, [1, 1, 1, 2]);
    assert_eq!(s.helpfulness, Ratio::new(3, 4));
}

#[test]
fn an_empty_window_has_no_rates() {
    let s = compute(&InsightsFacts::default(), window(), window().until);
    assert_eq!(s.bot_resolved, Ratio::new(0, 0));
    assert_eq!(s.bot_resolved.rate, None);
    assert_eq!(s.wait.median_seconds, None);
    assert_eq!(s.csat.average, None);
    assert!(s.definitions.contains_key("durable_resolution"));
}
