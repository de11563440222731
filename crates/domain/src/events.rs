//! Live events: what just happened, for whoever watches (the agent console's websocket).
//!
//! Events are notifications, not the record: the store stays the source of truth, and a
//! subscriber that falls behind is told how many events it missed so it can re-read what it
//! shows. The in-process bus (tokio broadcast) lives in `warmline-dialog`; NATS can implement
//! the same trait to carry events between replicas.

use crate::conversation::Message;
use crate::handoff::{Handoff, Ticket};
use crate::ids::AgentId;
use async_trait::async_trait;
use serde::Serialize;

/// Something that changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A message was stored in a conversation (customer, bot, agent or system).
    Message { message: Message },
    /// A handoff was opened or changed: queued, accepted, transferred, returned, closed.
    Handoff { handoff: Handoff },
    /// An agent's presence changed (their load changes with `Handoff` events).
    Presence { agent_id: AgentId },
    /// A ticket was opened or closed.
    Ticket { ticket: Ticket },
}

/// What a subscriber gets next.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    Event(Box<Event>),
    /// The subscriber fell this many events behind and they are gone: re-read the state.
    Missed(u64),
    /// The bus is gone (the server is shutting down).
    Closed,
}

/// One subscriber's stream of events, in publishing order.
#[async_trait]
pub trait Subscription: Send {
    async fn recv(&mut self) -> Received;
}

/// Publish and subscribe. Publishing never waits: an event nobody listens to is dropped,
/// and a slow subscriber loses the oldest events (and learns it, see [`Received::Missed`])
/// instead of slowing the publisher down.
pub trait EventBus: Send + Sync {
    fn publish(&self, event: Event);

    /// Events published from now on.
    fn subscribe(&self) -> Box<dyn Subscription>;
}
