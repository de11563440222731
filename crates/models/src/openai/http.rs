//! The HTTP side of [`super::OpenAiCompatible`]: the endpoint async-openai calls, the transport
//! that keeps a failed request's status, and how failures become [`DomainError`]s (retryable
//! or not, never carrying the API key).

use super::{ENV_API_KEY, ENV_BASE_URL, ENV_MODEL};
use async_openai::config::Config;
use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use secrecy::SecretString;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use warmline_domain::{DomainError, ErrorCode};

/// Server error texts are cut to this many characters (some servers answer with HTML).
const MAX_DETAIL: usize = 300;

/// The URL and headers async-openai puts on each request. Ours rather than async-openai's
/// `OpenAIConfig`, which falls back to `OPENAI_API_KEY` and `OPENAI_ORG_ID` from the
/// environment: a key meant for OpenAI must not be sent to another server.
pub(super) struct Endpoint {
    pub(super) base_url: String,
    pub(super) headers: HeaderMap,
    pub(super) key: SecretString,
}

impl Config for Endpoint {
    fn headers(&self) -> HeaderMap {
        self.headers.clone()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    fn query(&self) -> Vec<(&str, &str)> {
        Vec::new()
    }

    fn api_base(&self) -> &str {
        &self.base_url
    }

    fn api_key(&self) -> &SecretString {
        &self.key
    }
}

/// The HTTP transport: sends each request once and turns a non-2xx answer into an
/// [`HttpFailure`] that keeps the status, `Retry-After` and the server's message.
#[derive(Clone)]
pub(super) struct CheckedHttp {
    pub(super) http: reqwest::Client,
}

impl tower_service::Service<HttpRequestFactory> for CheckedHttp {
    type Response = reqwest::Response;
    type Error = OpenAIError;
    type Future = Pin<Box<dyn Future<Output = Result<reqwest::Response, OpenAIError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), OpenAIError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, factory: HttpRequestFactory) -> Self::Future {
        let http = self.http.clone();
        Box::pin(async move {
            let response = http.execute(factory.build().await?).await?;
            if response.status().is_success() {
                return Ok(response);
            }
            Err(OpenAIError::Boxed(Box::new(
                HttpFailure::read(response).await,
            )))
        })
    }
}

/// A non-2xx answer from the model server.
#[derive(Debug, thiserror::Error)]
#[error("HTTP {status}: {message}")]
struct HttpFailure {
    status: StatusCode,
    retry_after: Option<Duration>,
    message: String,
    /// The error's `type`, e.g. `insufficient_quota`.
    kind: Option<String>,
}

impl HttpFailure {
    async fn read(response: reqwest::Response) -> Self {
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        // An unreadable body only costs the detail; the status says enough.
        let body = response.bytes().await.unwrap_or_default();
        let (message, kind) = error_details(&body);
        Self {
            status,
            retry_after,
            message,
            kind,
        }
    }
}

/// The message and type of an error body, in any of the shapes servers use:
/// `{"error": {"message", "type"}}` (OpenAI, llama.cpp), `{"message", "type"}` (older
/// vLLM), `{"error": "..."}`, or plain text.
fn error_details(body: &[u8]) -> (String, Option<String>) {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        return (clip(String::from_utf8_lossy(body).trim()), None);
    };
    let error = json.get("error").unwrap_or(&json);
    let message = error
        .get("message")
        .and_then(|m| m.as_str())
        .or_else(|| error.as_str())
        .map_or_else(|| clip(&json.to_string()), clip);
    let kind = error
        .get("type")
        .and_then(|t| t.as_str())
        .map(str::to_owned);
    (message, kind)
}

fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_DETAIL) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

/// A failure, and whether trying again may help.
pub(super) struct Failure {
    pub(super) error: DomainError,
    pub(super) retry: bool,
    pub(super) retry_after: Option<Duration>,
}

impl Failure {
    pub(super) fn retry(error: DomainError) -> Self {
        Self {
            error,
            retry: true,
            retry_after: None,
        }
    }

    pub(super) fn fatal(error: DomainError) -> Self {
        Self {
            error,
            retry: false,
            retry_after: None,
        }
    }
}

/// What error messages say about the server, and the key they must never contain.
pub(super) struct Server {
    pub(super) base_url: String,
    pub(super) api_key: Option<String>,
    pub(super) timeout: Duration,
}

impl Server {
    pub(super) fn error(&self, code: ErrorCode, message: String) -> DomainError {
        let message = match self.api_key.as_deref() {
            Some(key) if !key.is_empty() => message.replace(key, "<redacted>"),
            _ => message,
        };
        DomainError::new(code, message)
    }

    pub(super) fn unavailable(&self, message: String) -> DomainError {
        self.error(ErrorCode::Unavailable, message)
    }

    pub(super) fn timed_out(&self) -> Failure {
        Failure::fatal(self.unavailable(format!(
            "the model server at {} did not finish answering within {:?}",
            self.base_url, self.timeout
        )))
    }

    pub(super) fn classify(&self, error: OpenAIError) -> Failure {
        let base = &self.base_url;
        match error {
            OpenAIError::Boxed(boxed) => match boxed.downcast::<HttpFailure>() {
                Ok(failure) => self.rejected(&failure),
                Err(other) => Failure::fatal(self.error(
                    ErrorCode::Internal,
                    format!("calling the model server at {base}: {other}"),
                )),
            },
            OpenAIError::Reqwest(e) => {
                let connect = e.is_connect();
                let what = if connect {
                    "cannot connect to"
                } else if e.is_timeout() {
                    "timed out talking to"
                } else {
                    "lost the connection to"
                };
                let cause = causes(&e.without_url());
                let error = self.unavailable(format!("{what} the model server at {base}: {cause}"));
                if connect {
                    Failure::retry(error)
                } else {
                    Failure::fatal(error)
                }
            }
            OpenAIError::StreamError(e) => Failure::retry(self.unavailable(format!(
                "the stream from the model server at {base} broke: {e}"
            ))),
            OpenAIError::JSONDeserialize(e, content) => {
                // vLLM reports a failure during generation as a `data: {"error": ...}` event.
                let reported = serde_json::from_str::<serde_json::Value>(&content)
                    .is_ok_and(|json| json.get("error").is_some());
                if reported {
                    let (message, _) = error_details(content.as_bytes());
                    Failure::retry(self.unavailable(format!(
                        "the model server at {base} reported an error: {message}"
                    )))
                } else {
                    Failure::fatal(self.error(
                        ErrorCode::Internal,
                        format!(
                            "unexpected data from the model server at {base} ({e}): {}",
                            clip(&content)
                        ),
                    ))
                }
            }
            other => Failure::fatal(self.error(
                ErrorCode::Internal,
                format!("calling the model server at {base}: {other}"),
            )),
        }
    }

    fn rejected(&self, failure: &HttpFailure) -> Failure {
        let base = &self.base_url;
        let status = failure.status;
        let detail = if failure.message.is_empty() {
            String::new()
        } else {
            format!(": {}", failure.message)
        };
        let refused = |hint: &str| format!("the model server at {base} {hint} ({status}){detail}");
        match status.as_u16() {
            429 if failure.kind.as_deref() == Some("insufficient_quota") => {
                Failure::fatal(self.unavailable(refused("has no quota left for this account")))
            }
            429 => Failure {
                error: self.error(
                    ErrorCode::RateLimited,
                    refused("is rate limiting requests; retry later"),
                ),
                retry: true,
                retry_after: failure.retry_after,
            },
            500.. => Failure::retry(self.unavailable(refused("failed"))),
            401 | 403 => Failure::fatal(self.unavailable(refused(&format!(
                "refused the API key; check {ENV_API_KEY}"
            )))),
            404 => Failure::fatal(self.unavailable(refused(&format!(
                "has no such model or endpoint; check {ENV_BASE_URL} (it usually ends in /v1) \
                 and {ENV_MODEL}"
            )))),
            _ => Failure::fatal(self.error(ErrorCode::Internal, refused("rejected the request"))),
        }
    }
}

/// An error and its sources, `outer: inner: root`, without repeats.
fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}
