//! Text embeddings, for semantic retrieval and for checking that an answer's sentences are
//! supported by the passages it cites.

use crate::error::DomainError;
use async_trait::async_trait;

/// Turns texts into unit-length vectors whose dot product is their cosine similarity.
#[async_trait]
pub trait Embedder: Send + Sync {
    /// Names the model (and anything else that changes its vectors): vectors cached under one
    /// id are never mixed with another's.
    fn model_id(&self) -> &str;

    /// Length of every vector.
    fn dimensions(&self) -> usize;

    /// Embeds texts from async code (the work runs elsewhere; this only waits).
    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, DomainError>;

    /// Embeds texts from a blocking context (indexing threads). Never call it on an async
    /// worker.
    fn embed_blocking(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, DomainError>;
}

/// Dot product of two equal-length vectors (their cosine similarity when both are unit length).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
