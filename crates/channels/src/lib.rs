//! Warmline's channel adapters: each turns a channel's inbound traffic into dialog turns and
//! the replies back into that channel's format.
//!
//! - [`rest`]: the REST chat API (`/v1/conversations`), the reference channel.
//! - [`agents`]: the agent API (`/v1/agent/...`): login, the handoff queue, taking a
//!   conversation over and giving it back; [`agent_work`]: presence, transfers, tickets and
//!   suggested replies; [`agent_stats`]: supervisors' live stats; [`agent_ws`]: the console's live feed over a websocket.
//! - [`directline`]: Direct Line 3.0 for Microsoft Web Chat (`/v3/directline`): tokens,
//!   conversations, activities over a websocket or by polling, CORS for the sites' origins.
//! - [`widget`]: the web widget's live socket (`/v1/conversations/{id}/ws`), with
//!   conversation access tokens, resume and idempotent sending.
//! - [`error`]: the one place where [`warmline_domain::ErrorCode`]s become HTTP statuses and
//!   `{"error": {"code", "message"}}` bodies, including for malformed requests.
//! - [`insights`]: customers' ratings of answers, and the team's analytics summary, content
//!   gaps, draft articles and CSV export (`/v1/insights/...`).
//!
//! - [`messaging`]: what the messaging apps share: the durable inbound queue (each provider
//!   message handled once), chat threads mapped to conversations, the outbox with retries
//!   and rate limits, per-channel formatting.
//! - [`telegram`], [`whatsapp`], [`twilio`] (SMS), [`slack`]: one module per app: verify
//!   and parse its webhooks, render and send its messages; [`email`]: a parsed-email JSON
//!   webhook in, SMTP out.

pub mod agent_stats;
pub mod agent_work;
pub mod agent_ws;
pub mod agents;
pub mod directline;
pub mod email;
pub mod error;
pub mod insights;
pub mod messaging;
pub mod rest;
pub mod slack;
pub mod telegram;
pub mod twilio;
pub mod whatsapp;
pub mod widget;

pub use error::{ApiError, ApiJson};
pub use messaging::{Messaging, MessagingConfig};

/// Failure to set the channels up.
#[derive(Debug, thiserror::Error)]
pub enum ChannelsError {
    #[error("cannot build the HTTP client for provider APIs: {0}")]
    Http(String),
    #[error("bad channel configuration: {0}")]
    Config(String),
}
