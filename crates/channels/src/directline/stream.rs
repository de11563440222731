//! `GET /v3/directline/conversations/{id}/stream?t=<stream token>&watermark=W`: the
//! websocket of a `streamUrl`.
//!
//! Server → client text frames: `{"activities":[...],"watermark":"N"}` with every message
//! after the client's watermark (first what it missed, then each new one as the event bus
//! reports it), `{"activities":[typing]}` while the bot answers, and empty frames as
//! keep-alives. Client → server: empty frames (directline-js pings every 20 s), ignored. The
//! URL carries the authorization (browsers cannot set headers on a websocket): a stream
//! token for this conversation only, valid for a few minutes.

use super::DirectLine;
use super::tokens::{self, Refused, Use};
use crate::error::ApiError;
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::{Message as Frame, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;
use warmline_domain::{ConversationId, DomainError, ErrorCode, Event, Received};

/// Empty frames keep proxies from closing an idle socket.
const KEEP_ALIVE: Duration = Duration::from_secs(20);
/// A client that does not take a frame in this long is dropped (it reconnects from its
/// watermark, losing nothing).
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    #[serde(default)]
    t: Option<String>,
    #[serde(default)]
    watermark: Option<String>,
}

/// Opens the stream (see the module docs).
pub async fn connect(
    State(dl): State<DirectLine>,
    Path(raw): Path<String>,
    query: Result<Query<StreamQuery>, QueryRejection>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let Query(query) =
        query.map_err(|e| ApiError::new(ErrorCode::MalformedRequest, e.body_text()))?;
    if !dl.origin_allowed(&headers) {
        tracing::info!("directline stream refused: origin not allowed");
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "this origin may not open Direct Line streams",
        ));
    }
    let token = query.t.as_deref().unwrap_or_default();
    if token.is_empty() {
        return Err(ApiError::new(
            ErrorCode::Unauthorized,
            "open the streamUrl the server gave you (it carries the authorization)",
        ));
    }
    let claims = match dl
        .inner
        .signer
        .verify(token, Use::Stream, tokens::unix_now())
    {
        Ok(claims) => claims,
        Err(Refused::Expired) => {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "this streamUrl has expired; reconnect for a new one",
            ));
        }
        Err(_) => {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "not a valid stream token",
            ));
        }
    };
    let id: ConversationId = raw
        .parse()
        .map_err(|_| ApiError::new(ErrorCode::NotFound, "no such conversation"))?;
    if claims.conversation() != Some(id) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "this stream token is for another conversation",
        ));
    }
    let watermark = match query.watermark.as_deref().map(str::trim) {
        None | Some("") => 0,
        Some(w) => w.parse::<usize>().map_err(|_| {
            ApiError::new(ErrorCode::MalformedRequest, "watermark must be a number")
        })?,
    };
    let Ok(slot) = dl.inner.sockets.clone().try_acquire_owned() else {
        return Err(ApiError::rate_limited(5));
    };
    let Some(seat) = Seat::take(&dl, id) else {
        return Err(ApiError::rate_limited(5));
    };
    Ok(upgrade.on_upgrade(move |socket| async move {
        let _slot = slot;
        let _seat = seat;
        metrics::gauge!("warmline_directline_sockets").increment(1.0);
        Stream {
            dl,
            id,
            user: claims.user,
            watermark,
        }
        .run(socket)
        .await;
        metrics::gauge!("warmline_directline_sockets").decrement(1.0);
    }))
}

/// One of a conversation's few sockets; given back on drop.
struct Seat {
    dl: DirectLine,
    id: ConversationId,
}

impl Seat {
    fn take(dl: &DirectLine, id: ConversationId) -> Option<Self> {
        let mut open = dl
            .inner
            .per_conversation
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let n = open.entry(id).or_insert(0);
        if *n >= dl.inner.config.sockets_per_conversation {
            return None;
        }
        *n += 1;
        Some(Self { dl: dl.clone(), id })
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        let mut open = self
            .dl
            .inner
            .per_conversation
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.id) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.id);
            }
        }
    }
}

struct Stream {
    dl: DirectLine,
    id: ConversationId,
    user: String,
    /// Messages the client has (the index of the next one to send).
    watermark: usize,
}

impl Stream {
    async fn run(mut self, mut socket: WebSocket) {
        // Subscribed before the first read, so nothing falls between the two.
        let mut events = self.dl.inner.bus.subscribe();
        let mut typing = self.dl.inner.typing.subscribe();
        let mut closing = self.dl.inner.closing.clone();
        let mut may_close = true;
        let mut keep_alive = tokio::time::interval(KEEP_ALIVE);
        keep_alive.reset();
        if let Err(e) = self.catch_up(&mut socket).await {
            tracing::debug!(error = %e, "directline stream closed");
            return;
        }
        loop {
            if *closing.borrow_and_update() {
                let _ = socket.send(Frame::Close(None)).await;
                break;
            }
            // In this order: the typing notice is sent before the customer's message is
            // stored, so when both wait (a quick answer), typing goes out before the answer
            // rather than after it (a random pick once put it after).
            let step = tokio::select! {
                biased;
                changed = closing.changed(), if may_close => {
                    may_close = changed.is_ok();
                    continue;
                }
                notice = typing.recv() => match notice {
                    Ok(id) if id == self.id => {
                        let frame = json!({"activities": [super::activity::typing(self.id)],
                                           "watermark": self.watermark.to_string()});
                        send(&mut socket, &frame).await
                    }
                    _ => Ok(()),
                },
                received = events.recv() => match received {
                    Received::Event(event) => match *event {
                        Event::Message { message } if message.conversation_id == self.id => {
                            self.catch_up(&mut socket).await
                        }
                        _ => Ok(()),
                    },
                    // Events were lost: the transcript says what the client lacks.
                    Received::Missed(_) => self.catch_up(&mut socket).await,
                    Received::Closed => break,
                },
                _ = keep_alive.tick() => send_text(&mut socket, String::new()).await,
                incoming = socket.recv() => match incoming {
                    Some(Ok(Frame::Close(_))) | None | Some(Err(_)) => break,
                    // Pings ("" every 20 s) and anything else a client sends: nothing to do.
                    Some(Ok(_)) => Ok(()),
                },
            };
            if let Err(e) = step {
                tracing::debug!(error = %e, "directline stream closed");
                break;
            }
        }
    }

    /// Sends every message after the watermark, if any.
    async fn catch_up(&mut self, socket: &mut WebSocket) -> Result<(), DomainError> {
        let messages = self
            .dl
            .inner
            .store
            .messages(self.id, super::MAX_ACTIVITIES)
            .await?;
        if messages.len() <= self.watermark {
            return Ok(());
        }
        let activities = self
            .dl
            .activities(self.id, &self.user, &messages, self.watermark);
        let frame = json!({"activities": activities, "watermark": messages.len().to_string()});
        send(socket, &frame).await?;
        self.watermark = messages.len();
        Ok(())
    }
}

async fn send(socket: &mut WebSocket, value: &Value) -> Result<(), DomainError> {
    send_text(socket, value.to_string()).await
}

async fn send_text(socket: &mut WebSocket, text: String) -> Result<(), DomainError> {
    tokio::time::timeout(
        SEND_TIMEOUT,
        socket.send(Frame::Text(Utf8Bytes::from(text))),
    )
    .await
    .map_err(|_| DomainError::unavailable("websocket send timed out"))?
    .map_err(|e| DomainError::unavailable(format!("websocket: {e}")))
}
