//! Chat generation by an OpenAI-compatible server: vLLM, llama.cpp's `llama-server`, OpenAI.
//!
//! [`OpenAiCompatible`] implements [`Generator`] with a streamed `POST
//! {base_url}/chat/completions`. Failures before the first token (connection refused, 429,
//! 5xx, a stream that breaks before saying anything) are retried with exponential backoff;
//! once text has been handed out, a failure ends the stream with an error, because the
//! customer has already seen part of the answer. One deadline, [`OpenAiConfig::timeout`],
//! bounds the whole generation, retries included. Dropping the returned stream drops the
//! HTTP response, which closes the connection, and the server stops generating.
//!
//! async-openai builds the request and parses the chunks; the HTTP exchange goes through our
//! own transport (the `http` submodule) instead of async-openai's so that retries are ours (its built-in
//! layer retries three times, whatever we configure) and a failed request keeps its status
//! code (async-openai loses it for servers that send `"code": 401` as a number, as llama.cpp
//! does).

mod http;

use self::http::{CheckedHttp, Endpoint, Failure, Server};
use async_openai::Client;
use async_openai::types::chat::{
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestMessage,
    ChatCompletionRequestSystemMessage, ChatCompletionRequestUserMessage,
    ChatCompletionResponseStream, ChatCompletionStreamOptions, CompletionUsage,
    CreateChatCompletionRequest, CreateChatCompletionStreamResponse, StopConfiguration,
};
use futures_util::StreamExt;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use secrecy::SecretString;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use warmline_domain::{
    DomainError, FinishReason, GenerateEvent, GenerateRequest, GenerateStream, GenerateSummary,
    Generator, PromptRole,
};

/// Environment variable: the API root, e.g. `http://localhost:8000/v1` (required).
pub const ENV_BASE_URL: &str = "WARMLINE_OPENAI_BASE_URL";
/// Environment variable: the model name the server knows (required).
pub const ENV_MODEL: &str = "WARMLINE_OPENAI_MODEL";
/// Environment variable: the API key, sent as a bearer token (optional).
pub const ENV_API_KEY: &str = "WARMLINE_OPENAI_API_KEY";
/// Environment variable: [`OpenAiConfig::timeout`] in whole seconds (default 60).
pub const ENV_TIMEOUT_SECS: &str = "WARMLINE_OPENAI_TIMEOUT_SECS";

/// Default [`OpenAiConfig::timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Default [`OpenAiConfig::max_retries`].
pub const DEFAULT_MAX_RETRIES: u32 = 2;
/// OpenAI accepts at most this many stop strings.
const MAX_STOP: usize = 4;
/// Connecting never takes longer than this, so a dead host leaves time for a retry.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How much later than the generation's deadline the HTTP client's own timeout fires.
const BACKSTOP_MARGIN: Duration = Duration::from_secs(1);
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(4);

/// Where and how to reach an OpenAI-compatible chat-completions server.
#[derive(Clone)]
pub struct OpenAiConfig {
    /// The API root up to and including its version: `http://localhost:8000/v1` (vLLM),
    /// `http://localhost:8080/v1` (llama.cpp), `https://api.openai.com/v1`.
    pub base_url: String,
    /// The model name the server knows (vLLM's `--served-model-name`).
    pub model: String,
    /// Sent as `Authorization: Bearer ...` when set; never logged nor put in errors.
    pub api_key: Option<String>,
    /// The most one generation may take, retries included.
    pub timeout: Duration,
    /// How many times a failure before the first token is retried.
    pub max_retries: u32,
    /// Sampling temperature; `None` leaves the server's default.
    pub temperature: Option<f32>,
}

impl fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("temperature", &self.temperature)
            .finish()
    }
}

/// A configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenAiConfigError {
    #[error("{0} is not set; it is required to use an OpenAI-compatible model server")]
    Missing(&'static str),
    #[error("{what} is {value:?}: {reason}")]
    Invalid {
        what: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("the API key contains characters that are not allowed in an HTTP header")]
    ApiKey,
    #[error("cannot set up the HTTP client for the model server: {0}")]
    Client(String),
}

impl OpenAiConfig {
    /// A server without an API key, with the default timeout and retries.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            model: model.into(),
            api_key: None,
            timeout: DEFAULT_TIMEOUT,
            max_retries: DEFAULT_MAX_RETRIES,
            temperature: None,
        }
    }

    /// Reads [`ENV_BASE_URL`], [`ENV_MODEL`], [`ENV_API_KEY`] and [`ENV_TIMEOUT_SECS`].
    pub fn from_env() -> Result<Self, OpenAiConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`Self::from_env`] with the variables read by `lookup` (blank counts as unset).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, OpenAiConfigError> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let base_url = get(ENV_BASE_URL).ok_or(OpenAiConfigError::Missing(ENV_BASE_URL))?;
        let model = get(ENV_MODEL).ok_or(OpenAiConfigError::Missing(ENV_MODEL))?;
        let mut config = Self::new(base_url.trim(), model.trim());
        config.api_key = get(ENV_API_KEY).map(|key| key.trim().to_owned());
        if let Some(value) = get(ENV_TIMEOUT_SECS) {
            let invalid = || OpenAiConfigError::Invalid {
                what: ENV_TIMEOUT_SECS,
                value: value.clone(),
                reason: "expected a whole number of seconds, at least 1",
            };
            let secs = value.trim().parse::<u64>().map_err(|_| invalid())?;
            if secs == 0 {
                return Err(invalid());
            }
            config.timeout = Duration::from_secs(secs);
        }
        Ok(config)
    }
}

/// A [`Generator`] backed by an OpenAI-compatible chat-completions server.
pub struct OpenAiCompatible {
    client: Client<Endpoint>,
    server: Arc<Server>,
    model: String,
    max_retries: u32,
    temperature: Option<f32>,
}

impl fmt::Debug for OpenAiCompatible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiCompatible")
            .field("base_url", &self.server.base_url)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl OpenAiCompatible {
    /// Checks `config` and builds the HTTP client; connects to nothing yet.
    pub fn new(config: OpenAiConfig) -> Result<Self, OpenAiConfigError> {
        let base_url = config.base_url.trim().trim_end_matches('/').to_owned();
        let invalid_url = |reason| OpenAiConfigError::Invalid {
            what: "the model server's base URL",
            value: base_url.clone(),
            reason,
        };
        let url = reqwest::Url::parse(&base_url)
            .map_err(|_| invalid_url("not a URL; expected e.g. http://localhost:8000/v1"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid_url("expected an http:// or https:// URL"));
        }
        let mut headers = HeaderMap::new();
        if let Some(key) = &config.api_key {
            let mut value = HeaderValue::from_str(&format!("Bearer {key}"))
                .map_err(|_| OpenAiConfigError::ApiKey)?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("warmline/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.timeout.min(CONNECT_TIMEOUT))
            // A backstop per attempt. The deadline that callers see is enforced around each
            // await (`open`, `Reader::step`), with a clearer error, and fires first.
            .timeout(config.timeout + BACKSTOP_MARGIN)
            .build()
            .map_err(|e| OpenAiConfigError::Client(e.to_string()))?;
        let endpoint = Endpoint {
            base_url: base_url.clone(),
            headers,
            key: SecretString::from(config.api_key.clone().unwrap_or_default()),
        };
        let client = Client::build(http.clone(), endpoint).with_http_service(CheckedHttp { http });
        Ok(Self {
            client,
            server: Arc::new(Server {
                base_url,
                api_key: config.api_key,
                timeout: config.timeout,
            }),
            model: config.model,
            max_retries: config.max_retries,
            temperature: config.temperature,
        })
    }

    /// The chat-completions request for `request`.
    // `max_tokens` is deprecated by OpenAI in favour of `max_completion_tokens`, but it is
    // the field vLLM and llama.cpp read, and OpenAI's chat models still accept it.
    #[allow(deprecated)]
    fn body(&self, request: &GenerateRequest) -> CreateChatCompletionRequest {
        let mut messages: Vec<ChatCompletionRequestMessage> =
            Vec::with_capacity(request.turns.len() + 1);
        messages.push(ChatCompletionRequestSystemMessage::from(request.system.as_str()).into());
        for (role, text) in &request.turns {
            messages.push(match role {
                PromptRole::User => ChatCompletionRequestUserMessage::from(text.as_str()).into(),
                PromptRole::Assistant => {
                    ChatCompletionRequestAssistantMessage::from(text.as_str()).into()
                }
            });
        }
        let stop: Vec<String> = request
            .stop
            .iter()
            .filter(|s| !s.is_empty())
            .cloned()
            .collect();
        if stop.len() > MAX_STOP {
            tracing::warn!(
                given = stop.len(),
                kept = MAX_STOP,
                "too many stop strings for an openai-compatible server; ignoring the rest"
            );
        }
        let stop: Vec<String> = stop.into_iter().take(MAX_STOP).collect();
        CreateChatCompletionRequest {
            model: self.model.clone(),
            messages,
            max_tokens: Some(u32::try_from(request.max_tokens).unwrap_or(u32::MAX)),
            stop: (!stop.is_empty()).then_some(StopConfiguration::StringArray(stop)),
            stream: Some(true),
            stream_options: Some(ChatCompletionStreamOptions {
                include_usage: Some(true),
                include_obfuscation: None,
            }),
            temperature: self.temperature,
            ..Default::default()
        }
    }

    /// Sends the request until the first event arrives, retrying what may be retried.
    async fn open(
        &self,
        body: CreateChatCompletionRequest,
        started: Instant,
    ) -> Result<Reader, DomainError> {
        let deadline = started + self.server.timeout;
        let mut attempt = 0;
        loop {
            let failure =
                match tokio::time::timeout_at(deadline, self.attempt(&body, started)).await {
                    Ok(Ok(reader)) => return Ok(reader),
                    Ok(Err(failure)) => failure,
                    Err(_) => return Err(self.server.timed_out().error),
                };
            let mut error = failure.error;
            if attempt > 0 {
                error.message = format!("{} (after {} attempts)", error.message, attempt + 1);
            }
            if !failure.retry || attempt >= self.max_retries {
                return Err(error);
            }
            let delay = failure.retry_after.unwrap_or_else(|| backoff(attempt));
            if Instant::now() + delay >= deadline {
                return Err(error);
            }
            attempt += 1;
            tracing::warn!(
                attempt,
                delay_s = delay.as_secs_f64(),
                error = %error.message,
                "model server failed before answering; retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt(
        &self,
        body: &CreateChatCompletionRequest,
        started: Instant,
    ) -> Result<Reader, Failure> {
        let chunks = self
            .client
            .chat()
            .create_stream(body.clone())
            .await
            .map_err(|e| self.server.classify(e))?;
        let mut reader = Reader {
            chunks,
            server: Arc::clone(&self.server),
            started,
            deadline: started + self.server.timeout,
            pending: None,
            first_token: None,
            content_chunks: 0,
            finish: None,
            usage: None,
            ended: false,
        };
        reader.pending = Some(reader.step().await?);
        Ok(reader)
    }
}

#[async_trait::async_trait]
impl Generator for OpenAiCompatible {
    fn model_id(&self) -> &str {
        &self.model
    }

    async fn generate(&self, request: GenerateRequest) -> Result<GenerateStream, DomainError> {
        let started = Instant::now();
        let reader = self.open(self.body(&request), started).await?;
        let stream = futures_util::stream::unfold(reader, |mut reader| async move {
            reader.next().await.map(|event| (event, reader))
        });
        Ok(Box::pin(stream))
    }
}

/// Exponential backoff: 200 ms, 400 ms, 800 ms... at most [`MAX_BACKOFF`].
fn backoff(attempt: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(2u32.saturating_pow(attempt))
        .min(MAX_BACKOFF)
}

/// Reads one streamed answer, counting as it goes.
struct Reader {
    chunks: ChatCompletionResponseStream,
    server: Arc<Server>,
    started: Instant,
    deadline: Instant,
    /// The first event, read while opening (where failures may still be retried).
    pending: Option<GenerateEvent>,
    first_token: Option<Duration>,
    content_chunks: usize,
    finish: Option<FinishReason>,
    usage: Option<CompletionUsage>,
    ended: bool,
}

impl Reader {
    async fn next(&mut self) -> Option<Result<GenerateEvent, DomainError>> {
        if let Some(event) = self.pending.take() {
            return Some(Ok(event));
        }
        if self.ended {
            return None;
        }
        Some(self.step().await.map_err(|failure| failure.error))
    }

    /// The next text, or the summary once the server has finished. Ends the reader on a
    /// summary or an error.
    async fn step(&mut self) -> Result<GenerateEvent, Failure> {
        loop {
            let next = tokio::time::timeout_at(self.deadline, self.chunks.next()).await;
            let chunk = match next {
                Ok(Some(Ok(chunk))) => chunk,
                Ok(None) if self.finish.is_some() => return Ok(self.summary()),
                Ok(None) => {
                    self.ended = true;
                    return Err(Failure::retry(self.server.unavailable(format!(
                        "the model server at {} closed the stream before finishing its answer",
                        self.server.base_url
                    ))));
                }
                Ok(Some(Err(e))) if self.finish.is_some() => {
                    // The answer is complete; only the trailer (usage, `[DONE]`) was lost.
                    tracing::warn!(error = %e, "model server stream broke after the answer");
                    return Ok(self.summary());
                }
                Ok(Some(Err(e))) => {
                    self.ended = true;
                    return Err(self.server.classify(e));
                }
                Err(_) => {
                    self.ended = true;
                    return Err(self.server.timed_out());
                }
            };
            if let Some(text) = self.absorb(chunk) {
                return Ok(GenerateEvent::Text(text));
            }
        }
    }

    /// Takes the usage and finish reason of a chunk; returns its text, if any.
    fn absorb(&mut self, chunk: CreateChatCompletionStreamResponse) -> Option<String> {
        if let Some(usage) = chunk.usage {
            self.usage = Some(usage);
        }
        let mut text = String::new();
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            if let Some(reason) = choice.finish_reason {
                self.finish = Some(finish_reason(reason));
            }
            if let Some(content) = choice.delta.content {
                text.push_str(&content);
            }
        }
        if text.is_empty() {
            return None;
        }
        self.content_chunks += 1;
        self.first_token
            .get_or_insert_with(|| self.started.elapsed());
        Some(text)
    }

    fn summary(&mut self) -> GenerateEvent {
        self.ended = true;
        let usage = self.usage.as_ref();
        let total = self.started.elapsed();
        GenerateEvent::Done(GenerateSummary {
            finish: self.finish.unwrap_or(FinishReason::Stop),
            prompt_tokens: usage.map_or(0, |u| u.prompt_tokens as usize),
            cached_tokens: usage
                .and_then(|u| u.prompt_tokens_details.as_ref())
                .and_then(|d| d.cached_tokens)
                .map_or(0, |n| n as usize),
            generated_tokens: usage.map_or(self.content_chunks, |u| u.completion_tokens as usize),
            time_to_first_token_ms: self.first_token.unwrap_or(total).as_secs_f64() * 1e3,
            total_ms: total.as_secs_f64() * 1e3,
        })
    }
}

fn finish_reason(reason: async_openai::types::chat::FinishReason) -> FinishReason {
    use async_openai::types::chat::FinishReason as Wire;
    match reason {
        Wire::Length => FinishReason::Length,
        Wire::Stop => FinishReason::Stop,
        other => {
            // We send no tools; a content filter ends the answer like a stop.
            tracing::warn!(reason = ?other, "model server ended the answer unusually");
            FinishReason::Stop
        }
    }
}
