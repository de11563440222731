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

/// Vector cache files (passages, the moment-of-truth examples) are runs of records: the
/// sha256 of the text embedded (32 bytes), then the vector as little-endian `f32`s.
pub mod records {
    /// Bytes in one record of a `dims`-dimensional vector.
    pub fn len(dims: usize) -> usize {
        32 + dims * 4
    }

    /// Appends one record to `out`.
    pub fn encode(out: &mut Vec<u8>, key: &[u8; 32], vector: &[f32]) {
        out.extend_from_slice(key);
        for x in vector {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }

    /// The key and vector of one whole record (`len(dims)` bytes).
    pub fn decode(record: &[u8]) -> ([u8; 32], Vec<f32>) {
        let mut key = [0u8; 32];
        key.copy_from_slice(&record[..32]);
        let vector = record[32..]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        (key, vector)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn a_record_comes_back_as_written() {
            let mut out = Vec::new();
            super::encode(&mut out, &[7; 32], &[1.5, -2.0]);
            assert_eq!(out.len(), super::len(2));
            assert_eq!(super::decode(&out), ([7; 32], vec![1.5, -2.0]));
        }
    }
}
