//! Supervisors' view of the queue: how many wait, for how long, and each agent's presence
//! and load (`GET /v1/agent/stats`, and the websocket's `stats` frames).

use crate::agents::{AgentApi, Authenticated};
use crate::error::{ApiError, ApiJson};
use axum::extract::State;
use serde::Serialize;
use warmline_domain::{AgentLoad, DomainError, ErrorCode, Presence};

/// The queue at a glance, for supervisors.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct QueueStats {
    /// Handoffs waiting for an agent.
    pub waiting: usize,
    /// How long the oldest of them has waited, in seconds.
    pub oldest_wait_seconds: Option<i64>,
    /// Agents online (presence `online`, a session used in the last 5 minutes).
    pub agents_online: usize,
    /// Median wait of the last 20 accepted handoffs, in seconds (from 3 on).
    pub typical_wait_seconds: Option<i64>,
    /// Every agent: presence (stale sessions count as offline), skills and conversations.
    pub agents: Vec<AgentStatus>,
}

/// One agent's load, for supervisors.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AgentStatus {
    pub username: String,
    pub display_name: String,
    pub presence: Presence,
    pub skills: Vec<String>,
    /// Conversations they have now.
    pub chats: usize,
}

impl From<AgentLoad> for AgentStatus {
    fn from(l: AgentLoad) -> Self {
        Self {
            username: l.agent.username,
            display_name: l.agent.display_name,
            presence: l.presence,
            skills: l.agent.skills,
            chats: l.chats,
        }
    }
}

/// Queue length, waits and agents' load now.
pub(crate) async fn queue_stats(api: &AgentApi) -> Result<QueueStats, DomainError> {
    let now = warmline_domain::conversation::now();
    let since = now - warmline_dialog::ONLINE_WINDOW;
    let queue = api.handoffs.queue().await?;
    let waits = api.handoffs.recent_waits(20).await?;
    let agents: Vec<AgentStatus> = api
        .handoffs
        .agent_loads(since)
        .await?
        .into_iter()
        .map(AgentStatus::from)
        .collect();
    Ok(QueueStats {
        waiting: queue.len(),
        oldest_wait_seconds: queue
            .iter()
            .map(|h| (now - h.created_at).whole_seconds())
            .max(),
        agents_online: agents
            .iter()
            .filter(|a| a.presence == Presence::Online)
            .count(),
        typical_wait_seconds: warmline_dialog::handoff::typical_wait(&waits)
            .map(|w| w.whole_seconds()),
        agents,
    })
}

/// Queue length, waits and agents online (supervisors only).
#[utoipa::path(get, path = "/v1/agent/stats", tag = "agent",
    responses((status = 200, body = QueueStats), (status = 401, body = crate::error::ErrorBody),
              (status = 403, description = "agents, not supervisors", body = crate::error::ErrorBody)))]
pub async fn stats(
    State(api): State<AgentApi>,
    Authenticated(agent): Authenticated,
) -> Result<ApiJson<QueueStats>, ApiError> {
    if !agent.role.supervises() {
        return Err(ApiError::new(ErrorCode::Forbidden, "for supervisors"));
    }
    Ok(ApiJson(queue_stats(&api).await?))
}
