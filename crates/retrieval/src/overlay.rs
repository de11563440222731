//! Articles from the knowledge editor's store, laid over the knowledge folder by id.
//!
//! The folder stays a source; an article the store has wins over the file with the same id:
//! its published version is served, or nothing when it was never published or is archived.
//! Publishing or archiving changes ONE article in the index (and its passage vectors), with
//! no re-read of the folder and no rebuild: the index re-indexes by content hash, so only that
//! article's passages are written.

use crate::article::{Article, ArticleProblem, Status, parse_article};
use crate::index::KnowledgeIndex;
use crate::loader::Loaded;
use crate::{KnowledgeBase, Phase, RetrievalError, SyncReport, content_hash};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Store articles by id: `Some` is served instead of the folder's file, `None` hides it.
#[derive(Debug, Default)]
pub struct Overlay {
    articles: BTreeMap<String, Option<Article>>,
}

impl Overlay {
    /// Replaces, adds or hides the overlaid articles in `loaded`.
    pub(crate) fn lay_over(&self, loaded: &mut Loaded) {
        if self.articles.is_empty() {
            return;
        }
        loaded
            .articles
            .retain(|a| !self.articles.contains_key(&a.id));
        loaded
            .articles
            .extend(self.articles.values().flatten().cloned());
        loaded.articles.sort_by(|a, b| a.id.cmp(&b.id));
    }
}

/// Parses a stored article's Markdown for serving. Its `source` is `store/<id>.md`, and it is
/// published whatever its front matter says (the editor's workflow decided).
pub fn store_article(id: &str, content: &str) -> Result<Article, ArticleProblem> {
    let source = PathBuf::from(format!("store/{id}.md"));
    let mut article = parse_article(&source, content)?;
    if article.id != id {
        return Err(ArticleProblem {
            path: source,
            line: 2,
            message: format!("id {:?} does not match the article {id:?}", article.id),
        });
    }
    article.status = Status::Published;
    // Not the file's hash: the same text served from the store (published) must re-index
    // over a folder copy that says `status: draft`.
    article.content_hash = content_hash(&format!("{content}\u{0}store"));
    Ok(article)
}

impl KnowledgeBase {
    /// Serves `article` for `id` from now on (`None`: hides `id`, even from the folder), and
    /// re-indexes that article only. Blocking (tantivy commit, embedding its new passages).
    pub fn apply(&self, id: &str, article: Option<Article>) -> Result<SyncReport, RetrievalError> {
        let _one = self.syncing.lock().unwrap_or_else(|e| e.into_inner());
        let mut overlay = self.overlay.lock().unwrap_or_else(|e| e.into_inner());
        overlay.articles.insert(id.to_owned(), article);
        let catalog = self.index.catalog();
        let mut loaded = Loaded {
            articles: catalog.articles.values().cloned().collect(),
            problems: catalog.problems.clone(),
        };
        overlay.lay_over(&mut loaded);
        drop(overlay);
        self.sync_loaded(loaded, &mut |_: Phase, _, _| {})
    }

    /// Sets several overlaid articles at once without indexing (at start, before the first
    /// sync, which then applies them).
    pub fn set_overlay(&self, articles: impl IntoIterator<Item = (String, Option<Article>)>) {
        let mut overlay = self.overlay.lock().unwrap_or_else(|e| e.into_inner());
        overlay.articles.extend(articles);
    }

    /// A throwaway knowledge base in memory: what is served now, with `draft` served in
    /// place of its id. For trying a draft before publishing; the live index is untouched.
    /// Blocking: indexes every article in RAM and embeds only the draft's new passages.
    pub fn preview(&self, draft: Article) -> Result<KnowledgeBase, RetrievalError> {
        let catalog = self.index.catalog();
        let mut articles: BTreeMap<String, Article> = catalog.articles.clone();
        articles.insert(draft.id.clone(), draft);
        let index = KnowledgeIndex::in_ram(self.index.public_url())?;
        index.sync(
            Loaded {
                articles: articles.into_values().collect(),
                problems: Vec::new(),
            },
            &mut |_, _| {},
        )?;
        let index = Arc::new(index);
        let dense = match &self.dense {
            Some(dense) => {
                let catalog = index.catalog();
                let urls = index.clone();
                Some(Arc::new(dense.preview(&catalog, &|a| urls.article_url(a))?))
            }
            None => None,
        };
        Ok(KnowledgeBase {
            index,
            dense,
            mode: self.mode,
            folder: self.folder.clone(),
            overlay: Arc::default(),
            syncing: Arc::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn file(id: &str, title: &str, body: &str) -> String {
        format!("---\nid: {id}\ntitle: {title}\n---\n\n## Answer\n\n{body}\n")
    }

    fn kb(dir: &Path) -> KnowledgeBase {
        std::fs::write(
            dir.join("a.md"),
            file("refunds", "Refunds", "Refunds take five days."),
        )
        .unwrap();
        let kb = KnowledgeBase::new(KnowledgeIndex::in_ram("http://x").unwrap(), dir);
        kb.resync().unwrap();
        kb
    }

    fn found(kb: &KnowledgeBase, text: &str) -> Vec<String> {
        let q = warmline_domain::SearchQuery::customer(text, warmline_domain::Channel::Web, 5);
        let hits = kb.index().search(&q).unwrap().hits;
        hits.into_iter().map(|h| h.article_id).collect()
    }

    #[test]
    fn applying_one_article_indexes_it_and_hiding_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let kb = kb(dir.path());
        let parrots = store_article(
            "parrots",
            &file("parrots", "Parrots", "We sell parrot food."),
        )
        .unwrap();
        let report = kb.apply("parrots", Some(parrots)).unwrap();
        assert_eq!((report.added, report.unchanged), (1, 1));
        assert_eq!(found(&kb, "parrot food"), vec!["parrots"]);
        // The folder's article is overlaid too: hiding it removes it from the index.
        kb.apply("refunds", None).unwrap();
        assert!(found(&kb, "refunds five days").is_empty());
        // A folder re-sync keeps the overlay.
        kb.resync().unwrap();
        assert!(found(&kb, "refunds five days").is_empty());
        assert_eq!(found(&kb, "parrot food"), vec!["parrots"]);
    }

    #[test]
    fn a_preview_serves_the_draft_and_leaves_the_live_index_alone() {
        let dir = tempfile::tempdir().unwrap();
        let kb = kb(dir.path());
        let draft = store_article(
            "refunds",
            &file("refunds", "Refunds", "Refunds now take a fortnight."),
        )
        .unwrap();
        let preview = kb.preview(draft).unwrap();
        let q = |text: &str| {
            warmline_domain::SearchQuery::customer(text, warmline_domain::Channel::Web, 5)
        };
        let drafted = preview
            .index()
            .search(&q("refunds fortnight"))
            .unwrap()
            .hits;
        assert!(drafted[0].text.contains("fortnight"), "{drafted:?}");
        let live = kb.index().search(&q("refunds fortnight")).unwrap().hits;
        assert!(live[0].text.contains("five days"), "{live:?}");
    }

    #[test]
    fn a_stored_article_must_keep_its_id() {
        let problem = store_article("a", &file("b", "B", "text")).unwrap_err();
        assert!(problem.message.contains("does not match"), "{problem}");
    }
}
