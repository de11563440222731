//! Group commit for messages: concurrent `append_message` calls are gathered and written in
//! one statement and one commit. Each caller still returns only after its own message is
//! committed, so the durability contract is unchanged; what changes is that 50 customers
//! typing at once cost one round trip to SQLite's thread and one WAL commit, not 50.

use sqlx::sqlite::SqlitePool;
use sqlx::{QueryBuilder, Row, Sqlite};
use std::collections::HashSet;
use tokio::sync::{mpsc, oneshot};
use warmline_domain::{DomainError, ErrorCode};

/// Most messages written in one statement (8 bound values each, far below SQLite's limit).
const MAX_BATCH: usize = 128;
/// Messages waiting for the writer; beyond this, callers wait for room (backpressure).
const QUEUE: usize = 4096;

/// A message in its stored form.
#[derive(Debug, Clone)]
pub(crate) struct MessageRow {
    pub id: String,
    pub conversation_id: String,
    pub role: &'static str,
    pub text: String,
    pub citations: String,
    pub reply_kind: Option<String>,
    pub suggestions: String,
    pub created_at: i64,
}

struct Pending {
    row: MessageRow,
    done: oneshot::Sender<Result<(), DomainError>>,
}

/// Handle to the writer task. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct MessageWriter {
    queue: mpsc::Sender<Pending>,
}

impl MessageWriter {
    /// Starts the writer task on the current runtime; it ends when every handle is dropped.
    pub(crate) fn spawn(pool: SqlitePool) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(pool, rx));
        Self { queue }
    }

    /// Stores `row`; returns once it is committed.
    pub(crate) async fn insert(&self, row: MessageRow) -> Result<(), DomainError> {
        let (done, wait) = oneshot::channel();
        let stopped = || DomainError::unavailable("the conversation store is shutting down");
        self.queue
            .send(Pending { row, done })
            .await
            .map_err(|_| stopped())?;
        wait.await.map_err(|_| stopped())?
    }
}

async fn run(pool: SqlitePool, mut rx: mpsc::Receiver<Pending>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        write(&pool, batch).await;
    }
}

async fn write(pool: &SqlitePool, batch: Vec<Pending>) {
    let rows: Vec<&MessageRow> = batch.iter().map(|p| &p.row).collect();
    match insert_many(pool, &rows).await {
        Ok(inserted) => {
            for p in batch {
                let result = if inserted.contains(&p.row.id) {
                    Ok(())
                } else {
                    Err(DomainError::not_found("no such conversation"))
                };
                let _ = p.done.send(result);
            }
        }
        // One bad message (a duplicate id) must not fail its neighbours: retry them alone,
        // so each caller gets its own outcome.
        Err(_) if batch.len() > 1 => {
            for p in batch {
                let result = match insert_many(pool, &[&p.row]).await {
                    Ok(inserted) if inserted.contains(&p.row.id) => Ok(()),
                    Ok(_) => Err(DomainError::not_found("no such conversation")),
                    Err(e) => Err(map_error(e)),
                };
                let _ = p.done.send(result);
            }
        }
        Err(e) => {
            let error = map_error(e);
            for p in batch {
                let _ = p.done.send(Err(error.clone()));
            }
        }
    }
}

/// Inserts the rows whose conversation exists, in order, in one statement; returns the ids
/// that were stored.
async fn insert_many(
    pool: &SqlitePool,
    rows: &[&MessageRow],
) -> Result<HashSet<String>, sqlx::Error> {
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        "INSERT INTO messages (id, conversation_id, role, text, citations, reply_kind, suggestions, created_at) \
         SELECT column1, column2, column3, column4, column5, column6, column7, column8 FROM (",
    );
    q.push_values(rows, |mut b, row| {
        b.push_bind(row.id.as_str())
            .push_bind(row.conversation_id.as_str())
            .push_bind(row.role)
            .push_bind(row.text.as_str())
            .push_bind(row.citations.as_str())
            .push_bind(row.reply_kind.as_deref())
            .push_bind(row.suggestions.as_str())
            .push_bind(row.created_at);
    });
    q.push(") WHERE EXISTS (SELECT 1 FROM conversations c WHERE c.id = column2) RETURNING id");
    let returned = q.build().fetch_all(pool).await?;
    returned
        .iter()
        .map(|r| r.try_get::<String, _>("id"))
        .collect()
}

fn map_error(e: sqlx::Error) -> DomainError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => DomainError::new(
            ErrorCode::Conflict,
            "a message with this id is already stored",
        ),
        _ => crate::sqlite::db_error(e),
    }
}
