//! The REST chat API: open a conversation, send a message and get a grounded reply, read
//! the transcript.

use crate::error::{ApiError, ApiJson};
use crate::widget::AccessKey;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRef, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use warmline_dialog::{Dialog, Start};
use warmline_domain::{
    Channel, Conversation, ConversationId, CustomerIdentity, DomainError, ErrorCode, Message,
    Reply, Ticket, TicketKind,
};

/// What the chat routes need: the dialog, and the key that signs conversation access tokens.
#[derive(Clone)]
pub struct RestState {
    pub dialog: Dialog,
    pub key: AccessKey,
}

impl FromRef<RestState> for Dialog {
    fn from_ref(state: &RestState) -> Self {
        state.dialog.clone()
    }
}

/// The routes under `/v1`, to nest in the server's router.
pub fn router(dialog: Dialog, key: AccessKey) -> Router {
    Router::new()
        .route("/conversations", post(create_conversation))
        .route("/conversations/{id}", get(get_conversation))
        .route("/conversations/{id}/history", get(get_history))
        .route("/conversations/{id}/messages", post(post_message))
        .route("/conversations/{id}/survey", post(post_survey))
        .route("/conversations/{id}/ticket", post(post_ticket))
        .with_state(RestState { dialog, key })
}

/// Opening a conversation. Every field is optional: `{}` opens an anonymous API conversation.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConversation {
    /// Channel the customer is on (picks channel-specific articles). Default `api`.
    #[serde(default)]
    pub channel: Option<Channel>,
    /// Language tag, default `en`.
    #[serde(default)]
    pub locale: Option<String>,
    /// Who the customer is, if your system knows: links conversations to one customer.
    #[serde(default)]
    pub customer: Option<CustomerRef>,
}

/// A customer as your system knows them.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerRef {
    /// Your stable id for this customer (1 to 256 characters).
    pub external_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
}

/// A customer message.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    /// What the customer wrote (1 to 4000 characters).
    pub text: String,
}

/// The stored customer message and the bot's reply.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TurnResponse {
    pub message: Message,
    /// `null` while a person owns the conversation (the bot stays quiet).
    pub reply: Option<ReplyBody>,
    /// Present when this turn is a moment of truth: the customer needs a person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handoff: Option<HandoffSignal>,
}

/// Why the moment-of-truth detector says the customer needs a person.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HandoffSignal {
    /// Reason codes, strongest first: `explicit_request`, `frustration`,
    /// `repeated_failure`, `rephrased_question`, `high_stakes:<topic>`, `experience_critical`,
    /// `tier:<name>`, `channel_rule`.
    pub reasons: Vec<String>,
    /// The summed score of the signals and the threshold it was held against.
    pub score: f32,
    pub threshold: f32,
    /// `agent` (a person in this conversation) or `voice` (a phone call).
    pub route: String,
    /// When the conversation was queued for an agent: the customer's place in the queue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_position: Option<usize>,
    /// When queued: `open` (agents online), `no_agents` or `closed` (outside business hours).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub availability: Option<String>,
    /// When queued and known: the median wait of recent handoffs, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub typical_wait_seconds: Option<i64>,
}

impl From<&warmline_dialog::moments::Decision> for HandoffSignal {
    fn from(d: &warmline_dialog::moments::Decision) -> Self {
        Self {
            reasons: d.reasons(),
            score: d.score,
            threshold: d.threshold,
            route: d.route.as_str().to_owned(),
            queue_position: None,
            availability: None,
            typical_wait_seconds: None,
        }
    }
}

/// The bot's reply with its stored message id.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReplyBody {
    pub message_id: warmline_domain::MessageId,
    #[serde(flatten)]
    pub reply: Reply,
}

/// A conversation just opened, with the token that opens its live socket.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Opened {
    #[serde(flatten)]
    pub conversation: Conversation,
    /// Opens `GET /v1/conversations/{id}/ws` (the web widget's live socket). Keep it as
    /// secret as the conversation itself.
    pub access_token: String,
}

/// A conversation and its transcript, oldest message first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Transcript {
    pub conversation: Conversation,
    pub messages: Vec<Message>,
}

/// One message of a customer's history, with the channel it was written on.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryMessage {
    pub channel: Channel,
    #[serde(flatten)]
    pub message: Message,
}

/// Everything the customer said and was told, on every channel.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct History {
    pub messages: Vec<HistoryMessage>,
}

/// Most messages a history returns (the newest).
pub const HISTORY_LIMIT: usize = 500;

/// The customer's messages (oldest first) on every channel the business knows is theirs.
pub async fn history(dialog: &Dialog, id: ConversationId) -> Result<History, ApiError> {
    let messages = dialog
        .history(id, HISTORY_LIMIT)
        .await?
        .into_iter()
        .map(|(channel, message)| HistoryMessage { channel, message })
        .collect();
    Ok(History { messages })
}

/// A JSON body that may be left out entirely (then `T::default()`).
pub(crate) fn optional_json<T: Default + serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(ErrorCode::PayloadTooLarge, "the request body is too large")
        } else {
            ApiError::new(ErrorCode::MalformedRequest, rejection.body_text())
        }
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.contains("+json"));
    if !json {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send a JSON body with `Content-Type: application/json`",
        ));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            ErrorCode::MalformedRequest,
            format!("invalid JSON body: {e}"),
        )
    })
}

fn conversation_id(raw: &str) -> Result<ConversationId, ApiError> {
    raw.parse()
        .map_err(|_| DomainError::not_found(format!("no conversation with id {raw:?}")).into())
}

/// Open a conversation.
#[utoipa::path(
    post, path = "/v1/conversations", tag = "chat",
    request_body(content = Option<CreateConversation>, description = "optional; `{}` is fine"),
    responses(
        (status = 201, description = "opened", body = Opened),
        (status = 400, description = "malformed JSON", body = crate::error::ErrorBody),
        (status = 422, description = "invalid field", body = crate::error::ErrorBody),
        (status = 429, description = "rate limited", body = crate::error::ErrorBody),
    )
)]
pub async fn create_conversation(
    State(RestState { dialog, key }): State<RestState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, ApiJson<Opened>), ApiError> {
    let request: CreateConversation = optional_json(&headers, body)?;
    let channel = request.channel.unwrap_or_default();
    let (identity, display_name) = match request.customer {
        Some(c) => (
            Some(CustomerIdentity {
                channel,
                external_id: c.external_id,
            }),
            c.display_name,
        ),
        None => (None, None),
    };
    let conversation = dialog
        .start(Start {
            channel,
            locale: request.locale,
            identity,
            display_name,
        })
        .await?;
    let access_token = key.token(conversation.id);
    Ok((
        StatusCode::CREATED,
        ApiJson(Opened {
            conversation,
            access_token,
        }),
    ))
}

/// A conversation and its transcript.
#[utoipa::path(
    get, path = "/v1/conversations/{id}", tag = "chat",
    params(("id" = String, Path, description = "conversation id")),
    responses(
        (status = 200, body = Transcript),
        (status = 404, description = "unknown conversation", body = crate::error::ErrorBody),
    )
)]
pub async fn get_conversation(
    State(dialog): State<Dialog>,
    Path(id): Path<String>,
) -> Result<ApiJson<Transcript>, ApiError> {
    let (conversation, messages) = dialog.transcript(conversation_id(&id)?).await?;
    Ok(ApiJson(Transcript {
        conversation,
        messages,
    }))
}

/// The customer's whole history: this conversation and their others on every channel (a
/// customer the CRM knows by their verified email and phone is one customer), oldest first,
/// each message with its channel.
#[utoipa::path(
    get, path = "/v1/conversations/{id}/history", tag = "chat",
    params(("id" = String, Path, description = "conversation id")),
    responses(
        (status = 200, body = History),
        (status = 404, description = "unknown conversation", body = crate::error::ErrorBody),
    )
)]
pub async fn get_history(
    State(dialog): State<Dialog>,
    Path(id): Path<String>,
) -> Result<ApiJson<History>, ApiError> {
    Ok(ApiJson(history(&dialog, conversation_id(&id)?).await?))
}

/// Send a customer message; the reply is grounded in the knowledge base, with citations.
#[utoipa::path(
    post, path = "/v1/conversations/{id}/messages", tag = "chat",
    params(("id" = String, Path, description = "conversation id")),
    request_body = PostMessage,
    responses(
        (status = 200, body = TurnResponse),
        (status = 400, description = "malformed JSON", body = crate::error::ErrorBody),
        (status = 404, description = "unknown conversation", body = crate::error::ErrorBody),
        (status = 409, description = "conversation closed", body = crate::error::ErrorBody),
        (status = 413, description = "message too long", body = crate::error::ErrorBody),
        (status = 415, description = "not JSON", body = crate::error::ErrorBody),
        (status = 422, description = "empty text", body = crate::error::ErrorBody),
        (status = 429, description = "rate limited", body = crate::error::ErrorBody),
    )
)]
pub async fn post_message(
    State(dialog): State<Dialog>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PostMessage>,
) -> Result<ApiJson<TurnResponse>, ApiError> {
    let turn = dialog.handle(conversation_id(&id)?, &body.text).await?;
    Ok(ApiJson(TurnResponse {
        handoff: turn.moment.as_ref().map(|d| HandoffSignal {
            queue_position: turn.queued.map(|q| q.position),
            availability: turn.queued.map(|q| q.availability.as_str().to_owned()),
            typical_wait_seconds: turn.queued.and_then(|q| match q.availability {
                warmline_dialog::handoff::Availability::Open { wait } => {
                    wait.map(|w| w.whole_seconds())
                }
                _ => None,
            }),
            ..HandoffSignal::from(d)
        }),
        message: turn.message,
        reply: turn.reply.map(|(reply, stored)| ReplyBody {
            message_id: stored.id,
            reply,
        }),
    }))
}

/// The satisfaction survey after a closed conversation.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Survey {
    /// 1 (poor) to 5 (great).
    pub score: u8,
    /// In the customer's words (at most 2000 characters); shown verbatim to the team.
    #[serde(default)]
    pub comment: Option<String>,
}

/// Rate a closed conversation (once).
#[utoipa::path(
    post, path = "/v1/conversations/{id}/survey", tag = "chat",
    params(("id" = String, Path, description = "conversation id")),
    request_body = Survey,
    responses(
        (status = 204, description = "thank you"),
        (status = 404, description = "unknown conversation", body = crate::error::ErrorBody),
        (status = 409, description = "not closed yet, or already rated", body = crate::error::ErrorBody),
        (status = 422, description = "score outside 1 to 5", body = crate::error::ErrorBody),
    )
)]
pub async fn post_survey(
    State(dialog): State<Dialog>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Survey>,
) -> Result<StatusCode, ApiError> {
    dialog
        .survey(conversation_id(&id)?, body.score, body.comment.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Instead of waiting for a person: a callback, or a message for the team.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeaveTicket {
    /// `callback` (needs `contact`) or `message`.
    pub kind: TicketKind,
    /// Phone number or email, at most 200 characters.
    #[serde(default)]
    pub contact: Option<String>,
    /// What to pass on; without it the ticket quotes the customer's latest messages.
    #[serde(default)]
    pub text: Option<String>,
}

/// Ask for a callback or leave a message instead of waiting; the conversation goes back to
/// the bot meanwhile.
#[utoipa::path(
    post, path = "/v1/conversations/{id}/ticket", tag = "chat",
    params(("id" = String, Path, description = "conversation id")),
    request_body = LeaveTicket,
    responses(
        (status = 201, body = Ticket),
        (status = 404, description = "unknown conversation", body = crate::error::ErrorBody),
        (status = 409, description = "closed, or a person just joined", body = crate::error::ErrorBody),
        (status = 422, description = "a callback without contact", body = crate::error::ErrorBody),
    )
)]
pub async fn post_ticket(
    State(dialog): State<Dialog>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<LeaveTicket>,
) -> Result<(StatusCode, ApiJson<Ticket>), ApiError> {
    let (ticket, _thanks) = dialog
        .leave_ticket(
            conversation_id(&id)?,
            body.kind,
            body.contact.as_deref(),
            body.text.as_deref(),
        )
        .await?;
    Ok((StatusCode::CREATED, ApiJson(ticket)))
}
