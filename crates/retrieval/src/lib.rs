//! Warmline's knowledge retrieval.
//!
//! - [`article`]: one Markdown article with YAML front matter, and [`ArticleProblem`]s
//!   (file:line: message) for files that can't be used.
//! - [`loader`]: reads a knowledge folder; bad files are reported, the rest load.
//! - [`chunk`]: splits an article into passages by heading.
//! - [`schema`]: the tantivy schema and the English analyzer (stop words, stemming).
//! - [`query`] (private): question analysis, spelling correction, boosts, filters.
//! - [`index`]: [`KnowledgeIndex`], persisted in the data dir and updated per changed article.
//! - [`watch`]: re-syncs the index when article files change.
//! - [`KnowledgeBase`]: the async [`KnowledgeSearch`] implementation the server uses.

pub mod article;
pub mod chunk;
pub mod index;
pub mod loader;
mod query;
pub mod schema;
pub mod watch;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use warmline_domain::{DomainError, KnowledgeSearch, SearchQuery, SearchResult};

pub use article::{Article, ArticleProblem, Status};
pub use index::{Catalog, KnowledgeIndex, SyncReport};
pub use loader::{Loaded, load_dir};

/// What can go wrong in retrieval.
#[derive(Debug, thiserror::Error)]
pub enum RetrievalError {
    #[error("knowledge folder {path}: {reason}")]
    KnowledgeDir { path: PathBuf, reason: String },
    #[error("search index at {path}: {reason}")]
    Index { path: PathBuf, reason: String },
    #[error(
        "the search index at {path} is in use by another Warmline process; \
         give each server its own --data-dir"
    )]
    Locked { path: PathBuf },
    #[error("search failed: {0}")]
    Search(String),
    #[error("file watcher: {0}")]
    Watch(String),
}

pub(crate) fn content_hash(content: &str) -> String {
    hex::encode(Sha256::digest(content.as_bytes()))
}

/// Up to this many passages a search takes well under 500 µs (see benches/RESULTS.md), the
/// most an async task may block, so it runs inline: handing it to a blocking thread and back
/// costs more than the search itself. Larger indexes search on the blocking pool.
pub const INLINE_SEARCH_MAX_PASSAGES: u64 = 5_000;

/// A knowledge folder served through an index: the [`KnowledgeSearch`] the server uses.
/// Cloning is cheap (shared).
#[derive(Clone)]
pub struct KnowledgeBase {
    index: Arc<KnowledgeIndex>,
    folder: PathBuf,
}

impl KnowledgeBase {
    pub fn new(index: KnowledgeIndex, folder: &Path) -> Self {
        Self {
            index: Arc::new(index),
            folder: folder.to_owned(),
        }
    }

    pub fn index(&self) -> &Arc<KnowledgeIndex> {
        &self.index
    }

    /// The knowledge folder this base reads.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// Re-reads the folder and re-indexes what changed (blocking). The files that could not
    /// be used are in the index's [`Catalog`] afterwards.
    pub fn resync(&self) -> Result<SyncReport, RetrievalError> {
        self.resync_with(&mut |_, _| {})
    }

    /// [`KnowledgeBase::resync`], calling `progress(done, total)` per re-indexed article.
    pub fn resync_with(
        &self,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<SyncReport, RetrievalError> {
        let loaded = load_dir(&self.folder)?;
        self.index.sync(loaded, progress)
    }
}

#[async_trait]
impl KnowledgeSearch for KnowledgeBase {
    async fn search(&self, query: &SearchQuery) -> Result<SearchResult, DomainError> {
        let result = if self.index.passage_count() <= INLINE_SEARCH_MAX_PASSAGES {
            self.index.search(query)
        } else {
            // A large index's searches are CPU work: keep them off the async workers.
            let index = self.index.clone();
            let query = query.clone();
            tokio::task::spawn_blocking(move || index.search(&query))
                .await
                .map_err(|e| DomainError::internal(format!("search task: {e}")))?
        };
        result.map_err(|e| {
            tracing::error!(error = %e, "search failed");
            DomainError::unavailable("the knowledge base is unavailable")
        })
    }

    fn analyze(&self, text: &str) -> Vec<String> {
        self.index.analyze(text)
    }
}

#[cfg(test)]
mod tests;
