//! When each article was last retrieved for a customer, so articles nobody's question finds
//! can be flagged. Recording never slows a turn: the search hands the article ids to a
//! bounded channel (dropped when full) and a background task writes them once a second, in
//! one transaction.

use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use warmline_domain::{ArticleStore, DomainError, KnowledgeSearch, SearchQuery, SearchResult};

/// Searches waiting to be recorded; beyond this, records are dropped (counted).
const BACKLOG: usize = 4096;
/// How often the recorded retrievals are written.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// The articles of the best passages count as retrieved.
const TOP: usize = 3;

/// A [`KnowledgeSearch`] that notes which articles customers' searches retrieve.
pub struct Recording {
    inner: Arc<dyn KnowledgeSearch>,
    tx: mpsc::Sender<Vec<String>>,
}

impl Recording {
    /// Wraps `inner`; the writer task runs until every `Recording` is dropped.
    pub fn spawn(inner: Arc<dyn KnowledgeSearch>, store: Arc<dyn ArticleStore>) -> Self {
        let (tx, rx) = mpsc::channel(BACKLOG);
        tokio::spawn(write_loop(rx, store));
        Self { inner, tx }
    }
}

async fn write_loop(mut rx: mpsc::Receiver<Vec<String>>, store: Arc<dyn ArticleStore>) {
    while let Some(first) = rx.recv().await {
        tokio::time::sleep(FLUSH_EVERY).await;
        let mut ids = first;
        while let Ok(more) = rx.try_recv() {
            ids.extend(more);
        }
        ids.sort();
        ids.dedup();
        let now = warmline_domain::conversation::now();
        if let Err(e) = store.record_retrievals(&ids, now).await {
            tracing::warn!(error = %e.message, "recording article retrievals failed");
        }
    }
}

#[async_trait]
impl KnowledgeSearch for Recording {
    async fn search(&self, query: &SearchQuery) -> Result<SearchResult, DomainError> {
        let result = self.inner.search(query).await?;
        let mut ids: Vec<String> = Vec::with_capacity(TOP);
        for hit in &result.hits {
            if ids.len() == TOP {
                break;
            }
            if !ids.contains(&hit.article_id) {
                ids.push(hit.article_id.clone());
            }
        }
        if !ids.is_empty() && self.tx.try_send(ids).is_err() {
            metrics::counter!("warmline_retrievals_dropped_total").increment(1);
        }
        Ok(result)
    }

    fn analyze(&self, text: &str) -> Vec<String> {
        self.inner.analyze(text)
    }

    fn has_locale(&self, locale: &str) -> bool {
        self.inner.has_locale(locale)
    }
}
