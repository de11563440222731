//! The embedded SQLite store.

use crate::batch::{MessageRow, MessageWriter};
use crate::cache::ConversationCache;
use crate::rows::{self, to_millis};
use crate::{StoreError, migrations};
use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use warmline_domain::{
    Conversation, ConversationId, ConversationStore, Customer, CustomerId, CustomerIdentity,
    DomainError, ErrorCode, Message, NewConversation, Ownership,
};

/// How hard SQLite works to keep a committed write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=NORMAL` in WAL mode: a committed message survives a crash or kill of the
    /// process; the last transactions may be lost if the whole machine loses power.
    #[default]
    Process,
    /// `synchronous=FULL`: every commit is fsynced, surviving power loss, at a cost in speed.
    Power,
}

/// The embedded default store: one SQLite file in WAL mode. Writes go through a single
/// connection, so concurrent writers wait in an async queue instead of in SQLite's busy
/// handler (which sleeps for milliseconds); reads use a separate pool and never wait for them.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// Folds the WAL into the database file in the background (file databases only).
    checkpointer: Option<SqlitePool>,
    messages: MessageWriter,
    cache: Arc<ConversationCache>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and applies migrations.
    pub async fn open(path: &Path, durability: Durability) -> Result<Self, StoreError> {
        let shown = path.display().to_string();
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match durability {
                Durability::Process => SqliteSynchronous::Normal,
                Durability::Power => SqliteSynchronous::Full,
            })
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        Self::connect(options, shown).await
    }

    /// A private in-memory database, for tests and the `ask` command.
    pub async fn in_memory() -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .expect("static sqlite url parses")
            .foreign_keys(true);
        Self::connect(options, ":memory:".into()).await
    }

    async fn connect(options: SqliteConnectOptions, shown: String) -> Result<Self, StoreError> {
        let open_error = |source| StoreError::Open {
            path: shown.clone(),
            source,
        };
        let pool = |max: u32| {
            SqlitePoolOptions::new()
                .max_connections(max)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        };
        let in_memory = shown == ":memory:";
        // The writer never checkpoints itself: a checkpoint fsyncs the database file, and
        // doing it inside a commit would stall every customer waiting on that commit. The
        // checkpointer connection does it in the background instead.
        let writer_options = if in_memory {
            options.clone()
        } else {
            options
                .clone()
                .pragma("wal_autocheckpoint", "0")
                // After the WAL starts over, shrink its file back to at most 64 MiB.
                .pragma("journal_size_limit", "67108864")
        };
        let writer = pool(1)
            .connect_with(writer_options)
            .await
            .map_err(open_error)?;
        migrations::sqlite()
            .run(&writer)
            .await
            .map_err(|source| StoreError::Migrate {
                path: shown.clone(),
                source,
            })?;
        // An in-memory database exists only inside its one connection: read through it too.
        let (reader, checkpointer) = if in_memory {
            (writer.clone(), None)
        } else {
            let reader = pool(4)
                .connect_with(options.clone().read_only(true))
                .await
                .map_err(open_error)?;
            let checkpointer = pool(1).connect_with(options).await.map_err(open_error)?;
            tokio::spawn(checkpoint_loop(checkpointer.clone()));
            (reader, Some(checkpointer))
        };
        Ok(Self {
            messages: MessageWriter::spawn(writer.clone()),
            writer,
            reader,
            checkpointer,
            cache: Arc::default(),
        })
    }

    /// The reading pool: several read-only connections on a file database (the one
    /// connection of an in-memory one). For companions that keep their tables in the same
    /// database, like the built-in CRM; they never see this store's own tables change shape.
    pub fn reader_pool(&self) -> &SqlitePool {
        &self.reader
    }

    /// The single writing connection. Keep transactions on it short: every conversation
    /// message is written through it too.
    pub fn writer_pool(&self) -> &SqlitePool {
        &self.writer
    }

    /// Closes the pools, waiting for running statements (graceful shutdown).
    pub async fn close(&self) {
        self.reader.close().await;
        if let Some(checkpointer) = &self.checkpointer {
            // Leave a small database behind: fold the WAL in and truncate it.
            let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(checkpointer)
                .await;
            checkpointer.close().await;
        }
        self.writer.close().await;
    }
}

/// How often the WAL is folded into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);
/// WAL frames (pages) past which the checkpointer makes the writer wait for a moment so the
/// WAL can start over; below it, checkpoints never block anyone.
const RESTART_AFTER_FRAMES: i64 = 4096;

/// Folds the WAL into the database in the background. A `PASSIVE` checkpoint never blocks the
/// writer or readers, but under constant writes it never catches up, and the WAL only starts
/// over after a complete checkpoint; so once the WAL passes [`RESTART_AFTER_FRAMES`], a
/// `RESTART` checkpoint briefly holds the writer back (the few frames the last passive one
/// left) and the WAL is reused from its start. Ends when the store closes.
async fn checkpoint_loop(pool: SqlitePool) {
    let mut every = tokio::time::interval(CHECKPOINT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if pool.is_closed() {
            return;
        }
        let passive = sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&pool)
            .await;
        let result = match passive {
            Ok((_, frames, _)) if frames > RESTART_AFTER_FRAMES => {
                // The passive pass just copied and synced almost everything, so the restart
                // holds the writer only for what arrived meanwhile.
                sqlx::query("PRAGMA wal_checkpoint(RESTART)")
                    .execute(&pool)
                    .await
                    .map(|_| ())
            }
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            if pool.is_closed() {
                return;
            }
            tracing::warn!(error = %e, "wal checkpoint failed; will retry");
        }
    }
}

pub(crate) fn db_error(e: sqlx::Error) -> DomainError {
    tracing::error!(error = %e, "store operation failed");
    DomainError::unavailable("the conversation store is unavailable")
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

#[async_trait]
impl ConversationStore for SqliteStore {
    async fn create_conversation(&self, new: NewConversation) -> Result<Conversation, DomainError> {
        let now = warmline_domain::conversation::now();
        let conversation = Conversation {
            id: ConversationId::new(),
            channel: new.channel,
            locale: new.locale,
            customer_id: new.customer_id,
            ownership: Ownership::Bot,
            created_at: now,
            updated_at: now,
        };
        sqlx::query(
            "INSERT INTO conversations (id, channel, locale, customer_id, ownership, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(conversation.id.to_string())
        .bind(conversation.channel.as_str())
        .bind(&conversation.locale)
        .bind(conversation.customer_id.map(|c| c.to_string()))
        .bind(conversation.ownership.as_str())
        .bind(to_millis(now))
        .bind(to_millis(now))
        .execute(&self.writer)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
                DomainError::not_found("no such customer")
            }
            _ => db_error(e),
        })?;
        self.cache.put(&conversation);
        Ok(conversation)
    }

    async fn conversation(&self, id: ConversationId) -> Result<Option<Conversation>, DomainError> {
        if let Some(cached) = self.cache.get(id) {
            return Ok(Some(cached));
        }
        let row = sqlx::query(
            "SELECT id, channel, locale, customer_id, ownership, created_at,
                    max(updated_at, coalesce((SELECT max(created_at) FROM messages m
                        WHERE m.conversation_id = c.id), 0)) AS updated_at
             FROM conversations c WHERE id = ?",
        )
        .bind(id.to_string())
        .fetch_optional(&self.reader)
        .await
        .map_err(db_error)?;
        let conversation = row.as_ref().map(rows::conversation).transpose()?;
        if let Some(c) = &conversation {
            self.cache.put(c);
        }
        Ok(conversation)
    }

    async fn set_ownership(
        &self,
        id: ConversationId,
        ownership: Ownership,
    ) -> Result<(), DomainError> {
        let now = warmline_domain::conversation::now();
        let done =
            sqlx::query("UPDATE conversations SET ownership = ?, updated_at = ? WHERE id = ?")
                .bind(ownership.as_str())
                .bind(to_millis(now))
                .bind(id.to_string())
                .execute(&self.writer)
                .await
                .map_err(db_error)?;
        if done.rows_affected() == 0 {
            return Err(DomainError::not_found("no such conversation"));
        }
        self.cache.set_ownership(id, ownership, now);
        Ok(())
    }

    async fn append_message(&self, message: &Message) -> Result<(), DomainError> {
        let citations = serde_json::to_string(&message.citations)
            .map_err(|e| DomainError::internal(format!("citations: {e}")))?;
        let suggestions = serde_json::to_string(&message.suggestions)
            .map_err(|e| DomainError::internal(format!("suggestions: {e}")))?;
        let reply_kind = message
            .reply_kind
            .map(|k| serde_json::to_value(k).map(|v| v.as_str().unwrap_or_default().to_owned()))
            .transpose()
            .map_err(|e| DomainError::internal(format!("reply kind: {e}")))?;
        let stored = self
            .messages
            .insert(MessageRow {
                id: message.id.to_string(),
                conversation_id: message.conversation_id.to_string(),
                role: message.role.as_str(),
                text: message.text.clone(),
                citations,
                reply_kind,
                suggestions,
                created_at: to_millis(message.created_at),
            })
            .await;
        if stored.is_ok() {
            // Last activity is the latest message time (messages written at once may be
            // stored out of clock order, so the latest, not the last stored): keep the
            // cached copy in step.
            self.cache
                .touch(message.conversation_id, message.created_at);
        }
        stored
    }

    async fn messages(
        &self,
        id: ConversationId,
        limit: usize,
    ) -> Result<Vec<Message>, DomainError> {
        // The newest `limit` messages, returned oldest first.
        let rows = sqlx::query(
            "SELECT * FROM (SELECT * FROM messages WHERE conversation_id = ? ORDER BY seq DESC LIMIT ?)
             ORDER BY seq ASC",
        )
        .bind(id.to_string())
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.reader)
        .await
        .map_err(db_error)?;
        rows.iter().map(rows::message).collect()
    }

    async fn customer_for_identity(
        &self,
        identity: &CustomerIdentity,
        display_name: Option<&str>,
    ) -> Result<Customer, DomainError> {
        let mut tx = self.writer.begin().await.map_err(db_error)?;
        let existing = sqlx::query(
            "SELECT c.* FROM customers c JOIN customer_identities i ON i.customer_id = c.id
             WHERE i.channel = ? AND i.external_id = ?",
        )
        .bind(identity.channel.as_str())
        .bind(&identity.external_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        if let Some(row) = existing {
            return rows::customer(&row);
        }
        let now = warmline_domain::conversation::now();
        let customer = Customer {
            id: CustomerId::new(),
            display_name: display_name.map(str::to_owned),
            created_at: now,
        };
        sqlx::query("INSERT INTO customers (id, display_name, created_at) VALUES (?, ?, ?)")
            .bind(customer.id.to_string())
            .bind(&customer.display_name)
            .bind(to_millis(now))
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        let linked = sqlx::query(
            "INSERT INTO customer_identities (channel, external_id, customer_id, created_at)
             VALUES (?, ?, ?, ?)",
        )
        .bind(identity.channel.as_str())
        .bind(&identity.external_id)
        .bind(customer.id.to_string())
        .bind(to_millis(now))
        .execute(&mut *tx)
        .await;
        match linked {
            Ok(_) => {
                tx.commit().await.map_err(db_error)?;
                Ok(customer)
            }
            // Another request created the same identity between our read and our write:
            // theirs wins and we return it.
            Err(e) if is_unique_violation(&e) => {
                drop(tx);
                Box::pin(self.customer_for_identity(identity, display_name)).await
            }
            Err(e) => Err(db_error(e)),
        }
    }

    async fn customer(&self, id: CustomerId) -> Result<Option<Customer>, DomainError> {
        let row = sqlx::query("SELECT * FROM customers WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.reader)
            .await
            .map_err(db_error)?;
        row.as_ref().map(rows::customer).transpose()
    }

    async fn identities(&self, id: CustomerId) -> Result<Vec<CustomerIdentity>, DomainError> {
        let rows = sqlx::query(
            "SELECT channel, external_id FROM customer_identities WHERE customer_id = ?
             ORDER BY created_at, channel",
        )
        .bind(id.to_string())
        .fetch_all(&self.reader)
        .await
        .map_err(db_error)?;
        rows.iter().map(rows::identity).collect()
    }

    async fn link_identity(
        &self,
        id: CustomerId,
        identity: &CustomerIdentity,
    ) -> Result<(), DomainError> {
        let result = sqlx::query(
            "INSERT INTO customer_identities (channel, external_id, customer_id, created_at)
             VALUES (?, ?, ?, ?)
             ON CONFLICT (channel, external_id) DO NOTHING",
        )
        .bind(identity.channel.as_str())
        .bind(&identity.external_id)
        .bind(id.to_string())
        .bind(to_millis(warmline_domain::conversation::now()))
        .execute(&self.writer)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
                DomainError::not_found("no such customer")
            }
            _ => db_error(e),
        })?;
        if result.rows_affected() == 1 {
            return Ok(());
        }
        let owner: Option<String> = sqlx::query_scalar(
            "SELECT customer_id FROM customer_identities WHERE channel = ? AND external_id = ?",
        )
        .bind(identity.channel.as_str())
        .bind(&identity.external_id)
        .fetch_optional(&self.writer)
        .await
        .map_err(db_error)?;
        if owner.as_deref() == Some(id.to_string().as_str()) {
            Ok(())
        } else {
            Err(DomainError::new(
                ErrorCode::Conflict,
                "this identity belongs to another customer",
            ))
        }
    }

    async fn ping(&self) -> Result<(), DomainError> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map(|_| ())
            .map_err(db_error)
    }
}

mod articles;
mod handoffs;
mod insights;
mod memory;
mod messaging;
mod routing;

#[cfg(test)]
mod tests;
