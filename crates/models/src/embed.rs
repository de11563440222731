//! Sentence embeddings with all-MiniLM-L6-v2 (BERT, 384 dimensions) on candle: masked mean
//! pooling and L2 normalisation, as sentence-transformers does.
//!
//! The model runs on one dedicated thread fed by a bounded queue. Requests that wait in the
//! queue together are run as one batch, so many customers asking at once cost little more
//! than one.

use crate::ModelError;
use crate::verify::Located;
use async_trait::async_trait;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};
use warmline_domain::{DomainError, Embedder};

/// Longest input in tokens; longer texts are truncated (the model was trained on 256).
pub const MAX_TOKENS: usize = 256;
/// Texts per forward pass: larger batches stop paying off on a CPU.
const BATCH: usize = 32;
/// Jobs that may wait for the embedding thread before callers get "busy".
const QUEUE: usize = 256;

/// The model itself: call from one thread (see [`EmbedderHandle`] for sharing).
pub struct MiniLm {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    dimensions: usize,
}

impl MiniLm {
    /// Loads `model.safetensors`, `config.json` and `tokenizer.json` from a located model.
    pub fn load(model: &Located) -> Result<Self, ModelError> {
        let bad = |file: &str, reason: String| ModelError::BadModel {
            path: model.file(file),
            reason,
        };
        let config_text = std::fs::read_to_string(model.file("config.json"))
            .map_err(|e| ModelError::io(&model.file("config.json"), e))?;
        let config: Config =
            serde_json::from_str(&config_text).map_err(|e| bad("config.json", e.to_string()))?;
        let mut tokenizer = Tokenizer::from_file(model.file("tokenizer.json"))
            .map_err(|e| bad("tokenizer.json", e.to_string()))?;
        // The shipped tokenizer pads every input to 128 tokens: pad per batch instead, and
        // truncate at the model's trained length.
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..PaddingParams::default()
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(|e| bad("tokenizer.json", e.to_string()))?;
        let weights_path = model.file("model.safetensors");
        let weights = std::fs::read(&weights_path).map_err(|e| ModelError::io(&weights_path, e))?;
        let device = Device::Cpu;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)
            .map_err(|e| bad("model.safetensors", e.to_string()))?;
        let model_ =
            BertModel::load(vb, &config).map_err(|e| bad("model.safetensors", e.to_string()))?;
        Ok(Self {
            model: model_,
            tokenizer,
            device,
            dimensions: config.hidden_size,
        })
    }

    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// Unit-length embeddings of `texts`, in order. Texts are batched by length so that
    /// little padding is computed.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ModelError> {
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut out = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(BATCH) {
            let batch: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
            let vectors = self.embed_batch(&batch)?;
            for (&i, v) in chunk.iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ModelError> {
        let fail = |e: String| ModelError::Internal(format!("embedding: {e}"));
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| fail(e.to_string()))?;
        let rows = encodings.len();
        let len = encodings.first().map(|e| e.get_ids().len()).unwrap_or(0);
        let mut ids = Vec::with_capacity(rows * len);
        let mut mask = Vec::with_capacity(rows * len);
        for e in &encodings {
            ids.extend_from_slice(e.get_ids());
            mask.extend_from_slice(e.get_attention_mask());
        }
        let run = || -> candle_core::Result<Vec<Vec<f32>>> {
            let ids = Tensor::from_vec(ids, (rows, len), &self.device)?;
            let mask = Tensor::from_vec(mask, (rows, len), &self.device)?;
            let types = ids.zeros_like()?;
            let hidden = self.model.forward(&ids, &types, Some(&mask))?; // (rows, len, dims)
            let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?; // (rows, len, 1)
            let summed = hidden.broadcast_mul(&mask)?.sum(1)?; // (rows, dims)
            let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?; // (rows, 1)
            let mean = summed.broadcast_div(&counts)?;
            let norms = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
            mean.broadcast_div(&norms)?.to_vec2::<f32>()
        };
        run().map_err(|e| fail(e.to_string()))
    }
}

type Vectors = Result<Vec<Vec<f32>>, String>;

/// Where a job's answer goes: an async waiter, or a thread blocked on a std channel (which,
/// unlike a tokio one, may also wait inside `block_in_place`).
enum ReplyTo {
    Async(tokio::sync::oneshot::Sender<Vectors>),
    Blocking(std::sync::mpsc::SyncSender<Vectors>),
}

impl ReplyTo {
    fn send(self, vectors: Vectors) {
        // The asker may have given up (a disconnected customer): nothing to do then.
        match self {
            Self::Async(tx) => {
                let _ = tx.send(vectors);
            }
            Self::Blocking(tx) => {
                let _ = tx.send(vectors);
            }
        }
    }
}

struct Job {
    texts: Vec<String>,
    reply: ReplyTo,
}

/// A [`MiniLm`] on its own thread, shared by cloning. Dropping the last handle ends the
/// thread.
#[derive(Clone)]
pub struct EmbedderHandle {
    jobs: SyncSender<Job>,
    model_id: String,
    dimensions: usize,
}

impl EmbedderHandle {
    /// Moves `model` to a new thread named `embedder`.
    pub fn spawn(model: MiniLm, model_id: &str) -> Result<Self, ModelError> {
        let (jobs, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let dimensions = model.dimensions();
        std::thread::Builder::new()
            .name("embedder".into())
            .spawn(move || serve(model, rx))
            .map_err(|e| ModelError::Internal(format!("cannot start the embedding thread: {e}")))?;
        Ok(Self {
            jobs,
            model_id: model_id.to_owned(),
            dimensions,
        })
    }

    fn submit(
        &self,
        texts: Vec<String>,
    ) -> Result<tokio::sync::oneshot::Receiver<Vectors>, DomainError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        match self.jobs.try_send(Job {
            texts,
            reply: ReplyTo::Async(reply),
        }) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) => Err(DomainError::new(
                warmline_domain::ErrorCode::RateLimited,
                "the embedding model is busy; retry shortly",
            )),
            Err(TrySendError::Disconnected(_)) => {
                Err(DomainError::unavailable("the embedding model has stopped"))
            }
        }
    }
}

fn finish(
    result: Result<Vectors, tokio::sync::oneshot::error::RecvError>,
) -> Result<Vec<Vec<f32>>, DomainError> {
    match result {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(DomainError::internal(e)),
        Err(_) => Err(DomainError::unavailable("the embedding model has stopped")),
    }
}

#[async_trait]
impl Embedder for EmbedderHandle {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dimensions(&self) -> usize {
        self.dimensions
    }

    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, DomainError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let rx = self.submit(texts)?;
        finish(rx.await)
    }

    fn embed_blocking(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, DomainError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        // Bulk indexing waits for room in the queue rather than failing.
        let (reply, rx) = std::sync::mpsc::sync_channel(1);
        self.jobs
            .send(Job {
                texts,
                reply: ReplyTo::Blocking(reply),
            })
            .map_err(|_| DomainError::unavailable("the embedding model has stopped"))?;
        match rx.recv() {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(DomainError::internal(e)),
            Err(_) => Err(DomainError::unavailable("the embedding model has stopped")),
        }
    }
}

/// The embedding thread: takes a job, adds whatever else is waiting (up to a batch of texts),
/// runs them together and answers each.
fn serve(model: MiniLm, jobs: Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        let mut texts: usize = batch[0].texts.len();
        while texts < BATCH {
            match jobs.try_recv() {
                Ok(job) => {
                    texts += job.texts.len();
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        let all: Vec<&str> = batch
            .iter()
            .flat_map(|j| j.texts.iter().map(String::as_str))
            .collect();
        match model.embed(&all) {
            Ok(mut vectors) => {
                for job in batch.into_iter().rev() {
                    let mine = vectors.split_off(vectors.len() - job.texts.len());
                    job.reply.send(Ok(mine));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "embedding failed");
                for job in batch {
                    job.reply.send(Err(e.to_string()));
                }
            }
        }
    }
}
