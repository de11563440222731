//! Durable conversation state.

use crate::conversation::{
    Conversation, Customer, CustomerIdentity, Message, NewConversation, Ownership,
};
use crate::error::DomainError;
use crate::ids::{ConversationId, CustomerId};
use async_trait::async_trait;

/// Where conversations, messages, customers and channel identities live.
///
/// Contract: a successful `append_message` is durable (it survives a crash of the process)
/// before it returns, so callers store what the customer said *before* producing a reply.
/// Implementations: SQLite (embedded default); PostgreSQL can follow with the same contract.
#[async_trait]
pub trait ConversationStore: Send + Sync {
    async fn create_conversation(&self, new: NewConversation) -> Result<Conversation, DomainError>;

    /// `Ok(None)` when there is no such conversation.
    async fn conversation(&self, id: ConversationId) -> Result<Option<Conversation>, DomainError>;

    async fn set_ownership(
        &self,
        id: ConversationId,
        ownership: Ownership,
    ) -> Result<(), DomainError>;

    /// Stores one message and bumps the conversation's `updated_at`. Fails with `NotFound`
    /// when the conversation does not exist.
    async fn append_message(&self, message: &Message) -> Result<(), DomainError>;

    /// The transcript in the order it happened (oldest first), at most `limit` messages.
    async fn messages(&self, id: ConversationId, limit: usize)
    -> Result<Vec<Message>, DomainError>;

    /// The customer known by this identity, created (with the identity linked) if new.
    async fn customer_for_identity(
        &self,
        identity: &CustomerIdentity,
        display_name: Option<&str>,
    ) -> Result<Customer, DomainError>;

    async fn customer(&self, id: CustomerId) -> Result<Option<Customer>, DomainError>;

    /// Every identity linked to the customer.
    async fn identities(&self, id: CustomerId) -> Result<Vec<CustomerIdentity>, DomainError>;

    /// Links another identity to an existing customer (the same person on a second channel).
    /// Fails with `Conflict` if the identity already belongs to someone else.
    async fn link_identity(
        &self,
        id: CustomerId,
        identity: &CustomerIdentity,
    ) -> Result<(), DomainError>;

    /// A cheap round trip, for readiness checks.
    async fn ping(&self) -> Result<(), DomainError>;
}
