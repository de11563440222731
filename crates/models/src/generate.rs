//! Chat generation with a GGUF model on candle (SmolLM2 / Llama architecture, Qwen2).
//!
//! [`ChatModel`] is the model and its tokenizer, used from one thread; the forward pass is
//! Warmline's own ([`crate::llama`]). A generation is a [`Sequence`]: its prompt, its
//! attention cache and what it generated so far. Several sequences advance together, one
//! token each per batched forward pass ([`ChatModel::decode`]), which is how the generator
//! thread serves several conversations at once.
//!
//! The prefix cache keeps the attention state after a prompt's shared beginning (the system
//! message); a later prompt that starts the same way resumes from a copy of it.

use crate::ModelError;
use crate::llama::{KvCache, Llama, LoadOptions, Segment};
use crate::tokenizer;
use candle_core::Tensor;
use candle_core::quantized::gguf_file;
use candle_transformers::generation::{LogitsProcessor, Sampling};
use std::path::Path;
use std::time::{Duration, Instant};
use tokenizers::Tokenizer;

/// Prefix snapshots kept (one per distinct system prompt, most recent first).
const PREFIX_CACHE: usize = 4;
/// Prompt tokens fed to the model per forward pass.
const PROMPT_CHUNK: usize = 512;
/// Most sequences the generator thread advances together.
pub const MAX_BATCH: usize = 8;

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

/// One generation in progress: started by [`ChatModel::start`], advanced by
/// [`ChatModel::decode`] until [`Sequence::finished`].
pub struct Sequence {
    prompt_tokens: usize,
    cached_tokens: usize,
    cache: KvCache,
    options: GenerateOptions,
    sampler: LogitsProcessor,
    generated: Vec<u32>,
    /// The answer so far, cut before any stop string; `emitted` bytes were handed out.
    text: String,
    emitted: usize,
    started: Instant,
    time_to_first_token: Duration,
    finish: Option<Finish>,
}

impl Sequence {
    /// Why it ended, once it has.
    pub fn finished(&self) -> Option<Finish> {
        self.finish
    }

    /// Text not handed out yet (taking it marks it handed out).
    pub fn take_text(&mut self) -> Option<&str> {
        if self.text.len() > self.emitted && self.text.is_char_boundary(self.emitted) {
            let start = std::mem::replace(&mut self.emitted, self.text.len());
            Some(&self.text[start..])
        } else {
            None
        }
    }

    /// Stops it: the caller stopped listening.
    pub fn cancel(&mut self) {
        if self.finish.is_none() {
            self.finish = Some(Finish::Cancelled);
        }
    }

    /// The summary of a finished (or abandoned) sequence.
    pub fn generation(&self) -> Generation {
        Generation {
            text: self.text.clone(),
            finish: self.finish.unwrap_or(Finish::Cancelled),
            prompt_tokens: self.prompt_tokens,
            cached_tokens: self.cached_tokens,
            generated_tokens: self.generated.len(),
            time_to_first_token: self.time_to_first_token,
            total: self.started.elapsed(),
        }
    }
}

/// A GGUF chat model with its tokenizer. Use from one thread.
pub struct ChatModel {
    model: Llama,
    tokenizer: Tokenizer,
    end_of_turn: Vec<u32>,
    prefixes: Vec<(Vec<u32>, KvCache)>,
}

impl ChatModel {
    /// Loads a GGUF file (architectures `llama` and `qwen2`) with the fastest kernels this
    /// CPU has (see [`crate::llama`]).
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        Self::load_with(path, LoadOptions::default())
    }

    /// [`ChatModel::load`] with explicit [`LoadOptions`].
    pub fn load_with(path: &Path, options: LoadOptions) -> Result<Self, ModelError> {
        let bad = |reason: String| ModelError::BadModel {
            path: path.to_owned(),
            reason,
        };
        let file = std::fs::File::open(path).map_err(|e| ModelError::io(path, e))?;
        let mut reader = std::io::BufReader::new(file);
        let content = gguf_file::Content::read(&mut reader).map_err(|e| bad(e.to_string()))?;
        let tokenizer =
            tokenizer::from_gguf(&content).map_err(|e| bad(format!("tokenizer: {e}")))?;
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
        let model = Llama::from_gguf(&content, &mut reader, options, &candle_core::Device::Cpu)
            .map_err(bad)?;
        Ok(Self {
            model,
            tokenizer,
            end_of_turn,
            prefixes: Vec::new(),
        })
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The network underneath.
    pub fn llama(&self) -> &Llama {
        &self.model
    }

    /// Token ids of `text`, control tokens included (no BOS is added: ChatML has none).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        self.tokenizer
            .encode(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| ModelError::Internal(format!("tokenizing: {e}")))
    }

    /// Feeds `ids` into `cache` in chunks; returns the logits after the last one.
    fn feed(&self, cache: &mut KvCache, ids: &[u32]) -> Result<Tensor, ModelError> {
        let mut logits = None;
        for chunk in ids.chunks(PROMPT_CHUNK) {
            let mut segment = [Segment {
                cache: &mut *cache,
                rows: chunk.len(),
            }];
            logits = Some(Llama::row(&self.model.forward(chunk, &mut segment)?, 0)?);
        }
        logits.ok_or_else(|| ModelError::Internal("empty prompt".into()))
    }

    /// Computes and keeps the attention state after `prefix` (a prompt's shared beginning,
    /// e.g. the rendered system message), so prompts starting with it skip that work.
    pub fn warm_prefix(&mut self, prefix: &str) -> Result<usize, ModelError> {
        let ids = self.encode(prefix)?;
        if ids.is_empty() || self.prefixes.iter().any(|(p, _)| *p == ids) {
            return Ok(ids.len());
        }
        let mut cache = self.model.new_cache();
        self.feed(&mut cache, &ids)?;
        self.prefixes.insert(0, (ids.clone(), cache));
        self.prefixes.truncate(PREFIX_CACHE);
        Ok(ids.len())
    }

    /// Starts generating a continuation of `prompt` (already rendered with [`chatml`]):
    /// processes the prompt (resuming from a cached prefix when one matches) and picks the
    /// first token.
    pub fn start(
        &mut self,
        prompt: &str,
        options: &GenerateOptions,
    ) -> Result<Sequence, ModelError> {
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
        let (mut cache, start) = match cached {
            Some(i) => {
                let entry = self.prefixes.remove(i);
                let copy = entry
                    .1
                    .copy_prefix(entry.0.len())
                    .map_err(|e| ModelError::Internal(format!("prefix cache: {e}")))?;
                let start = entry.0.len();
                self.prefixes.insert(0, entry);
                (copy, start)
            }
            None => (self.model.new_cache(), 0),
        };
        let sampler = match options.temperature {
            Some(t) if t > 0.0 => {
                LogitsProcessor::from_sampling(0, Sampling::All { temperature: t })
            }
            _ => LogitsProcessor::from_sampling(0, Sampling::ArgMax),
        };
        let logits = self.feed(&mut cache, &ids[start..])?;
        let mut sequence = Sequence {
            prompt_tokens: ids.len(),
            cached_tokens: start,
            cache,
            options: options.clone(),
            sampler,
            generated: Vec::new(),
            text: String::new(),
            emitted: 0,
            started,
            time_to_first_token: Duration::ZERO,
            finish: None,
        };
        if options.max_tokens == 0 {
            sequence.finish = Some(Finish::Length);
        } else {
            self.advance(&mut sequence, &logits)?;
        }
        Ok(sequence)
    }

    /// Advances every unfinished sequence of `sequences` by one token, in one batched
    /// forward pass.
    pub fn decode(&self, sequences: &mut [&mut Sequence]) -> Result<(), ModelError> {
        let mut live: Vec<&mut Sequence> = sequences
            .iter_mut()
            .filter(|s| s.finish.is_none())
            .map(|s| &mut **s)
            .collect();
        if live.is_empty() {
            return Ok(());
        }
        let tokens: Vec<u32> = live
            .iter()
            .map(|s| s.generated.last().copied().unwrap_or_default())
            .collect();
        let logits = {
            let mut segments: Vec<Segment<'_>> = live
                .iter_mut()
                .map(|s| Segment {
                    cache: &mut s.cache,
                    rows: 1,
                })
                .collect();
            self.model.forward(&tokens, &mut segments)?
        };
        for (i, sequence) in live.into_iter().enumerate() {
            self.advance(sequence, &Llama::row(&logits, i)?)?;
        }
        Ok(())
    }

    /// Picks the next token of `sequence` from `logits` and updates its text and state.
    fn advance(&self, sequence: &mut Sequence, logits: &Tensor) -> Result<(), ModelError> {
        let s = sequence;
        let mut logits = logits.clone();
        if s.options.repeat_penalty != 1.0 && !s.generated.is_empty() {
            let recent = &s.generated[s.generated.len().saturating_sub(64)..];
            logits = candle_transformers::utils::apply_repeat_penalty(
                &logits,
                s.options.repeat_penalty,
                recent,
            )
            .map_err(|e| ModelError::Internal(format!("repeat penalty: {e}")))?;
        }
        let next = s
            .sampler
            .sample(&logits)
            .map_err(|e| ModelError::Internal(format!("sampling: {e}")))?;
        if s.generated.is_empty() {
            s.time_to_first_token = s.started.elapsed();
        }
        if self.end_of_turn.contains(&next) && !s.options.ignore_eos {
            s.finish = Some(Finish::Stop);
            return Ok(());
        }
        s.generated.push(next);
        // Decode the whole answer so far: a character split across tokens only shows once it
        // is complete.
        let decoded = self
            .tokenizer
            .decode(&s.generated, true)
            .map_err(|e| ModelError::Internal(format!("decoding: {e}")))?;
        if !decoded.ends_with('\u{FFFD}') {
            s.text = decoded;
        }
        if let Some(cut) = s
            .options
            .stop
            .iter()
            .filter_map(|stop| s.text.find(stop.as_str()))
            .min()
        {
            s.text.truncate(cut);
            s.finish = Some(Finish::Stop);
        } else if s.generated.len() >= s.options.max_tokens
            || s.prompt_tokens + s.generated.len() >= self.model.config().context_length
        {
            s.finish = Some(Finish::Length);
        }
        Ok(())
    }

    /// Generates a continuation of `prompt` (already rendered with [`chatml`]). `on_text` gets
    /// each new piece of text as soon as it is complete UTF-8; returning `false` cancels.
    pub fn generate(
        &mut self,
        prompt: &str,
        options: &GenerateOptions,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Generation, ModelError> {
        let mut sequence = self.start(prompt, options)?;
        loop {
            if let Some(piece) = sequence.take_text()
                && !on_text(piece)
            {
                sequence.cancel();
            }
            if sequence.finished().is_some() {
                return Ok(sequence.generation());
            }
            self.decode(&mut [&mut sequence])?;
        }
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

/// One request being served: its sequence and where its events go.
struct Active {
    sequence: Sequence,
    events: tokio::sync::mpsc::Sender<
        Result<warmline_domain::GenerateEvent, warmline_domain::DomainError>,
    >,
}

impl Active {
    /// Sends the text produced since the last call; cancels when the asker has left.
    fn flush(&mut self) {
        use warmline_domain::GenerateEvent;
        if self.events.is_closed() {
            self.sequence.cancel();
            return;
        }
        if let Some(piece) = self.sequence.take_text()
            && self
                .events
                .blocking_send(Ok(GenerateEvent::Text(piece.to_owned())))
                .is_err()
        {
            self.sequence.cancel();
        }
    }

    /// Sends the closing summary.
    fn finish(self) {
        use warmline_domain::{FinishReason, GenerateEvent, GenerateSummary};
        let g = self.sequence.generation();
        let summary = GenerateSummary {
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
        };
        let _ = self.events.blocking_send(Ok(GenerateEvent::Done(summary)));
    }
}

/// The generator thread: admits waiting requests (up to [`MAX_BATCH`] at once), processes
/// each new prompt, then advances all of them one token per batched forward pass.
fn serve(mut model: ChatModel, jobs: std::sync::mpsc::Receiver<Job>) {
    use warmline_domain::DomainError;
    let mut active: Vec<Active> = Vec::new();
    loop {
        // Wait for work when idle; otherwise take what is waiting without blocking.
        while active.len() < MAX_BATCH {
            let job = if active.is_empty() {
                match jobs.recv() {
                    Ok(job) => job,
                    Err(_) => return, // every handle is gone
                }
            } else {
                match jobs.try_recv() {
                    Ok(job) => job,
                    Err(_) => break,
                }
            };
            let Job { request, events } = job;
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
            match model.start(&render(&request), &options) {
                Ok(sequence) => {
                    let mut started = Active { sequence, events };
                    started.flush();
                    active.push(started);
                }
                Err(e) => {
                    tracing::error!(error = %e, "generation failed");
                    let _ = events.blocking_send(Err(DomainError::internal(e.to_string())));
                }
            }
        }
        // Hand back what has finished.
        let mut i = 0;
        while i < active.len() {
            if active[i].sequence.finished().is_some() {
                active.swap_remove(i).finish();
            } else {
                i += 1;
            }
        }
        if active.is_empty() {
            continue;
        }
        let mut sequences: Vec<&mut Sequence> =
            active.iter_mut().map(|a| &mut a.sequence).collect();
        if let Err(e) = model.decode(&mut sequences) {
            tracing::error!(error = %e, "generation failed");
            for a in active.drain(..) {
                let _ = a
                    .events
                    .blocking_send(Err(DomainError::internal(e.to_string())));
            }
            continue;
        }
        for a in &mut active {
            a.flush();
        }
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
