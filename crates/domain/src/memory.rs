//! What the dialog manager remembers between turns: the journey a customer is in, the step
//! they are at, and the slots they have filled. It is kept per customer when the customer is
//! known (so a journey started on the web continues by SMS) and per conversation otherwise.

use crate::error::DomainError;
use crate::ids::{ConversationId, CustomerId};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use time::OffsetDateTime;

/// Whose memory: one customer's across their conversations and channels, or one anonymous
/// conversation's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MemoryKey {
    /// The business's CRM record: every channel identity the CRM knows as this customer
    /// (their verified email and phone) shares it.
    Crm(String),
    /// The store's customer (one channel identity, or identities linked to it).
    Customer(CustomerId),
    Conversation(ConversationId),
}

impl fmt::Display for MemoryKey {
    /// `crm:<reference>`, `customer:<uuid>` or `conversation:<uuid>`, the stored key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Crm(reference) => write!(f, "crm:{reference}"),
            Self::Customer(id) => write!(f, "customer:{id}"),
            Self::Conversation(id) => write!(f, "conversation:{id}"),
        }
    }
}

/// The dialog's memory of one customer (or anonymous conversation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// The guided flow in progress, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journey: Option<JourneyProgress>,
    /// Values collected by journeys and actions (`order_number`, `order.status`...). Kept
    /// after a journey ends, so a later journey need not ask again.
    #[serde(default)]
    pub slots: BTreeMap<String, serde_json::Value>,
    /// The customer's conversations, oldest first (at most [`Memory::CONVERSATIONS`]): on
    /// every channel when the memory is a known customer's, so their history reads as one.
    #[serde(default)]
    pub conversations: Vec<ConversationId>,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Memory {
    /// Conversations remembered per customer; older ones drop out of the shared history.
    pub const CONVERSATIONS: usize = 20;

    pub fn new(now: OffsetDateTime) -> Self {
        Self {
            journey: None,
            slots: BTreeMap::new(),
            conversations: Vec::new(),
            updated_at: now,
        }
    }

    /// Adds `conversation` to the customer's history; `true` when it was not there yet.
    pub fn note_conversation(&mut self, conversation: ConversationId) -> bool {
        if self.conversations.contains(&conversation) {
            return false;
        }
        self.conversations.push(conversation);
        let excess = self.conversations.len().saturating_sub(Self::CONVERSATIONS);
        self.conversations.drain(..excess);
        true
    }
}

/// Where a customer is in a journey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JourneyProgress {
    /// The journey's id (its file's `id`).
    pub journey: String,
    /// The step waiting for the customer's answer.
    pub step: String,
    /// How many answers to this step were not accepted.
    pub failures: u32,
    /// The conversation the journey was last advanced in.
    pub conversation: ConversationId,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
}

/// Where memories are kept. A write replaces the whole memory of the key.
#[async_trait]
pub trait Memories: Send + Sync {
    /// `Ok(None)` when nothing is remembered for `key`.
    async fn recall(&self, key: MemoryKey) -> Result<Option<Memory>, DomainError>;

    async fn remember(&self, key: MemoryKey, memory: &Memory) -> Result<(), DomainError>;
}
