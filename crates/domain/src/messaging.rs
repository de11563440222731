//! Messaging apps (WhatsApp, Telegram, SMS, Slack, email): what their adapters keep durably.
//!
//! - [`InboundMessage`]: one customer message as a provider's webhook delivered it,
//!   normalised. Recorded once per provider message id ([`ChannelStore::record_inbound`]), so a
//!   provider's retries are processed once; the record is also the durable inbound queue.
//! - [`ChannelThread`]: a provider chat (a Telegram chat, a phone number, a Slack thread, an
//!   email thread) mapped to the conversation it continues.
//! - [`NewOutboxItem`] / [`OutboxItem`]: provider requests waiting to be sent, retried with
//!   backoff until they go through (a provider outage or a restart loses nothing).
//! - [`Outbound`]: the hook through which messages written outside a customer turn (an
//!   agent's) reach the customer's channel.

use crate::conversation::{Channel, Message};
use crate::error::DomainError;
use crate::ids::{ConversationId, MessageId};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// One customer message received from a messaging provider, normalised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundMessage {
    pub channel: Channel,
    /// The provider's id of this message (Telegram `update_id`, WhatsApp `wamid...`, Twilio
    /// `MessageSid`, Slack `event_id`, email `Message-ID`): retries carry the same one.
    pub provider_id: String,
    /// The provider chat the message belongs to (see [`ChannelThread::key`]).
    pub thread_key: String,
    /// How the channel knows the sender (becomes a [`crate::CustomerIdentity`]).
    pub sender: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub text: String,
    /// What the channel needs to reply in this chat (channel-specific JSON).
    #[serde(default)]
    pub address: serde_json::Value,
    /// The sender's language, when the provider says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// A press of a rating button under a bot answer, instead of something said (`text` is
    /// then empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<AnswerRating>,
}

/// A customer's "helpful" / "not helpful" on one bot answer, from a channel's button.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerRating {
    pub conversation_id: ConversationId,
    pub message_id: MessageId,
    pub helpful: bool,
}

/// A provider chat and the conversation it continues.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelThread {
    pub channel: Channel,
    /// Stable per chat: a Telegram chat id, a phone number pair, `channel:thread_ts` in Slack,
    /// the root `Message-ID` of an email thread.
    pub key: String,
    pub conversation_id: ConversationId,
    /// What the channel needs to reply (channel-specific JSON), as of the latest message.
    pub address: serde_json::Value,
    /// The quick replies last offered, so that "2" or a button id maps back to its text.
    pub options: Vec<String>,
}

/// A provider request to queue for delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOutboxItem {
    pub channel: Channel,
    pub thread_key: String,
    pub conversation_id: Option<ConversationId>,
    pub message_id: Option<MessageId>,
    /// The rendered request (channel-specific JSON), sent as is on every attempt.
    pub payload: serde_json::Value,
}

/// A queued provider request.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxItem {
    pub seq: i64,
    pub channel: Channel,
    pub thread_key: String,
    pub conversation_id: Option<ConversationId>,
    pub payload: serde_json::Value,
    /// Attempts made so far.
    pub attempts: u32,
}

/// Counts of the outbox, for readiness and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutboxCounts {
    pub pending: u64,
    pub sent: u64,
    pub failed: u64,
}

/// Durable state of the messaging channels.
///
/// Contract: every write is durable before it returns. Outbox items of one thread are handed
/// out in the order they were queued, and an item is not handed out while an earlier item of
/// its thread is still pending (so a retried message never overtakes an earlier one).
#[async_trait]
pub trait ChannelStore: Send + Sync {
    /// Records a received message: `Ok(true)` when it is new (and now queued for handling),
    /// `Ok(false)` when this channel's `provider_id` was recorded before (a retry).
    async fn record_inbound(&self, message: &InboundMessage) -> Result<bool, DomainError>;

    /// Received messages not yet handled, oldest first, at most `limit`.
    async fn pending_inbound(
        &self,
        limit: usize,
    ) -> Result<Vec<(i64, InboundMessage)>, DomainError>;

    /// How many received messages wait to be handled.
    async fn inbound_backlog(&self) -> Result<u64, DomainError>;

    /// Marks a received message handled (`error: None`) or given up on.
    async fn finish_inbound(&self, seq: i64, error: Option<&str>) -> Result<(), DomainError>;

    async fn thread(
        &self,
        channel: Channel,
        key: &str,
    ) -> Result<Option<ChannelThread>, DomainError>;

    /// The newest thread continuing this conversation, if it came from a messaging channel.
    async fn thread_of_conversation(
        &self,
        id: ConversationId,
    ) -> Result<Option<ChannelThread>, DomainError>;

    /// Creates or replaces the thread `(channel, key)`.
    async fn save_thread(&self, thread: &ChannelThread) -> Result<(), DomainError>;

    /// Queues provider requests (all or none) and records `options` as the thread's latest
    /// quick replies when given.
    async fn enqueue(
        &self,
        items: &[NewOutboxItem],
        options: Option<(Channel, &str, &[String])>,
    ) -> Result<(), DomainError>;

    /// Pending items whose next attempt is due at `now`, oldest first, at most `limit`, at
    /// most one per thread (the oldest pending one).
    async fn due_outbox(
        &self,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, DomainError>;

    /// When the next item [`Self::due_outbox`] would hand out is due, if any is pending.
    async fn next_outbox_due(&self) -> Result<Option<OffsetDateTime>, DomainError>;

    /// The item was delivered; the provider knows it as `provider_message_id`.
    async fn outbox_sent(
        &self,
        seq: i64,
        provider_message_id: Option<&str>,
    ) -> Result<(), DomainError>;

    /// The attempt failed; try again at `next_attempt`.
    async fn outbox_retry(
        &self,
        seq: i64,
        next_attempt: OffsetDateTime,
        error: &str,
    ) -> Result<(), DomainError>;

    /// The item cannot be delivered (the provider refused it for good).
    async fn outbox_failed(&self, seq: i64, error: &str) -> Result<(), DomainError>;

    /// Records a provider's delivery status (`delivered`, `read`, `failed`...) of a sent item;
    /// `Ok(false)` when no item has that provider id.
    async fn outbox_delivery(
        &self,
        channel: Channel,
        provider_message_id: &str,
        status: &str,
    ) -> Result<bool, DomainError>;

    async fn outbox_counts(&self) -> Result<OutboxCounts, DomainError>;
}

/// Delivers messages written outside a customer's turn (an agent's, a system notice) to the
/// customer's channel. Called after the message is stored.
#[async_trait]
pub trait Outbound: Send + Sync {
    /// Queues `message` for its conversation's channel; does nothing for channels whose
    /// customers read the transcript themselves (REST, web). Durable before it returns.
    async fn deliver(&self, message: &Message) -> Result<(), DomainError>;
}

/// An [`Outbound`] that delivers nothing: for servers without messaging channels.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoOutbound;

#[async_trait]
impl Outbound for NoOutbound {
    async fn deliver(&self, _message: &Message) -> Result<(), DomainError> {
        Ok(())
    }
}
