//! The web widget's channel: `GET /v1/conversations/{id}/ws`, a live socket per customer.
//!
//! The widget (`web/widget.js`) opens a conversation over REST (`POST /v1/conversations`,
//! whose answer carries the conversation's `access_token`), then keeps a websocket to it.
//! Browsers cannot set headers on a websocket, so the token travels as a subprotocol:
//! `new WebSocket(url, ["warmline.widget.v1", "token." + token])`; the server answers
//! `warmline.widget.v1`. A browser's `Origin` must be this server's own or one of the
//! configured widget origins (`WARMLINE_WIDGET_ORIGINS`).
//!
//! Client → server, JSON text frames with a `type`:
//! - `message` `{client_id, text}`: the customer writes. `client_id` (1 to 64 characters,
//!   unique per message) makes sending idempotent: a frame sent again after a reconnect is
//!   acknowledged, not stored twice;
//! - `typing`: the customer is typing (keeps the socket from idling out).
//!
//! Resuming: `?after=<message id>` on the socket's URL sends every stored message after that
//! one first (without it, the whole transcript), then live ones; message ids are time-ordered
//! and each message is sent once per socket, so a client that reconnects with the last id it
//! has sees no gap and no duplicate.
//!
//! Server → client:
//! - `hello` `{conversation_id, ownership}` at connection;
//! - `message` `{message}`: every stored message of the conversation (customer, bot, agent,
//!   system), each once per socket, in the order they were stored;
//! - `ack` `{client_id, message_id}`: the customer's message is stored (`message_id` is
//!   null while an earlier socket's copy of it is still being handled);
//! - `typing` `{who: "bot", on}`: the bot is working on a reply;
//! - `draft` `{client_id, text}`: with generated answers, a verified sentence of the reply
//!   being written; the bot's `message` replaces the drafts;
//! - `state` `{ownership}`: the conversation moved (`queued`, `human`, `bot`, `closed`);
//! - `error` `{code, message, client_id?}`.
//!
//! Limits: sockets at once (429 beyond), frame size, messages per second per socket, a
//! ping every 25 s (a socket silent for two pings is closed), an idle timeout, and all
//! sockets close at shutdown.

pub mod access;
mod hub;
mod sent;
mod socket;

pub use access::AccessKey;

use crate::error::ApiError;
use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use axum::routing::get;
use std::sync::Arc;
use std::time::Duration;
use warmline_dialog::Dialog;
use warmline_domain::{ConversationId, ConversationStore, ErrorCode, EventBus, MessageId};

/// The subprotocol the server speaks.
pub const PROTOCOL: &str = "warmline.widget.v1";
/// Prefix of the subprotocol entry that carries the conversation's access token.
const TOKEN_PREFIX: &str = "token.";

/// Settings of the widget's channel.
#[derive(Debug, Clone)]
pub struct WidgetConfig {
    /// Sites (scheme://host[:port]) besides this server that may embed the widget.
    pub origins: Vec<String>,
    /// Customer sockets open at once; more are refused with 429.
    pub max_sockets: usize,
    /// A socket with no customer frame for this long is closed (the widget reconnects when
    /// the customer comes back).
    pub idle_timeout: Duration,
    /// Customer messages per second per socket (sustained), and the burst above it.
    pub messages_per_second: f64,
    pub message_burst: f64,
    /// Largest frame a client may send, in bytes.
    pub max_frame_bytes: usize,
}

impl Default for WidgetConfig {
    fn default() -> Self {
        Self {
            origins: Vec::new(),
            max_sockets: 16_384,
            idle_timeout: Duration::from_secs(30 * 60),
            messages_per_second: 1.0,
            message_burst: 5.0,
            max_frame_bytes: 16 * 1024,
        }
    }
}

impl WidgetConfig {
    /// Whether a request with these headers may use the widget's routes: no `Origin` (not a
    /// browser), this server's own, or a configured one.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return true;
        };
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let origin_host = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        if matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h)) {
            return true;
        }
        self.origins
            .iter()
            .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin))
    }
}

/// What the widget's socket needs. Cheap to clone.
#[derive(Clone)]
pub struct WidgetApi {
    pub dialog: Dialog,
    /// The publishing store (reads transcripts; a resume re-reads from it).
    pub conversations: Arc<dyn ConversationStore>,
    pub bus: Arc<dyn EventBus>,
    pub key: AccessKey,
    pub config: Arc<WidgetConfig>,
    sockets: Arc<tokio::sync::Semaphore>,
    closing: tokio::sync::watch::Receiver<bool>,
    sent: Arc<sent::ClientIds>,
    hub: Arc<hub::Hub>,
}

impl WidgetApi {
    pub fn new(
        dialog: Dialog,
        conversations: Arc<dyn ConversationStore>,
        bus: Arc<dyn EventBus>,
        key: AccessKey,
        config: WidgetConfig,
    ) -> Self {
        Self {
            dialog,
            conversations,
            bus,
            key,
            sockets: Arc::new(tokio::sync::Semaphore::new(config.max_sockets)),
            config: Arc::new(config),
            closing: tokio::sync::watch::channel(false).1,
            sent: Arc::new(sent::ClientIds::default()),
            hub: Arc::new(hub::Hub::default()),
        }
    }

    /// Sockets close when `closing` turns `true` (server shutdown).
    pub fn closing_on(mut self, closing: tokio::sync::watch::Receiver<bool>) -> Self {
        self.closing = closing;
        self
    }
}

/// The widget's routes under `/v1`.
pub fn router(api: WidgetApi) -> Router {
    Router::new()
        .route("/conversations/{id}/ws", get(connect))
        .with_state(api)
}

/// The access token from `Sec-WebSocket-Protocol` (`token.<t>`), else `Authorization`.
fn socket_token(headers: &HeaderMap) -> Option<String> {
    let offered = headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    offered
        .split(',')
        .find_map(|p| p.trim().strip_prefix(TOKEN_PREFIX))
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .or_else(|| crate::agents::bearer(headers).map(str::to_owned))
}

/// Where a reconnecting client resumes.
#[derive(Debug, serde::Deserialize)]
pub struct Resume {
    /// The last message id the client has.
    #[serde(default)]
    pub after: Option<String>,
}

/// Open the conversation's live socket (see the module docs for the protocol).
pub async fn connect(
    State(api): State<WidgetApi>,
    Path(id): Path<String>,
    Query(resume): Query<Resume>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    if !api.config.allows(&headers) {
        tracing::info!("widget websocket refused: origin not allowed");
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "this site may not embed the widget (see WARMLINE_WIDGET_ORIGINS)",
        ));
    }
    let refused = || {
        ApiError::new(
            ErrorCode::Unauthorized,
            "a valid access token for this conversation is needed",
        )
    };
    let id: ConversationId = id.parse().map_err(|_| refused())?;
    let token = socket_token(&headers).ok_or_else(refused)?;
    if !api.key.verify(id, &token) {
        tracing::info!(conversation_id = %id, "widget websocket refused: wrong token");
        return Err(refused());
    }
    let after =
        match resume.after.as_deref().filter(|a| !a.is_empty()) {
            Some(a) => Some(a.parse::<MessageId>().map_err(|_| {
                ApiError::new(ErrorCode::InvalidInput, "`after` must be a message id")
            })?),
            None => None,
        };
    let conversation = api
        .conversations
        .conversation(id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such conversation"))?;
    let Ok(slot) = api.sockets.clone().try_acquire_owned() else {
        metrics::counter!("warmline_widget_sockets_refused_total").increment(1);
        return Err(ApiError::rate_limited(5));
    };
    Ok(upgrade
        .protocols([PROTOCOL])
        .max_message_size(api.config.max_frame_bytes)
        .max_frame_size(api.config.max_frame_bytes)
        // Small buffers: most sockets sit idle (the defaults, 128 KiB each way, would take
        // over a gigabyte for 10,000 of them). A client that stops reading is cut off at
        // 1 MiB of unsent frames.
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_write_buffer_size(1024 * 1024)
        .on_upgrade(move |ws| async move {
            let _slot = slot;
            metrics::gauge!("warmline_widget_sockets").increment(1.0);
            socket::run(api, conversation, after, ws).await;
            metrics::gauge!("warmline_widget_sockets").decrement(1.0);
        }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        h
    }

    #[test]
    fn the_own_site_and_configured_sites_may_embed_the_widget() {
        let config = WidgetConfig {
            origins: vec!["https://shop.example/".into()],
            ..WidgetConfig::default()
        };
        let host = (header::HOST, "help.example:8080");
        let with = |origin: &str| headers(&[host.clone(), (header::ORIGIN, origin)]);
        assert!(config.allows(&headers(std::slice::from_ref(&host))));
        assert!(config.allows(&with("http://help.example:8080")));
        assert!(config.allows(&with("https://shop.example")));
        assert!(!config.allows(&with("https://shop.example.evil")));
        assert!(!config.allows(&with("http://shop.example")));
        assert!(!WidgetConfig::default().allows(&with("https://shop.example")));
        assert!(!config.allows(&with("null")));
    }

    #[test]
    fn the_token_rides_the_subprotocol_list() {
        let offered = headers(&[(
            header::SEC_WEBSOCKET_PROTOCOL,
            "warmline.widget.v1, token.abc",
        )]);
        assert_eq!(socket_token(&offered).as_deref(), Some("abc"));
        let none = headers(&[(header::SEC_WEBSOCKET_PROTOCOL, "warmline.widget.v1")]);
        assert_eq!(socket_token(&none), None);
    }
}
