//! Starting a journey by meaning: each journey's `examples` (and its title) are embedded once,
//! and a customer message whose embedding is close enough to one of them starts the journey
//! when no trigger phrase matched. Embeddings are cached by text, so a reload embeds only new
//! examples.

use super::{Journey, Library};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use warmline_domain::Embedder;
use warmline_domain::embed::dot;

/// Cosine similarity at which a message starts a journey (all-MiniLM-L6-v2). Chosen on the
/// task requests and knowledge questions of `tests/journey_meaning.rs` to start no journey
/// for a question: the closest question scored 0.75 ("How do I pay my Juniper Pay bill?"
/// against the lost-card examples), while task requests that no trigger phrase covers scored
/// 0.40 to 0.83, so only the clearest of them (2 of 9) start their journey this way.
pub const MIN_SIMILARITY: f32 = 0.76;

/// Embeddings of every journey's examples, filled on first use.
pub struct Examples {
    embedder: Arc<dyn Embedder>,
    cache: Mutex<HashMap<String, Arc<Vec<f32>>>>,
}

impl Examples {
    pub fn new(embedder: Arc<dyn Embedder>) -> Self {
        Self {
            embedder,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The journey one of whose examples is most similar to `message` (an embedding from
    /// the same model), if at least [`MIN_SIMILARITY`]. An embedding failure means no match.
    pub async fn closest(&self, library: &Library, message: &[f32]) -> Option<Arc<Journey>> {
        let mut best: Option<(f32, &Arc<Journey>)> = None;
        for journey in library.journeys() {
            let texts = examples_of(journey);
            if texts.is_empty() {
                continue;
            }
            let vectors = self.vectors(&texts).await?;
            for v in vectors {
                if v.len() != message.len() {
                    return None;
                }
                let score = dot(&v, message);
                if best.is_none_or(|(s, _)| score > s) {
                    best = Some((score, journey));
                }
            }
        }
        let (score, journey) = best?;
        tracing::debug!(journey = %journey.id, score, "closest journey example");
        (score >= MIN_SIMILARITY).then(|| journey.clone())
    }

    async fn vectors(&self, texts: &[String]) -> Option<Vec<Arc<Vec<f32>>>> {
        let missing: Vec<String> = {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            texts
                .iter()
                .filter(|t| !cache.contains_key(*t))
                .cloned()
                .collect()
        };
        if !missing.is_empty() {
            let embedded = match self.embedder.embed(missing.clone()).await {
                Ok(v) if v.len() == missing.len() => v,
                outcome => {
                    let reason = outcome.err().map(|e| e.message).unwrap_or_default();
                    tracing::warn!(reason = %reason, "journey examples not embedded");
                    return None;
                }
            };
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            for (text, vector) in missing.into_iter().zip(embedded) {
                cache.insert(text, Arc::new(vector));
            }
        }
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        texts.iter().map(|t| cache.get(t).cloned()).collect()
    }
}

/// What a journey is compared with: its examples and its title.
fn examples_of(journey: &Journey) -> Vec<String> {
    if journey.examples.is_empty() {
        return Vec::new();
    }
    journey
        .examples
        .iter()
        .cloned()
        .chain([journey.title.clone()])
        .collect()
}
