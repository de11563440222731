//! Checking model files before they are loaded: a missing, truncated or altered file is a
//! clear error naming the file, never a crash inside a loader.
//!
//! Hashing a gigabyte on every start would cost seconds, so each model folder keeps
//! `.verified.json`: per file, the size, modification time and sha256 seen when it was last
//! hashed. A file whose size and mtime still match its stamp is trusted; anything else is
//! hashed again and compared with the manifest's pin.

use crate::ModelError;
use crate::manifest::{FileSpec, ModelSpec};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

const STAMPS: &str = ".verified.json";

/// What was seen of one file when it was last hashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub size: u64,
    pub mtime_ns: u128,
    pub sha256: String,
}

/// The stamps of one model folder.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Stamps {
    files: BTreeMap<String, Stamp>,
}

impl Stamps {
    pub fn load(dir: &Path) -> Self {
        std::fs::read(dir.join(STAMPS))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    pub fn get(&self, name: &str) -> Option<&Stamp> {
        self.files.get(name)
    }

    /// Records `name` as it is on disk now, with the sha256 it was found to have.
    pub fn record(&mut self, dir: &Path, name: &str, sha256: &str) -> Result<(), ModelError> {
        let path = dir.join(name);
        let (size, mtime_ns) = size_and_mtime(&path)?;
        self.files.insert(
            name.to_owned(),
            Stamp {
                size,
                mtime_ns,
                sha256: sha256.to_owned(),
            },
        );
        Ok(())
    }

    /// Writes the stamps (to a temporary file, then renamed over the old one).
    pub fn save(&self, dir: &Path) -> Result<(), ModelError> {
        let tmp = dir.join(format!("{STAMPS}.{}", std::process::id()));
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| ModelError::io(&tmp, e.into()))?;
        std::fs::write(&tmp, bytes).map_err(|e| ModelError::io(&tmp, e))?;
        std::fs::rename(&tmp, dir.join(STAMPS)).map_err(|e| ModelError::io(dir, e))
    }
}

pub(crate) fn size_and_mtime(path: &Path) -> Result<(u64, u128), ModelError> {
    let meta = std::fs::metadata(path).map_err(|e| ModelError::io(path, e))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    Ok((meta.len(), mtime))
}

/// sha256 of a file, read in 1 MiB blocks; `progress(bytes)` after each block.
pub fn sha256_file(path: &Path, progress: &mut dyn FnMut(u64)) -> Result<String, ModelError> {
    let mut file = std::fs::File::open(path).map_err(|e| ModelError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| ModelError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        progress(n as u64);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The state of one file on disk, compared with its spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    /// Present, and its bytes are the pinned ones (or, for a derived file, what was derived).
    Good,
    Missing,
    /// Shorter or longer than pinned.
    WrongSize {
        expected: u64,
        found: u64,
    },
    /// Right size, wrong bytes (or a derived file changed since it was made).
    WrongHash,
}

/// Checks `spec`'s file in `dir` against the pin (and the stamp, to skip hashing), updating
/// `stamps` when a file had to be hashed and was good.
pub fn check_file(
    dir: &Path,
    spec: &FileSpec,
    stamps: &mut Stamps,
) -> Result<FileState, ModelError> {
    let path = dir.join(&spec.name);
    let (size, mtime_ns) = match size_and_mtime(&path) {
        Ok(found) => found,
        Err(_) if !path.exists() => return Ok(FileState::Missing),
        Err(e) => return Err(e),
    };
    if let Some(expected) = spec.size
        && expected != size
    {
        return Ok(FileState::WrongSize {
            expected,
            found: size,
        });
    }
    let stamp = stamps.get(&spec.name);
    let stamp_fresh = stamp.is_some_and(|s| s.size == size && s.mtime_ns == mtime_ns);
    match (&spec.sha256, stamp) {
        (Some(pinned), Some(s)) if stamp_fresh && &s.sha256 == pinned => {
            return Ok(FileState::Good);
        }
        // A derived file has no pin: it is good while it is exactly what was written.
        (None, Some(_)) if stamp_fresh => return Ok(FileState::Good),
        (None, _) => return Ok(FileState::WrongHash),
        _ => {}
    }
    let pinned = spec.sha256.as_deref().unwrap_or_default();
    let found = sha256_file(&path, &mut |_| {})?;
    if found == pinned {
        stamps.record(dir, &spec.name, &found)?;
        Ok(FileState::Good)
    } else {
        Ok(FileState::WrongHash)
    }
}

/// A model's files, checked and ready to load.
#[derive(Debug, Clone)]
pub struct Located {
    pub id: String,
    pub dir: PathBuf,
}

impl Located {
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// Checks every file of `model` under `models_dir` and returns where they are, or an error
/// naming the first file that is missing, truncated or altered.
pub fn locate(models_dir: &Path, model: &ModelSpec) -> Result<Located, ModelError> {
    let dir = models_dir.join(&model.id);
    let mut stamps = Stamps::load(&dir);
    let before = serde_json::to_string(&stamps).unwrap_or_default();
    for spec in &model.files {
        let path = dir.join(&spec.name);
        match check_file(&dir, spec, &mut stamps)? {
            FileState::Good => {}
            FileState::Missing => return Err(ModelError::Missing { path }),
            FileState::WrongSize { expected, found } => {
                return Err(ModelError::WrongSize {
                    path,
                    expected,
                    found,
                });
            }
            FileState::WrongHash => return Err(ModelError::Altered { path }),
        }
    }
    if serde_json::to_string(&stamps).unwrap_or_default() != before {
        // Best effort: failing to save only means hashing again next time.
        if let Err(e) = stamps.save(&dir) {
            tracing::warn!(error = %e, "could not save model stamps");
        }
    }
    Ok(Located {
        id: model.id.clone(),
        dir,
    })
}
