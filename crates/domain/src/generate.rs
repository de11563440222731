//! Text generation by a chat model (local or remote), streamed.

use crate::error::DomainError;
use async_trait::async_trait;
use futures_core::Stream;
use std::pin::Pin;

/// A chat turn of a prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptRole {
    User,
    Assistant,
}

/// What to generate: a system message (shared by many prompts, so backends may cache its
/// processing) and the turns after it.
#[derive(Debug, Clone)]
pub struct GenerateRequest {
    pub system: String,
    pub turns: Vec<(PromptRole, String)>,
    pub max_tokens: usize,
    /// Generation stops before any of these.
    pub stop: Vec<String>,
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    Stop,
    Length,
    Cancelled,
}

/// Figures of one generation, for logs, metrics and benchmarks.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateSummary {
    pub finish: FinishReason,
    pub prompt_tokens: usize,
    /// Prompt tokens served from a prefix cache.
    pub cached_tokens: usize,
    pub generated_tokens: usize,
    pub time_to_first_token_ms: f64,
    pub total_ms: f64,
}

/// One event of a generation: text as it is produced, then a summary.
#[derive(Debug, Clone, PartialEq)]
pub enum GenerateEvent {
    Text(String),
    Done(GenerateSummary),
}

/// A stream of generation events. Dropping it cancels the generation.
pub type GenerateStream = Pin<Box<dyn Stream<Item = Result<GenerateEvent, DomainError>> + Send>>;

/// A chat model.
#[async_trait]
pub trait Generator: Send + Sync {
    fn model_id(&self) -> &str;

    /// Starts a generation. Fails at once with `RateLimited` when the model is too busy to
    /// queue it.
    async fn generate(&self, request: GenerateRequest) -> Result<GenerateStream, DomainError>;
}
