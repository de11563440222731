//! Warmline's shared vocabulary: the types that cross crate boundaries and the traits that
//! the binary wires together.
//!
//! - [`ids`]: typed identifiers (conversations, messages, customers).
//! - [`conversation`]: conversations, messages, citations, customers, channel identities.
//! - [`crm`]: the [`CrmConnector`] trait: customer profiles, orders, cases, and the actions
//!   guided journeys take (return checks, delivery-address changes).
//! - [`embed`]: the [`Embedder`] trait (sentence vectors).
//! - [`generate`]: the [`Generator`] trait (streamed chat generation).
//! - [`knowledge`]: the search request/response types and the [`KnowledgeSearch`] trait.
//! - [`store`]: the [`ConversationStore`] trait (SQLite today, PostgreSQL later).
//! - [`handoff`]: handoffs to people, agents, and the [`HandoffStore`] trait.
//! - [`messaging`]: messaging apps' inbound records, chat threads and outbox
//!   ([`ChannelStore`]), and the [`Outbound`] hook for messages written outside a turn.
//! - [`error`]: [`ErrorCode`] (stable, mapped to HTTP in one place) and [`DomainError`].
//!
//! This crate holds types and traits only: no IO, no axum, tantivy or sqlx.

pub mod conversation;
pub mod crm;
pub mod embed;
pub mod error;
pub mod generate;
pub mod handoff;
pub mod ids;
pub mod knowledge;
pub mod messaging;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use conversation::{
    Channel, Citation, Conversation, Customer, CustomerIdentity, Message, NewConversation,
    Ownership, Reply, ReplyKind, Role,
};
pub use crm::{
    Address, Case, Consent, CrmCapabilities, CrmConnector, CrmCustomer, CrmCustomerRef, CrmError,
    CustomerProfile, Money, Order, OrderItem, OrderOwner, OrderStatus, ReturnEligibility, Tracking,
};
pub use embed::Embedder;
pub use error::{DomainError, ErrorCode};
pub use generate::{
    FinishReason, GenerateEvent, GenerateRequest, GenerateStream, GenerateSummary, Generator,
    PromptRole,
};
pub use handoff::{
    Agent, AgentRole, CustomerSnapshot, Handoff, HandoffPacket, HandoffStatus, HandoffStore,
};
pub use ids::{AgentId, ConversationId, CustomerId, HandoffId, MessageId};
pub use knowledge::{Audience, KnowledgeSearch, QueryTerm, SearchHit, SearchQuery, SearchResult};
pub use messaging::{
    ChannelStore, ChannelThread, InboundMessage, NewOutboxItem, NoOutbound, Outbound, OutboxCounts,
    OutboxItem,
};
pub use store::ConversationStore;
