//! The dialog's memories in SQLite: one JSON row per key, replaced on every write.

use super::{SqliteStore, db_error};
use crate::rows::{corrupt, to_millis};
use async_trait::async_trait;
use sqlx::Row;
use warmline_domain::{DomainError, Memories, Memory, MemoryKey};

#[async_trait]
impl Memories for SqliteStore {
    async fn recall(&self, key: MemoryKey) -> Result<Option<Memory>, DomainError> {
        let row = sqlx::query("SELECT state FROM memories WHERE key = ?")
            .bind(key.to_string())
            .fetch_optional(&self.reader)
            .await
            .map_err(db_error)?;
        let Some(row) = row else { return Ok(None) };
        let state: String = row.try_get("state").map_err(db_error)?;
        serde_json::from_str(&state)
            .map(Some)
            .map_err(|e| corrupt(format!("memory {key}: {e}")))
    }

    async fn remember(&self, key: MemoryKey, memory: &Memory) -> Result<(), DomainError> {
        let state = serde_json::to_string(memory)
            .map_err(|e| DomainError::internal(format!("memory {key} not serializable: {e}")))?;
        sqlx::query(
            "INSERT INTO memories (key, state, updated_at) VALUES (?, ?, ?)
             ON CONFLICT (key) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
        )
        .bind(key.to_string())
        .bind(state)
        .bind(to_millis(memory.updated_at))
        .execute(&self.writer)
        .await
        .map_err(db_error)?;
        Ok(())
    }
}

impl SqliteStore {
    /// Forgets every memory (journeys in progress, slots); for conversation tests that must
    /// not depend on each other.
    pub async fn forget_all_memories(&self) -> Result<(), DomainError> {
        sqlx::query("DELETE FROM memories")
            .execute(&self.writer)
            .await
            .map_err(db_error)?;
        Ok(())
    }
}
