//! "Helpful / not helpful" buttons under bot answers in the apps that have buttons (Telegram
//! inline keyboards, WhatsApp reply buttons, Slack Block Kit) and in Web Chat (its thumbs).
//!
//! Each button carries a token naming the rated reply: `rate:y:` or `rate:n:` and the
//! conversation and message ids (32 bytes, base64url): 50 characters, under Telegram's 64-byte
//! limit on callback data. A press comes back as an [`InboundMessage`] with a rating instead of
//! text, so it is recorded durably and once per provider id like any message; the inbound
//! worker then checks that the rated conversation belongs to the customer who pressed.
//!
//! [`InboundMessage`]: warmline_domain::InboundMessage

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;
use warmline_domain::{AnswerRating, ConversationId, Message, MessageId, ReplyKind, Role};

const PREFIX: &str = "rate:";
/// The buttons' labels (at most 20 characters: WhatsApp's limit on a button title).
pub const HELPFUL: &str = "👍 Helpful";
pub const NOT_HELPFUL: &str = "👎 Not helpful";
/// What a customer is told after rating, where the app shows no acknowledgement of its own.
pub const THANKS: &str = "Thank you for your feedback.";

/// The reply a message's rating buttons would rate: grounded answers only (not greetings,
/// journey steps, "I don't know" or agents' messages), as in the web widget.
pub fn target(message: &Message) -> Option<(ConversationId, MessageId)> {
    (message.role == Role::Bot && message.reply_kind == Some(ReplyKind::Answer))
        .then_some((message.conversation_id, message.id))
}

/// The token of a button rating `message` of `conversation`.
pub fn token(conversation: ConversationId, message: MessageId, helpful: bool) -> String {
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(conversation.0.as_bytes());
    bytes[16..].copy_from_slice(message.0.as_bytes());
    format!(
        "{PREFIX}{}:{}",
        if helpful { 'y' } else { 'n' },
        URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The two buttons for `target`: (label, token), helpful first.
pub fn buttons(target: (ConversationId, MessageId)) -> [(&'static str, String); 2] {
    [
        (HELPFUL, token(target.0, target.1, true)),
        (NOT_HELPFUL, token(target.0, target.1, false)),
    ]
}

/// The rating a button's token stands for; `None` for anything else (an option number, text).
pub fn parse(token: &str) -> Option<AnswerRating> {
    let rest = token.trim().strip_prefix(PREFIX)?;
    let (verdict, ids) = rest.split_once(':')?;
    let helpful = match verdict {
        "y" => true,
        "n" => false,
        _ => return None,
    };
    let bytes: [u8; 32] = URL_SAFE_NO_PAD.decode(ids).ok()?.try_into().ok()?;
    let id = |b: &[u8]| Uuid::from_slice(b).ok();
    Some(AnswerRating {
        conversation_id: ConversationId(id(&bytes[..16])?),
        message_id: MessageId(id(&bytes[16..])?),
        helpful,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_fit_telegrams_limit() {
        let (c, m) = (ConversationId::new(), MessageId::new());
        for helpful in [true, false] {
            let t = token(c, m, helpful);
            assert!(t.len() <= 64, "{t}");
            assert_eq!(
                parse(&t),
                Some(AnswerRating {
                    conversation_id: c,
                    message_id: m,
                    helpful
                })
            );
        }
        for other in [
            "1",
            "Talk to a person",
            "rate:",
            "rate:x:AAAA",
            "rate:y:not base64!",
            "rate:y:AAAA",
        ] {
            assert_eq!(parse(other), None, "{other}");
        }
        // A token cut short (or padded) is not a rating either.
        let t = token(c, m, true);
        assert_eq!(parse(&t[..t.len() - 1]), None);
        assert_eq!(parse(&format!("{t}A")), None);
    }

    #[test]
    fn only_grounded_answers_are_rated() {
        let c = ConversationId::new();
        let mut m = Message::new(c, Role::Bot, "Refunds take 3-5 days. [1]");
        assert_eq!(target(&m), None);
        m.reply_kind = Some(ReplyKind::Answer);
        assert_eq!(target(&m), Some((c, m.id)));
        m.reply_kind = Some(ReplyKind::NoAnswer);
        assert_eq!(target(&m), None);
        let mut agent = Message::new(c, Role::Agent, "Hi");
        agent.reply_kind = Some(ReplyKind::Answer);
        assert_eq!(target(&agent), None);
        assert!(HELPFUL.chars().count() <= 20 && NOT_HELPFUL.chars().count() <= 20);
    }
}
