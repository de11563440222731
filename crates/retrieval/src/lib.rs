//! Warmline's knowledge retrieval.
//!
//! - [`article`]: one Markdown article with YAML front matter, and [`ArticleProblem`]s
//!   (file:line: message) for files that can't be used.
//! - [`loader`]: reads a knowledge folder; bad files are reported, the rest load.
//! - [`chunk`]: splits an article into passages by heading.
//! - [`schema`]: the tantivy schema and the English analyzer (stop words, stemming).
//! - [`query`] (private): question analysis, spelling correction, boosts, filters.
//! - [`index`]: [`KnowledgeIndex`], persisted in the data dir and updated per changed article.
//! - [`dense`]: passage embeddings ([`DenseIndex`]), cached by content hash, searched exactly.
//! - [`eval`]: recall@k and MRR of each [`Retrieval`] mode on a question set.
//! - [`watch`]: re-syncs the index when article files change.
//! - [`overlay`]: articles from the editor's store laid over the folder's by id, applied one
//!   article at a time (publish, archive) and in throwaway draft previews.
//! - [`KnowledgeBase`]: the async [`KnowledgeSearch`] implementation the server uses.

pub mod article;
pub mod chunk;
pub mod dense;
pub mod eval;
pub mod index;
pub mod loader;
pub mod overlay;
mod query;
pub mod schema;
pub mod watch;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use warmline_domain::{DomainError, KnowledgeSearch, SearchHit, SearchQuery, SearchResult};

pub use article::{Article, ArticleProblem, Status};
pub use dense::{DenseIndex, DenseReport};
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
    #[error("embedding passages: {0}")]
    Embedding(String),
}

pub(crate) fn content_hash(content: &str) -> String {
    hex::encode(Sha256::digest(content.as_bytes()))
}

/// Up to this many passages a search takes well under 500 µs (see benches/RESULTS.md), the
/// most an async task may block, so it runs inline: handing it to a blocking thread and back
/// costs more than the search itself. Larger indexes search on the blocking pool.
pub const INLINE_SEARCH_MAX_PASSAGES: u64 = 5_000;

/// How passages are ranked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Retrieval {
    /// BM25 over the analysed words only.
    Lexical,
    /// Embedding similarity only.
    Dense,
    /// Reciprocal rank fusion of the two lists (`1/(60 + rank)` summed).
    Rrf,
    /// `weight × cosine + (1 − weight) × BM25 / best BM25` over both candidate lists.
    Weighted { weight: f32 },
    /// `cosine + boost × BM25 / (BM25 + half)`: embeddings rank, and a strong word match
    /// (BM25 well above `half`) adds up to `boost`. Unlike dividing by the best BM25 of the
    /// list, a weak best match stays weak.
    Calibrated { boost: f32, half: f32 },
}

impl Retrieval {
    /// The mode used when embeddings are available, chosen on the two evaluation sets
    /// (benches/RESULTS.md): the only fusion measured that is at least as good as embeddings
    /// alone on every score of both.
    pub const HYBRID: Retrieval = Retrieval::Calibrated {
        boost: 0.1,
        half: 10.0,
    };

    pub fn name(self) -> String {
        match self {
            Self::Lexical => "bm25".into(),
            Self::Dense => "dense".into(),
            Self::Rrf => "rrf".into(),
            Self::Weighted { weight } => format!("weighted {weight:.2}"),
            Self::Calibrated { boost, half } => format!("calibrated {boost:.2}/{half:.0}"),
        }
    }
}

/// Candidates each list contributes to a fusion.
const CANDIDATES: usize = 30;

/// Phase of a sync, for progress reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Re-indexing changed articles (counted in articles).
    Indexing,
    /// Embedding new passages (counted in passages).
    Embedding,
}

/// A knowledge folder served through an index: the [`KnowledgeSearch`] the server uses.
/// Cloning is cheap (shared).
#[derive(Clone)]
pub struct KnowledgeBase {
    index: Arc<KnowledgeIndex>,
    dense: Option<Arc<DenseIndex>>,
    mode: Retrieval,
    folder: PathBuf,
    /// Store articles over the folder's, by id (`None`: hidden even if the folder has it).
    overlay: Arc<std::sync::Mutex<overlay::Overlay>>,
    /// One sync at a time (the watcher's and the editor's), so neither undoes the other.
    syncing: Arc<std::sync::Mutex<()>>,
}

impl KnowledgeBase {
    /// A lexical (BM25) knowledge base.
    pub fn new(index: KnowledgeIndex, folder: &Path) -> Self {
        Self {
            index: Arc::new(index),
            dense: None,
            mode: Retrieval::Lexical,
            folder: folder.to_owned(),
            overlay: Arc::default(),
            syncing: Arc::default(),
        }
    }

    /// Adds passage embeddings and ranks with `mode` from now on.
    pub fn with_dense(mut self, dense: DenseIndex, mode: Retrieval) -> Self {
        self.dense = Some(Arc::new(dense));
        self.mode = mode;
        self
    }

    pub fn index(&self) -> &Arc<KnowledgeIndex> {
        &self.index
    }

    pub fn dense(&self) -> Option<&Arc<DenseIndex>> {
        self.dense.as_ref()
    }

    /// How searches are ranked.
    pub fn mode(&self) -> Retrieval {
        self.mode
    }

    /// The knowledge folder this base reads.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// Re-reads the folder and re-indexes what changed (blocking). The files that could not
    /// be used are in the index's [`Catalog`] afterwards.
    pub fn resync(&self) -> Result<SyncReport, RetrievalError> {
        self.resync_with(&mut |_, _, _| {})
    }

    /// [`KnowledgeBase::resync`], calling `progress(phase, done, total)` as it goes.
    pub fn resync_with(
        &self,
        progress: &mut dyn FnMut(Phase, usize, usize),
    ) -> Result<SyncReport, RetrievalError> {
        let _one = self.syncing.lock().unwrap_or_else(|e| e.into_inner());
        let mut loaded = load_dir(&self.folder)?;
        self.overlay
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .lay_over(&mut loaded);
        self.sync_loaded(loaded, progress)
    }

    /// Indexes `loaded` (changed articles only), then embeds what is new. The caller holds
    /// `syncing`.
    fn sync_loaded(
        &self,
        loaded: Loaded,
        progress: &mut dyn FnMut(Phase, usize, usize),
    ) -> Result<SyncReport, RetrievalError> {
        let report = self.index.sync(loaded, &mut |done, total| {
            progress(Phase::Indexing, done, total)
        })?;
        if let Some(dense) = &self.dense {
            let catalog = self.index.catalog();
            let index = self.index.clone();
            dense.sync(
                &catalog,
                &|article| index.article_url(article),
                &mut |done, total| progress(Phase::Embedding, done, total),
            )?;
        }
        Ok(report)
    }

    async fn lexical(&self, query: &SearchQuery) -> Result<SearchResult, DomainError> {
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

    /// Searches with a given ranking (the evaluation compares them on one index).
    pub async fn search_with(
        &self,
        query: &SearchQuery,
        mode: Retrieval,
    ) -> Result<SearchResult, DomainError> {
        let Some(dense) = self.dense.as_ref().filter(|_| mode != Retrieval::Lexical) else {
            return self.lexical(query).await;
        };
        let wide = SearchQuery {
            limit: query.limit.max(CANDIDATES),
            ..query.clone()
        };
        let mut lexical = self.lexical(&wide).await?;
        let embedding = match dense.embedder().embed(vec![query.text.clone()]).await {
            Ok(mut v) if v.len() == 1 => v.remove(0),
            outcome => {
                // Answer from words alone rather than not at all.
                let reason = outcome.err().map(|e| e.message).unwrap_or_default();
                tracing::warn!(reason = %reason, "question embedding failed; searching by words only");
                metrics::counter!("warmline_embedding_fallbacks_total").increment(1);
                lexical.hits.truncate(query.limit);
                return Ok(lexical);
            }
        };
        let dense_hits = dense.search(&embedding, query, query.limit.max(CANDIDATES));
        let hits = fuse(
            dense,
            &embedding,
            lexical.hits,
            dense_hits,
            mode,
            query.limit,
        );
        Ok(SearchResult {
            hits,
            terms: lexical.terms,
            embedding: Some(embedding),
        })
    }
}

/// Merges the lexical and dense candidate lists into one ranking.
fn fuse(
    dense: &DenseIndex,
    embedding: &[f32],
    lexical: Vec<SearchHit>,
    semantic: Vec<(dense::DensePassage, f32)>,
    mode: Retrieval,
    limit: usize,
) -> Vec<SearchHit> {
    use std::collections::HashMap;
    let best_bm25 = lexical.iter().map(|h| h.score).fold(0.0f32, f32::max);
    /// A candidate: the hit, its BM25, lexical rank, cosine and dense rank.
    type Candidate = (SearchHit, f32, Option<usize>, f32, Option<usize>);
    let mut merged: HashMap<(String, u32), Candidate> = HashMap::new();
    for (rank, hit) in lexical.into_iter().enumerate() {
        let cosine = dense
            .similarity(embedding, &hit.article_id, hit.position)
            .unwrap_or(0.0);
        let bm25 = hit.score;
        merged.insert(
            (hit.article_id.clone(), hit.position),
            (hit, bm25, Some(rank), cosine, None),
        );
    }
    for (rank, (passage, cosine)) in semantic.into_iter().enumerate() {
        merged
            .entry((passage.article_id.clone(), passage.position))
            .and_modify(|e| e.4 = Some(rank))
            .or_insert((passage.hit, 0.0, None, cosine, Some(rank)));
    }
    let mut hits: Vec<SearchHit> = merged
        .into_values()
        .filter_map(|(mut hit, bm25, lexical_rank, cosine, dense_rank)| {
            let score = match mode {
                Retrieval::Lexical => lexical_rank.map(|_| bm25)?,
                Retrieval::Dense => dense_rank.map(|_| cosine)?,
                Retrieval::Rrf => {
                    let rrf = |r: Option<usize>| r.map_or(0.0, |r| 1.0 / (60.0 + r as f32 + 1.0));
                    rrf(lexical_rank) + rrf(dense_rank)
                }
                Retrieval::Weighted { weight } => {
                    let lexical = if best_bm25 > 0.0 {
                        bm25 / best_bm25
                    } else {
                        0.0
                    };
                    weight * cosine + (1.0 - weight) * lexical
                }
                Retrieval::Calibrated { boost, half } => {
                    cosine + boost * bm25 / (bm25 + half.max(f32::EPSILON))
                }
            };
            hit.score = score;
            hit.similarity = Some(cosine);
            Some(hit)
        })
        .collect();
    hits.sort_by(|a, b| b.score.total_cmp(&a.score));
    hits.truncate(limit);
    hits
}

#[async_trait]
impl KnowledgeSearch for KnowledgeBase {
    async fn search(&self, query: &SearchQuery) -> Result<SearchResult, DomainError> {
        self.search_with(query, self.mode).await
    }

    fn analyze(&self, text: &str) -> Vec<String> {
        self.index.analyze(text)
    }

    fn has_locale(&self, locale: &str) -> bool {
        self.index
            .catalog()
            .articles
            .values()
            .any(|a| a.status == Status::Published && a.locale == locale)
    }
}

#[cfg(test)]
mod tests;
