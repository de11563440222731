//! Routing in SQLite: agents' skills and presence, their load, transfers, the offer of a
//! callback, and tickets. Like the rest of the handoff store, every change is one
//! conditional statement or one transaction.

use super::{SqliteStore, db_error};
use crate::rows::{agent, get, handoff, ticket, to_millis};
use time::OffsetDateTime;
use warmline_domain::{
    Agent, AgentId, AgentLoad, DomainError, ErrorCode, Handoff, HandoffId, HandoffStore, NewTicket,
    Ownership, Presence, Ticket, TicketId,
};

/// Skills as stored: a JSON array of trimmed, lower-case, unique names.
pub(super) fn skills_json(skills: &[String]) -> Result<String, DomainError> {
    let mut clean: Vec<String> = Vec::new();
    for skill in skills {
        let skill = skill.trim().to_lowercase();
        if skill.is_empty() {
            continue;
        }
        if skill.len() > 64
            || !skill
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(DomainError::invalid(format!(
                "a skill is a short name of letters, digits, _ or -, not {skill:?}"
            )));
        }
        if !clean.contains(&skill) {
            clean.push(skill);
        }
    }
    serde_json::to_string(&clean).map_err(|e| DomainError::internal(format!("skills: {e}")))
}

impl SqliteStore {
    /// Sets an agent's `skills` (JSON) or `presence`.
    pub(super) async fn update_agent(
        &self,
        id: AgentId,
        column: &'static str,
        value: &str,
    ) -> Result<Agent, DomainError> {
        let sql = match column {
            "skills" => "UPDATE agents SET skills = ? WHERE id = ? RETURNING *",
            _ => "UPDATE agents SET presence = ? WHERE id = ? RETURNING *",
        };
        let row = sqlx::query(sql)
            .bind(value)
            .bind(id.to_string())
            .fetch_optional(&self.writer)
            .await
            .map_err(db_error)?;
        match row {
            Some(row) => agent(&row),
            None => Err(DomainError::not_found(format!("no agent with id {id}"))),
        }
    }

    pub(super) async fn loads(&self, since: OffsetDateTime) -> Result<Vec<AgentLoad>, DomainError> {
        let now = to_millis(warmline_domain::conversation::now());
        let rows = sqlx::query(
            "SELECT a.*,
               (SELECT count(*) FROM handoffs h WHERE h.agent_id = a.id AND h.status = 'assigned')
                 AS chats,
               (SELECT max(s.last_seen) FROM agent_sessions s
                 WHERE s.agent_id = a.id AND s.expires_at > ?) AS seen
             FROM agents a WHERE a.role != 'editor' ORDER BY a.username",
        )
        .bind(now)
        .fetch_all(&self.writer)
        .await
        .map_err(db_error)?;
        let since = to_millis(since);
        rows.iter()
            .map(|row| {
                let agent = agent(row)?;
                let chats: i64 = get(row, "chats")?;
                let seen: Option<i64> = get(row, "seen")?;
                let presence = match (agent.presence, seen) {
                    (Presence::Offline, _) | (_, None) => Presence::Offline,
                    (_, Some(seen)) if seen < since => Presence::Offline,
                    (presence, _) => presence,
                };
                Ok(AgentLoad {
                    agent,
                    presence,
                    chats: usize::try_from(chats).unwrap_or(0),
                })
            })
            .collect()
    }

    pub(super) async fn transfer_handoff(
        &self,
        id: HandoffId,
        to: Option<AgentId>,
        note: Option<&str>,
    ) -> Result<Handoff, DomainError> {
        let now = warmline_domain::conversation::now();
        let mut tx = self.writer.begin().await.map_err(db_error)?;
        // Back to the queue: unassigned, and it keeps its place (created_at is unchanged).
        let (status, ownership) = match to {
            Some(_) => ("assigned", Ownership::Human),
            None => ("queued", Ownership::Queued),
        };
        let row = sqlx::query(
            "UPDATE handoffs SET status = ?, agent_id = ?, note = coalesce(?, note),
               accepted_at = CASE WHEN ? IS NULL THEN NULL ELSE ? END
             WHERE id = ? AND status = 'assigned' RETURNING conversation_id",
        )
        .bind(status)
        .bind(to.map(|a| a.to_string()))
        .bind(note)
        .bind(to.map(|a| a.to_string()))
        .bind(to_millis(now))
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let Some(row) = row else {
            drop(tx);
            return Err(self
                .refused(id, "only a conversation an agent has can be transferred")
                .await);
        };
        self.hand_conversation(tx, &row, ownership, now).await?;
        self.handoff_by(id).await
    }

    pub(super) async fn summarized(
        &self,
        id: HandoffId,
        summary: &str,
        model: &str,
    ) -> Result<Handoff, DomainError> {
        let row = sqlx::query(
            "UPDATE handoffs SET packet = json_set(packet, '$.summary', ?, '$.summary_by', ?)
             WHERE id = ? RETURNING *",
        )
        .bind(summary)
        .bind(model)
        .bind(id.to_string())
        .fetch_optional(&self.writer)
        .await
        .map_err(db_error)?;
        match row {
            Some(row) => handoff(&row),
            None => Err(DomainError::not_found(format!("no handoff with id {id}"))),
        }
    }

    pub(super) async fn offered(&self, id: HandoffId) -> Result<bool, DomainError> {
        let done = sqlx::query(
            "UPDATE handoffs SET offered_at = ?
             WHERE id = ? AND status = 'queued' AND offered_at IS NULL",
        )
        .bind(to_millis(warmline_domain::conversation::now()))
        .bind(id.to_string())
        .execute(&self.writer)
        .await
        .map_err(db_error)?;
        Ok(done.rows_affected() == 1)
    }

    pub(super) async fn insert_ticket(&self, new: &NewTicket) -> Result<Ticket, DomainError> {
        let now = warmline_domain::conversation::now();
        let id = TicketId::new();
        let waiting = self
            .open_handoff_of(new.conversation_id)
            .await?
            .filter(|h| h.status == warmline_domain::HandoffStatus::Queued);
        let packet = waiting
            .as_ref()
            .map(|h| serde_json::to_string(&h.packet))
            .transpose()
            .map_err(|e| DomainError::internal(format!("ticket packet: {e}")))?;
        let mut tx = self.writer.begin().await.map_err(db_error)?;
        if let Some(h) = &waiting {
            // Conditional: if an agent took it meanwhile, the customer keeps the agent.
            let ended = sqlx::query(
                "UPDATE handoffs SET status = 'returned', disposition = 'ticket', finished_at = ?
                 WHERE id = ? AND status = 'queued'",
            )
            .bind(to_millis(now))
            .bind(h.id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
            if ended.rows_affected() == 0 {
                return Err(DomainError::new(
                    ErrorCode::Conflict,
                    "a person has just joined the conversation",
                ));
            }
            sqlx::query("UPDATE conversations SET ownership = 'bot', updated_at = ? WHERE id = ?")
                .bind(to_millis(now))
                .bind(new.conversation_id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        let inserted = sqlx::query(
            "INSERT INTO tickets (id, conversation_id, handoff_id, kind, contact, text, packet,
               created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
        )
        .bind(id.to_string())
        .bind(new.conversation_id.to_string())
        .bind(waiting.as_ref().map(|h| h.id.to_string()))
        .bind(new.kind.as_str())
        .bind(new.contact.as_deref())
        .bind(&new.text)
        .bind(packet)
        .bind(to_millis(now))
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
        let created = ticket(&inserted)?;
        tx.commit().await.map_err(db_error)?;
        if waiting.is_some() {
            self.cache
                .set_ownership(new.conversation_id, Ownership::Bot, now);
        }
        Ok(created)
    }

    pub(super) async fn list_tickets(&self, all: bool) -> Result<Vec<Ticket>, DomainError> {
        let rows = sqlx::query(
            "SELECT * FROM tickets WHERE ? OR closed = 0 ORDER BY created_at ASC, id ASC",
        )
        .bind(all)
        .fetch_all(&self.writer)
        .await
        .map_err(db_error)?;
        rows.iter().map(ticket).collect()
    }

    pub(super) async fn end_ticket(
        &self,
        id: TicketId,
        by: AgentId,
        note: Option<&str>,
    ) -> Result<Ticket, DomainError> {
        let row = sqlx::query(
            "UPDATE tickets SET closed = 1, closed_by = ?, note = ?, closed_at = ?
             WHERE id = ? AND closed = 0 RETURNING *",
        )
        .bind(by.to_string())
        .bind(note)
        .bind(to_millis(warmline_domain::conversation::now()))
        .bind(id.to_string())
        .fetch_optional(&self.writer)
        .await
        .map_err(db_error)?;
        if let Some(row) = row {
            return ticket(&row);
        }
        let known = sqlx::query("SELECT 1 FROM tickets WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.writer)
            .await
            .map_err(db_error)?;
        Err(match known {
            Some(_) => DomainError::new(ErrorCode::Conflict, "this ticket is already closed"),
            None => DomainError::not_found(format!("no ticket with id {id}")),
        })
    }
}
