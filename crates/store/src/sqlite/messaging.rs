//! Messaging channels in SQLite: received messages (once per provider id), provider chats
//! mapped to conversations, and the outbox of provider requests.

use super::{SqliteStore, db_error};
use crate::rows::{corrupt, from_millis, get, to_millis};
use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;
use warmline_domain::{
    Channel, ChannelStore, ChannelThread, ConversationId, DomainError, InboundMessage,
    NewOutboxItem, OutboxCounts, OutboxItem,
};

/// Longest error text kept on a row (provider error bodies can be large).
const MAX_ERROR_CHARS: usize = 500;

fn short(error: &str) -> String {
    error.chars().take(MAX_ERROR_CHARS).collect()
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, DomainError> {
    serde_json::to_string(value).map_err(|e| DomainError::internal(format!("to json: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(row: &SqliteRow, col: &str) -> Result<T, DomainError> {
    let text: String = get(row, col)?;
    serde_json::from_str(&text).map_err(|e| corrupt(format!("column {col}: {e}")))
}

fn channel(row: &SqliteRow) -> Result<Channel, DomainError> {
    let text: String = get(row, "channel")?;
    text.parse().map_err(corrupt)
}

fn conversation_id(row: &SqliteRow) -> Result<Option<ConversationId>, DomainError> {
    let text: Option<String> = get(row, "conversation_id")?;
    text.map(|t| {
        t.parse()
            .map_err(|e| corrupt(format!("conversation_id {t:?}: {e}")))
    })
    .transpose()
}

fn thread(row: &SqliteRow) -> Result<ChannelThread, DomainError> {
    Ok(ChannelThread {
        channel: channel(row)?,
        key: get(row, "thread_key")?,
        conversation_id: conversation_id(row)?
            .ok_or_else(|| corrupt("thread without a conversation".into()))?,
        address: from_json(row, "address")?,
        options: from_json(row, "options")?,
    })
}

fn outbox_item(row: &SqliteRow) -> Result<OutboxItem, DomainError> {
    let attempts: i64 = get(row, "attempts")?;
    Ok(OutboxItem {
        seq: get(row, "seq")?,
        channel: channel(row)?,
        thread_key: get(row, "thread_key")?,
        conversation_id: conversation_id(row)?,
        payload: from_json(row, "payload")?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
    })
}

#[async_trait]
impl ChannelStore for SqliteStore {
    async fn record_inbound(&self, message: &InboundMessage) -> Result<bool, DomainError> {
        let inserted = sqlx::query(
            "INSERT INTO channel_inbound (channel, provider_id, message, received_at)
             VALUES (?, ?, ?, ?) ON CONFLICT (channel, provider_id) DO NOTHING",
        )
        .bind(message.channel.as_str())
        .bind(&message.provider_id)
        .bind(to_json(message)?)
        .bind(to_millis(warmline_domain::conversation::now()))
        .execute(&self.writer)
        .await
        .map_err(db_error)?;
        Ok(inserted.rows_affected() == 1)
    }

    async fn pending_inbound(
        &self,
        limit: usize,
    ) -> Result<Vec<(i64, InboundMessage)>, DomainError> {
        let rows = sqlx::query(
            "SELECT seq, message FROM channel_inbound WHERE status = 'pending' ORDER BY seq LIMIT ?",
        )
        .bind(limit as i64)
        .fetch_all(&self.writer)
        .await
        .map_err(db_error)?;
        rows.iter()
            .map(|row| Ok((get(row, "seq")?, from_json(row, "message")?)))
            .collect()
    }

    async fn inbound_backlog(&self) -> Result<u64, DomainError> {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM channel_inbound WHERE status = 'pending'")
                .fetch_one(&self.reader)
                .await
                .map_err(db_error)?;
        Ok(n.max(0) as u64)
    }

    async fn finish_inbound(&self, seq: i64, error: Option<&str>) -> Result<(), DomainError> {
        sqlx::query(
            "UPDATE channel_inbound SET status = ?, error = ?, handled_at = ? WHERE seq = ?",
        )
        .bind(if error.is_some() { "failed" } else { "done" })
        .bind(error.map(short))
        .bind(to_millis(warmline_domain::conversation::now()))
        .bind(seq)
        .execute(&self.writer)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn thread(
        &self,
        channel: Channel,
        key: &str,
    ) -> Result<Option<ChannelThread>, DomainError> {
        let row = sqlx::query("SELECT * FROM channel_threads WHERE channel = ? AND thread_key = ?")
            .bind(channel.as_str())
            .bind(key)
            .fetch_optional(&self.writer)
            .await
            .map_err(db_error)?;
        row.as_ref().map(thread).transpose()
    }

    async fn thread_of_conversation(
        &self,
        id: ConversationId,
    ) -> Result<Option<ChannelThread>, DomainError> {
        let row = sqlx::query(
            "SELECT * FROM channel_threads WHERE conversation_id = ?
             ORDER BY updated_at DESC LIMIT 1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.writer)
        .await
        .map_err(db_error)?;
        row.as_ref().map(thread).transpose()
    }

    async fn save_thread(&self, t: &ChannelThread) -> Result<(), DomainError> {
        sqlx::query(
            "INSERT INTO channel_threads
                 (channel, thread_key, conversation_id, address, options, updated_at)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (channel, thread_key) DO UPDATE SET
                 conversation_id = excluded.conversation_id, address = excluded.address,
                 options = excluded.options, updated_at = excluded.updated_at",
        )
        .bind(t.channel.as_str())
        .bind(&t.key)
        .bind(t.conversation_id.to_string())
        .bind(to_json(&t.address)?)
        .bind(to_json(&t.options)?)
        .bind(to_millis(warmline_domain::conversation::now()))
        .execute(&self.writer)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn enqueue(
        &self,
        items: &[NewOutboxItem],
        options: Option<(Channel, &str, &[String])>,
    ) -> Result<(), DomainError> {
        let now = to_millis(warmline_domain::conversation::now());
        let mut tx = self.writer.begin().await.map_err(db_error)?;
        for item in items {
            sqlx::query(
                "INSERT INTO channel_outbox (channel, thread_key, conversation_id, message_id,
                     payload, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(item.channel.as_str())
            .bind(&item.thread_key)
            .bind(item.conversation_id.map(|c| c.to_string()))
            .bind(item.message_id.map(|m| m.to_string()))
            .bind(to_json(&item.payload)?)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        if let Some((channel, key, options)) = options {
            sqlx::query(
                "UPDATE channel_threads SET options = ? WHERE channel = ? AND thread_key = ?",
            )
            .bind(to_json(&options)?)
            .bind(channel.as_str())
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)
    }

    async fn due_outbox(
        &self,
        now: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, DomainError> {
        // The oldest pending item of each thread, if it is due: a later item never overtakes
        // an earlier one that is waiting for its retry.
        let rows = sqlx::query(
            "SELECT o.* FROM channel_outbox o
             WHERE o.status = 'pending' AND o.next_attempt_at <= ?
               AND NOT EXISTS (SELECT 1 FROM channel_outbox p
                               WHERE p.status = 'pending' AND p.channel = o.channel
                                 AND p.thread_key = o.thread_key AND p.seq < o.seq)
             ORDER BY o.seq LIMIT ?",
        )
        .bind(to_millis(now))
        .bind(limit as i64)
        .fetch_all(&self.writer)
        .await
        .map_err(db_error)?;
        rows.iter().map(outbox_item).collect()
    }

    async fn next_outbox_due(&self) -> Result<Option<OffsetDateTime>, DomainError> {
        let due: Option<i64> = sqlx::query_scalar(
            "SELECT min(next_attempt_at) FROM channel_outbox WHERE status = 'pending'",
        )
        .fetch_one(&self.writer)
        .await
        .map_err(db_error)?;
        due.map(from_millis).transpose()
    }

    async fn outbox_sent(
        &self,
        seq: i64,
        provider_message_id: Option<&str>,
    ) -> Result<(), DomainError> {
        sqlx::query(
            "UPDATE channel_outbox SET status = 'sent', attempts = attempts + 1, sent_at = ?,
                 provider_message_id = ?, last_error = NULL WHERE seq = ?",
        )
        .bind(to_millis(warmline_domain::conversation::now()))
        .bind(provider_message_id)
        .bind(seq)
        .execute(&self.writer)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn outbox_retry(
        &self,
        seq: i64,
        next_attempt: OffsetDateTime,
        error: &str,
    ) -> Result<(), DomainError> {
        sqlx::query(
            "UPDATE channel_outbox SET attempts = attempts + 1, next_attempt_at = ?,
                 last_error = ? WHERE seq = ?",
        )
        .bind(to_millis(next_attempt))
        .bind(short(error))
        .bind(seq)
        .execute(&self.writer)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn outbox_failed(&self, seq: i64, error: &str) -> Result<(), DomainError> {
        sqlx::query(
            "UPDATE channel_outbox SET status = 'failed', attempts = attempts + 1,
                 last_error = ? WHERE seq = ?",
        )
        .bind(short(error))
        .bind(seq)
        .execute(&self.writer)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn outbox_delivery(
        &self,
        channel: Channel,
        provider_message_id: &str,
        status: &str,
    ) -> Result<bool, DomainError> {
        let updated = sqlx::query(
            "UPDATE channel_outbox SET delivery_status = ?
             WHERE channel = ? AND provider_message_id = ?",
        )
        .bind(short(status))
        .bind(channel.as_str())
        .bind(provider_message_id)
        .execute(&self.writer)
        .await
        .map_err(db_error)?;
        Ok(updated.rows_affected() > 0)
    }

    async fn outbox_counts(&self) -> Result<OutboxCounts, DomainError> {
        let rows = sqlx::query("SELECT status, count(*) AS n FROM channel_outbox GROUP BY status")
            .fetch_all(&self.writer)
            .await
            .map_err(db_error)?;
        let mut counts = OutboxCounts::default();
        for row in &rows {
            let status: String = get(row, "status")?;
            let n: i64 = get(row, "n")?;
            let n = n.max(0) as u64;
            match status.as_str() {
                "pending" => counts.pending = n,
                "sent" => counts.sent = n,
                _ => counts.failed = n,
            }
        }
        Ok(counts)
    }
}
