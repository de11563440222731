//! Chat generation with a GGUF model on candle (SmolLM2 / Llama architecture, Qwen2).
//!
//! [`ChatModel`] is the model and its tokenizer, used from one thread. It keeps a small prefix
//! cache: the attention state after a prompt's shared beginning (the system message) is kept,
//! and a later prompt that starts the same way resumes from it instead of recomputing it. The
//! model weights are shared between snapshots; only the attention cache differs.

use crate::ModelError;
use crate::tokenizer;
use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use candle_transformers::models::{quantized_llama, quantized_qwen2};
use std::path::Path;
use std::time::{Duration, Instant};
use tokenizers::Tokenizer;

/// Prefix snapshots kept (one per distinct system prompt, most recent first).
const PREFIX_CACHE: usize = 4;
/// Prompt tokens fed to the model per forward pass.
const PROMPT_CHUNK: usize = 512;

enum Weights {
    Llama(Box<quantized_llama::ModelWeights>),
    Qwen2(Box<quantized_qwen2::ModelWeights>),
}

impl Weights {
    fn forward(&mut self, ids: &Tensor, pos: usize) -> candle_core::Result<Tensor> {
        match self {
            Self::Llama(m) => m.forward(ids, pos),
            Self::Qwen2(m) => m.forward(ids, pos),
        }
    }

    fn clear(&mut self) {
        match self {
            Self::Llama(m) => m.clear_kv_cache(),
            Self::Qwen2(m) => m.clear_kv_cache(),
        }
    }

    /// A copy sharing the weights, with its own attention cache: the Llama implementation
    /// allows it (the prefix cache); candle's Qwen2 does not, so it has no prefix cache.
    fn snapshot(&self) -> Option<Self> {
        match self {
            Self::Llama(m) => Some(Self::Llama(m.clone())),
            Self::Qwen2(_) => None,
        }
    }
}

fn forward(
    device: &Device,
    weights: &mut Weights,
    ids: &[u32],
    pos: usize,
) -> Result<Tensor, ModelError> {
    let mut run = || -> candle_core::Result<Tensor> {
        let input = Tensor::new(ids, device)?.unsqueeze(0)?;
        weights.forward(&input, pos)?.squeeze(0)
    };
    run().map_err(|e| ModelError::Internal(format!("generation: {e}")))
}

/// Feeds `ids` from position `pos` in chunks; returns the logits after the last one.
fn feed(
    device: &Device,
    weights: &mut Weights,
    ids: &[u32],
    pos: usize,
) -> Result<Tensor, ModelError> {
    let mut logits = None;
    for (i, chunk) in ids.chunks(PROMPT_CHUNK).enumerate() {
        logits = Some(forward(device, weights, chunk, pos + i * PROMPT_CHUNK)?);
    }
    logits.ok_or_else(|| ModelError::Internal("empty prompt".into()))
}

/// Who said a message of a chat prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatRole {
    System,
    User,
    Assistant,
}

impl ChatRole {
    fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }
}

/// Renders messages in ChatML (`<|im_start|>role\n...<|im_end|>\n`), the template both
/// SmolLM2 and Qwen2.5 were trained with, ending with the assistant's turn opened.
pub fn chatml(messages: &[(ChatRole, &str)]) -> String {
    let mut prompt = String::new();
    for (role, text) in messages {
        prompt.push_str("<|im_start|>");
        prompt.push_str(role.as_str());
        prompt.push('\n');
        prompt.push_str(text);
        prompt.push_str("<|im_end|>\n");
    }
    prompt.push_str("<|im_start|>assistant\n");
    prompt
}

/// How to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub max_tokens: usize,
    /// `None`: greedy (deterministic), which grounded answers want.
    pub temperature: Option<f64>,
    /// Generation stops before any of these strings.
    pub stop: Vec<String>,
    /// Keep generating past end-of-text tokens (benchmarks that need exactly `max_tokens`).
    pub ignore_eos: bool,
    /// Divides the scores of tokens generated in the last 64 (1.0: off). Small models loop
    /// ("Check order status: - Check order status: ...") without it.
    pub repeat_penalty: f32,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            max_tokens: 256,
            temperature: None,
            stop: Vec::new(),
            ignore_eos: false,
            repeat_penalty: 1.1,
        }
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// The model ended its turn, or a stop string appeared.
    Stop,
    /// `max_tokens` reached.
    Length,
    /// The caller stopped listening (a customer who left).
    Cancelled,
}

/// What one generation did.
#[derive(Debug, Clone)]
pub struct Generation {
    pub text: String,
    pub finish: Finish,
    pub prompt_tokens: usize,
    /// Prompt tokens taken from the prefix cache instead of being computed.
    pub cached_tokens: usize,
    pub generated_tokens: usize,
    pub time_to_first_token: Duration,
    pub total: Duration,
}

impl Generation {
    /// Tokens per second after the first one.
    pub fn generation_rate(&self) -> f64 {
        let after_first = self.total.saturating_sub(self.time_to_first_token);
        if self.generated_tokens <= 1 || after_first.is_zero() {
            return 0.0;
        }
        (self.generated_tokens - 1) as f64 / after_first.as_secs_f64()
    }
}

/// A GGUF chat model with its tokenizer. Use from one thread.
pub struct ChatModel {
    weights: Weights,
    tokenizer: Tokenizer,
    end_of_turn: Vec<u32>,
    prefixes: Vec<(Vec<u32>, Weights)>,
    device: Device,
}

impl ChatModel {
    /// Loads a GGUF file (architectures `llama` and `qwen2`).
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let bad = |reason: String| ModelError::BadModel {
            path: path.to_owned(),
            reason,
        };
        let file = std::fs::File::open(path).map_err(|e| ModelError::io(path, e))?;
        let mut reader = std::io::BufReader::new(file);
        let content = gguf_file::Content::read(&mut reader).map_err(|e| bad(e.to_string()))?;
        let tokenizer =
            tokenizer::from_gguf(&content).map_err(|e| bad(format!("tokenizer: {e}")))?;
        let architecture = content
            .metadata
            .get("general.architecture")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_default();
        let device = Device::Cpu;
        let mut end_of_turn: Vec<u32> = ["<|im_end|>", "<|endoftext|>"]
            .iter()
            .filter_map(|t| tokenizer.token_to_id(t))
            .collect();
        if let Some(eos) = content
            .metadata
            .get("tokenizer.ggml.eos_token_id")
            .and_then(|v| v.to_u32().ok())
            && !end_of_turn.contains(&eos)
        {
            end_of_turn.push(eos);
        }
        let weights = match architecture.as_str() {
            "llama" => Weights::Llama(Box::new(
                quantized_llama::ModelWeights::from_gguf(content, &mut reader, &device)
                    .map_err(|e| bad(e.to_string()))?,
            )),
            "qwen2" => Weights::Qwen2(Box::new(
                quantized_qwen2::ModelWeights::from_gguf(content, &mut reader, &device)
                    .map_err(|e| bad(e.to_string()))?,
            )),
            other => return Err(bad(format!("unsupported architecture {other:?}"))),
        };
        Ok(Self {
            weights,
            tokenizer,
            end_of_turn,
            prefixes: Vec::new(),
            device,
        })
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Token ids of `text`, control tokens included (no BOS is added: ChatML has none).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        self.tokenizer
            .encode(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| ModelError::Internal(format!("tokenizing: {e}")))
    }

    /// Computes and keeps the attention state after `prefix` (a prompt's shared beginning,
    /// e.g. the rendered system message), so prompts starting with it skip that work.
    pub fn warm_prefix(&mut self, prefix: &str) -> Result<usize, ModelError> {
        let ids = self.encode(prefix)?;
        if ids.is_empty() || self.prefixes.iter().any(|(p, _)| *p == ids) {
            return Ok(ids.len());
        }
        let Some(mut weights) = self.weights.snapshot() else {
            return Ok(0);
        };
        weights.clear();
        feed(&self.device, &mut weights, &ids, 0)?;
        self.prefixes.insert(0, (ids.clone(), weights));
        self.prefixes.truncate(PREFIX_CACHE);
        Ok(ids.len())
    }

    /// Generates a continuation of `prompt` (already rendered with [`chatml`]). `on_text` gets
    /// each new piece of text as soon as it is complete UTF-8; returning `false` cancels.
    pub fn generate(
        &mut self,
        prompt: &str,
        options: &GenerateOptions,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Generation, ModelError> {
        let started = Instant::now();
        let ids = self.encode(prompt)?;
        // Resume from the longest cached prefix of this prompt, if any.
        let cached = self
            .prefixes
            .iter()
            .enumerate()
            .filter(|(_, (p, _))| p.len() < ids.len() && ids.starts_with(p))
            .max_by_key(|(_, (p, _))| p.len())
            .map(|(i, _)| i);
        let (mut owned, start) = match cached {
            Some(i) => {
                let entry = self.prefixes.remove(i);
                let resumed = (entry.1.snapshot(), entry.0.len());
                self.prefixes.insert(0, entry);
                resumed
            }
            None => (self.weights.snapshot(), 0),
        };
        let weights = match &mut owned {
            Some(w) => w,
            None => &mut self.weights,
        };
        if start == 0 {
            weights.clear();
        }
        let mut sampler = match options.temperature {
            Some(t) if t > 0.0 => {
                LogitsProcessor::from_sampling(0, Sampling::All { temperature: t })
            }
            _ => LogitsProcessor::from_sampling(0, Sampling::ArgMax),
        };
        let mut logits = feed(&self.device, weights, &ids[start..], start)?;
        let mut generated: Vec<u32> = Vec::new();
        let mut emitted = 0usize; // bytes of `text` already given to on_text
        let mut text = String::new();
        let mut time_to_first_token = Duration::ZERO;
        let mut finish = Finish::Length;
        while generated.len() < options.max_tokens {
            if options.repeat_penalty != 1.0 && !generated.is_empty() {
                let recent = &generated[generated.len().saturating_sub(64)..];
                logits = candle_transformers::utils::apply_repeat_penalty(
                    &logits,
                    options.repeat_penalty,
                    recent,
                )
                .map_err(|e| ModelError::Internal(format!("repeat penalty: {e}")))?;
            }
            let next = sampler
                .sample(&logits)
                .map_err(|e| ModelError::Internal(format!("sampling: {e}")))?;
            if generated.is_empty() {
                time_to_first_token = started.elapsed();
            }
            if self.end_of_turn.contains(&next) && !options.ignore_eos {
                finish = Finish::Stop;
                break;
            }
            generated.push(next);
            // Decode the whole answer so far: a character split across tokens only shows
            // once it is complete.
            let decoded = self
                .tokenizer
                .decode(&generated, true)
                .map_err(|e| ModelError::Internal(format!("decoding: {e}")))?;
            if !decoded.ends_with('\u{FFFD}') {
                text = decoded;
            }
            if let Some(cut) = options
                .stop
                .iter()
                .filter_map(|s| text.find(s.as_str()))
                .min()
            {
                text.truncate(cut);
                finish = Finish::Stop;
            }
            if text.len() > emitted && text.is_char_boundary(emitted) {
                if !on_text(&text[emitted..]) {
                    finish = Finish::Cancelled;
                    break;
                }
                emitted = text.len();
            }
            if finish == Finish::Stop {
                break;
            }
            let pos = ids.len() + generated.len() - 1;
            logits = forward(&self.device, weights, &[next], pos)?;
        }
        Ok(Generation {
            text,
            finish,
            prompt_tokens: ids.len(),
            cached_tokens: start,
            generated_tokens: generated.len(),
            time_to_first_token,
            total: started.elapsed(),
        })
    }
}

/// The ChatML rendering of a request's system message: the prefix every prompt with that
/// system message starts with.
pub fn system_prefix(system: &str) -> String {
    format!("<|im_start|>system\n{system}<|im_end|>\n")
}

/// Renders a request as a ChatML prompt.
pub fn render(request: &warmline_domain::GenerateRequest) -> String {
    use warmline_domain::PromptRole;
    let mut messages: Vec<(ChatRole, &str)> = vec![(ChatRole::System, &request.system)];
    for (role, text) in &request.turns {
        let role = match role {
            PromptRole::User => ChatRole::User,
            PromptRole::Assistant => ChatRole::Assistant,
        };
        messages.push((role, text));
    }
    chatml(&messages)
}

struct Job {
    request: warmline_domain::GenerateRequest,
    events: tokio::sync::mpsc::Sender<
        Result<warmline_domain::GenerateEvent, warmline_domain::DomainError>,
    >,
}

/// A [`ChatModel`] on its own thread behind a bounded queue: the [`warmline_domain::Generator`]
/// the server uses. Cloning shares the thread.
#[derive(Clone)]
pub struct GeneratorHandle {
    jobs: std::sync::mpsc::SyncSender<Job>,
    model_id: String,
}

impl GeneratorHandle {
    /// Moves `model` to a thread named `generator`; at most `queue` requests wait for it.
    pub fn spawn(model: ChatModel, model_id: &str, queue: usize) -> Result<Self, ModelError> {
        let (jobs, rx) = std::sync::mpsc::sync_channel::<Job>(queue);
        std::thread::Builder::new()
            .name("generator".into())
            .spawn(move || serve(model, rx))
            .map_err(|e| ModelError::Internal(format!("cannot start the generator thread: {e}")))?;
        Ok(Self {
            jobs,
            model_id: model_id.to_owned(),
        })
    }
}

fn serve(mut model: ChatModel, jobs: std::sync::mpsc::Receiver<Job>) {
    use warmline_domain::{DomainError, FinishReason, GenerateEvent, GenerateSummary};
    while let Ok(Job { request, events }) = jobs.recv() {
        if events.is_closed() {
            continue; // the asker left while it waited
        }
        if let Err(e) = model.warm_prefix(&system_prefix(&request.system)) {
            tracing::warn!(error = %e, "could not cache the system prompt");
        }
        let options = GenerateOptions {
            max_tokens: request.max_tokens,
            stop: request.stop.clone(),
            ..GenerateOptions::default()
        };
        let prompt = render(&request);
        let result = model.generate(&prompt, &options, &mut |piece| {
            events
                .blocking_send(Ok(GenerateEvent::Text(piece.to_owned())))
                .is_ok()
        });
        let event = match result {
            Ok(g) => Ok(GenerateEvent::Done(GenerateSummary {
                finish: match g.finish {
                    Finish::Stop => FinishReason::Stop,
                    Finish::Length => FinishReason::Length,
                    Finish::Cancelled => FinishReason::Cancelled,
                },
                prompt_tokens: g.prompt_tokens,
                cached_tokens: g.cached_tokens,
                generated_tokens: g.generated_tokens,
                time_to_first_token_ms: g.time_to_first_token.as_secs_f64() * 1e3,
                total_ms: g.total.as_secs_f64() * 1e3,
            })),
            Err(e) => {
                tracing::error!(error = %e, "generation failed");
                Err(DomainError::internal(e.to_string()))
            }
        };
        let _ = events.blocking_send(event);
    }
}

#[async_trait::async_trait]
impl warmline_domain::Generator for GeneratorHandle {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    async fn generate(
        &self,
        request: warmline_domain::GenerateRequest,
    ) -> Result<warmline_domain::GenerateStream, warmline_domain::DomainError> {
        use warmline_domain::{DomainError, ErrorCode};
        let (events, rx) = tokio::sync::mpsc::channel(64);
        match self.jobs.try_send(Job { request, events }) {
            Ok(()) => {}
            Err(std::sync::mpsc::TrySendError::Full(_)) => {
                return Err(DomainError::new(
                    ErrorCode::RateLimited,
                    "the answer model is busy; retry shortly",
                ));
            }
            Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {
                return Err(DomainError::unavailable("the answer model has stopped"));
            }
        }
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|event| (event, rx))
        });
        Ok(Box::pin(stream))
    }
}
