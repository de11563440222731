//! The knowledge editor's articles, versions, API tokens and retrieval counts in SQLite.
//!
//! A save is one transaction that checks the base version and writes the next one, on the
//! single writing connection: two saves from the same base cannot both succeed.

use super::{SqliteStore, db_error};
use crate::rows::{corrupt, from_millis, get, json, to_millis};
use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;
use warmline_domain::{
    AgentRole, ApiToken, ArticleRecord, ArticleSave, ArticleStore, ArticleVersion, DomainError,
    ErrorCode, Workflow,
};

fn record(row: &SqliteRow) -> Result<ArticleRecord, DomainError> {
    let status: String = get(row, "status")?;
    let version: i64 = get(row, "version")?;
    let published: Option<i64> = get(row, "published_version")?;
    Ok(ArticleRecord {
        id: get(row, "id")?,
        title: get(row, "title")?,
        locale: get(row, "locale")?,
        tags: json(row, "tags")?,
        status: Workflow::parse(&status).ok_or_else(|| corrupt(format!("status {status:?}")))?,
        version: u32::try_from(version).map_err(|e| corrupt(format!("version: {e}")))?,
        published_version: published.and_then(|v| u32::try_from(v).ok()),
        updated_by: get(row, "updated_by")?,
        updated_at: from_millis(get(row, "updated_at")?)?,
    })
}

fn version(row: &SqliteRow) -> Result<ArticleVersion, DomainError> {
    let number: i64 = get(row, "version")?;
    Ok(ArticleVersion {
        article_id: get(row, "article_id")?,
        version: u32::try_from(number).map_err(|e| corrupt(format!("version: {e}")))?,
        content: get(row, "content")?,
        author: get(row, "author")?,
        note: get(row, "note")?,
        created_at: from_millis(get(row, "created_at")?)?,
    })
}

fn stale(current: &ArticleRecord) -> DomainError {
    DomainError::new(
        ErrorCode::Conflict,
        format!(
            "article {} changed since you opened it: the latest version is {} (by {}); \
             reload it and apply your changes again",
            current.id, current.version, current.updated_by
        ),
    )
}

impl SqliteStore {
    async fn article_on_writer(&self, id: &str) -> Result<Option<ArticleRecord>, DomainError> {
        let row = sqlx::query("SELECT * FROM articles WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.writer)
            .await
            .map_err(db_error)?;
        row.as_ref().map(record).transpose()
    }
}

#[async_trait]
impl ArticleStore for SqliteStore {
    async fn articles(&self) -> Result<Vec<ArticleRecord>, DomainError> {
        let rows = sqlx::query("SELECT * FROM articles ORDER BY id")
            .fetch_all(&self.writer)
            .await
            .map_err(db_error)?;
        rows.iter().map(record).collect()
    }

    async fn article(&self, id: &str) -> Result<Option<ArticleRecord>, DomainError> {
        self.article_on_writer(id).await
    }

    async fn save_article(&self, save: &ArticleSave) -> Result<ArticleRecord, DomainError> {
        let now = to_millis(warmline_domain::conversation::now());
        let status = save.status.unwrap_or(Workflow::Draft);
        let tags = serde_json::to_string(&save.tags)
            .map_err(|e| DomainError::internal(format!("tags: {e}")))?;
        let mut tx = self.writer.begin().await.map_err(db_error)?;
        let row = sqlx::query("SELECT * FROM articles WHERE id = ?")
            .bind(&save.id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_error)?;
        let current = row.as_ref().map(record).transpose()?;
        let next = match (&current, save.base_version) {
            (None, None) => 1,
            (Some(current), None) => {
                return Err(DomainError::new(
                    ErrorCode::Conflict,
                    format!(
                        "article {} already exists (version {}); open it to edit",
                        current.id, current.version
                    ),
                ));
            }
            (None, Some(_)) => {
                return Err(DomainError::not_found(format!("no article {:?}", save.id)));
            }
            (Some(current), Some(base)) if base != current.version => {
                return Err(stale(current));
            }
            (Some(current), Some(_)) => current.version + 1,
        };
        let published = match status {
            Workflow::Published => Some(next),
            _ => current.as_ref().and_then(|c| c.published_version),
        };
        sqlx::query(
            "INSERT INTO articles (id, title, locale, tags, status, version, published_version,
                                   updated_by, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET title = excluded.title, locale = excluded.locale,
               tags = excluded.tags, status = excluded.status, version = excluded.version,
               published_version = excluded.published_version,
               updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        )
        .bind(&save.id)
        .bind(&save.title)
        .bind(&save.locale)
        .bind(&tags)
        .bind(status.as_str())
        .bind(i64::from(next))
        .bind(published.map(i64::from))
        .bind(&save.author)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        sqlx::query(
            "INSERT INTO article_versions (article_id, version, content, author, note, created_at)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&save.id)
        .bind(i64::from(next))
        .bind(&save.content)
        .bind(&save.author)
        .bind(&save.note)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        self.article_on_writer(&save.id)
            .await?
            .ok_or_else(|| DomainError::internal("a saved article vanished"))
    }

    async fn transition(
        &self,
        id: &str,
        version: u32,
        to: Workflow,
        actor: &str,
    ) -> Result<ArticleRecord, DomainError> {
        let Some(current) = self.article_on_writer(id).await? else {
            return Err(DomainError::not_found(format!("no article {id:?}")));
        };
        if current.version != version {
            return Err(stale(&current));
        }
        if !current.status.allows(to) {
            return Err(DomainError::new(
                ErrorCode::Conflict,
                format!(
                    "an article that is {} cannot become {}",
                    current.status.as_str(),
                    to.as_str()
                ),
            ));
        }
        // Conditional on the state read above: a concurrent change makes it match nothing.
        let published = match to {
            Workflow::Published => Some(version),
            _ => current.published_version,
        };
        let changed = sqlx::query(
            "UPDATE articles SET status = ?, published_version = ?, updated_by = ?, updated_at = ?
             WHERE id = ? AND version = ? AND status = ?",
        )
        .bind(to.as_str())
        .bind(published.map(i64::from))
        .bind(actor)
        .bind(to_millis(warmline_domain::conversation::now()))
        .bind(id)
        .bind(i64::from(version))
        .bind(current.status.as_str())
        .execute(&self.writer)
        .await
        .map_err(db_error)?;
        let after = self
            .article_on_writer(id)
            .await?
            .ok_or_else(|| DomainError::not_found(format!("no article {id:?}")))?;
        if changed.rows_affected() == 0 {
            return Err(stale(&after));
        }
        Ok(after)
    }

    async fn versions(&self, id: &str) -> Result<Vec<ArticleVersion>, DomainError> {
        let rows = sqlx::query(
            "SELECT * FROM article_versions WHERE article_id = ? ORDER BY version DESC",
        )
        .bind(id)
        .fetch_all(&self.writer)
        .await
        .map_err(db_error)?;
        rows.iter().map(version).collect()
    }

    async fn version(&self, id: &str, number: u32) -> Result<Option<ArticleVersion>, DomainError> {
        let row =
            sqlx::query("SELECT * FROM article_versions WHERE article_id = ? AND version = ?")
                .bind(id)
                .bind(i64::from(number))
                .fetch_optional(&self.writer)
                .await
                .map_err(db_error)?;
        row.as_ref().map(version).transpose()
    }

    async fn create_token(
        &self,
        name: &str,
        role: AgentRole,
        token_hash: &str,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<ApiToken, DomainError> {
        sqlx::query(
            "INSERT INTO api_tokens (token_hash, name, role, created_at, expires_at)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(token_hash)
        .bind(name)
        .bind(role.as_str())
        .bind(to_millis(warmline_domain::conversation::now()))
        .bind(expires_at.map(to_millis))
        .execute(&self.writer)
        .await
        .map_err(db_error)?;
        Ok(ApiToken {
            name: name.to_owned(),
            role,
            expires_at,
        })
    }

    async fn token(&self, token_hash: &str) -> Result<Option<ApiToken>, DomainError> {
        let row = sqlx::query(
            "SELECT * FROM api_tokens WHERE token_hash = ?
             AND (expires_at IS NULL OR expires_at > ?)",
        )
        .bind(token_hash)
        .bind(to_millis(warmline_domain::conversation::now()))
        .fetch_optional(&self.reader)
        .await
        .map_err(db_error)?;
        let Some(row) = row else { return Ok(None) };
        let role: String = get(&row, "role")?;
        let expires: Option<i64> = get(&row, "expires_at")?;
        Ok(Some(ApiToken {
            name: get(&row, "name")?,
            role: AgentRole::parse(&role).ok_or_else(|| corrupt(format!("role {role:?}")))?,
            expires_at: expires.map(from_millis).transpose()?,
        }))
    }

    async fn record_retrievals(
        &self,
        article_ids: &[String],
        at: OffsetDateTime,
    ) -> Result<(), DomainError> {
        if article_ids.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer.begin().await.map_err(db_error)?;
        for id in article_ids {
            sqlx::query(
                "INSERT INTO article_retrievals (article_id, retrievals, last_retrieved)
                 VALUES (?, 1, ?)
                 ON CONFLICT (article_id) DO UPDATE SET retrievals = retrievals + 1,
                   last_retrieved = max(last_retrieved, excluded.last_retrieved)",
            )
            .bind(id)
            .bind(to_millis(at))
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        }
        tx.commit().await.map_err(db_error)
    }

    async fn last_retrieved(&self) -> Result<Vec<(String, OffsetDateTime)>, DomainError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT article_id, last_retrieved FROM article_retrievals")
                .fetch_all(&self.writer)
                .await
                .map_err(db_error)?;
        rows.into_iter()
            .map(|(id, at)| Ok((id, from_millis(at)?)))
            .collect()
    }
}
