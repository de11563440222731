//! Conversations and what they hold: messages, citations, replies, customers.

use crate::ids::{ConversationId, CustomerId, MessageId};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use time::OffsetDateTime;

/// The current time, truncated to whole milliseconds: the precision stores keep, so a value
/// read back equals the value written.
pub fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.millisecond() as u32 * 1_000_000)
        .unwrap_or(t)
}

/// Where a conversation happens. Articles can be limited to some channels.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// The REST API (`/v1/conversations`), used by integrations and the CLI.
    #[default]
    Api,
    Web,
    DirectLine,
    WhatsApp,
    Telegram,
    Sms,
    Slack,
    Email,
}

impl Channel {
    pub const ALL: [Channel; 8] = [
        Self::Api,
        Self::Web,
        Self::DirectLine,
        Self::WhatsApp,
        Self::Telegram,
        Self::Sms,
        Self::Slack,
        Self::Email,
    ];

    /// The wire name (lowercase), as used in article front matter and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Web => "web",
            Self::DirectLine => "directline",
            Self::WhatsApp => "whatsapp",
            Self::Telegram => "telegram",
            Self::Sms => "sms",
            Self::Slack => "slack",
            Self::Email => "email",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Channel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<_> = Self::ALL.iter().map(|c| c.as_str()).collect();
                format!(
                    "unknown channel {s:?}; expected one of {}",
                    known.join(", ")
                )
            })
    }
}

/// Who owns a conversation right now. The bot replies only while it owns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Ownership {
    #[default]
    Bot,
    Queued,
    Human,
    Closed,
}

impl Ownership {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bot => "bot",
            Self::Queued => "queued",
            Self::Human => "human",
            Self::Closed => "closed",
        }
    }
}

impl FromStr for Ownership {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "bot" => Ok(Self::Bot),
            "queued" => Ok(Self::Queued),
            "human" => Ok(Self::Human),
            "closed" => Ok(Self::Closed),
            other => Err(format!("unknown ownership {other:?}")),
        }
    }
}

/// One conversation with one customer on one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Conversation {
    pub id: ConversationId,
    pub channel: Channel,
    /// BCP-47-ish language tag used to pick articles, e.g. `en`.
    pub locale: String,
    pub customer_id: Option<CustomerId>,
    pub ownership: Ownership,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

/// What is needed to open a conversation.
#[derive(Debug, Clone, Default)]
pub struct NewConversation {
    pub channel: Channel,
    pub locale: String,
    pub customer_id: Option<CustomerId>,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    Bot,
    Agent,
    System,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Bot => "bot",
            Self::Agent => "agent",
            Self::System => "system",
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "customer" => Ok(Self::Customer),
            "bot" => Ok(Self::Bot),
            "agent" => Ok(Self::Agent),
            "system" => Ok(Self::System),
            other => Err(format!("unknown role {other:?}")),
        }
    }
}

/// A knowledge-base passage that supports (part of) a reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Citation {
    pub article_id: String,
    pub title: String,
    /// Where a person can read the whole article.
    pub url: String,
    /// The supporting text, as quoted in the answer.
    pub passage: String,
    /// Retrieval score of the passage (BM25; higher is better, comparable within one reply).
    pub score: f32,
}

/// How a bot reply came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplyKind {
    /// A grounded answer: every sentence comes from a cited passage.
    Answer,
    /// Nothing in the knowledge base supports an answer; the reply says so and offers a human.
    NoAnswer,
    /// A step of a guided journey (its question, or what it found), as the journey file says.
    Journey,
    /// A short reply to a greeting, thanks or goodbye.
    SmallTalk,
}

impl ReplyKind {
    /// The wire name (snake_case), as serialized: `answer`, `no_answer`, `journey`,
    /// `small_talk`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Answer => "answer",
            Self::NoAnswer => "no_answer",
            Self::Journey => "journey",
            Self::SmallTalk => "small_talk",
        }
    }
}

/// The bot's reply to one customer message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Reply {
    pub text: String,
    pub citations: Vec<Citation>,
    pub kind: ReplyKind,
    /// How well the knowledge base covers the question, 0..=1 (share of the question's
    /// weighted terms found in the cited passages).
    pub support: f32,
    /// Quick replies the customer can pick (e.g. "Talk to a person").
    pub suggestions: Vec<String>,
}

/// One stored message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub role: Role,
    pub text: String,
    /// Sources of a bot answer; empty for other messages.
    #[serde(default)]
    pub citations: Vec<Citation>,
    /// For bot replies: whether it was a grounded answer or an honest "I don't know".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_kind: Option<ReplyKind>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suggestions: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl Message {
    /// A new plain message (no citations), not yet stored.
    pub fn new(conversation_id: ConversationId, role: Role, text: impl Into<String>) -> Self {
        Self {
            id: MessageId::new(),
            conversation_id,
            role,
            text: text.into(),
            citations: Vec::new(),
            reply_kind: None,
            suggestions: Vec::new(),
            created_at: now(),
        }
    }

    /// A new message from the customer, not yet stored.
    pub fn from_customer(conversation_id: ConversationId, text: impl Into<String>) -> Self {
        Self::new(conversation_id, Role::Customer, text)
    }

    /// The stored form of a bot reply.
    pub fn from_reply(conversation_id: ConversationId, reply: &Reply) -> Self {
        Self {
            id: MessageId::new(),
            conversation_id,
            role: Role::Bot,
            text: reply.text.clone(),
            citations: reply.citations.clone(),
            reply_kind: Some(reply.kind),
            suggestions: reply.suggestions.clone(),
            created_at: now(),
        }
    }
}

/// A person the business talks to, on one or more channels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Customer {
    pub id: CustomerId,
    pub display_name: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

/// How a channel knows a customer: a WhatsApp number, a Telegram user id, an email address,
/// or an id from the business's own systems (channel `api`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CustomerIdentity {
    pub channel: Channel,
    pub external_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_kind_names_are_the_serialized_ones() {
        for kind in [
            ReplyKind::Answer,
            ReplyKind::NoAnswer,
            ReplyKind::Journey,
            ReplyKind::SmallTalk,
        ] {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
    }

    #[test]
    fn channel_names_round_trip_and_unknown_is_explained() {
        for c in Channel::ALL {
            assert_eq!(c, c.as_str().parse().unwrap());
            assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{c}\""));
        }
        let err = "fax".parse::<Channel>().unwrap_err();
        assert!(err.contains("fax") && err.contains("whatsapp"), "{err}");
    }

    #[test]
    fn roles_and_ownership_round_trip() {
        for r in [Role::Customer, Role::Bot, Role::Agent, Role::System] {
            assert_eq!(r, r.as_str().parse().unwrap());
        }
        for o in [
            Ownership::Bot,
            Ownership::Queued,
            Ownership::Human,
            Ownership::Closed,
        ] {
            assert_eq!(o, o.as_str().parse().unwrap());
        }
    }
}
