//! The policy's example sentences, embedded, kept on disk between starts
//! (`DATA/embeddings/moments-<model id>.bin`): a restart embeds only the sentences an edit of
//! the policy added. The records are those of the passages' cache
//! (`warmline_domain::embed::records`); the file is rewritten whole, holding exactly the
//! current policy's sentences, whenever a start had to embed one (so removed sentences leave
//! with the next addition).
//!
//! It is only a cache: a missing, torn or unreadable file means embedding again, never an
//! error for the customer.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use warmline_domain::embed::records;

type Key = [u8; 32];

fn key(text: &str) -> Key {
    Sha256::digest(text.as_bytes()).into()
}

#[derive(Debug, Clone)]
pub(crate) struct ExampleCache {
    path: PathBuf,
}

impl ExampleCache {
    /// The cache for `model_id`'s vectors in `dir`.
    pub(crate) fn new(dir: &Path, model_id: &str) -> Self {
        Self {
            path: dir.join(format!("moments-{model_id}.bin")),
        }
    }

    /// Vectors of `dims` dimensions for the `texts` the file holds, by position in `texts`;
    /// `None` where a text has none.
    pub(crate) fn load(&self, texts: &[String], dims: usize) -> Vec<Option<Vec<f32>>> {
        let stored = self.read(dims);
        texts.iter().map(|t| stored.get(&key(t)).cloned()).collect()
    }

    fn read(&self, dims: usize) -> HashMap<Key, Vec<f32>> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return HashMap::new(),
            Err(error) => {
                tracing::warn!(path = %self.path.display(), %error, "moment example cache unreadable; embedding again");
                return HashMap::new();
            }
        };
        let record = records::len(dims);
        if dims == 0 || bytes.len() % record != 0 {
            tracing::warn!(path = %self.path.display(), "moment example cache is torn or of another model; embedding again");
            return HashMap::new();
        }
        bytes.chunks_exact(record).map(records::decode).collect()
    }

    /// Replaces the file with `texts` and their `vectors` (atomically: a crash leaves the old
    /// file or the new one). A failure is logged and otherwise ignored.
    pub(crate) fn store(&self, texts: &[String], vectors: &[Vec<f32>]) {
        let dims = vectors.first().map_or(0, Vec::len);
        let mut out = Vec::with_capacity(texts.len() * records::len(dims));
        for (text, vector) in texts.iter().zip(vectors) {
            records::encode(&mut out, &key(text), vector);
        }
        let tmp = self.path.with_extension("bin.tmp");
        let written = self
            .path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&tmp, &out))
            .and_then(|()| std::fs::rename(&tmp, &self.path));
        if let Err(error) = written {
            tracing::warn!(path = %self.path.display(), %error, "moment example cache not written");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_come_back_by_text_and_a_torn_file_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ExampleCache::new(dir.path(), "mini");
        let texts = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(cache.load(&texts(&["a"]), 2), vec![None]);
        cache.store(&texts(&["a", "b"]), &[vec![1.0, 2.0], vec![3.0, -4.5]]);
        assert_eq!(
            cache.load(&texts(&["b", "new", "a"]), 2),
            vec![Some(vec![3.0, -4.5]), None, Some(vec![1.0, 2.0])]
        );
        // Another model's dimensions, or a torn write: nothing, not garbage.
        assert_eq!(cache.load(&texts(&["a"]), 3), vec![None]);
        let path = dir.path().join("moments-mini.bin");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(bytes.len() - 1);
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(cache.load(&texts(&["a"]), 2), vec![None]);
    }
}
