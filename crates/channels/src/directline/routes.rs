//! The Direct Line REST routes (paths relative to `/v3/directline`):
//!
//! | route | who | what |
//! |---|---|---|
//! | `POST /tokens/generate` | secret | opens a conversation; `{conversationId, token, expires_in}` |
//! | `POST /tokens/refresh` | token | a fresh token for the same conversation and user |
//! | `POST /conversations` | secret or token | 201 `{conversationId, token, expires_in, streamUrl}` |
//! | `GET /conversations/{id}?watermark=W` | secret or token | reconnect: a new `streamUrl` from `W` |
//! | `GET /conversations/{id}/activities?watermark=W` | secret or token | polling: `{activities, watermark}` |
//! | `POST /conversations/{id}/activities` | secret or token | a customer message (or typing, or a feedback thumb) → `{id}` |
//! | `GET /conversations/{id}/stream?t=…&watermark=W` | stream token | the websocket |

use super::activity::{self, Incoming};
use super::tokens::Use;
use super::{Caller, DirectLine, MAX_ACTIVITIES};
use crate::error::{ApiError, ApiJson};
use crate::rest::optional_json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;
use warmline_dialog::Start;
use warmline_domain::{
    Channel, ConversationId, CustomerIdentity, DomainError, ErrorCode, Message, MessageId,
    Ownership,
};

/// How long a post waits for the bot's turn before answering anyway (Web Chat gives up on a
/// send after 20 s); the turn goes on, and its reply arrives on the stream.
const POST_WAIT: Duration = Duration::from_secs(10);
/// Who a secret's holder acts for on activities (they name no user).
const SECRET_USER: &str = "user";

pub(super) fn token_routes() -> Router<DirectLine> {
    Router::new().route("/tokens/generate", post(generate))
}

pub(super) fn conversation_routes() -> Router<DirectLine> {
    Router::new()
        .route("/tokens/refresh", post(refresh))
        .route("/conversations", post(start))
        .route("/conversations/{id}", get(reconnect))
        .route(
            "/conversations/{id}/activities",
            get(poll).post(post_activity),
        )
        .route("/conversations/{id}/stream", get(super::stream::connect))
}

/// The optional body of token generation and of starting a conversation.
#[derive(Debug, Default, Deserialize)]
struct StartBody {
    #[serde(default)]
    user: Option<User>,
    #[serde(default)]
    locale: Option<String>,
}

#[derive(Debug, Deserialize)]
struct User {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WatermarkQuery {
    #[serde(default)]
    watermark: Option<String>,
}

/// A watermark: empty or absent is the start; otherwise the count of activities seen.
fn watermark(query: Result<Query<WatermarkQuery>, QueryRejection>) -> Result<usize, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::new(ErrorCode::MalformedRequest, e.body_text()))?;
    match q.watermark.as_deref().map(str::trim) {
        None | Some("") => Ok(0),
        Some(w) => w.parse().map_err(|_| {
            ApiError::new(
                ErrorCode::MalformedRequest,
                "watermark must be a number the server gave you",
            )
        }),
    }
}

fn conversation_id(raw: &str) -> Result<ConversationId, ApiError> {
    raw.parse()
        .map_err(|_| DomainError::not_found("no such conversation").into())
}

impl DirectLine {
    /// The conversation `raw` and the user a request acts for (`None`: the secret's holder,
    /// who may act for anyone); a token opens only its own conversation.
    fn authorize(
        &self,
        headers: &HeaderMap,
        raw: &str,
    ) -> Result<(ConversationId, Option<String>), ApiError> {
        let id = conversation_id(raw)?;
        match self.caller(headers)? {
            Caller::Secret => Ok((id, None)),
            Caller::Token(claims) if claims.conversation() == Some(id) => {
                Ok((id, Some(claims.user)))
            }
            Caller::Token(_) => Err(ApiError::new(
                ErrorCode::Forbidden,
                "this token is for another conversation",
            )),
        }
    }

    /// Opens a Direct Line conversation for the user of `body` (the site's own customer id,
    /// given with the secret, links it to that customer, as the REST API's `customer` does),
    /// or for an anonymous `dl_` user.
    async fn open(&self, body: StartBody) -> Result<(ConversationId, String), ApiError> {
        let given = body
            .user
            .as_ref()
            .and_then(|u| u.id.as_deref())
            .map(str::trim);
        let (user, identity) = match given.filter(|id| !id.is_empty()) {
            Some(id) => {
                if id.chars().count() > 256 || id.chars().any(char::is_control) {
                    return Err(ApiError::new(
                        ErrorCode::InvalidInput,
                        "user.id must be 1 to 256 characters",
                    ));
                }
                let identity = CustomerIdentity {
                    channel: Channel::Api,
                    external_id: id.to_owned(),
                };
                (id.to_owned(), Some(identity))
            }
            None => (format!("dl_{}", MessageId::new().0.simple()), None),
        };
        let display_name = body
            .user
            .and_then(|u| u.name)
            .filter(|n| !n.trim().is_empty());
        // Web Chat sends the browser's locale (`en-US`); articles are tagged by language.
        let locale = body
            .locale
            .as_deref()
            .and_then(|l| l.split(['-', '_']).next())
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned);
        let conversation = self
            .inner
            .dialog
            .start(Start {
                channel: Channel::DirectLine,
                locale,
                identity,
                display_name,
            })
            .await?;
        tracing::info!(conversation_id = %conversation.id, "directline conversation opened");
        Ok((conversation.id, user))
    }

    /// 404 unless the conversation exists.
    async fn exists(&self, id: ConversationId) -> Result<warmline_domain::Conversation, ApiError> {
        self.inner
            .store
            .conversation(id)
            .await?
            .ok_or_else(|| DomainError::not_found("no such conversation").into())
    }

    /// The conversation's messages, oldest first (404 when there is no such conversation).
    async fn transcript(&self, id: ConversationId) -> Result<Vec<Message>, ApiError> {
        self.exists(id).await?;
        Ok(self.inner.store.messages(id, MAX_ACTIVITIES).await?)
    }

    /// `{conversationId, token, expires_in}` plus, for starting and reconnecting, a
    /// `streamUrl` resuming after `watermark`.
    fn session(&self, id: ConversationId, user: &str, stream_from: Option<usize>) -> Value {
        let (token, expires_in) = self.mint(id, user, Use::Api);
        let mut body = json!({
            "conversationId": id.to_string(),
            "token": token,
            "expires_in": expires_in,
        });
        if let Some(w) = stream_from {
            body["streamUrl"] = Value::from(self.stream_url(id, user, w));
        }
        body
    }
}

/// `POST /tokens/generate`: with the secret, a token for a new conversation (a site's server
/// calls this and hands the token to its page).
async fn generate(
    State(dl): State<DirectLine>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<ApiJson<Value>, ApiError> {
    if !matches!(dl.caller(&headers)?, Caller::Secret) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "tokens are generated with the Direct Line secret",
        ));
    }
    let (id, user) = dl.open(optional_json(&headers, body)?).await?;
    Ok(ApiJson(dl.session(id, &user, None)))
}

/// `POST /tokens/refresh`: a token's holder gets a fresh one (same conversation and user).
async fn refresh(
    State(dl): State<DirectLine>,
    headers: HeaderMap,
) -> Result<ApiJson<Value>, ApiError> {
    let Caller::Token(claims) = dl.caller(&headers)? else {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "refresh a token with the token itself",
        ));
    };
    let id = conversation_id(&claims.conv)?;
    Ok(ApiJson(dl.session(id, &claims.user, None)))
}

/// `POST /conversations`: with the secret, a new conversation; with a token, its own.
async fn start(
    State(dl): State<DirectLine>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, ApiJson<Value>), ApiError> {
    let (id, user) = match dl.caller(&headers)? {
        Caller::Secret => dl.open(optional_json(&headers, body)?).await?,
        Caller::Token(claims) => {
            let id = conversation_id(&claims.conv)?;
            (id, claims.user)
        }
    };
    dl.exists(id).await?;
    Ok((StatusCode::CREATED, ApiJson(dl.session(id, &user, Some(0)))))
}

/// `GET /conversations/{id}?watermark=W`: a new `streamUrl` (after a dropped socket).
async fn reconnect(
    State(dl): State<DirectLine>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    query: Result<Query<WatermarkQuery>, QueryRejection>,
) -> Result<ApiJson<Value>, ApiError> {
    let (id, user) = dl.authorize(&headers, &raw)?;
    let w = watermark(query)?;
    dl.exists(id).await?;
    let user = user.unwrap_or_else(|| SECRET_USER.to_owned());
    Ok(ApiJson(dl.session(id, &user, Some(w))))
}

/// `GET /conversations/{id}/activities?watermark=W`: what came after `W` (polling).
async fn poll(
    State(dl): State<DirectLine>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    query: Result<Query<WatermarkQuery>, QueryRejection>,
) -> Result<ApiJson<Value>, ApiError> {
    let (id, user) = dl.authorize(&headers, &raw)?;
    let w = watermark(query)?;
    let messages = dl.transcript(id).await?;
    let user = user.as_deref().unwrap_or(SECRET_USER);
    let activities = dl.activities(id, user, &messages, w);
    Ok(ApiJson(json!({
        "activities": activities,
        "watermark": messages.len().to_string(),
    })))
}

impl DirectLine {
    /// `messages[from..]` as activities for `user`, with the clients' ids of echoed messages.
    pub(crate) fn activities(
        &self,
        id: ConversationId,
        user: &str,
        messages: &[Message],
        from: usize,
    ) -> Vec<Value> {
        activity::activities(id, user, messages, from, &|m| self.client_id(m.id))
    }
}

/// `POST /conversations/{id}/activities`: a customer message goes through the dialog like
/// any turn (the reply arrives on the stream or by polling); typing and other activities are
/// acknowledged and not stored.
async fn post_activity(
    State(dl): State<DirectLine>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    ApiJson(posted): ApiJson<Incoming>,
) -> Result<ApiJson<Value>, ApiError> {
    let (id, user) = dl.authorize(&headers, &raw)?;
    let from = posted.from.as_ref().and_then(|f| f.id.as_deref());
    if let (Some(user), Some(from)) = (&user, from)
        && from != user
    {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "from.id must be the user the token was issued to",
        ));
    }
    if let Some(r) = posted.rating() {
        // A thumb under an answer of this very conversation.
        if r.conversation_id != id {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "that answer is in another conversation",
            ));
        }
        if let Some(insights) = dl.inner.dialog.insights() {
            insights.rate(id, r.message_id, r.helpful).await?;
        }
        return Ok(ApiJson(json!({ "id": MessageId::new().to_string() })));
    }
    if posted.kind != "message" {
        return Ok(ApiJson(json!({ "id": MessageId::new().to_string() })));
    }
    let Some(text) = posted.said().map(str::to_owned) else {
        let message = if posted.attachments.as_ref().is_some_and(|a| !a.is_empty()) {
            "attachments are not supported; send text"
        } else {
            "a message activity needs text"
        };
        return Err(ApiError::new(ErrorCode::InvalidInput, message));
    };
    let message_id = MessageId::new();
    if let Some(client_id) = posted.client_activity_id() {
        dl.remember_client_id(message_id, client_id);
    }
    if dl.exists(id).await?.ownership == Ownership::Bot {
        let _ = dl.inner.typing.send(id);
    }
    let dialog = dl.inner.dialog.clone();
    let mut turn =
        tokio::spawn(async move { dialog.handle_as(id, &text, message_id).await.map(|_| ()) });
    match tokio::time::timeout(POST_WAIT, &mut turn).await {
        Ok(Ok(result)) => result?,
        Ok(Err(join)) => {
            return Err(DomainError::internal(format!("directline turn failed: {join}")).into());
        }
        // Still answering: the message is stored (it was first); the reply will follow.
        Err(_) => tracing::info!(conversation_id = %id, "directline turn still running"),
    }
    Ok(ApiJson(json!({ "id": message_id.to_string() })))
}
