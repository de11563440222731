//! Warmline's conversation store.
//!
//! - [`SqliteStore`]: the embedded default, one SQLite file in the data dir (WAL mode,
//!   migrations embedded in the binary and applied on open).
//! - [`StoreError`]: what can go wrong opening a store; operations report
//!   [`warmline_domain::DomainError`] like every [`ConversationStore`] implementation.
//!
//! A PostgreSQL implementation can follow behind the same trait: callers never see SQL.

mod batch;
mod cache;
mod migrations;
mod rows;
mod sqlite;

pub use sqlite::{Durability, SqliteStore};
pub use warmline_domain::ConversationStore;

/// Failure to open or migrate a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database at {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot migrate the database at {path}: {source}")]
    Migrate {
        path: String,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
}
