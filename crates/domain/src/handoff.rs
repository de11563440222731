//! Handoffs: a conversation handed from the bot to people, with what they need to know.

use crate::conversation::Citation;
use crate::error::DomainError;
use crate::ids::{AgentId, ConversationId, HandoffId, TicketId};
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
    /// The chat model that wrote `summary`; absent: quoted from the transcript.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary_by: Option<String>,
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
    /// The agent's note when giving the conversation back to the bot, transferring it, or
    /// closing it.
    pub note: Option<String>,
    /// The skill an agent needs to accept it (`fraud`, `billing`...); `None`: anyone.
    #[serde(default)]
    pub skill: Option<String>,
    /// How it ended, when it has.
    #[serde(default)]
    pub disposition: Option<Disposition>,
    /// When the customer was offered a callback or to leave a message (the wait was too long,
    /// or nobody was there).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub offered_at: Option<OffsetDateTime>,
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
    /// What they can take (`billing`, `fraud`, `returns`...). Supervisors take anything.
    #[serde(default)]
    pub skills: Vec<String>,
    /// What they said about themselves; a session unused for a while counts as offline.
    #[serde(default)]
    pub presence: Presence,
}

impl Agent {
    /// Whether this agent may take a handoff that needs `skill`.
    pub fn can_take(&self, skill: Option<&str>) -> bool {
        self.role.supervises() || skill.is_none_or(|skill| self.skills.iter().any(|s| s == skill))
    }
}

/// Whether an agent takes conversations now.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// Takes conversations (auto-assignment included).
    Online,
    /// Logged in, keeps their conversations, takes no new ones.
    Away,
    #[default]
    Offline,
}

impl Presence {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Away => "away",
            Self::Offline => "offline",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "online" => Self::Online,
            "away" => Self::Away,
            "offline" => Self::Offline,
            _ => return None,
        })
    }
}

/// How a handoff ended, for the record and reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    Resolved,
    /// Solved for now; someone follows up.
    FollowUp,
    NotResolved,
    /// The customer left a message or asked for a callback instead of waiting.
    Ticket,
}

impl Disposition {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Resolved => "resolved",
            Self::FollowUp => "follow_up",
            Self::NotResolved => "not_resolved",
            Self::Ticket => "ticket",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "resolved" => Self::Resolved,
            "follow_up" => Self::FollowUp,
            "not_resolved" => Self::NotResolved,
            "ticket" => Self::Ticket,
            _ => return None,
        })
    }
}

/// An agent as routing sees them: presence (stale sessions count as offline) and load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentLoad {
    pub agent: Agent,
    /// `Online` only when they said so and a session of theirs was used recently.
    pub presence: Presence,
    /// Handoffs they have accepted and not finished.
    pub chats: usize,
}

/// What the customer asked for instead of waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TicketKind {
    /// Call or write back at `contact`.
    Callback,
    /// A message for the team; they answer in the conversation or at `contact`.
    Message,
}

impl TicketKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Callback => "callback",
            Self::Message => "message",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "callback" => Some(Self::Callback),
            "message" => Some(Self::Message),
            _ => None,
        }
    }
}

/// A callback request or a message left for people: nothing the customer wrote is lost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Ticket {
    pub id: TicketId,
    pub conversation_id: ConversationId,
    /// The handoff the customer stopped waiting for, if any.
    pub handoff_id: Option<HandoffId>,
    pub kind: TicketKind,
    /// Phone or email for the callback, as the customer wrote it.
    pub contact: Option<String>,
    /// What the customer wrote for the team (their words, kept verbatim).
    pub text: String,
    /// The handoff packet's reasons and summary, so whoever calls back knows the story.
    pub packet: Option<HandoffPacket>,
    /// `true` once an agent closed it.
    pub closed: bool,
    pub note: Option<String>,
    pub closed_by: Option<AgentId>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

/// A ticket to open.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTicket {
    pub conversation_id: ConversationId,
    pub kind: TicketKind,
    pub contact: Option<String>,
    pub text: String,
}

/// Where a new handoff goes in the queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    /// Higher is served first.
    pub priority: i32,
    /// The skill an agent needs to take it.
    pub skill: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentRole {
    Agent,
    Supervisor,
    /// Keeps the knowledge base: the editor API only, never in queues or assignment.
    Editor,
    /// Everything: supervisor rights on the agent API and the editor API.
    Admin,
}

impl AgentRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Supervisor => "supervisor",
            Self::Editor => "editor",
            Self::Admin => "admin",
        }
    }

    /// Supervisors and admins: take anything, see the stats, act on any conversation.
    pub fn supervises(self) -> bool {
        matches!(self, Self::Supervisor | Self::Admin)
    }

    /// Who works conversations on the agent API (everyone but editors).
    pub fn works_conversations(self) -> bool {
        self != Self::Editor
    }

    /// Who may use the knowledge editor's API.
    pub fn edits_knowledge(self) -> bool {
        matches!(self, Self::Editor | Self::Admin)
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "agent" => Some(Self::Agent),
            "supervisor" => Some(Self::Supervisor),
            "editor" => Some(Self::Editor),
            "admin" => Some(Self::Admin),
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
    ) -> Result<Handoff, DomainError> {
        let route = Route {
            priority,
            skill: None,
        };
        self.open_routed(conversation, &route, packet).await
    }

    /// [`HandoffStore::open_handoff`] with the skill an agent needs.
    async fn open_routed(
        &self,
        conversation: ConversationId,
        route: &Route,
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
        disposition: Option<Disposition>,
    ) -> Result<Handoff, DomainError>;

    /// Moves an assigned handoff to agent `to`, or back to the queue (`None`, the
    /// conversation waits again), with a note for whoever takes it next. `Conflict` unless
    /// it is assigned.
    async fn transfer(
        &self,
        id: HandoffId,
        to: Option<AgentId>,
        note: Option<&str>,
    ) -> Result<Handoff, DomainError>;

    /// Replaces the packet's summary with one written by `model`.
    async fn set_summary(
        &self,
        id: HandoffId,
        summary: &str,
        model: &str,
    ) -> Result<Handoff, DomainError>;

    /// Records that the customer was offered a callback or to leave a message. `false` if
    /// they already were, or the handoff no longer waits.
    async fn mark_offered(&self, id: HandoffId) -> Result<bool, DomainError>;

    /// Replaces an agent's skills.
    async fn set_skills(&self, agent: AgentId, skills: &[String]) -> Result<Agent, DomainError>;

    /// Sets an agent's presence.
    async fn set_presence(&self, agent: AgentId, presence: Presence) -> Result<Agent, DomainError>;

    /// Every agent with their effective presence (online only when seen since `since`) and
    /// how many conversations they have.
    async fn agent_loads(&self, since: OffsetDateTime) -> Result<Vec<AgentLoad>, DomainError>;

    /// Opens a ticket for a conversation. A handoff still waiting ends in the same transaction
    /// (returned to the bot, disposition `ticket`), so the customer gets the bot back and
    /// people get the ticket.
    async fn open_ticket(&self, new: &NewTicket) -> Result<Ticket, DomainError>;

    /// Tickets, oldest first; only open ones unless `all`.
    async fn tickets(&self, all: bool) -> Result<Vec<Ticket>, DomainError>;

    /// Closes an open ticket. `Conflict` if it is already closed.
    async fn close_ticket(
        &self,
        id: TicketId,
        agent: AgentId,
        note: Option<&str>,
    ) -> Result<Ticket, DomainError>;

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

    /// Stores a session (by the hash of its token) until `expires_at`; the agent is online.
    async fn create_session(
        &self,
        token_hash: &str,
        agent: AgentId,
        expires_at: OffsetDateTime,
    ) -> Result<(), DomainError>;

    /// The agent of an unexpired session; marks the session seen now.
    async fn session_agent(&self, token_hash: &str) -> Result<Option<Agent>, DomainError>;

    /// Agents who are online (presence `online`) with an unexpired session seen since `since`.
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
