//! Answers, from a messaging app, to what the team asked the customer outside a bot turn:
//! the offer made to a customer who waits for a person (call me back, leave a message, keep
//! waiting) and the satisfaction survey after an agent closes the conversation. The web
//! widget has its own controls for both (the REST routes); in an app they are plain replies.

use super::Inner;
use super::format::Outgoing;
use warmline_domain::{
    Channel, ChannelThread, DomainError, ErrorCode, InboundMessage, Message, Ownership, Role,
    TicketKind,
};

/// Asked when a customer on an app without a phone number (Telegram, Slack) wants a call.
pub const CALLBACK_NUMBER: &str =
    "Which phone number should our team call you on? Send it here, or pick another option.";
/// The answer to "Keep waiting".
pub const KEPT_WAITING: &str = "Thank you for waiting: you keep your place in line.";
/// Longest survey comment kept, in characters (as the REST route allows).
const COMMENT_CHARS: usize = 2000;

/// The survey's quick replies, as the agent API sets them when it closes a conversation.
fn is_survey(options: &[String]) -> bool {
    options
        .iter()
        .map(String::as_str)
        .eq(["1", "2", "3", "4", "5"])
}

/// Records `text` as the survey of the chat's conversation when an agent closed it, asked the
/// survey (its options are the chat's last), and it is not answered yet; thanks the customer.
/// `false` when the message is something else: it then starts a new conversation as usual.
pub(super) async fn survey(
    inner: &Inner,
    thread: &ChannelThread,
    text: &str,
) -> Result<bool, DomainError> {
    if !is_survey(&thread.options) {
        return Ok(false);
    }
    let Some((score, comment)) = survey_answer(text) else {
        return Ok(false);
    };
    let closed = inner
        .conversations
        .conversation(thread.conversation_id)
        .await?
        .is_some_and(|c| c.ownership == Ownership::Closed);
    if !closed {
        return Ok(false);
    }
    match inner
        .dialog
        .survey(thread.conversation_id, score, comment.as_deref())
        .await
    {
        Ok(()) => {}
        // Answered already (or the conversation reopened): a message like any other.
        Err(e) if e.code == ErrorCode::Conflict => return Ok(false),
        Err(e) => return Err(e),
    }
    tracing::info!(conversation_id = %thread.conversation_id, score, "survey answered from a messaging app");
    let thanks = Outgoing {
        text: super::rating::THANKS.into(),
        ..Outgoing::default()
    };
    inner.queue(thread, &thanks, None).await?;
    Ok(true)
}

/// A survey answer: a score from 1 to 5 first ("4", "5/5", "3 stars", "2 - slow"), then an
/// optional comment. A message with a question in it is not one ("1 more thing: where is...?").
pub fn survey_answer(text: &str) -> Option<(u8, Option<String>)> {
    let text = text.trim();
    let mut chars = text.chars();
    let score = chars.next()?.to_digit(10)?;
    if !(1..=5).contains(&score) || text.contains('?') {
        return None;
    }
    let rest = chars.as_str();
    if rest.starts_with(|c: char| {
        c.is_ascii_digit() || c == '.' && rest[1..].starts_with(|d: char| d.is_ascii_digit())
    }) {
        return None; // 10, 12 items, 4.5
    }
    let mut rest = rest.trim_start();
    for unit in ["/5", "/ 5", "out of 5", "stars", "star"] {
        if let Some(after) = strip_prefix_ignore_case(rest, unit) {
            rest = after;
            break;
        }
    }
    let comment = rest
        .trim_start_matches(|c: char| c.is_whitespace() || ",.;:!-–—)/*".contains(c))
        .trim_end();
    let comment = (!comment.is_empty()).then(|| comment.chars().take(COMMENT_CHARS).collect());
    Some((u8::try_from(score).ok()?, comment))
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// Handles the customer's answer to the offer made while they wait for a person: "Leave a
/// message" opens a ticket quoting what they wrote; "Call me back" opens a callback at the
/// app's phone number or email, or asks for a number (a reply with one opens it); "Keep
/// waiting" is acknowledged. `false` when `text` is none of these, or the conversation is not
/// waiting: the dialog takes it as usual (and keeps quiet while the customer waits).
pub(super) async fn offer(
    inner: &Inner,
    thread: &ChannelThread,
    message: &InboundMessage,
    text: &str,
) -> Result<bool, DomainError> {
    let id = thread.conversation_id;
    let choice = warmline_dialog::tickets::offer_choice(text);
    let number = phone_number(text);
    // Most messages are neither: they cost no read here.
    if choice.is_none() && number.is_none() {
        return Ok(false);
    }
    let waiting = inner
        .conversations
        .conversation(id)
        .await?
        .is_some_and(|c| c.ownership == Ownership::Queued);
    if !waiting {
        return Ok(false);
    }
    let (kind, contact) = match choice {
        Some(None) => {
            // Stored like anything said while waiting; the place in line is unchanged.
            inner.dialog.handle(id, text).await?;
            let kept = Outgoing {
                text: KEPT_WAITING.into(),
                ..Outgoing::default()
            };
            inner.queue(thread, &kept, None).await?;
            return Ok(true);
        }
        Some(Some(TicketKind::Message)) => (TicketKind::Message, None),
        Some(Some(TicketKind::Callback)) => match reachable_at(message) {
            Some(contact) => (TicketKind::Callback, Some(contact)),
            None => {
                let mut ask = Message::new(id, Role::System, CALLBACK_NUMBER);
                ask.suggestions = vec![
                    warmline_dialog::switchboard::LEAVE_A_MESSAGE.to_owned(),
                    warmline_dialog::switchboard::KEEP_WAITING.to_owned(),
                ];
                inner.conversations.append_message(&ask).await?;
                inner
                    .queue(thread, &Outgoing::from(&ask), Some(&ask))
                    .await?;
                return Ok(true);
            }
        },
        None => {
            let Some(number) = number else {
                return Ok(false);
            };
            let last = inner.conversations.messages(id, 1).await?;
            if !last
                .first()
                .is_some_and(|m| m.role == Role::System && m.text == CALLBACK_NUMBER)
            {
                return Ok(false);
            }
            (TicketKind::Callback, Some(number))
        }
    };
    let (ticket, thanks) = inner
        .dialog
        .leave_ticket(id, kind, contact.as_deref(), None)
        .await?;
    tracing::info!(ticket_id = %ticket.id, kind = kind.as_str(), "ticket left from a messaging app");
    inner
        .queue(thread, &Outgoing::from(&thanks), Some(&thanks))
        .await?;
    Ok(true)
}

/// Where the team can call or write back without asking: the sender's phone number on SMS
/// and WhatsApp, their address on email.
fn reachable_at(message: &InboundMessage) -> Option<String> {
    let sender = message.sender.trim();
    match message.channel {
        Channel::Sms => phone_number(sender.trim_start_matches("whatsapp:")),
        // WhatsApp Cloud ids are the number's digits without the plus.
        Channel::WhatsApp => phone_number(sender).map(|n| {
            if n.starts_with('+') {
                n
            } else {
                format!("+{n}")
            }
        }),
        Channel::Email => sender.contains('@').then(|| sender.to_owned()),
        _ => None,
    }
}

/// The phone number written in `text` ("+1 555 010 0134", "(555) 010-0134"), when there is
/// one: 7 to 15 digits with the usual separators between them, kept as written.
pub fn phone_number(text: &str) -> Option<String> {
    let mut best: Option<&str> = None;
    let mut start = None;
    let bytes = text.as_bytes();
    for (i, &b) in bytes
        .iter()
        .enumerate()
        .chain(std::iter::once((bytes.len(), &b' ')))
    {
        let part = b.is_ascii_digit() || b"+()-. ".contains(&b);
        match (start, part && i < bytes.len()) {
            // Not inside a code like JM-204518837.
            (None, true)
                if (b.is_ascii_digit() || b == b'+' || b == b'(')
                    && !(i > 0
                        && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'-')) =>
            {
                start = Some(i);
            }
            (Some(s), false) => {
                let run = text[s..i].trim_end_matches(|c: char| !c.is_ascii_digit() && c != ')');
                let digits = run.bytes().filter(u8::is_ascii_digit).count();
                if (7..=15).contains(&digits) && best.is_none_or(|b| b.len() < run.len()) {
                    best = Some(run);
                }
                start = None;
            }
            _ => {}
        }
    }
    best.map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survey_answers_are_a_score_then_an_optional_comment() {
        assert_eq!(survey_answer("4"), Some((4, None)));
        assert_eq!(survey_answer(" 5/5 "), Some((5, None)));
        assert_eq!(survey_answer("3 stars"), Some((3, None)));
        assert_eq!(
            survey_answer("2 - it took too long"),
            Some((2, Some("it took too long".into())))
        );
        assert_eq!(
            survey_answer("5, Ana was great!"),
            Some((5, Some("Ana was great!".into())))
        );
        assert_eq!(
            survey_answer("1 out of 5. rude"),
            Some((1, Some("rude".into())))
        );
        for not in [
            "0",
            "6",
            "10",
            "12 items are missing",
            "4.5",
            "",
            "great",
            "1 more thing: where is my order?",
        ] {
            assert_eq!(survey_answer(not), None, "{not:?}");
        }
        let long = format!("3 {}", "a".repeat(3000));
        assert_eq!(
            survey_answer(&long).unwrap().1.unwrap().chars().count(),
            COMMENT_CHARS
        );
    }

    #[test]
    fn phone_numbers_are_found_as_written() {
        assert_eq!(
            phone_number("+1 555 010 0134").as_deref(),
            Some("+1 555 010 0134")
        );
        assert_eq!(
            phone_number("call me on (555) 010-0134 please").as_deref(),
            Some("(555) 010-0134")
        );
        assert_eq!(phone_number("15550100134").as_deref(), Some("15550100134"));
        for not in [
            "my order JM-204518837",
            "",
            "call me",
            "123-45",
            "order 12 on 3.4.",
        ] {
            assert_eq!(phone_number(not), None, "{not:?}");
        }
    }
}
