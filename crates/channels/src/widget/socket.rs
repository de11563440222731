//! One customer's socket: the conversation's messages as they are stored, the customer's
//! messages handled one at a time (each once), drafts of generated answers, and the limits.

use super::WidgetApi;
use super::hub::Delivery;
use super::sent::{Bucket, Seen};
use axum::extract::ws::{CloseFrame, Message as Frame, Utf8Bytes, WebSocket};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{HashSet, VecDeque};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use warmline_dialog::drafts;
use warmline_domain::{
    Conversation, ConversationId, DomainError, ErrorCode, Event, Message, MessageId,
};

/// Pings keep proxies from closing a quiet socket; a client silent for two is gone.
const PING_EVERY: Duration = Duration::from_secs(25);
/// Customer messages waiting behind the one being handled.
const TURNS_WAITING: usize = 4;
/// Message ids remembered as sent on this socket (more than a transcript holds).
const REMEMBERED: usize = 1024;
/// Frames of any kind per second per socket, and the burst above it.
const FRAMES_PER_SECOND: f64 = 10.0;
const FRAME_BURST: f64 = 40.0;
/// Longest client message id.
const CLIENT_ID_CHARS: usize = 64;
/// Close code of an idle socket (the widget waits for the customer before reconnecting).
pub const CLOSE_IDLE: u16 = 4000;

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum Incoming {
    Message { client_id: String, text: String },
    Typing,
}

/// Message ids already sent on this socket, the oldest forgotten first.
#[derive(Default)]
struct SentIds {
    set: HashSet<MessageId>,
    order: VecDeque<MessageId>,
}

impl SentIds {
    /// Records `id`; false when it was sent already.
    fn insert(&mut self, id: MessageId) -> bool {
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > REMEMBERED
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }
}

struct Session {
    api: WidgetApi,
    id: ConversationId,
    sent: SentIds,
    turns: mpsc::Sender<(String, String)>,
    frames: Bucket,
    messages: Bucket,
}

/// Serves one socket until the client leaves, goes silent or idle, or the server closes.
/// `after`: the last message the client has (none: send the whole transcript).
pub(super) async fn run(
    api: WidgetApi,
    conversation: Conversation,
    after: Option<MessageId>,
    mut ws: WebSocket,
) {
    let id = conversation.id;
    // Subscribed before the transcript is read, so nothing falls between the two.
    let mut events = api.hub.register(&api.bus, id);
    let (out, mut outgoing) = mpsc::channel::<Value>(64);
    let (turns, waiting) = mpsc::channel(TURNS_WAITING);
    // Runs on its own, so a turn goes on (and its reply is stored) if the socket drops.
    tokio::spawn(handle_turns(api.clone(), id, waiting, out));
    let mut session = Session {
        frames: Bucket::new(FRAMES_PER_SECOND, FRAME_BURST),
        messages: Bucket::new(api.config.messages_per_second, api.config.message_burst),
        api,
        id,
        sent: SentIds::default(),
        turns,
    };
    let hello =
        json!({"type": "hello", "conversation_id": id, "ownership": conversation.ownership});
    if send(&mut ws, &hello).await.is_err() || session.replay(&mut ws, after).await.is_err() {
        return;
    }
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.reset();
    let mut heard = Instant::now();
    let mut active = Instant::now();
    let idle = session.api.config.idle_timeout;
    let mut closing = session.api.closing.clone();
    let mut may_close = true;
    let end = loop {
        if *closing.borrow_and_update() {
            break Some((1001, "the server is restarting"));
        }
        let step = tokio::select! {
            changed = closing.changed(), if may_close => {
                may_close = changed.is_ok();
                continue;
            }
            delivery = events.rx.recv() => {
                let step = match delivery {
                    Some(Delivery::Event(event)) => session.on_event(&mut ws, *event).await,
                    Some(Delivery::Missed) => session.replay(&mut ws, None).await,
                    None => break Some((1001, "the server is restarting")),
                };
                if step.is_ok() && events.take_missed() {
                    session.replay(&mut ws, None).await
                } else {
                    step
                }
            }
            Some(frame) = outgoing.recv() => send(&mut ws, &frame).await,
            _ = ping.tick() => {
                if heard.elapsed() > 2 * PING_EVERY {
                    break None;
                }
                ws.send(Frame::Ping(Default::default())).await.map_err(closed)
            }
            () = tokio::time::sleep_until(active + idle) => break Some((CLOSE_IDLE, "idle")),
            incoming = ws.recv() => {
                heard = Instant::now();
                match incoming {
                    Some(Ok(Frame::Text(text))) => {
                        active = heard;
                        if !session.frames.take() {
                            break Some((1008, "too many frames"));
                        }
                        session.on_text(&mut ws, &text).await
                    }
                    Some(Ok(Frame::Binary(_))) => break Some((1003, "text frames only")),
                    Some(Ok(Frame::Close(_))) | None | Some(Err(_)) => break None,
                    Some(Ok(_)) => Ok(()),
                }
            }
        };
        if let Err(e) = step {
            tracing::debug!(error = %e, "widget websocket closed");
            break None;
        }
    };
    if let Some((code, reason)) = end {
        let close = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = ws.send(Frame::Close(Some(close))).await;
    }
}

impl Session {
    async fn on_event(&mut self, ws: &mut WebSocket, event: Event) -> Result<(), DomainError> {
        match event {
            Event::Message { message } if message.conversation_id == self.id => {
                self.message(ws, message).await
            }
            Event::Handoff { handoff } if handoff.conversation_id == self.id => {
                self.state(ws).await
            }
            _ => Ok(()),
        }
    }

    async fn message(&mut self, ws: &mut WebSocket, message: Message) -> Result<(), DomainError> {
        if !self.sent.insert(message.id) {
            return Ok(());
        }
        send(ws, &json!({"type": "message", "message": message})).await
    }

    async fn state(&mut self, ws: &mut WebSocket) -> Result<(), DomainError> {
        let Some(conversation) = self.api.conversations.conversation(self.id).await? else {
            return Ok(());
        };
        send(
            ws,
            &json!({"type": "state", "ownership": conversation.ownership}),
        )
        .await
    }

    /// Sends the stored messages after `after` that this socket has not sent yet.
    async fn replay(
        &mut self,
        ws: &mut WebSocket,
        after: Option<MessageId>,
    ) -> Result<(), DomainError> {
        let limit = self.api.dialog.config().transcript_limit;
        let messages = self.api.conversations.messages(self.id, limit).await?;
        for message in messages {
            if after.is_some_and(|a| message.id <= a) {
                // Already seen by the client: don't send it again later either.
                self.sent.insert(message.id);
                continue;
            }
            self.message(ws, message).await?;
        }
        self.state(ws).await
    }

    async fn on_text(&mut self, ws: &mut WebSocket, text: &str) -> Result<(), DomainError> {
        let incoming = match serde_json::from_str::<Incoming>(text) {
            Ok(incoming) => incoming,
            Err(e) => {
                let message = format!("unknown frame: {e}");
                return error(ws, ErrorCode::MalformedRequest, &message, None).await;
            }
        };
        let Incoming::Message { client_id, text } = incoming else {
            return Ok(());
        };
        if client_id.is_empty() || client_id.chars().count() > CLIENT_ID_CHARS {
            let message = format!("client_id must be 1 to {CLIENT_ID_CHARS} characters");
            return error(ws, ErrorCode::InvalidInput, &message, Some(&client_id)).await;
        }
        match self.api.sent.claim(self.id, &client_id) {
            Seen::New => {}
            Seen::Pending => {
                return send(
                    ws,
                    &json!({"type": "ack", "client_id": client_id, "message_id": null}),
                )
                .await;
            }
            Seen::Stored(message_id) => {
                return send(
                    ws,
                    &json!({"type": "ack", "client_id": client_id, "message_id": message_id}),
                )
                .await;
            }
            Seen::Full => {
                let message = "too busy to take messages; try again shortly";
                return error(ws, ErrorCode::Unavailable, message, Some(&client_id)).await;
            }
        }
        if !self.messages.take() {
            self.api.sent.forget(self.id, &client_id);
            let message = "too many messages; wait a moment";
            return error(ws, ErrorCode::RateLimited, message, Some(&client_id)).await;
        }
        if let Err(mpsc::error::TrySendError::Full((client_id, _))) =
            self.turns.try_send((client_id, text))
        {
            self.api.sent.forget(self.id, &client_id);
            let message = "wait for the answer before sending more";
            return error(ws, ErrorCode::RateLimited, message, Some(&client_id)).await;
        }
        Ok(())
    }
}

/// Handles the socket's customer messages one at a time, in the order they came.
async fn handle_turns(
    api: WidgetApi,
    id: ConversationId,
    mut waiting: mpsc::Receiver<(String, String)>,
    out: mpsc::Sender<Value>,
) {
    while let Some((client_id, text)) = waiting.recv().await {
        let _ = out
            .send(json!({"type": "typing", "who": "bot", "on": true}))
            .await;
        let (sink, mut drafted) = mpsc::channel::<String>(16);
        let turn = drafts::with_drafts(sink, api.dialog.handle(id, &text));
        tokio::pin!(turn);
        let result = loop {
            tokio::select! {
                biased;
                Some(text) = drafted.recv() => {
                    let _ = out.send(json!({"type": "draft", "client_id": client_id, "text": text})).await;
                }
                result = &mut turn => break result,
            }
        };
        // Sentences checked in the turn's last poll are still waiting: they go before the
        // ack (a fast generator can finish in the same poll that checked them).
        while let Ok(text) = drafted.try_recv() {
            let _ = out
                .send(json!({"type": "draft", "client_id": client_id, "text": text}))
                .await;
        }
        let frame = match result {
            Ok(turn) => {
                api.sent.stored(id, &client_id, turn.message.id);
                json!({"type": "ack", "client_id": client_id, "message_id": turn.message.id})
            }
            Err(e) => {
                // Refused before it was stored: the customer may correct it and send again.
                if matches!(
                    e.code,
                    ErrorCode::InvalidInput
                        | ErrorCode::PayloadTooLarge
                        | ErrorCode::Conflict
                        | ErrorCode::NotFound
                ) {
                    api.sent.forget(id, &client_id);
                }
                let message = if e.code == ErrorCode::Internal {
                    "something went wrong; try again".to_owned()
                } else {
                    e.message
                };
                json!({"type": "error", "code": e.code.as_str(), "message": message, "client_id": client_id})
            }
        };
        let _ = out.send(frame).await;
        let _ = out
            .send(json!({"type": "typing", "who": "bot", "on": false}))
            .await;
    }
}

async fn error(
    ws: &mut WebSocket,
    code: ErrorCode,
    message: &str,
    client_id: Option<&str>,
) -> Result<(), DomainError> {
    let frame =
        json!({"type": "error", "code": code.as_str(), "message": message, "client_id": client_id});
    send(ws, &frame).await
}

fn closed(e: axum::Error) -> DomainError {
    DomainError::unavailable(format!("websocket: {e}"))
}

async fn send(ws: &mut WebSocket, value: &Value) -> Result<(), DomainError> {
    let text = Utf8Bytes::from(value.to_string());
    // A client that stops reading holds up only its own socket.
    tokio::time::timeout(Duration::from_secs(10), ws.send(Frame::Text(text)))
        .await
        .map_err(|_| DomainError::unavailable("websocket send timed out"))?
        .map_err(closed)
}
