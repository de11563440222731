//! `GET /v1/agent/ws`: the console's live feed.
//!
//! Browsers cannot set headers on a websocket, so the session token travels as a
//! subprotocol: `new WebSocket(url, ["warmline.v1", "bearer." + token])`; the server answers
//! `warmline.v1` and never echoes the token. A browser's `Origin` must be this server's own
//! (another site cannot ride an agent's session).
//!
//! Server → client, JSON text frames, each with a `type`:
//! - `hello` `{agent}`; `queue` `{handoffs}`; `mine` `{handoffs}`: snapshots, sent at
//!   connection and (coalesced, at most 4 a second) after changes;
//! - `handoff` `{handoff}`: one of yours (or one you watch) changed;
//! - `message` `{message}`: a new message in a conversation you have or watch;
//! - `stats` `{...QueueStats}` for supervisors, after changes and every 5 s;
//! - `tickets` `{count}` open tickets; `resync` when events were missed (re-read what you show).
//!
//! Client → server: `{"type": "watch", "handoff_id"}` adds a conversation to the feed.

use crate::agent_stats::queue_stats;
use crate::agent_work::may_watch;
use crate::agents::{AgentApi, bearer, token_hash, unauthorized};
use crate::error::ApiError;
use axum::extract::State;
use axum::extract::ws::{Message as Frame, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::Duration;
use warmline_domain::{Agent, ConversationId, DomainError, ErrorCode, Event, HandoffId, Received};

/// The subprotocol the server speaks.
pub const PROTOCOL: &str = "warmline.v1";
/// Prefix of the subprotocol entry that carries the session token.
const TOKEN_PREFIX: &str = "bearer.";
/// Changes are gathered this long before snapshots go out.
const COALESCE: Duration = Duration::from_millis(250);
/// Supervisors' stats refresh (wait times grow without events).
const STATS_EVERY: Duration = Duration::from_secs(5);
/// Pings keep proxies from closing an idle socket; the session is re-checked as often.
const PING_EVERY: Duration = Duration::from_secs(25);

/// The session token from `Sec-WebSocket-Protocol` (`bearer.<token>`), else `Authorization`.
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
        .or_else(|| bearer(headers).map(str::to_owned))
}

/// A browser's `Origin` must name this server (`Host`); clients that send none (not browsers)
/// are judged by their token alone.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin.to_str().ok().and_then(|o| {
        o.strip_prefix("http://")
            .or_else(|| o.strip_prefix("https://"))
    });
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

/// Open the live feed (see the module docs for the protocol).
pub async fn connect(
    State(api): State<AgentApi>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    if !same_origin(&headers) {
        tracing::info!("agent websocket refused: foreign origin");
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "websockets are only open to this server's own pages",
        ));
    }
    let token = socket_token(&headers).ok_or_else(unauthorized)?;
    let hash = token_hash(&token);
    let agent = api
        .handoffs
        .session_agent(&hash)
        .await?
        .ok_or_else(unauthorized)?;
    if !agent.role.works_conversations() {
        return Err(crate::agents::not_for_editors());
    }
    let Ok(slot) = api.sockets.clone().try_acquire_owned() else {
        return Err(ApiError::rate_limited(5));
    };
    tracing::info!(agent_id = %agent.id, "agent websocket open");
    Ok(upgrade
        .protocols([PROTOCOL])
        .on_upgrade(move |socket| async move {
            let _slot = slot;
            metrics::gauge!("warmline_agent_sockets").increment(1.0);
            Feed::new(api, agent, hash).run(socket).await;
            metrics::gauge!("warmline_agent_sockets").decrement(1.0);
        }))
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Incoming {
    Watch { handoff_id: String },
}

/// One agent's connection.
struct Feed {
    api: AgentApi,
    agent: Agent,
    token_hash: String,
    /// Conversations whose messages this agent gets: theirs and those they asked to watch.
    mine: HashSet<ConversationId>,
    watched: HashSet<ConversationId>,
}

impl Feed {
    fn new(api: AgentApi, agent: Agent, token_hash: String) -> Self {
        Self {
            api,
            agent,
            token_hash,
            mine: HashSet::new(),
            watched: HashSet::new(),
        }
    }

    fn supervisor(&self) -> bool {
        self.agent.role.supervises()
    }

    async fn run(mut self, mut socket: WebSocket) {
        // Subscribed before the first snapshot, so nothing falls between the two.
        let mut events = self.api.bus.subscribe();
        let hello = json!({"type": "hello", "agent": self.agent});
        if send(&mut socket, &hello).await.is_err() || self.snapshots(&mut socket).await.is_err() {
            return;
        }
        // A change marks the snapshots dirty; they go out COALESCE after the first change, so
        // a burst of changes costs one round of snapshots.
        let mut dirty = false;
        let mut flush_at: Option<tokio::time::Instant> = None;
        let mut stats = tokio::time::interval(STATS_EVERY);
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.reset();
        let mut closing = self.api.closing.clone();
        // Without a sender nobody will ever close the feeds: stop watching.
        let mut may_close = true;
        loop {
            if *closing.borrow_and_update() {
                let _ = socket.send(Frame::Close(None)).await;
                break;
            }
            if dirty && flush_at.is_none() {
                flush_at = Some(tokio::time::Instant::now() + COALESCE);
            }
            let flush =
                tokio::time::sleep_until(flush_at.unwrap_or_else(tokio::time::Instant::now));
            let step = tokio::select! {
                changed = closing.changed(), if may_close => {
                    may_close = changed.is_ok();
                    continue;
                }
                received = events.recv() => match received {
                    Received::Event(event) => self.on_event(&mut socket, *event, &mut dirty).await,
                    Received::Missed(_) => {
                        dirty = true;
                        send(&mut socket, &json!({"type": "resync"})).await
                    }
                    Received::Closed => break,
                },
                () = flush, if flush_at.is_some() => {
                    dirty = false;
                    flush_at = None;
                    self.snapshots(&mut socket).await
                }
                _ = stats.tick(), if self.supervisor() => self.stats(&mut socket).await,
                _ = ping.tick() => self.keep_alive(&mut socket).await,
                incoming = socket.recv() => match incoming {
                    Some(Ok(Frame::Text(text))) => self.on_text(&mut socket, &text).await,
                    Some(Ok(Frame::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => Ok(()),
                },
            };
            if let Err(e) = step {
                tracing::debug!(error = %e, "agent websocket closed");
                break;
            }
        }
        tracing::info!(agent_id = %self.agent.id, "agent websocket closed");
    }

    async fn on_event(
        &mut self,
        socket: &mut WebSocket,
        event: Event,
        dirty: &mut bool,
    ) -> Result<(), DomainError> {
        match event {
            Event::Message { message } => {
                let id = message.conversation_id;
                if self.mine.contains(&id) || self.watched.contains(&id) {
                    return send(socket, &json!({"type": "message", "message": message})).await;
                }
                Ok(())
            }
            Event::Handoff { handoff } => {
                *dirty = true;
                let id = handoff.conversation_id;
                if handoff.agent_id == Some(self.agent.id) {
                    self.mine.insert(id);
                }
                if self.mine.contains(&id) || self.watched.contains(&id) {
                    return send(socket, &json!({"type": "handoff", "handoff": handoff})).await;
                }
                Ok(())
            }
            Event::Presence { .. } | Event::Ticket { .. } => {
                *dirty = true;
                Ok(())
            }
        }
    }

    async fn on_text(&mut self, socket: &mut WebSocket, text: &str) -> Result<(), DomainError> {
        let Ok(Incoming::Watch { handoff_id }) = serde_json::from_str::<Incoming>(text) else {
            return send(
                socket,
                &json!({"type": "error", "message": "unknown request"}),
            )
            .await;
        };
        let Ok(id) = handoff_id.parse::<HandoffId>() else {
            return send(
                socket,
                &json!({"type": "error", "message": "no such handoff"}),
            )
            .await;
        };
        match self.api.handoffs.handoff(id).await? {
            Some(h) if may_watch(&self.agent, &h) => {
                // One watched conversation at a time besides the agent's own.
                self.watched.clear();
                self.watched.insert(h.conversation_id);
                send(socket, &json!({"type": "watching", "handoff_id": h.id})).await
            }
            _ => {
                send(
                    socket,
                    &json!({"type": "error", "message": "not yours to watch"}),
                )
                .await
            }
        }
    }

    async fn snapshots(&mut self, socket: &mut WebSocket) -> Result<(), DomainError> {
        let queue = self.api.handoffs.queue().await?;
        let mine = self.api.handoffs.assigned_to(self.agent.id).await?;
        self.mine = mine.iter().map(|h| h.conversation_id).collect();
        send(socket, &json!({"type": "queue", "handoffs": queue})).await?;
        send(socket, &json!({"type": "mine", "handoffs": mine})).await?;
        let tickets = self.api.handoffs.tickets(false).await?.len();
        send(socket, &json!({"type": "tickets", "count": tickets})).await?;
        if self.supervisor() {
            self.stats(socket).await?;
        }
        Ok(())
    }

    async fn stats(&self, socket: &mut WebSocket) -> Result<(), DomainError> {
        let stats = queue_stats(&self.api).await?;
        let mut value = serde_json::to_value(stats)
            .map_err(|e| DomainError::internal(format!("stats: {e}")))?;
        value["type"] = Value::from("stats");
        send(socket, &value).await
    }

    /// Pings, and ends the feed when the session has ended (logout or expiry).
    async fn keep_alive(&self, socket: &mut WebSocket) -> Result<(), DomainError> {
        if self
            .api
            .handoffs
            .session_agent(&self.token_hash)
            .await?
            .is_none()
        {
            return Err(DomainError::new(ErrorCode::Unauthorized, "session ended"));
        }
        socket
            .send(Frame::Ping(Default::default()))
            .await
            .map_err(|e| DomainError::unavailable(format!("websocket: {e}")))
    }
}

async fn send(socket: &mut WebSocket, value: &Value) -> Result<(), DomainError> {
    let text = Utf8Bytes::from(value.to_string());
    // A client that stops reading holds up only its own feed; the bus drops what it misses.
    tokio::time::timeout(Duration::from_secs(10), socket.send(Frame::Text(text)))
        .await
        .map_err(|_| DomainError::unavailable("websocket send timed out"))?
        .map_err(|e| DomainError::unavailable(format!("websocket: {e}")))
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
    fn the_token_rides_the_subprotocol_list_or_the_authorization_header() {
        let offered = headers(&[(header::SEC_WEBSOCKET_PROTOCOL, "warmline.v1, bearer.abc123")]);
        assert_eq!(socket_token(&offered).as_deref(), Some("abc123"));
        let bare = headers(&[(header::SEC_WEBSOCKET_PROTOCOL, "warmline.v1, bearer.")]);
        assert_eq!(socket_token(&bare), None);
        let header_only = headers(&[(header::AUTHORIZATION, "Bearer xyz")]);
        assert_eq!(socket_token(&header_only).as_deref(), Some("xyz"));
    }

    #[test]
    fn only_this_servers_pages_may_open_a_feed() {
        let host = (header::HOST, "console.example:8080");
        let with = |origin: &str| headers(&[host.clone(), (header::ORIGIN, origin)]);
        assert!(
            same_origin(&headers(std::slice::from_ref(&host))),
            "no Origin: not a browser"
        );
        assert!(same_origin(&with("https://console.example:8080")));
        assert!(!same_origin(&with("http://console.example:9999")));
        assert!(!same_origin(&with("https://evil.example")));
        assert!(!same_origin(&with("null")));
    }
}
