//! Handoffs: a conversation handed from the bot to people, with what they need to know.

use crate::conversation::Citation;
use crate::error::DomainError;
use crate::ids::{AgentId, ConversationId, HandoffId};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Where a handoff is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HandoffStatus {
    /// Waiting for an agent.
    Queued,
    /// An agent accepted it and owns the conversation.
    Assigned,
    /// The agent gave the conversation back to the bot.
    Returned,
    /// The conversation ended.
    Closed,
}

impl HandoffStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Assigned => "assigned",
            Self::Returned => "returned",
            Self::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => Self::Queued,
            "assigned" => Self::Assigned,
            "returned" => Self::Returned,
            "closed" => Self::Closed,
            _ => return None,
        })
    }
}

/// What the agent gets with the conversation, so the customer never repeats themselves.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HandoffPacket {
    /// Reason codes of the moment of truth, strongest first (`high_stakes:fraud`, ...).
    pub reasons: Vec<String>,
    /// The detector's one-line explanation (reason codes and scores, no customer text).
    pub explanation: String,
    /// A short summary of what the customer asked.
    pub summary: String,
    /// Articles the bot cited in this conversation.
    pub cited: Vec<Citation>,
    /// Questions the bot could not answer.
    pub unanswered: Vec<String>,
    /// What the CRM knows of the customer, when they are identified and it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<CustomerSnapshot>,
    /// The guided journey the customer was in, with what they had told it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journey: Option<JourneySnapshot>,
}

/// Where the customer was in a journey when they were handed over.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JourneySnapshot {
    pub id: String,
    pub title: String,
    /// The step waiting for the customer (empty when the journey itself handed over).
    pub step: String,
    /// Slots collected so far, as text (`order_number: JM-204518837`).
    pub slots: Vec<(String, String)>,
    /// The journey's note for the person, when a handoff step sent the customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The customer as the agent first sees them: who, which tier, recent orders, open cases.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CustomerSnapshot {
    pub name: Option<String>,
    pub tier: Option<String>,
    pub language: Option<String>,
    pub membership: Option<String>,
    /// e.g. `1234.50 USD`.
    pub lifetime_value: Option<String>,
    /// Newest first: `JM-204518837 shipped 89.99 USD`.
    pub recent_orders: Vec<String>,
    /// `subject (status)`.
    pub open_cases: Vec<String>,
}

/// A handoff as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Handoff {
    pub id: HandoffId,
    pub conversation_id: ConversationId,
    pub status: HandoffStatus,
    /// Higher is served first (the reason and the customer's tier decide it).
    pub priority: i32,
    pub packet: HandoffPacket,
    pub agent_id: Option<AgentId>,
    /// The agent's note when giving the conversation back to the bot.
    pub note: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub accepted_at: Option<OffsetDateTime>,
}

/// An agent or supervisor account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Agent {
    pub id: AgentId,
    pub username: String,
    pub display_name: String,
    pub role: AgentRole,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentRole {
    Agent,
    Supervisor,
}

impl AgentRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Supervisor => "supervisor",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "agent" => Some(Self::Agent),
            "supervisor" => Some(Self::Supervisor),
            _ => None,
        }
    }
}

/// Where handoffs, agents and their sessions live.
///
/// State changes are conditional: `accept` only takes a queued handoff, so two agents
/// accepting at once cannot both get it (the second gets `Conflict`).
#[async_trait]
pub trait HandoffStore: Send + Sync {
    /// Queues a handoff for `conversation` and marks the conversation `queued`, in one
    /// transaction. Fails with `Conflict` if the conversation already has an open handoff.
    async fn open_handoff(
        &self,
        conversation: ConversationId,
        priority: i32,
        packet: &HandoffPacket,
    ) -> Result<Handoff, DomainError>;

    async fn handoff(&self, id: HandoffId) -> Result<Option<Handoff>, DomainError>;

    /// The open (queued or assigned) handoff of a conversation, if any.
    async fn open_handoff_of(
        &self,
        conversation: ConversationId,
    ) -> Result<Option<Handoff>, DomainError>;

    /// Queued handoffs, highest priority first, then oldest first.
    async fn queue(&self) -> Result<Vec<Handoff>, DomainError>;

    /// Handoffs `agent` has accepted and not finished, oldest first.
    async fn assigned_to(&self, agent: AgentId) -> Result<Vec<Handoff>, DomainError>;

    /// Gives a queued handoff to `agent` and the conversation to people (`human`).
    async fn accept(&self, id: HandoffId, agent: AgentId) -> Result<Handoff, DomainError>;

    /// Ends an open handoff: `Returned` gives the conversation back to the bot (with the
    /// agent's note), `Closed` closes the conversation.
    async fn finish(
        &self,
        id: HandoffId,
        status: HandoffStatus,
        note: Option<&str>,
    ) -> Result<Handoff, DomainError>;

    /// Creates an account; `password_hash` is a PHC string (argon2). `Conflict` if the
    /// username is taken.
    async fn create_agent(
        &self,
        username: &str,
        display_name: &str,
        role: AgentRole,
        password_hash: &str,
    ) -> Result<Agent, DomainError>;

    /// The account and its password hash, by username.
    async fn agent_login(&self, username: &str) -> Result<Option<(Agent, String)>, DomainError>;

    /// Stores a session (by the hash of its token) until `expires_at`.
    async fn create_session(
        &self,
        token_hash: &str,
        agent: AgentId,
        expires_at: OffsetDateTime,
    ) -> Result<(), DomainError>;

    /// The agent of an unexpired session; marks the session seen now.
    async fn session_agent(&self, token_hash: &str) -> Result<Option<Agent>, DomainError>;

    /// Agents with an unexpired session seen since `since` (online).
    async fn agents_online(&self, since: OffsetDateTime) -> Result<usize, DomainError>;

    /// How long the last `n` accepted handoffs waited, newest first.
    async fn recent_waits(&self, n: usize) -> Result<Vec<time::Duration>, DomainError>;

    async fn end_session(&self, token_hash: &str) -> Result<(), DomainError>;

    /// The customer's satisfaction survey of a closed conversation (score 1 to 5). `Conflict`
    /// if the conversation is not closed or already has its survey; `NotFound` if unknown.
    async fn save_survey(
        &self,
        conversation: ConversationId,
        score: u8,
        comment: Option<&str>,
    ) -> Result<(), DomainError>;
}
