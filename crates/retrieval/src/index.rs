//! The passage index: tantivy on disk (or in RAM), kept in step with the article files by
//! content hash, so an edit re-indexes only the articles that changed.

use crate::RetrievalError;
use crate::article::{Article, ArticleProblem};
use crate::chunk::chunk;
use crate::loader::Loaded;
use crate::query::{self, Speller};
use crate::schema::{self, ANALYZER, Fields, SCHEMA_VERSION};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use tantivy::collector::TopDocs;
use tantivy::directory::MmapDirectory;
use tantivy::schema::Value;
use tantivy::snippet::SnippetGenerator;
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};
use warmline_domain::{SearchHit, SearchQuery, SearchResult};

/// Writer heap: tantivy needs at least 15 MB; more only helps bulk (re)builds.
const WRITER_HEAP_BYTES: usize = 64 * 1024 * 1024;
const SNIPPET_CHARS: usize = 200;

/// What the last commit indexed: stored in the commit's payload, so it is exactly as durable
/// as the index itself.
#[derive(Debug, Default, Serialize, Deserialize)]
struct IndexState {
    schema: u32,
    /// article id → content hash of the file it was indexed from.
    articles: BTreeMap<String, String>,
}

/// The outcome of bringing the index in step with the files.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    pub added: usize,
    pub updated: usize,
    pub removed: usize,
    pub unchanged: usize,
    /// Passages written (for the changed articles only).
    pub passages: usize,
}

impl SyncReport {
    pub fn changed(&self) -> bool {
        self.added + self.updated + self.removed > 0
    }
}

/// The articles currently served, for listing and article pages.
#[derive(Debug, Default)]
pub struct Catalog {
    pub articles: BTreeMap<String, Article>,
    pub problems: Vec<ArticleProblem>,
}

/// Passage search over one tantivy index. Methods block: call them off the async runtime.
pub struct KnowledgeIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
    analyzer: TextAnalyzer,
    speller: Speller,
    public_url: String,
    catalog: RwLock<Arc<Catalog>>,
    location: Option<PathBuf>,
}

impl KnowledgeIndex {
    /// Opens the index in `dir` (created if missing; rebuilt if another version made it).
    /// `public_url` prefixes the default article URLs (`{public_url}/kb/{id}`).
    pub fn open(dir: &Path, public_url: &str) -> Result<Self, RetrievalError> {
        let index_error = |e: tantivy::TantivyError| RetrievalError::Index {
            path: dir.to_owned(),
            reason: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(|e| RetrievalError::Index {
            path: dir.to_owned(),
            reason: e.to_string(),
        })?;
        let (schema, _) = schema::build();
        let open = || -> Result<Index, tantivy::TantivyError> {
            let directory = MmapDirectory::open(dir)?;
            Index::open_or_create(directory, schema.clone())
        };
        let index = match open() {
            Ok(index) if stored_schema_version(&index) == Some(SCHEMA_VERSION) => index,
            Ok(index) if index.load_metas().is_ok_and(|m| m.payload.is_none()) => index,
            _ => {
                // Built by another version of Warmline (or damaged): it is only a cache of
                // the article files, so start over.
                tracing::warn!(path = %dir.display(), "index is from another version, rebuilding");
                clear_dir(dir).map_err(|e| RetrievalError::Index {
                    path: dir.to_owned(),
                    reason: e.to_string(),
                })?;
                open().map_err(index_error)?
            }
        };
        Self::with_index(index, public_url, Some(dir.to_owned()))
    }

    /// An index held in memory only (tests, one-off `ask`).
    pub fn in_ram(public_url: &str) -> Result<Self, RetrievalError> {
        let (schema, _) = schema::build();
        Self::with_index(Index::create_in_ram(schema), public_url, None)
    }

    fn with_index(
        index: Index,
        public_url: &str,
        location: Option<PathBuf>,
    ) -> Result<Self, RetrievalError> {
        let path = location
            .clone()
            .unwrap_or_else(|| PathBuf::from(":memory:"));
        let index_error = |e: tantivy::TantivyError| RetrievalError::Index {
            path: path.clone(),
            reason: e.to_string(),
        };
        let (_, fields) = schema::build();
        index.tokenizers().register(ANALYZER, schema::analyzer());
        let writer = index
            .writer_with_num_threads(1, WRITER_HEAP_BYTES)
            .map_err(|e| match e {
                tantivy::TantivyError::LockFailure(..) => {
                    RetrievalError::Locked { path: path.clone() }
                }
                other => index_error(other),
            })?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(index_error)?;
        Ok(Self {
            index,
            reader,
            writer: Mutex::new(writer),
            fields,
            analyzer: schema::analyzer(),
            speller: Speller::new(),
            public_url: public_url.trim_end_matches('/').to_owned(),
            catalog: RwLock::new(Arc::default()),
            location,
        })
    }

    /// The base of default article URLs.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// Where the index lives on disk (`None` in RAM).
    pub fn location(&self) -> Option<&Path> {
        self.location.as_deref()
    }

    /// The articles and problems of the last sync.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Number of passages searchable now.
    pub fn passage_count(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Brings the index in step with `loaded`: articles whose file changed are re-indexed,
    /// removed ones deleted, the rest left alone. `progress(done, total)` is called per
    /// changed article.
    pub fn sync(
        &self,
        loaded: Loaded,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<SyncReport, RetrievalError> {
        let fail = |e: tantivy::TantivyError| RetrievalError::Index {
            path: self.location.clone().unwrap_or_default(),
            reason: e.to_string(),
        };
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let previous = stored_state(&self.index);
        let mut report = SyncReport::default();
        let mut state = IndexState {
            schema: SCHEMA_VERSION,
            articles: BTreeMap::new(),
        };
        let changed: Vec<&Article> = loaded
            .articles
            .iter()
            .filter(|a| previous.articles.get(&a.id) != Some(&a.content_hash))
            .collect();
        let total = changed.len();
        for (done, article) in changed.iter().enumerate() {
            if previous.articles.contains_key(&article.id) {
                report.updated += 1;
            } else {
                report.added += 1;
            }
            writer.delete_term(Term::from_field_text(self.fields.article_id, &article.id));
            for doc in self.documents(article) {
                writer.add_document(doc).map_err(fail)?;
                report.passages += 1;
            }
            progress(done + 1, total);
        }
        for article in &loaded.articles {
            state
                .articles
                .insert(article.id.clone(), article.content_hash.clone());
        }
        report.unchanged = loaded.articles.len() - total;
        for id in previous.articles.keys() {
            if !state.articles.contains_key(id) {
                writer.delete_term(Term::from_field_text(self.fields.article_id, id));
                report.removed += 1;
            }
        }
        if report.changed() || previous.schema != SCHEMA_VERSION {
            let payload = serde_json::to_string(&state).map_err(|e| RetrievalError::Index {
                path: self.location.clone().unwrap_or_default(),
                reason: e.to_string(),
            })?;
            let mut commit = writer.prepare_commit().map_err(fail)?;
            commit.set_payload(&payload);
            commit.commit().map_err(fail)?;
            self.reader.reload().map_err(fail)?;
        }
        drop(writer);
        let catalog = Catalog {
            articles: loaded
                .articles
                .into_iter()
                .map(|a| (a.id.clone(), a))
                .collect(),
            problems: loaded.problems,
        };
        *self.catalog.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(catalog);
        Ok(report)
    }

    fn documents(&self, article: &Article) -> Vec<TantivyDocument> {
        let f = &self.fields;
        let tags = article.tags.join(" ");
        let channels: Vec<&str> = if article.channels.is_empty() {
            vec!["all"]
        } else {
            article.channels.iter().map(|c| c.as_str()).collect()
        };
        chunk(&article.title, &article.body)
            .into_iter()
            .enumerate()
            .map(|(i, passage)| {
                let mut doc = TantivyDocument::default();
                doc.add_text(f.passage_id, format!("{}#{i}", article.id));
                doc.add_text(f.article_id, &article.id);
                doc.add_text(f.title, &article.title);
                doc.add_text(f.heading, &passage.heading);
                doc.add_text(f.body, &passage.text);
                doc.add_text(f.tags, &tags);
                for part in [&article.title, &passage.heading, &passage.text, &tags] {
                    doc.add_text(f.all, part);
                }
                doc.add_text(f.url, article.url.as_deref().unwrap_or(""));
                doc.add_text(f.locale, &article.locale);
                doc.add_text(f.audience, article.audience.as_str());
                doc.add_text(f.status, article.status.as_str());
                for c in &channels {
                    doc.add_text(f.channels, c);
                }
                doc.add_u64(f.position, i as u64);
                doc
            })
            .collect()
    }

    /// The public URL of an article: its own `url`, or `{public_url}/kb/{id}`.
    pub fn article_url(&self, article: &Article) -> String {
        match &article.url {
            Some(url) if !url.is_empty() => url.clone(),
            _ => self.default_url(&article.id),
        }
    }

    fn default_url(&self, id: &str) -> String {
        format!("{}/kb/{id}", self.public_url)
    }

    /// The index's analysed terms of `text` (see [`warmline_domain::KnowledgeSearch::analyze`]).
    pub fn analyze(&self, text: &str) -> Vec<String> {
        query::analyze(&mut self.analyzer.clone(), text)
    }

    /// The best passages for `q`, with the analysed question.
    pub fn search(&self, q: &SearchQuery) -> Result<SearchResult, RetrievalError> {
        let fail = |e: tantivy::TantivyError| RetrievalError::Search(e.to_string());
        let searcher = self.reader.searcher();
        let mut analyzer = self.analyzer.clone();
        let terms = query::analyse_question(
            &mut analyzer,
            &self.speller,
            &searcher,
            &self.fields,
            &q.text,
        );
        let Some(query) = query::build(&self.fields, &terms, q) else {
            return Ok(SearchResult {
                hits: Vec::new(),
                terms,
                embedding: None,
            });
        };
        let top = searcher
            .search(
                &query,
                &TopDocs::with_limit(q.limit.max(1)).order_by_score(),
            )
            .map_err(fail)?;
        let snippets = if q.snippets {
            let mut generator =
                SnippetGenerator::create(&searcher, &*query, self.fields.body).map_err(fail)?;
            generator.set_max_num_chars(SNIPPET_CHARS);
            Some(generator)
        } else {
            None
        };
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let doc: TantivyDocument = searcher.doc(address).map_err(fail)?;
            hits.push(self.hit(&doc, score, snippets.as_ref()));
        }
        Ok(SearchResult {
            hits,
            terms,
            embedding: None,
        })
    }

    fn hit(
        &self,
        doc: &TantivyDocument,
        score: f32,
        snippets: Option<&SnippetGenerator>,
    ) -> SearchHit {
        let text = |field| {
            doc.get_first(field)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        let article_id = text(self.fields.article_id);
        let url = match text(self.fields.url) {
            explicit if !explicit.is_empty() => explicit,
            _ => self.default_url(&article_id),
        };
        let position = doc
            .get_first(self.fields.position)
            .and_then(|v| v.as_u64())
            .unwrap_or(0) as u32;
        SearchHit {
            title: text(self.fields.title),
            heading: text(self.fields.heading),
            text: text(self.fields.body),
            snippet: snippets
                .map(|s| s.snippet_from_doc(doc).to_html())
                .unwrap_or_default(),
            url,
            score,
            article_id,
            position,
            similarity: None,
        }
    }
}

fn stored_state(index: &Index) -> IndexState {
    index
        .load_metas()
        .ok()
        .and_then(|m| m.payload)
        .and_then(|p| serde_json::from_str(&p).ok())
        .unwrap_or_default()
}

fn stored_schema_version(index: &Index) -> Option<u32> {
    let payload = index.load_metas().ok()?.payload?;
    serde_json::from_str::<IndexState>(&payload)
        .ok()
        .map(|s| s.schema)
}

fn clear_dir(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            std::fs::remove_dir_all(path)?;
        } else {
            std::fs::remove_file(path)?;
        }
    }
    Ok(())
}
