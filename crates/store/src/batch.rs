//! Group commit for messages: concurrent `append_message` calls are gathered and written in
//! one statement and one commit. Each caller still returns only after its own message is
//! committed, so the durability contract is unchanged; what changes is that 50 customers
//! typing at once cost one round trip to SQLite's thread and one WAL commit, not 50.

use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnection, SqlitePool};
use sqlx::{QueryBuilder, Row, Sqlite};
use std::collections::HashSet;
use tokio::sync::{mpsc, oneshot, watch};
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
    stop: watch::Sender<bool>,
}

impl MessageWriter {
    /// Starts the writer task on the current runtime; it ends on [`MessageWriter::stop`] or
    /// when every handle is dropped.
    ///
    /// With `hold`, the task keeps its connection between batches; without (when the pool's
    /// only connection also serves reads, as in memory), it gives it back after each batch.
    pub(crate) fn spawn(pool: SqlitePool, hold: bool) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE);
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(run(pool, rx, stopped, hold));
        Self { queue, stop }
    }

    /// Writes what is queued, then gives the connection back to the pool and ends the task
    /// (graceful shutdown: the pool can only close once its connection is back).
    pub(crate) fn stop(&self) {
        let _ = self.stop.send(true);
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

async fn run(
    pool: SqlitePool,
    mut rx: mpsc::Receiver<Pending>,
    mut stop: watch::Receiver<bool>,
    hold: bool,
) {
    // The writer keeps its connection between batches instead of going through the pool
    // each time; it is given back (and taken again) only after an error, and at stop.
    let mut held: Option<PoolConnection<Sqlite>> = None;
    let mut stopping = false;
    loop {
        let first = if stopping {
            match rx.try_recv() {
                Ok(next) => next,
                Err(_) => break,
            }
        } else {
            tokio::select! {
                next = rx.recv() => match next {
                    Some(next) => next,
                    None => break,
                },
                _ = stop.wait_for(|s| *s) => {
                    stopping = true;
                    continue;
                }
            }
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let conn = match held.take() {
            Some(conn) => conn,
            None => match pool.acquire().await {
                Ok(conn) => conn,
                Err(e) => {
                    let error = map_error(e);
                    for p in batch {
                        let _ = p.done.send(Err(error.clone()));
                    }
                    continue;
                }
            },
        };
        held = write(conn, batch).await.filter(|_| hold);
    }
}

/// Writes one batch; returns the connection unless it failed.
async fn write(
    mut conn: PoolConnection<Sqlite>,
    batch: Vec<Pending>,
) -> Option<PoolConnection<Sqlite>> {
    let conn_ref = &mut *conn;
    let ok = write_on(conn_ref, batch).await;
    ok.then_some(conn)
}

async fn write_on(pool: &mut SqliteConnection, batch: Vec<Pending>) -> bool {
    let rows: Vec<&MessageRow> = batch.iter().map(|p| &p.row).collect();
    match insert_many(&mut *pool, &rows).await {
        Ok(inserted) => {
            for p in batch {
                let result = if inserted.contains(&p.row.id) {
                    Ok(())
                } else {
                    Err(DomainError::not_found("no such conversation"))
                };
                let _ = p.done.send(result);
            }
            true
        }
        // One bad message (a duplicate id) must not fail its neighbours: retry them alone,
        // so each caller gets its own outcome.
        Err(_) if batch.len() > 1 => {
            for p in batch {
                let result = match insert_many(&mut *pool, &[&p.row]).await {
                    Ok(inserted) if inserted.contains(&p.row.id) => Ok(()),
                    Ok(_) => Err(DomainError::not_found("no such conversation")),
                    Err(e) => Err(map_error(e)),
                };
                let _ = p.done.send(result);
            }
            true
        }
        Err(e) => {
            let error = map_error(e);
            for p in batch {
                let _ = p.done.send(Err(error.clone()));
            }
            false
        }
    }
}

/// Inserts the rows whose conversation exists, in order, in one statement; returns the ids
/// that were stored.
async fn insert_many(
    conn: &mut SqliteConnection,
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
    let returned = q.build().fetch_all(conn).await?;
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
