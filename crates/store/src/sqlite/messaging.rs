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
        // Only each thread's oldest pending item counts: the ones behind it wait for it.
        let due: Option<i64> = sqlx::query_scalar(
            "SELECT min(o.next_attempt_at) FROM channel_outbox o
             WHERE o.status = 'pending'
               AND NOT EXISTS (SELECT 1 FROM channel_outbox p
                               WHERE p.status = 'pending' AND p.channel = o.channel
                                 AND p.thread_key = o.thread_key AND p.seq < o.seq)",
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::Durability;
    use serde_json::json;
    use warmline_domain::ConversationStore;

    fn inbound(id: &str) -> InboundMessage {
        InboundMessage {
            channel: Channel::Telegram,
            provider_id: id.into(),
            thread_key: "42".into(),
            sender: "42".into(),
            display_name: None,
            text: "hello".into(),
            address: json!({"chat_id": 42}),
            locale: None,
            rating: None,
        }
    }

    fn item(thread: &str, n: i64) -> NewOutboxItem {
        NewOutboxItem {
            channel: Channel::Telegram,
            thread_key: thread.into(),
            conversation_id: None,
            message_id: None,
            payload: json!({ "n": n }),
        }
    }

    #[tokio::test]
    async fn a_provider_id_is_recorded_once_and_pending_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("warmline.db");
        let store = SqliteStore::open(&path, Durability::Process).await.unwrap();
        assert!(store.record_inbound(&inbound("1")).await.unwrap());
        assert!(!store.record_inbound(&inbound("1")).await.unwrap());
        assert!(store.record_inbound(&inbound("2")).await.unwrap());
        let pending = store.pending_inbound(10).await.unwrap();
        store.finish_inbound(pending[0].0, None).await.unwrap();
        store.close().await;

        let store = SqliteStore::open(&path, Durability::Process).await.unwrap();
        let pending = store.pending_inbound(10).await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].1, inbound("2"));
        assert_eq!(store.inbound_backlog().await.unwrap(), 1);
    }

    #[tokio::test]
    async fn outbox_hands_out_each_threads_oldest_item_and_never_overtakes_a_retry() {
        let store = SqliteStore::in_memory().await.unwrap();
        let now = warmline_domain::conversation::now();
        store
            .enqueue(&[item("a", 1), item("a", 2), item("b", 3)], None)
            .await
            .unwrap();
        let due = store.due_outbox(now, 10).await.unwrap();
        let ns: Vec<i64> = due
            .iter()
            .map(|i| i.payload["n"].as_i64().unwrap())
            .collect();
        assert_eq!(ns, [1, 3], "one per thread, the oldest");

        // a/1 fails and waits a minute: a/2 must wait behind it; b/3 is sent.
        store
            .outbox_retry(due[0].seq, now + time::Duration::minutes(1), "down")
            .await
            .unwrap();
        store.outbox_sent(due[1].seq, Some("m3")).await.unwrap();
        assert!(store.due_outbox(now, 10).await.unwrap().is_empty());
        let next = store.next_outbox_due().await.unwrap().unwrap();
        assert_eq!(next, now + time::Duration::minutes(1));

        let later = store.due_outbox(next, 10).await.unwrap();
        assert_eq!(later.len(), 1);
        assert_eq!(
            (later[0].payload["n"].as_i64(), later[0].attempts),
            (Some(1), 1)
        );
        store.outbox_failed(later[0].seq, "gone").await.unwrap();
        let last = store.due_outbox(next, 10).await.unwrap();
        assert_eq!(last[0].payload["n"], 2);
        assert!(
            store
                .outbox_delivery(Channel::Telegram, "m3", "read")
                .await
                .unwrap()
        );
        assert!(
            !store
                .outbox_delivery(Channel::Slack, "m3", "read")
                .await
                .unwrap()
        );
        let counts = store.outbox_counts().await.unwrap();
        assert_eq!((counts.pending, counts.sent, counts.failed), (1, 1, 1));
    }

    #[tokio::test]
    async fn threads_map_chats_to_conversations_and_keep_options() {
        let store = SqliteStore::in_memory().await.unwrap();
        let conversation = store
            .create_conversation(warmline_domain::NewConversation {
                channel: Channel::Telegram,
                locale: "en".into(),
                customer_id: None,
            })
            .await
            .unwrap();
        let thread = ChannelThread {
            channel: Channel::Telegram,
            key: "42".into(),
            conversation_id: conversation.id,
            address: json!({"chat_id": 42}),
            options: Vec::new(),
        };
        store.save_thread(&thread).await.unwrap();
        let options = vec!["Talk to a person".to_owned()];
        store
            .enqueue(&[item("42", 1)], Some((Channel::Telegram, "42", &options)))
            .await
            .unwrap();
        let found = store
            .thread(Channel::Telegram, "42")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.options, options);
        let by_conversation = store
            .thread_of_conversation(conversation.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(by_conversation.key, "42");
        assert!(store.thread(Channel::Slack, "42").await.unwrap().is_none());
    }
}
