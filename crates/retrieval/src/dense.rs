//! Semantic passage search: every passage's embedding, searched exactly (a dot product per
//! passage; at 384 dimensions that is ~0.1 ms per thousand passages, so an approximate index
//! would not pay off at knowledge-base sizes).
//!
//! Embeddings are cached on disk by the sha256 of the text embedded (and the model id), in
//! `DATA/embeddings/<model id>.bin`, so a restart or an edit embeds only new passages.

use crate::RetrievalError;
use crate::article::Article;
use crate::chunk::chunk;
use crate::index::Catalog;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use warmline_domain::embed::records;
use warmline_domain::{Audience, Embedder, SearchHit, SearchQuery};

/// Passages embedded per call to the model (its thread batches further).
const EMBED_CHUNK: usize = 64;

/// One embedded passage and what the filters need to know about it.
#[derive(Debug, Clone)]
pub struct DensePassage {
    pub article_id: String,
    pub position: u32,
    /// The hit this passage produces (score and similarity filled in per search).
    pub hit: SearchHit,
    locale: String,
    audience: Audience,
    published: bool,
    /// Empty: every channel.
    channels: Vec<String>,
}

impl DensePassage {
    fn visible(&self, q: &SearchQuery) -> bool {
        self.locale == q.locale
            && (q.include_drafts || self.published)
            && (self.channels.is_empty() || self.channels.iter().any(|c| c == q.channel.as_str()))
            && (q.audience == Audience::Agent
                || self.audience == Audience::All
                || self.audience == q.audience)
    }
}

#[derive(Default)]
struct State {
    passages: Vec<DensePassage>,
    /// Row-major, `passages.len() × dims`.
    vectors: Vec<f32>,
    by_key: HashMap<(String, u32), usize>,
}

/// The embeddings of the served passages.
pub struct DenseIndex {
    embedder: Arc<dyn Embedder>,
    cache: Mutex<VectorCache>,
    state: RwLock<Arc<State>>,
}

/// What one sync embedded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DenseReport {
    pub passages: usize,
    /// Passages whose text was new and had to be embedded.
    pub embedded: usize,
}

/// The text embedded for a passage: title and heading give the model the topic that the
/// passage itself often leaves implicit ("How long does it take?"). (A second vector of the
/// title and heading alone, mixed into the similarity, was measured and not kept: see
/// benches/RESULTS.md.)
pub fn embedding_text(title: &str, heading: &str, text: &str) -> String {
    if heading.is_empty() {
        format!("{title}\n{text}")
    } else {
        format!("{title}: {heading}\n{text}")
    }
}

impl DenseIndex {
    /// `data_dir`: where the embedding cache lives (`None`: memory only).
    pub fn new(
        embedder: Arc<dyn Embedder>,
        data_dir: Option<&Path>,
    ) -> Result<Self, RetrievalError> {
        let cache = VectorCache::open(
            data_dir.map(|d| {
                d.join("embeddings")
                    .join(format!("{}.bin", embedder.model_id()))
            }),
            embedder.dimensions(),
        )?;
        Ok(Self {
            embedder,
            cache: Mutex::new(cache),
            state: RwLock::new(Arc::default()),
        })
    }

    /// A memory-only copy for `catalog` (a draft preview): vectors this index already has are
    /// reused, only new passages are embedded, and nothing is written to the cache file.
    /// Blocking.
    pub fn preview(
        &self,
        catalog: &Catalog,
        url: &dyn Fn(&Article) -> String,
    ) -> Result<DenseIndex, RetrievalError> {
        let known = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map
            .clone();
        let mut cache = VectorCache::open(None, self.embedder.dimensions())?;
        cache.map = known;
        let preview = DenseIndex {
            embedder: self.embedder.clone(),
            cache: Mutex::new(cache),
            state: RwLock::new(Arc::default()),
        };
        preview.sync(catalog, url, &mut |_, _| {})?;
        Ok(preview)
    }

    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.embedder
    }

    pub fn len(&self) -> usize {
        self.state().passages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn state(&self) -> Arc<State> {
        self.state.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Embeds the catalog's passages (reusing cached vectors) and makes them searchable.
    /// Blocking; `progress(done, total)` counts passages that needed the model.
    pub fn sync(
        &self,
        catalog: &Catalog,
        url: &dyn Fn(&Article) -> String,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<DenseReport, RetrievalError> {
        let dims = self.embedder.dimensions();
        let mut passages = Vec::new();
        let mut keys = Vec::new();
        let mut texts = Vec::new();
        for article in catalog.articles.values() {
            for (i, p) in chunk(&article.title, &article.body).into_iter().enumerate() {
                let text = embedding_text(&article.title, &p.heading, &p.text);
                keys.push(text_key(&text));
                texts.push(text);
                passages.push(DensePassage {
                    article_id: article.id.clone(),
                    position: i as u32,
                    hit: SearchHit {
                        article_id: article.id.clone(),
                        title: article.title.clone(),
                        heading: p.heading.clone(),
                        url: url(article),
                        text: p.text,
                        snippet: String::new(),
                        score: 0.0,
                        position: i as u32,
                        similarity: None,
                    },
                    locale: article.locale.clone(),
                    audience: article.audience,
                    published: article.status == crate::Status::Published,
                    channels: article
                        .channels
                        .iter()
                        .map(|c| c.as_str().to_owned())
                        .collect(),
                });
            }
        }
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        // Identical passages (boilerplate) are embedded once.
        let mut seen = std::collections::HashSet::new();
        let missing: Vec<usize> = (0..keys.len())
            .filter(|&i| !cache.contains(&keys[i]) && seen.insert(keys[i]))
            .collect();
        let total = missing.len();
        let mut done = 0;
        for batch in missing.chunks(EMBED_CHUNK) {
            let input: Vec<String> = batch.iter().map(|&i| texts[i].clone()).collect();
            let vectors = self
                .embedder
                .embed_blocking(input)
                .map_err(|e| RetrievalError::Embedding(e.message))?;
            for (&i, v) in batch.iter().zip(vectors) {
                if v.len() != dims {
                    return Err(RetrievalError::Embedding(format!(
                        "the model returned {} dimensions, expected {dims}",
                        v.len()
                    )));
                }
                cache.insert(keys[i], v)?;
            }
            done += batch.len();
            progress(done, total);
        }
        let zero = vec![0.0; dims];
        let mut vectors = Vec::with_capacity(keys.len() * dims);
        for key in &keys {
            vectors.extend_from_slice(cache.get(key).unwrap_or(&zero));
        }
        cache.flush(&keys)?;
        drop(cache);
        let by_key = passages
            .iter()
            .enumerate()
            .map(|(i, p)| ((p.article_id.clone(), p.position), i))
            .collect();
        let report = DenseReport {
            passages: passages.len(),
            embedded: total,
        };
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(State {
            passages,
            vectors,
            by_key,
        });
        Ok(report)
    }

    /// Cosine similarity of `query` with every visible passage, best first, at most `limit`.
    pub fn search(&self, query: &[f32], q: &SearchQuery, limit: usize) -> Vec<(DensePassage, f32)> {
        let state = self.state();
        let mut scored: Vec<(usize, f32)> = state
            .passages
            .iter()
            .enumerate()
            .filter(|(_, p)| p.visible(q))
            .map(|(i, _)| (i, self.score(&state, query, i)))
            .collect();
        let limit = limit.min(scored.len());
        if limit == 0 {
            return Vec::new();
        }
        scored.select_nth_unstable_by(limit - 1, |a, b| b.1.total_cmp(&a.1));
        scored.truncate(limit);
        scored.sort_by(|a, b| b.1.total_cmp(&a.1));
        scored
            .into_iter()
            .map(|(i, s)| (state.passages[i].clone(), s))
            .collect()
    }

    /// Cosine similarity of `query` with one passage, if it is indexed.
    pub fn similarity(&self, query: &[f32], article_id: &str, position: u32) -> Option<f32> {
        let state = self.state();
        let i = *state.by_key.get(&(article_id.to_owned(), position))?;
        Some(self.score(&state, query, i))
    }

    fn score(&self, state: &State, query: &[f32], i: usize) -> f32 {
        let dims = query.len();
        warmline_domain::embed::dot(query, &state.vectors[i * dims..(i + 1) * dims])
    }
}

type Key = [u8; 32];

fn text_key(text: &str) -> Key {
    Sha256::digest(text.as_bytes()).into()
}

/// Vectors by text hash, persisted as an append-only file of `key (32 bytes) + dims × f32
/// (little-endian)` records. Compacted to the live entries when mostly stale.
struct VectorCache {
    path: Option<PathBuf>,
    dims: usize,
    map: HashMap<Key, Vec<f32>>,
    /// Records added since the file was last written.
    pending: Vec<Key>,
    records_on_disk: usize,
}

impl VectorCache {
    fn open(path: Option<PathBuf>, dims: usize) -> Result<Self, RetrievalError> {
        let mut cache = Self {
            path,
            dims,
            map: HashMap::new(),
            pending: Vec::new(),
            records_on_disk: 0,
        };
        let Some(path) = &cache.path else {
            return Ok(cache);
        };
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(cache),
            Err(e) => return Err(cache_error(path, e)),
        };
        let record = records::len(dims);
        let whole = bytes.len() - bytes.len() % record;
        if whole != bytes.len() {
            // A torn last record (a crash while appending): cut it off so that appends stay
            // aligned. It is only a cache.
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| cache_error(path, e))?;
            file.set_len(whole as u64)
                .map_err(|e| cache_error(path, e))?;
        }
        for chunk in bytes.chunks_exact(record) {
            let (key, vector) = records::decode(chunk);
            cache.map.insert(key, vector);
            cache.records_on_disk += 1;
        }
        Ok(cache)
    }

    fn contains(&self, key: &Key) -> bool {
        self.map.contains_key(key)
    }

    fn get(&self, key: &Key) -> Option<&Vec<f32>> {
        self.map.get(key)
    }

    fn insert(&mut self, key: Key, vector: Vec<f32>) -> Result<(), RetrievalError> {
        if self.map.insert(key, vector).is_none() {
            self.pending.push(key);
        }
        Ok(())
    }

    /// Writes new vectors; rewrites the file with only `live` keys once most records are
    /// stale.
    fn flush(&mut self, live: &[Key]) -> Result<(), RetrievalError> {
        let Some(path) = self.path.clone() else {
            self.pending.clear();
            return Ok(());
        };
        let live_count = live.len();
        if self.records_on_disk + self.pending.len() > 2 * live_count.max(64) {
            let keep: std::collections::HashSet<&Key> = live.iter().collect();
            self.map.retain(|k, _| keep.contains(k));
            let tmp = path.with_extension("bin.tmp");
            let mut out = Vec::with_capacity(self.map.len() * records::len(self.dims));
            for (key, vector) in &self.map {
                records::encode(&mut out, key, vector);
            }
            std::fs::write(&tmp, &out).map_err(|e| cache_error(&tmp, e))?;
            std::fs::rename(&tmp, &path).map_err(|e| cache_error(&path, e))?;
            self.records_on_disk = self.map.len();
            self.pending.clear();
            return Ok(());
        }
        if self.pending.is_empty() {
            return Ok(());
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| cache_error(parent, e))?;
        }
        let mut out = Vec::new();
        for key in &self.pending {
            if let Some(vector) = self.map.get(key) {
                records::encode(&mut out, key, vector);
            }
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| cache_error(&path, e))?;
        file.write_all(&out).map_err(|e| cache_error(&path, e))?;
        self.records_on_disk += self.pending.len();
        self.pending.clear();
        Ok(())
    }
}

fn cache_error(path: &Path, e: std::io::Error) -> RetrievalError {
    RetrievalError::Index {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}
