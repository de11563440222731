//! Direct Line 3.0, the protocol Microsoft Web Chat (`botframework-webchat`) and the
//! Bot Framework's directline-js speak, under `/v3/directline`:
//!
//! - [`tokens`]: signed, expiring tokens bound to one conversation and one user (JWTs, as
//!   Web Chat reads the user out of them).
//! - [`activity`]: stored messages as activities (markdown, citations, suggested actions)
//!   and what clients post.
//! - [`routes`]: token generate/refresh, start and reconnect, post activities, polling.
//! - [`stream`]: the websocket of a `streamUrl`: `{"activities":[...],"watermark":"N"}`
//!   frames, typing, keep-alives.
//!
//! A Direct Line conversation is a Warmline conversation on channel `directline`; its
//! activities are its transcript, so the watermark is an index into it and reconnecting
//! (`GET /conversations/{id}?watermark=W`) or polling loses nothing across restarts. New
//! messages are pushed from the event bus. The secret (`WARMLINE_DIRECTLINE_SECRET`) mints
//! tokens; pages on the configured origins may call the routes (CORS).

pub mod activity;
pub mod routes;
pub mod stream;
pub mod tokens;

use crate::error::ApiError;
use crate::messaging::sign::same;
use axum::Router;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokens::{Claims, Refused, Signer, Use};
use tower_http::cors::{AllowOrigin, CorsLayer};
use warmline_dialog::Dialog;
use warmline_domain::{ConversationId, ConversationStore, ErrorCode, EventBus, MessageId};

/// Direct Line settings. `Debug` never shows the secret.
#[derive(Clone)]
pub struct DirectLineConfig {
    /// The Direct Line secret: whoever holds it mints tokens and opens conversations.
    pub secret: String,
    /// Origins (`https://shop.example`) whose pages may call the API and open streams.
    pub origins: Vec<String>,
    /// How long a token lasts (refreshing extends it).
    pub token_ttl: Duration,
    /// Websockets open at once, overall and per conversation; more get 429.
    pub max_sockets: usize,
    pub sockets_per_conversation: usize,
}

impl std::fmt::Debug for DirectLineConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectLineConfig")
            .field("secret", &"<hidden>")
            .field("origins", &self.origins)
            .field("token_ttl", &self.token_ttl)
            .field("max_sockets", &self.max_sockets)
            .field("sockets_per_conversation", &self.sockets_per_conversation)
            .finish()
    }
}

/// Shortest secret accepted: a guessable secret would open every conversation.
pub const MIN_SECRET_CHARS: usize = 16;

impl DirectLineConfig {
    /// Settings with the defaults (30-minute tokens as the Bot Framework's, 1,024 sockets, 4
    /// per conversation), checked: a short secret or a malformed origin is an error.
    pub fn new(secret: &str, origins: &[String]) -> Result<Self, crate::ChannelsError> {
        let secret = secret.trim();
        if secret.chars().count() < MIN_SECRET_CHARS {
            return Err(crate::ChannelsError::Config(format!(
                "the Direct Line secret must be at least {MIN_SECRET_CHARS} characters"
            )));
        }
        let mut checked = Vec::new();
        for origin in origins.iter().map(|o| o.trim()).filter(|o| !o.is_empty()) {
            checked.push(check_origin(origin)?);
        }
        Ok(Self {
            secret: secret.to_owned(),
            origins: checked,
            token_ttl: Duration::from_secs(1800),
            max_sockets: 1024,
            sockets_per_conversation: 4,
        })
    }
}

/// An origin is `scheme://host[:port]`, nothing more (that is what browsers send).
fn check_origin(origin: &str) -> Result<String, crate::ChannelsError> {
    let bad = || {
        crate::ChannelsError::Config(format!(
            "Direct Line origin {origin:?} must look like https://shop.example or http://host:port"
        ))
    };
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(bad)?;
    if rest.is_empty() || rest.contains(['/', '?', '#', ' ', '@']) {
        return Err(bad());
    }
    HeaderValue::from_str(origin).map_err(|_| bad())?;
    Ok(origin.to_ascii_lowercase())
}

/// Most messages a conversation's activities are read from (its transcript, oldest first).
pub const MAX_ACTIVITIES: usize = 100_000;
/// Client activity ids remembered for echoes (the newest; older echoes go without).
const CLIENT_IDS: usize = 50_000;

/// The Direct Line channel. Cheap to clone.
#[derive(Clone)]
pub struct DirectLine {
    inner: Arc<Inner>,
}

struct Inner {
    config: DirectLineConfig,
    signer: Signer,
    dialog: Dialog,
    store: Arc<dyn ConversationStore>,
    bus: Arc<dyn EventBus>,
    /// `ws://` or `wss://` base of stream URLs (from the public URL).
    stream_base: String,
    sockets: Arc<tokio::sync::Semaphore>,
    per_conversation: Mutex<HashMap<ConversationId, usize>>,
    client_ids: Mutex<ClientIds>,
    /// "The bot is answering this conversation": streams send a typing activity.
    typing: tokio::sync::broadcast::Sender<ConversationId>,
    closing: tokio::sync::watch::Receiver<bool>,
}

/// The client's ids of customer messages, newest kept.
#[derive(Default)]
struct ClientIds {
    ids: HashMap<MessageId, String>,
    order: VecDeque<MessageId>,
}

/// Who is calling: the secret's holder, or a token's.
pub(crate) enum Caller {
    Secret,
    Token(Claims),
}

impl DirectLine {
    /// `public_url` is this server's public base (stream URLs are built on it); `closing`
    /// turns `true` at shutdown (streams close).
    pub fn new(
        config: DirectLineConfig,
        public_url: &str,
        dialog: Dialog,
        store: Arc<dyn ConversationStore>,
        bus: Arc<dyn EventBus>,
        closing: tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        let base = public_url.trim_end_matches('/');
        let stream_base = match base.strip_prefix("https://") {
            Some(rest) => format!("wss://{rest}"),
            None => format!("ws://{}", base.strip_prefix("http://").unwrap_or(base)),
        };
        Self {
            inner: Arc::new(Inner {
                signer: Signer::new(&config.secret),
                sockets: Arc::new(tokio::sync::Semaphore::new(config.max_sockets)),
                config,
                dialog,
                store,
                bus,
                stream_base,
                per_conversation: Mutex::new(HashMap::new()),
                client_ids: Mutex::new(ClientIds::default()),
                typing: tokio::sync::broadcast::channel(256).0,
                closing,
            }),
        }
    }

    /// The routes, to mount with `nest_service("/v3/directline", ...)`, with CORS for the
    /// configured origins on every answer (errors and preflights included). `limit` wraps the
    /// conversation routes (the server's per-client rate limit); token generation is
    /// authenticated by the secret and called by sites' servers, so it is not.
    pub fn router(&self, limit: impl FnOnce(Router) -> Router) -> Router {
        let conversations = limit(routes::conversation_routes().with_state(self.clone()));
        routes::token_routes()
            .with_state(self.clone())
            .merge(conversations)
            .fallback(crate::error::not_found)
            .method_not_allowed_fallback(crate::error::method_not_allowed)
            .layer(self.cors())
    }

    fn cors(&self) -> CorsLayer {
        let origins: Vec<HeaderValue> = self
            .inner
            .config
            .origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("x-ms-bot-agent"),
                // RxJS's ajax (directline-js) adds it to every request.
                HeaderName::from_static("x-requested-with"),
            ])
            .expose_headers([header::RETRY_AFTER])
            .max_age(Duration::from_secs(600))
    }

    /// The caller of a request: `Authorization: Bearer <secret or token>`. None: 401; a wrong
    /// secret, a forged or expired token: 403 (directline-js reads 403 as "get a new token").
    pub(crate) fn caller(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let Some(bearer) = crate::agents::bearer(headers) else {
            return Err(ApiError::new(
                ErrorCode::Unauthorized,
                "send `Authorization: Bearer <Direct Line secret or token>`",
            ));
        };
        if same(bearer.as_bytes(), self.inner.config.secret.as_bytes()) {
            return Ok(Caller::Secret);
        }
        match self
            .inner
            .signer
            .verify(bearer, Use::Api, tokens::unix_now())
        {
            Ok(claims) => Ok(Caller::Token(claims)),
            Err(Refused::Expired) => Err(ApiError::new(
                ErrorCode::Forbidden,
                "the token has expired; get a new one",
            )),
            Err(Refused::Forged | Refused::WrongUse) => {
                tracing::info!("directline request refused: not a valid secret or token");
                Err(ApiError::new(
                    ErrorCode::Forbidden,
                    "not a valid Direct Line secret or token",
                ))
            }
        }
    }

    /// A token of `usage` for `user` in `conversation`, and its lifetime in seconds.
    pub(crate) fn mint(
        &self,
        conversation: ConversationId,
        user: &str,
        usage: Use,
    ) -> (String, i64) {
        let ttl = match usage {
            Use::Api => self.inner.config.token_ttl.as_secs() as i64,
            // Long enough to open the socket; the socket itself outlives it.
            Use::Stream => 300,
        };
        let claims = Claims::new(conversation, user, usage, tokens::unix_now(), ttl);
        (self.inner.signer.sign(&claims), ttl)
    }

    /// The `streamUrl` of `conversation` for `user`, resuming after `watermark`.
    pub(crate) fn stream_url(
        &self,
        conversation: ConversationId,
        user: &str,
        watermark: usize,
    ) -> String {
        let (token, _) = self.mint(conversation, user, Use::Stream);
        format!(
            "{}/v3/directline/conversations/{conversation}/stream?t={token}&watermark={watermark}",
            self.inner.stream_base
        )
    }

    /// Remembers the client's id of the customer message stored as `message`.
    pub(crate) fn remember_client_id(&self, message: MessageId, client_id: String) {
        let mut ids = self
            .inner
            .client_ids
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        ids.ids.insert(message, client_id);
        ids.order.push_back(message);
        while ids.order.len() > CLIENT_IDS {
            if let Some(old) = ids.order.pop_front() {
                ids.ids.remove(&old);
            }
        }
    }

    pub(crate) fn client_id(&self, message: MessageId) -> Option<String> {
        let ids = self
            .inner
            .client_ids
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        ids.ids.get(&message).cloned()
    }

    /// Whether a browser page from `origin` may open a stream: a configured origin, or this
    /// server's own (`host`). Clients that send no `Origin` are not browsers.
    pub(crate) fn origin_allowed(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
            return headers.get(header::ORIGIN).is_none();
        };
        let origin = origin.to_ascii_lowercase();
        if self.inner.config.origins.contains(&origin) {
            return true;
        }
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let origin_host = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_refuse_short_secrets_and_odd_origins() {
        assert!(DirectLineConfig::new("short", &[]).is_err());
        let ok = DirectLineConfig::new(
            "a long enough secret",
            &[
                "https://Shop.example".into(),
                " http://127.0.0.1:5000 ".into(),
                "".into(),
            ],
        )
        .unwrap();
        assert_eq!(
            ok.origins,
            ["https://shop.example", "http://127.0.0.1:5000"]
        );
        for bad in [
            "shop.example",
            "https://shop.example/",
            "https://a.example/path",
            "*",
            "https://",
        ] {
            assert!(
                DirectLineConfig::new("a long enough secret", &[bad.to_owned()]).is_err(),
                "{bad}"
            );
        }
        assert!(!format!("{ok:?}").contains("long enough"));
    }
}
