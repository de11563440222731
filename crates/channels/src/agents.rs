//! The agent API (`/v1/agent/...`): people who take conversations over from the bot.
//!
//! Agents log in with a username and password (argon2id hashes, made by
//! `warmline agents add`) and get a bearer token for 12 hours; the store keeps only the
//! token's SHA-256. With it they see the queue of handoffs (highest priority, then oldest
//! first), accept one (only one agent can), read the handoff packet and the transcript, write
//! to the customer, and give the conversation back to the bot (with a note) or close it.
//! Presence, transfers, tickets and suggested replies are in [`crate::agent_work`]; live
//! updates over a websocket in [`crate::agent_ws`].

use crate::error::{ApiError, ApiJson};
use crate::rest::optional_json;
use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use time::OffsetDateTime;
use warmline_dialog::Dialog;
use warmline_domain::{
    Agent, ConversationStore, Disposition, DomainError, ErrorCode, EventBus, Handoff, HandoffId,
    HandoffStatus, HandoffStore, Message, NoOutbound, Outbound, Role,
};

/// Sent to the customer when an agent closes the conversation.
pub const SURVEY_QUESTION: &str = "This conversation is closed. Thank you for contacting us! \
How did we do, from 1 (poor) to 5 (great)? A few words on why help us most.";

/// How long a login lasts.
const SESSION: time::Duration = time::Duration::hours(12);
/// Longest message an agent can send, in characters.
const MAX_MESSAGE_CHARS: usize = 4000;

/// What the agent routes need.
#[derive(Clone)]
pub struct AgentApi {
    /// The switchboard (routing, events), not the bare store.
    pub handoffs: Arc<dyn HandoffStore>,
    /// A publishing store: what agents write reaches live watchers.
    pub conversations: Arc<dyn ConversationStore>,
    /// Suggested replies come from the dialog's retrieval and composer.
    pub dialog: Dialog,
    pub bus: Arc<dyn EventBus>,
    /// Websockets open at once; more are refused with 429.
    pub sockets: Arc<tokio::sync::Semaphore>,
    /// Turns `true` when the server shuts down: live feeds close.
    pub closing: tokio::sync::watch::Receiver<bool>,
    /// Delivers agent messages to the customer's messaging app (if they are on one).
    pub outbound: Arc<dyn Outbound>,
}

impl AgentApi {
    /// At most `max_sockets` live console connections.
    pub fn new(
        handoffs: Arc<dyn HandoffStore>,
        conversations: Arc<dyn ConversationStore>,
        dialog: Dialog,
        bus: Arc<dyn EventBus>,
        max_sockets: usize,
    ) -> Self {
        Self {
            handoffs,
            conversations,
            dialog,
            bus,
            sockets: Arc::new(tokio::sync::Semaphore::new(max_sockets)),
            closing: tokio::sync::watch::Sender::new(false).subscribe(),
            outbound: Arc::new(NoOutbound),
        }
    }

    /// Sends agent messages to the customer's messaging app through `outbound`.
    pub fn with_outbound(mut self, outbound: Arc<dyn Outbound>) -> Self {
        self.outbound = outbound;
        self
    }

    /// Closes the live feeds when `closing` turns `true`.
    pub fn closing_on(mut self, closing: tokio::sync::watch::Receiver<bool>) -> Self {
        self.closing = closing;
        self
    }
}

pub fn router(api: AgentApi) -> Router {
    crate::agent_work::routes()
        .route("/agent/ws", get(crate::agent_ws::connect))
        .route("/agent/login", post(login))
        .route("/agent/logout", post(logout))
        .route("/agent/queue", get(queue))
        .route("/agent/mine", get(mine))
        .route("/agent/stats", get(crate::agent_stats::stats))
        .route("/agent/handoffs/{id}", get(handoff))
        .route("/agent/handoffs/{id}/accept", post(accept))
        .route("/agent/handoffs/{id}/messages", post(send))
        .route("/agent/handoffs/{id}/return", post(give_back))
        .route("/agent/handoffs/{id}/close", post(close))
        .with_state(api)
}

/// A password hash for storing (argon2id, random salt, PHC string).
pub fn hash_password(password: &str) -> Result<String, DomainError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| DomainError::internal(format!("hashing a password: {e}")))
}

fn password_matches(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub(crate) fn unauthorized() -> ApiError {
    ApiError::new(
        ErrorCode::Unauthorized,
        "log in first: POST /v1/agent/login, then send `Authorization: Bearer <token>`",
    )
}

/// Editors log in like agents but do not work conversations.
pub(crate) fn not_for_editors() -> ApiError {
    ApiError::new(
        ErrorCode::Forbidden,
        "editors keep the knowledge base; the agent console is for agents, supervisors and admins",
    )
}

/// The logged-in agent of a request (`Authorization: Bearer <token>`).
pub struct Authenticated(pub Agent);

impl FromRequestParts<AgentApi> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &AgentApi) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers).ok_or_else(unauthorized)?;
        match api.handoffs.session_agent(&token_hash(token)).await? {
            Some(agent) if agent.role.works_conversations() => Ok(Self(agent)),
            Some(_) => Err(not_for_editors()),
            None => Err(unauthorized()),
        }
    }
}

pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Session {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
    pub agent: Agent,
}

/// Log in as an agent or supervisor.
#[utoipa::path(post, path = "/v1/agent/login", tag = "agent", request_body = Login,
    responses((status = 200, body = Session),
              (status = 401, description = "wrong username or password", body = crate::error::ErrorBody)))]
pub async fn login(
    State(api): State<AgentApi>,
    ApiJson(body): ApiJson<Login>,
) -> Result<ApiJson<Session>, ApiError> {
    let found = api.handoffs.agent_login(body.username.trim()).await?;
    // Verify against a hash even for unknown users, so timing doesn't tell which exist.
    let (agent, stored) = match found {
        Some((agent, stored)) => (Some(agent), stored),
        None => (None, DUMMY_HASH.clone()),
    };
    let password = body.password;
    let matches = tokio::task::spawn_blocking(move || password_matches(&password, &stored))
        .await
        .unwrap_or(false);
    let Some(agent) = agent.filter(|_| matches) else {
        tracing::info!("agent login refused");
        return Err(ApiError::new(
            ErrorCode::Unauthorized,
            "wrong username or password",
        ));
    };
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| DomainError::internal(format!("no randomness for a session token: {e}")))?;
    let token = hex::encode(bytes);
    let expires_at = warmline_domain::conversation::now() + SESSION;
    api.handoffs
        .create_session(&token_hash(&token), agent.id, expires_at)
        .await?;
    tracing::info!(agent_id = %agent.id, "agent logged in");
    Ok(ApiJson(Session {
        token,
        expires_at,
        agent,
    }))
}

/// An argon2id hash of a password nobody knows, checked when the username is unknown.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password("no such agent").unwrap_or_default());

/// End the session of the token sent.
#[utoipa::path(post, path = "/v1/agent/logout", tag = "agent",
    responses((status = 204, description = "logged out")))]
pub async fn logout(
    State(api): State<AgentApi>,
    headers: HeaderMap,
) -> Result<axum::http::StatusCode, ApiError> {
    if let Some(token) = bearer(&headers) {
        api.handoffs.end_session(&token_hash(token)).await?;
    }
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Handoffs waiting for an agent, highest priority first, then oldest first.
#[utoipa::path(get, path = "/v1/agent/queue", tag = "agent",
    responses((status = 200, body = Vec<Handoff>),
              (status = 401, body = crate::error::ErrorBody)))]
pub async fn queue(
    State(api): State<AgentApi>,
    _agent: Authenticated,
) -> Result<ApiJson<Vec<Handoff>>, ApiError> {
    Ok(ApiJson(api.handoffs.queue().await?))
}

/// The handoffs you have accepted and not finished, oldest first.
#[utoipa::path(get, path = "/v1/agent/mine", tag = "agent",
    responses((status = 200, body = Vec<Handoff>),
              (status = 401, body = crate::error::ErrorBody)))]
pub async fn mine(
    State(api): State<AgentApi>,
    Authenticated(agent): Authenticated,
) -> Result<ApiJson<Vec<Handoff>>, ApiError> {
    Ok(ApiJson(api.handoffs.assigned_to(agent.id).await?))
}

/// A handoff with the conversation's transcript.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HandoffView {
    pub handoff: Handoff,
    pub messages: Vec<Message>,
    /// The customer's history on every channel (this conversation included), oldest first.
    pub history: Vec<crate::rest::HistoryMessage>,
}

pub(crate) fn handoff_id(raw: &str) -> Result<HandoffId, ApiError> {
    raw.parse()
        .map_err(|_| DomainError::not_found(format!("no handoff with id {raw:?}")).into())
}

pub(crate) async fn load(api: &AgentApi, raw: &str) -> Result<Handoff, ApiError> {
    let id = handoff_id(raw)?;
    api.handoffs
        .handoff(id)
        .await?
        .ok_or_else(|| DomainError::not_found(format!("no handoff with id {id}")).into())
}

/// Only the agent who accepted a handoff (or a supervisor) works on it.
pub(crate) fn ensure_owner(handoff: &Handoff, agent: &Agent) -> Result<(), ApiError> {
    if handoff.agent_id == Some(agent.id) || agent.role.supervises() {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::Forbidden,
            "another agent has this conversation",
        ))
    }
}

/// The handoff packet and the conversation so far.
#[utoipa::path(get, path = "/v1/agent/handoffs/{id}", tag = "agent",
    params(("id" = String, Path, description = "handoff id")),
    responses((status = 200, body = HandoffView), (status = 401, body = crate::error::ErrorBody),
              (status = 404, body = crate::error::ErrorBody)))]
pub async fn handoff(
    State(api): State<AgentApi>,
    _agent: Authenticated,
    Path(id): Path<String>,
) -> Result<ApiJson<HandoffView>, ApiError> {
    let handoff = load(&api, &id).await?;
    let messages = api
        .conversations
        .messages(handoff.conversation_id, 500)
        .await?;
    let history = crate::rest::history(&api.dialog, handoff.conversation_id)
        .await?
        .messages;
    Ok(ApiJson(HandoffView {
        handoff,
        messages,
        history,
    }))
}

/// Take a waiting handoff: the conversation becomes yours and the bot goes quiet.
#[utoipa::path(post, path = "/v1/agent/handoffs/{id}/accept", tag = "agent",
    params(("id" = String, Path, description = "handoff id")),
    responses((status = 200, body = Handoff), (status = 401, body = crate::error::ErrorBody),
              (status = 409, description = "already taken or ended", body = crate::error::ErrorBody)))]
pub async fn accept(
    State(api): State<AgentApi>,
    Authenticated(agent): Authenticated,
    Path(id): Path<String>,
) -> Result<ApiJson<Handoff>, ApiError> {
    let waiting = load(&api, &id).await?;
    if !agent.can_take(waiting.skill.as_deref()) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            format!(
                "this conversation needs the {} skill",
                waiting.skill.as_deref().unwrap_or_default()
            ),
        ));
    }
    let handoff = api.handoffs.accept(waiting.id, agent.id).await?;
    tracing::info!(handoff_id = %handoff.id, agent_id = %agent.id, "handoff accepted");
    // The customer hears who took over.
    let hello = Message::new(
        handoff.conversation_id,
        Role::System,
        warmline_dialog::switchboard::joined_text(&agent),
    );
    api.conversations.append_message(&hello).await?;
    api.outbound.deliver(&hello).await?;
    Ok(ApiJson(handoff))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentMessage {
    pub text: String,
}

/// Write to the customer (the accepting agent or a supervisor).
#[utoipa::path(post, path = "/v1/agent/handoffs/{id}/messages", tag = "agent",
    params(("id" = String, Path, description = "handoff id")), request_body = AgentMessage,
    responses((status = 200, body = Message), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn send(
    State(api): State<AgentApi>,
    Authenticated(agent): Authenticated,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AgentMessage>,
) -> Result<ApiJson<Message>, ApiError> {
    let handoff = load(&api, &id).await?;
    ensure_owner(&handoff, &agent)?;
    if handoff.status != HandoffStatus::Assigned {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "accept the handoff first (or it has ended)",
        ));
    }
    let text = body.text.trim();
    if text.is_empty() {
        return Err(ApiError::new(ErrorCode::InvalidInput, "text is empty"));
    }
    if text.chars().count() > MAX_MESSAGE_CHARS {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("text is longer than {MAX_MESSAGE_CHARS} characters"),
        ));
    }
    let message = Message::new(handoff.conversation_id, Role::Agent, text);
    api.conversations.append_message(&message).await?;
    api.outbound.deliver(&message).await?;
    Ok(ApiJson(message))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Finish {
    /// For the bot (returning) or the record (closing): what was done.
    #[serde(default)]
    pub note: Option<String>,
    /// How it ended: `resolved`, `follow_up`, `not_resolved`.
    #[serde(default)]
    pub disposition: Option<Disposition>,
}

/// A trimmed, non-empty note of at most [`MAX_MESSAGE_CHARS`].
pub(crate) fn clean_note(note: Option<String>) -> Result<Option<String>, ApiError> {
    let note = note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    if note
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_MESSAGE_CHARS)
    {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            "the note is too long",
        ));
    }
    Ok(note)
}

/// Ends a handoff (`Returned` or `Closed`) with the optional `{"note"}` body of the request.
async fn finish(
    api: &AgentApi,
    agent: &Agent,
    id: &str,
    status: HandoffStatus,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<ApiJson<Handoff>, ApiError> {
    let body: Finish = optional_json(headers, body)?;
    let handoff = load(api, id).await?;
    ensure_owner(&handoff, agent)?;
    let note = clean_note(body.note)?;
    if body.disposition == Some(Disposition::Ticket) {
        return Err(ApiError::new(
            ErrorCode::InvalidInput,
            "`ticket` is set when the customer leaves a message; use resolved, follow_up or not_resolved",
        ));
    }
    let done = api
        .handoffs
        .finish(handoff.id, status, note.as_deref(), body.disposition)
        .await?;
    let text = match status {
        HandoffStatus::Returned => "You're back with the virtual assistant. Ask me anything.",
        _ => SURVEY_QUESTION,
    };
    let mut notice = Message::new(done.conversation_id, Role::System, text);
    if status == HandoffStatus::Closed {
        // The channel shows these as the survey's answers (POST .../survey).
        notice.suggestions = (1..=5).map(|n| n.to_string()).collect();
    }
    api.conversations.append_message(&notice).await?;
    api.outbound.deliver(&notice).await?;
    tracing::info!(handoff_id = %done.id, agent_id = %agent.id, status = status.as_str(), disposition = body.disposition.map(Disposition::as_str), "handoff ended");
    Ok(ApiJson(done))
}

/// Give the conversation back to the bot, with a note it keeps.
#[utoipa::path(post, path = "/v1/agent/handoffs/{id}/return", tag = "agent",
    params(("id" = String, Path, description = "handoff id")), request_body(content = Option<Finish>, description = "optional"),
    responses((status = 200, body = Handoff), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn give_back(
    State(api): State<AgentApi>,
    Authenticated(agent): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<ApiJson<Handoff>, ApiError> {
    finish(&api, &agent, &id, HandoffStatus::Returned, &headers, body).await
}

/// Close the conversation.
#[utoipa::path(post, path = "/v1/agent/handoffs/{id}/close", tag = "agent",
    params(("id" = String, Path, description = "handoff id")), request_body(content = Option<Finish>, description = "optional"),
    responses((status = 200, body = Handoff), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn close(
    State(api): State<AgentApi>,
    Authenticated(agent): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<ApiJson<Handoff>, ApiError> {
    finish(&api, &agent, &id, HandoffStatus::Closed, &headers, body).await
}
