//! Warmline's shared vocabulary: the types that cross crate boundaries and the traits that
//! the binary wires together.
//!
//! - [`articles`]: the knowledge editor's articles, versions, workflow and API tokens
//!   ([`ArticleStore`]).
//! - [`ids`]: typed identifiers (conversations, messages, customers).
//! - [`conversation`]: conversations, messages, citations, customers, channel identities.
//! - [`crm`]: the [`CrmConnector`] trait: customer profiles, orders, cases, and the actions
//!   guided journeys take (return checks, delivery-address changes).
//! - [`embed`]: the [`Embedder`] trait (sentence vectors).
//! - [`generate`]: the [`Generator`] trait (streamed chat generation).
//! - [`knowledge`]: the search request/response types and the [`KnowledgeSearch`] trait.
//! - [`store`]: the [`ConversationStore`] trait (SQLite today, PostgreSQL later).
//! - [`memory`]: what the dialog remembers between turns (journey progress, slots) and the
//!   [`Memories`] trait.
//! - [`handoff`]: handoffs to people, agents, and the [`HandoffStore`] trait.
//! - [`insights`]: content gaps, answer ratings and the analytics facts
//!   ([`InsightsStore`]).
//! - [`events`]: live [`Event`]s and the [`EventBus`] trait (in-process today, NATS later).
//! - [`messaging`]: messaging apps' inbound records, chat threads and outbox
//!   ([`ChannelStore`]), and the [`Outbound`] hook for messages written outside a turn.
//! - [`error`]: [`ErrorCode`] (stable, mapped to HTTP in one place) and [`DomainError`].
//!
//! This crate holds types and traits only: no IO, no axum, tantivy or sqlx.

pub mod articles;
pub mod conversation;
pub mod crm;
pub mod embed;
pub mod error;
pub mod events;
pub mod generate;
pub mod handoff;
pub mod ids;
pub mod insights;
pub mod knowledge;
pub mod memory;
pub mod messaging;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use articles::{ApiToken, ArticleRecord, ArticleSave, ArticleStore, ArticleVersion, Workflow};
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
pub use events::{Event, EventBus, Received, Subscription};
pub use generate::{
    FinishReason, GenerateEvent, GenerateRequest, GenerateStream, GenerateSummary, Generator,
    PromptRole,
};
pub use handoff::{
    Agent, AgentLoad, AgentRole, CustomerSnapshot, Disposition, Handoff, HandoffPacket,
    HandoffStatus, HandoffStore, JourneySnapshot, NewTicket, Presence, Route, Ticket, TicketKind,
};
pub use ids::{AgentId, ConversationId, CustomerId, HandoffId, MessageId, TicketId};
pub use insights::{
    ArticleHelpfulness, GapGroup, GapReason, GapStatus, InsightsFacts, InsightsStore, NewGap,
};
pub use knowledge::{Audience, KnowledgeSearch, QueryTerm, SearchHit, SearchQuery, SearchResult};
pub use memory::{JourneyProgress, Memories, Memory, MemoryKey};
pub use messaging::{
    AnswerRating, ChannelStore, ChannelThread, InboundMessage, NewOutboxItem, NoOutbound, Outbound,
    OutboxCounts, OutboxItem,
};
pub use store::ConversationStore;
