//! More of the agent API: presence, transferring a conversation, tickets (callbacks and
//! messages customers left), and suggested replies from the knowledge base.

use crate::agents::{AgentApi, Authenticated, clean_note, ensure_owner, load};
use crate::error::{ApiError, ApiJson};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use warmline_domain::{
    Agent, Citation, DomainError, ErrorCode, Handoff, HandoffStatus, Message, Presence, Role,
    Ticket, TicketId,
};

/// The routes of this module (state: [`AgentApi`]).
pub(crate) fn routes() -> Router<AgentApi> {
    Router::new()
        .route("/agent/presence", post(presence))
        .route("/agent/handoffs/{id}/transfer", post(transfer))
        .route("/agent/handoffs/{id}/suggestions", get(suggestions))
        .route("/agent/tickets", get(tickets))
        .route("/agent/tickets/{id}/close", post(close_ticket))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPresence {
    pub presence: Presence,
}

/// Say whether you take conversations: `online`, `away` (keep yours, no new ones) or
/// `offline`.
#[utoipa::path(post, path = "/v1/agent/presence", tag = "agent", request_body = SetPresence,
    responses((status = 200, body = Agent), (status = 401, body = crate::error::ErrorBody)))]
pub async fn presence(
    State(api): State<AgentApi>,
    Authenticated(agent): Authenticated,
    ApiJson(body): ApiJson<SetPresence>,
) -> Result<ApiJson<Agent>, ApiError> {
    let updated = api.handoffs.set_presence(agent.id, body.presence).await?;
    tracing::info!(agent_id = %agent.id, presence = body.presence.as_str(), "agent presence");
    Ok(ApiJson(updated))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    /// The username of the agent who takes over; absent or `null`: back to the queue.
    #[serde(default)]
    pub to: Option<String>,
    /// For whoever takes it next (not shown to the customer).
    #[serde(default)]
    pub note: Option<String>,
}

/// Hand your conversation to another agent (who needs its skill), or back to the queue.
#[utoipa::path(post, path = "/v1/agent/handoffs/{id}/transfer", tag = "agent",
    params(("id" = String, Path, description = "handoff id")), request_body = Transfer,
    responses((status = 200, body = Handoff), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody),
              (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn transfer(
    State(api): State<AgentApi>,
    Authenticated(agent): Authenticated,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Transfer>,
) -> Result<ApiJson<Handoff>, ApiError> {
    let handoff = load(&api, &id).await?;
    ensure_owner(&handoff, &agent)?;
    let note = clean_note(body.note)?;
    let target = match body.to.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(username) => Some(transfer_target(&api, username, &handoff).await?),
        None => None,
    };
    let moved = api
        .handoffs
        .transfer(handoff.id, target.as_ref().map(|a| a.id), note.as_deref())
        .await?;
    let text = match &target {
        Some(to) => format!(
            "{} from our team is taking over the conversation; they can see everything so far.",
            to.display_name
        ),
        None => "I'm passing you to the next available person from our team; you keep your \
                 place in line, and nothing you wrote is lost."
            .to_owned(),
    };
    let notice = Message::new(moved.conversation_id, Role::System, text);
    api.conversations.append_message(&notice).await?;
    api.outbound.deliver(&notice).await?;
    tracing::info!(handoff_id = %moved.id, agent_id = %agent.id, to = ?target.as_ref().map(|a| a.id), "handoff transferred");
    Ok(ApiJson(moved))
}

/// The agent `username`, if they exist and may take `handoff`.
async fn transfer_target(
    api: &AgentApi,
    username: &str,
    handoff: &Handoff,
) -> Result<Agent, ApiError> {
    let (to, _) = api.handoffs.agent_login(username).await?.ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidInput,
            format!("no agent called {username:?}"),
        )
    })?;
    if handoff.agent_id == Some(to.id) {
        return Err(ApiError::new(
            ErrorCode::InvalidInput,
            "the conversation is already theirs",
        ));
    }
    if !to.can_take(handoff.skill.as_deref()) {
        return Err(ApiError::new(
            ErrorCode::InvalidInput,
            format!(
                "{username} lacks the {} skill this conversation needs",
                handoff.skill.as_deref().unwrap_or_default()
            ),
        ));
    }
    Ok(to)
}

/// A reply an agent can send as is.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SuggestedReply {
    pub text: String,
    pub citations: Vec<Citation>,
}

/// Suggested replies to the customer's latest question.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Suggestions {
    /// The customer message they answer (`null` before the customer wrote).
    pub question: Option<String>,
    /// Grounded in the knowledge base, with citations; empty when it has no answer.
    pub replies: Vec<SuggestedReply>,
}

/// Suggested replies, with citations, for the customer's latest question.
#[utoipa::path(get, path = "/v1/agent/handoffs/{id}/suggestions", tag = "agent",
    params(("id" = String, Path, description = "handoff id")),
    responses((status = 200, body = Suggestions), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
pub async fn suggestions(
    State(api): State<AgentApi>,
    Authenticated(agent): Authenticated,
    Path(id): Path<String>,
) -> Result<ApiJson<Suggestions>, ApiError> {
    let handoff = load(&api, &id).await?;
    if handoff.status == HandoffStatus::Assigned {
        ensure_owner(&handoff, &agent)?;
    }
    let assist = api.dialog.assist(handoff.conversation_id).await?;
    Ok(ApiJson(Suggestions {
        question: assist.question,
        replies: assist
            .replies
            .into_iter()
            .map(|r| SuggestedReply {
                text: r.text,
                citations: r.citations,
            })
            .collect(),
    }))
}

#[derive(Debug, Default, Deserialize)]
pub struct TicketFilter {
    /// `true`: closed tickets too.
    #[serde(default)]
    pub all: bool,
}

/// Callbacks and messages customers left instead of waiting, oldest first (open ones unless
/// `?all=true`).
#[utoipa::path(get, path = "/v1/agent/tickets", tag = "agent",
    params(("all" = Option<bool>, Query, description = "closed ones too")),
    responses((status = 200, body = Vec<Ticket>), (status = 401, body = crate::error::ErrorBody)))]
pub async fn tickets(
    State(api): State<AgentApi>,
    _agent: Authenticated,
    Query(filter): Query<TicketFilter>,
) -> Result<ApiJson<Vec<Ticket>>, ApiError> {
    Ok(ApiJson(api.handoffs.tickets(filter.all).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseTicket {
    /// What was done (called back, answered by email...).
    #[serde(default)]
    pub note: Option<String>,
}

/// Close a ticket once the customer has been called back or answered.
#[utoipa::path(post, path = "/v1/agent/tickets/{id}/close", tag = "agent",
    params(("id" = String, Path, description = "ticket id")), request_body = CloseTicket,
    responses((status = 200, body = Ticket), (status = 401, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn close_ticket(
    State(api): State<AgentApi>,
    Authenticated(agent): Authenticated,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CloseTicket>,
) -> Result<ApiJson<Ticket>, ApiError> {
    let id: TicketId = id
        .parse()
        .map_err(|_| DomainError::not_found(format!("no ticket with id {id:?}")))?;
    let note = clean_note(body.note)?;
    let ticket = api
        .handoffs
        .close_ticket(id, agent.id, note.as_deref())
        .await?;
    tracing::info!(ticket_id = %ticket.id, agent_id = %agent.id, "ticket closed");
    Ok(ApiJson(ticket))
}

/// Whose conversation an agent may watch live: their own, one still waiting (as the queue
/// shows it to everyone), or, for supervisors, any.
pub(crate) fn may_watch(agent: &Agent, handoff: &Handoff) -> bool {
    agent.role.supervises()
        || handoff.agent_id == Some(agent.id)
        || handoff.status == HandoffStatus::Queued
}
