//! The knowledge editor's records: articles kept in the store with every saved version, their
//! workflow, API tokens for automation, and when each article was last retrieved.
//!
//! An article's text is the whole Markdown file (YAML front matter + body), exactly as saved
//! or imported, so `knowledge export` writes back the bytes that `knowledge import` read.

use crate::{AgentRole, DomainError};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Where an article stands. `draft → in_review → published → archived`; an in-review
/// article can be sent back to draft, an archived one reopened as a draft, and saving a
/// published or in-review article makes the new version a draft (the published version stays
/// live until the next publish).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Workflow {
    Draft,
    InReview,
    Published,
    Archived,
}

impl Workflow {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::InReview => "in_review",
            Self::Published => "published",
            Self::Archived => "archived",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "draft" => Some(Self::Draft),
            "in_review" => Some(Self::InReview),
            "published" => Some(Self::Published),
            "archived" => Some(Self::Archived),
            _ => None,
        }
    }

    /// Whether the workflow allows going from `self` to `to`.
    pub fn allows(self, to: Workflow) -> bool {
        use Workflow::*;
        matches!(
            (self, to),
            (Draft, InReview)
                | (InReview, Draft)
                | (InReview, Published)
                | (Published, Archived)
                | (Archived, Draft)
        )
    }
}

/// An article in the store: its latest version and workflow state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ArticleRecord {
    pub id: String,
    pub title: String,
    pub locale: String,
    pub tags: Vec<String>,
    pub status: Workflow,
    /// The latest saved version (1, 2, ...).
    pub version: u32,
    /// The version customers are answered from, if any (stays live while a newer draft is
    /// edited; gone once archived).
    pub published_version: Option<u32>,
    pub updated_by: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

impl ArticleRecord {
    /// The version customers should be answered from now, if any.
    pub fn live_version(&self) -> Option<u32> {
        self.published_version
            .filter(|_| self.status != Workflow::Archived)
    }
}

/// One saved version of an article.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ArticleVersion {
    pub article_id: String,
    pub version: u32,
    /// The whole Markdown file: front matter and body.
    pub content: String,
    pub author: String,
    pub note: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

/// A save: a new version of an article (or its first).
#[derive(Debug, Clone)]
pub struct ArticleSave {
    pub id: String,
    pub title: String,
    pub locale: String,
    pub tags: Vec<String>,
    pub content: String,
    pub author: String,
    pub note: Option<String>,
    /// The version the editor started from; `None` creates the article (a `Conflict` if it
    /// exists). A base that is not the latest version is a `Conflict`: nothing is overwritten.
    pub base_version: Option<u32>,
    /// The state after the save; `None`: draft.
    pub status: Option<Workflow>,
}

/// An API token's holder, as the token resolves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiToken {
    pub name: String,
    pub role: AgentRole,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
}

/// Where the editor's articles, versions and tokens live.
///
/// Saves are conditional on the base version, so two editors saving from the same version
/// cannot both win: the second gets `Conflict`.
#[async_trait]
pub trait ArticleStore: Send + Sync {
    /// Every article, by id.
    async fn articles(&self) -> Result<Vec<ArticleRecord>, DomainError>;
    async fn article(&self, id: &str) -> Result<Option<ArticleRecord>, DomainError>;
    /// Writes a new version (see [`ArticleSave::base_version`]).
    async fn save_article(&self, save: &ArticleSave) -> Result<ArticleRecord, DomainError>;
    /// Moves the article along the workflow; `Conflict` when [`Workflow::allows`] doesn't,
    /// or when `version` (the version the editor saw) is no longer the latest.
    async fn transition(
        &self,
        id: &str,
        version: u32,
        to: Workflow,
        actor: &str,
    ) -> Result<ArticleRecord, DomainError>;
    /// Every version, newest first.
    async fn versions(&self, id: &str) -> Result<Vec<ArticleVersion>, DomainError>;
    async fn version(&self, id: &str, version: u32) -> Result<Option<ArticleVersion>, DomainError>;
    /// Stores a token's SHA-256 for `role`.
    async fn create_token(
        &self,
        name: &str,
        role: AgentRole,
        token_hash: &str,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<ApiToken, DomainError>;
    /// The unexpired token with this hash.
    async fn token(&self, token_hash: &str) -> Result<Option<ApiToken>, DomainError>;
    /// Counts retrievals of these articles at `at` (one batched write).
    async fn record_retrievals(
        &self,
        article_ids: &[String],
        at: OffsetDateTime,
    ) -> Result<(), DomainError>;
    /// When each article was last retrieved: (id, time).
    async fn last_retrieved(&self) -> Result<Vec<(String, OffsetDateTime)>, DomainError>;
}
