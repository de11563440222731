//! Warmline's channel adapters: each turns a channel's inbound traffic into dialog turns and
//! the replies back into that channel's format.
//!
//! - [`rest`]: the REST chat API (`/v1/conversations`), the reference channel.
//! - [`agents`]: the agent API (`/v1/agent/...`): login, the handoff queue, taking a
//!   conversation over and giving it back; [`agent_work`]: presence, transfers, tickets and
//!   suggested replies; [`agent_stats`]: supervisors' live stats; [`agent_ws`]: the console's live feed over a websocket.
//! - [`error`]: the one place where [`warmline_domain::ErrorCode`]s become HTTP statuses and
//!   `{"error": {"code", "message"}}` bodies, including for malformed requests.
//!
//! Web widget, Direct Line, WhatsApp, Telegram, SMS, Slack and email follow (channels issue).

pub mod agent_stats;
pub mod agent_work;
pub mod agent_ws;
pub mod agents;
pub mod error;
pub mod rest;

pub use error::{ApiError, ApiJson};
