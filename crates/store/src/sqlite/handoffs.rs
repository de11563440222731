//! Handoffs, agents and sessions in SQLite.
//!
//! Every state change is one conditional statement (or one transaction), so concurrent
//! agents cannot both accept the same handoff, and a conversation's ownership always moves
//! together with its handoff.

use super::{SqliteStore, db_error, is_unique_violation};
use crate::rows::{agent, conversation_id, get, handoff, to_millis};
use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;
use warmline_domain::{
    Agent, AgentId, AgentLoad, AgentRole, ConversationId, Disposition, DomainError, ErrorCode,
    Handoff, HandoffId, HandoffPacket, HandoffStatus, HandoffStore, NewTicket, Ownership, Presence,
    Route, Ticket, TicketId,
};

impl SqliteStore {
    pub(super) async fn handoff_by(&self, id: HandoffId) -> Result<Handoff, DomainError> {
        self.handoff(id)
            .await?
            .ok_or_else(|| DomainError::not_found(format!("no handoff with id {id}")))
    }

    /// Gives the conversation of a just-updated handoff row (`RETURNING conversation_id`) to
    /// `ownership` and commits the transaction both changes are in.
    pub(super) async fn hand_conversation(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Sqlite>,
        row: &SqliteRow,
        ownership: Ownership,
        now: OffsetDateTime,
    ) -> Result<(), DomainError> {
        let conversation = conversation_id(row)?;
        sqlx::query("UPDATE conversations SET ownership = ?, updated_at = ? WHERE id = ?")
            .bind(ownership.as_str())
            .bind(to_millis(now))
            .bind(conversation.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        self.cache.set_ownership(conversation, ownership, now);
        Ok(())
    }

    /// Why a conditional update of handoff `id` changed nothing: it doesn't exist, or it is
    /// not in a state that allows the change (`conflict`).
    pub(super) async fn refused(&self, id: HandoffId, conflict: &str) -> DomainError {
        match self.handoff(id).await {
            Ok(None) => DomainError::not_found(format!("no handoff with id {id}")),
            Ok(Some(_)) => DomainError::new(ErrorCode::Conflict, conflict),
            Err(e) => e,
        }
    }
}

#[async_trait]
impl HandoffStore for SqliteStore {
    async fn open_routed(
        &self,
        conversation: ConversationId,
        route: &Route,
        packet: &HandoffPacket,
    ) -> Result<Handoff, DomainError> {
        let now = warmline_domain::conversation::now();
        let packet_json = serde_json::to_string(packet)
            .map_err(|e| DomainError::internal(format!("handoff packet: {e}")))?;
        let handoff_id = HandoffId::new();
        let mut tx = self.writer.begin().await.map_err(db_error)?;
        let moved = sqlx::query(
            "UPDATE conversations SET ownership = 'queued', updated_at = ?
             WHERE id = ? AND ownership = 'bot'",
        )
        .bind(to_millis(now))
        .bind(conversation.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if moved.rows_affected() == 0 {
            return Err(DomainError::new(
                ErrorCode::Conflict,
                "the conversation is not with the bot (already handed over, or closed)",
            ));
        }
        let inserted = sqlx::query(
            "INSERT INTO handoffs (id, conversation_id, status, priority, skill, packet, created_at)
             VALUES (?, ?, 'queued', ?, ?, ?, ?)",
        )
        .bind(handoff_id.to_string())
        .bind(conversation.to_string())
        .bind(route.priority)
        .bind(route.skill.as_deref())
        .bind(&packet_json)
        .bind(to_millis(now))
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(DomainError::new(
                    ErrorCode::Conflict,
                    "the conversation already has an open handoff",
                ));
            }
            Err(e) => return Err(db_error(e)),
        }
        tx.commit().await.map_err(db_error)?;
        self.cache
            .set_ownership(conversation, Ownership::Queued, now);
        self.handoff_by(handoff_id).await
    }

    async fn handoff(&self, id: HandoffId) -> Result<Option<Handoff>, DomainError> {
        // From the writer: a handoff is read right after it changes.
        let row = sqlx::query("SELECT * FROM handoffs WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.writer)
            .await
            .map_err(db_error)?;
        row.as_ref().map(handoff).transpose()
    }

    async fn open_handoff_of(
        &self,
        conversation: ConversationId,
    ) -> Result<Option<Handoff>, DomainError> {
        let row = sqlx::query(
            "SELECT * FROM handoffs WHERE conversation_id = ? AND status IN ('queued', 'assigned')",
        )
        .bind(conversation.to_string())
        .fetch_optional(&self.writer)
        .await
        .map_err(db_error)?;
        row.as_ref().map(handoff).transpose()
    }

    async fn queue(&self) -> Result<Vec<Handoff>, DomainError> {
        let rows = sqlx::query(
            "SELECT * FROM handoffs WHERE status = 'queued'
             ORDER BY priority DESC, created_at ASC, id ASC",
        )
        .fetch_all(&self.writer)
        .await
        .map_err(db_error)?;
        rows.iter().map(handoff).collect()
    }

    async fn assigned_to(&self, agent: AgentId) -> Result<Vec<Handoff>, DomainError> {
        let rows = sqlx::query(
            "SELECT * FROM handoffs WHERE status = 'assigned' AND agent_id = ?
             ORDER BY accepted_at ASC, id ASC",
        )
        .bind(agent.to_string())
        .fetch_all(&self.writer)
        .await
        .map_err(db_error)?;
        rows.iter().map(handoff).collect()
    }

    async fn accept(&self, id: HandoffId, agent: AgentId) -> Result<Handoff, DomainError> {
        let now = warmline_domain::conversation::now();
        let mut tx = self.writer.begin().await.map_err(db_error)?;
        let row = sqlx::query(
            "UPDATE handoffs SET status = 'assigned', agent_id = ?, accepted_at = ?
             WHERE id = ? AND status = 'queued' RETURNING conversation_id",
        )
        .bind(agent.to_string())
        .bind(to_millis(now))
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let Some(row) = row else {
            drop(tx);
            return Err(self
                .refused(
                    id,
                    "this handoff is no longer waiting (another agent took it, or it ended)",
                )
                .await);
        };
        self.hand_conversation(tx, &row, Ownership::Human, now)
            .await?;
        self.handoff_by(id).await
    }

    async fn finish(
        &self,
        id: HandoffId,
        status: HandoffStatus,
        note: Option<&str>,
        disposition: Option<Disposition>,
    ) -> Result<Handoff, DomainError> {
        let ownership = match status {
            HandoffStatus::Returned => Ownership::Bot,
            HandoffStatus::Closed => Ownership::Closed,
            other => {
                return Err(DomainError::invalid(format!(
                    "a handoff ends returned or closed, not {}",
                    other.as_str()
                )));
            }
        };
        let now = warmline_domain::conversation::now();
        let mut tx = self.writer.begin().await.map_err(db_error)?;
        let row = sqlx::query(
            "UPDATE handoffs SET status = ?, note = coalesce(?, note), disposition = ?,
             finished_at = ?
             WHERE id = ? AND status IN ('queued', 'assigned') RETURNING conversation_id",
        )
        .bind(status.as_str())
        .bind(note)
        .bind(disposition.map(Disposition::as_str))
        .bind(to_millis(now))
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let Some(row) = row else {
            drop(tx);
            return Err(self.refused(id, "this handoff has already ended").await);
        };
        self.hand_conversation(tx, &row, ownership, now).await?;
        self.handoff_by(id).await
    }

    async fn create_agent(
        &self,
        username: &str,
        display_name: &str,
        role: AgentRole,
        password_hash: &str,
    ) -> Result<Agent, DomainError> {
        let agent = Agent {
            id: AgentId::new(),
            username: username.to_owned(),
            display_name: display_name.to_owned(),
            role,
            skills: Vec::new(),
            presence: Presence::Offline,
        };
        let inserted = sqlx::query(
            "INSERT INTO agents (id, username, display_name, role, password_hash, created_at)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(agent.id.to_string())
        .bind(username)
        .bind(display_name)
        .bind(role.as_str())
        .bind(password_hash)
        .bind(to_millis(warmline_domain::conversation::now()))
        .execute(&self.writer)
        .await;
        match inserted {
            Ok(_) => Ok(agent),
            Err(e) if is_unique_violation(&e) => Err(DomainError::new(
                ErrorCode::Conflict,
                format!("the username {username:?} is taken"),
            )),
            Err(e) => Err(db_error(e)),
        }
    }

    async fn agent_login(&self, username: &str) -> Result<Option<(Agent, String)>, DomainError> {
        let row = sqlx::query("SELECT * FROM agents WHERE username = ?")
            .bind(username)
            .fetch_optional(&self.reader)
            .await
            .map_err(db_error)?;
        row.as_ref()
            .map(|r| Ok((agent(r)?, get(r, "password_hash")?)))
            .transpose()
    }

    async fn create_session(
        &self,
        token_hash: &str,
        agent: AgentId,
        expires_at: OffsetDateTime,
    ) -> Result<(), DomainError> {
        // Expired sessions go when new ones come.
        sqlx::query("DELETE FROM agent_sessions WHERE expires_at < ?")
            .bind(to_millis(warmline_domain::conversation::now()))
            .execute(&self.writer)
            .await
            .map_err(db_error)?;
        sqlx::query(
            "INSERT INTO agent_sessions (token_hash, agent_id, expires_at, last_seen)
             VALUES (?, ?, ?, ?)",
        )
        .bind(token_hash)
        .bind(agent.to_string())
        .bind(to_millis(expires_at))
        .bind(to_millis(warmline_domain::conversation::now()))
        .execute(&self.writer)
        .await
        .map_err(db_error)?;
        self.set_presence(agent, Presence::Online).await?;
        Ok(())
    }

    async fn session_agent(&self, token_hash: &str) -> Result<Option<Agent>, DomainError> {
        let now = to_millis(warmline_domain::conversation::now());
        let seen = sqlx::query(
            "UPDATE agent_sessions SET last_seen = ? WHERE token_hash = ? AND expires_at > ?",
        )
        .bind(now)
        .bind(token_hash)
        .bind(now)
        .execute(&self.writer)
        .await
        .map_err(db_error)?;
        if seen.rows_affected() == 0 {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT a.* FROM agent_sessions s JOIN agents a ON a.id = s.agent_id
             WHERE s.token_hash = ?",
        )
        .bind(token_hash)
        .fetch_optional(&self.writer)
        .await
        .map_err(db_error)?;
        row.as_ref().map(agent).transpose()
    }

    async fn agents_online(&self, since: OffsetDateTime) -> Result<usize, DomainError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT count(DISTINCT s.agent_id) FROM agent_sessions s
             JOIN agents a ON a.id = s.agent_id
             WHERE a.presence = 'online' AND a.role != 'editor'
               AND s.last_seen >= ? AND s.expires_at > ?",
        )
        .bind(to_millis(since))
        .bind(to_millis(warmline_domain::conversation::now()))
        .fetch_one(&self.writer)
        .await
        .map_err(db_error)?;
        Ok(usize::try_from(count).unwrap_or(0))
    }

    async fn recent_waits(&self, n: usize) -> Result<Vec<time::Duration>, DomainError> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT created_at, accepted_at FROM handoffs WHERE accepted_at IS NOT NULL
             ORDER BY accepted_at DESC LIMIT ?",
        )
        .bind(i64::try_from(n).unwrap_or(i64::MAX))
        .fetch_all(&self.writer)
        .await
        .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .map(|(created, accepted)| time::Duration::milliseconds((accepted - created).max(0)))
            .collect())
    }

    async fn save_survey(
        &self,
        conversation: ConversationId,
        score: u8,
        comment: Option<&str>,
    ) -> Result<(), DomainError> {
        if !(1..=5).contains(&score) {
            return Err(DomainError::invalid("score is 1 to 5"));
        }
        let inserted = sqlx::query(
            "INSERT INTO surveys (conversation_id, score, comment, created_at)
             SELECT id, ?, ?, ? FROM conversations WHERE id = ? AND ownership = 'closed'",
        )
        .bind(i64::from(score))
        .bind(comment)
        .bind(to_millis(warmline_domain::conversation::now()))
        .bind(conversation.to_string())
        .execute(&self.writer)
        .await;
        match inserted {
            Ok(done) if done.rows_affected() == 1 => Ok(()),
            Ok(_) => {
                let known = sqlx::query("SELECT 1 FROM conversations WHERE id = ?")
                    .bind(conversation.to_string())
                    .fetch_optional(&self.writer)
                    .await
                    .map_err(db_error)?;
                Err(match known {
                    None => {
                        DomainError::not_found(format!("no conversation with id {conversation}"))
                    }
                    Some(_) => DomainError::new(
                        ErrorCode::Conflict,
                        "the survey comes when the conversation is closed",
                    ),
                })
            }
            Err(e) if is_unique_violation(&e) => Err(DomainError::new(
                ErrorCode::Conflict,
                "this conversation's survey is already in; thank you",
            )),
            Err(e) => Err(db_error(e)),
        }
    }

    async fn transfer(
        &self,
        id: HandoffId,
        to: Option<AgentId>,
        note: Option<&str>,
    ) -> Result<Handoff, DomainError> {
        self.transfer_handoff(id, to, note).await
    }

    async fn set_summary(
        &self,
        id: HandoffId,
        summary: &str,
        model: &str,
    ) -> Result<Handoff, DomainError> {
        self.summarized(id, summary, model).await
    }

    async fn mark_offered(&self, id: HandoffId) -> Result<bool, DomainError> {
        self.offered(id).await
    }

    async fn set_skills(&self, agent: AgentId, skills: &[String]) -> Result<Agent, DomainError> {
        self.update_agent(agent, "skills", &super::routing::skills_json(skills)?)
            .await
    }

    async fn set_presence(&self, agent: AgentId, presence: Presence) -> Result<Agent, DomainError> {
        self.update_agent(agent, "presence", presence.as_str())
            .await
    }

    async fn agent_loads(&self, since: OffsetDateTime) -> Result<Vec<AgentLoad>, DomainError> {
        self.loads(since).await
    }

    async fn open_ticket(&self, new: &NewTicket) -> Result<Ticket, DomainError> {
        self.insert_ticket(new).await
    }

    async fn tickets(&self, all: bool) -> Result<Vec<Ticket>, DomainError> {
        self.list_tickets(all).await
    }

    async fn close_ticket(
        &self,
        id: TicketId,
        agent: AgentId,
        note: Option<&str>,
    ) -> Result<Ticket, DomainError> {
        self.end_ticket(id, agent, note).await
    }

    async fn end_session(&self, token_hash: &str) -> Result<(), DomainError> {
        // Logging out of the last session makes the agent offline.
        sqlx::query(
            "UPDATE agents SET presence = 'offline'
             WHERE id = (SELECT agent_id FROM agent_sessions WHERE token_hash = ?)
               AND (SELECT count(*) FROM agent_sessions WHERE agent_id = agents.id) = 1",
        )
        .bind(token_hash)
        .execute(&self.writer)
        .await
        .map_err(db_error)?;
        sqlx::query("DELETE FROM agent_sessions WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&self.writer)
            .await
            .map_err(db_error)?;
        Ok(())
    }
}
