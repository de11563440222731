//! `OpenAiCompatible` against a fake chat-completions server on 127.0.0.1:0 that speaks the
//! wire format as strictly as async-openai parses it, checks what it is sent and records it.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use warmline_domain::{
    DomainError, ErrorCode, FinishReason, GenerateEvent, GenerateRequest, GenerateSummary,
    Generator, PromptRole,
};
use warmline_models::openai::{
    ENV_API_KEY, ENV_BASE_URL, ENV_MODEL, ENV_TIMEOUT_SECS, OpenAiConfigError,
};
use warmline_models::{OpenAiCompatible, OpenAiConfig};

const MODEL: &str = "smollm2-135m-instruct";

/// What the fake answers to one request, in order.
enum Reply {
    /// These `data:` payloads, then `data: [DONE]`.
    Stream(Vec<String>),
    /// These payloads, then the connection ends without `[DONE]`.
    Truncated(Vec<String>),
    /// A non-2xx answer with this body.
    Status(u16, &'static str),
    /// A chunk every 10 ms until the client goes away.
    Endless,
}

/// One request the fake received.
#[derive(Debug, Clone)]
struct Seen {
    authorization: Option<String>,
    body: Value,
}

#[derive(Clone, Default)]
struct Fake {
    replies: Arc<Mutex<VecDeque<Reply>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Notified when an endless stream's client has gone away.
    client_left: Arc<Notify>,
}

impl Fake {
    fn new(replies: Vec<Reply>) -> Self {
        Self {
            replies: Arc::new(Mutex::new(replies.into())),
            ..Self::default()
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("seen lock").clone()
    }
}

async fn completions(State(fake): State<Fake>, headers: HeaderMap, body: String) -> Response {
    let Ok(body) = serde_json::from_str::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "body is not JSON").into_response();
    };
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().expect("ascii authorization").to_owned());
    fake.seen.lock().expect("seen lock").push(Seen {
        authorization,
        body: body.clone(),
    });
    // What a real server would refuse.
    if body["model"] != MODEL {
        return (StatusCode::NOT_FOUND, "unknown model").into_response();
    }
    if body["stream"] != true {
        return (StatusCode::BAD_REQUEST, "expected stream: true").into_response();
    }
    let reply = fake.replies.lock().expect("replies lock").pop_front();
    match reply {
        Some(Reply::Stream(frames)) => sse(sse_text(&frames, true)),
        Some(Reply::Truncated(frames)) => sse(sse_text(&frames, false)),
        Some(Reply::Status(status, body)) => {
            let status = StatusCode::from_u16(status).expect("status");
            (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Some(Reply::Endless) => endless(fake.client_left.clone()),
        None => (StatusCode::INTERNAL_SERVER_ERROR, "no reply scripted").into_response(),
    }
}

fn sse_text(frames: &[String], done: bool) -> String {
    let mut text: String = frames.iter().map(|f| format!("data: {f}\n\n")).collect();
    if done {
        text.push_str("data: [DONE]\n\n");
    }
    text
}

fn sse(body: impl Into<Body>) -> Response {
    ([(header::CONTENT_TYPE, "text/event-stream")], body.into()).into_response()
}

fn endless(client_left: Arc<Notify>) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, Infallible>>(1);
    tokio::spawn(async move {
        let mut frames = vec![chunk(Some("assistant"), Some(""), None)];
        loop {
            for frame in frames.drain(..) {
                if tx.send(Ok(format!("data: {frame}\n\n"))).await.is_err() {
                    // The body was dropped: the client closed the connection.
                    client_left.notify_one();
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            frames.push(chunk(None, Some("more "), None));
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|frame| (frame, rx))
    });
    sse(Body::from_stream(body))
}

/// A `chat.completion.chunk` with one choice.
fn chunk(role: Option<&str>, content: Option<&str>, finish: Option<&str>) -> String {
    let mut delta = json!({});
    if let Some(role) = role {
        delta["role"] = json!(role);
    }
    if let Some(content) = content {
        delta["content"] = json!(content);
    }
    json!({
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 1_764_000_000,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    })
    .to_string()
}

/// The final chunk `stream_options.include_usage` asks for: no choices, the usage.
fn usage(prompt: u32, completion: u32, cached: u32) -> String {
    json!({
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 1_764_000_000,
        "model": MODEL,
        "choices": [],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached},
        },
    })
    .to_string()
}

/// A whole answer: the role, each piece, the finish reason.
fn answer(pieces: &[&str], finish: &str) -> Vec<String> {
    let mut frames = vec![chunk(Some("assistant"), Some(""), None)];
    frames.extend(pieces.iter().map(|p| chunk(None, Some(p), None)));
    frames.push(chunk(None, None, Some(finish)));
    frames
}

/// Serves `fake`; returns its base URL (with `/v1`, like vLLM's).
async fn serve(fake: Fake) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let app = Router::new()
        .route("/v1/chat/completions", post(completions))
        .with_state(fake);
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    format!("http://{addr}/v1")
}

fn config(base_url: &str) -> OpenAiConfig {
    OpenAiConfig {
        base_url: base_url.to_owned(),
        model: MODEL.to_owned(),
        api_key: None,
        timeout: Duration::from_secs(10),
        max_retries: 2,
        temperature: None,
    }
}

fn request() -> GenerateRequest {
    GenerateRequest {
        system: "Answer only from the passages.".into(),
        turns: vec![
            (PromptRole::User, "Do you ship abroad?".into()),
            (PromptRole::Assistant, "To which country?".into()),
            (PromptRole::User, "Canada".into()),
        ],
        max_tokens: 64,
        stop: vec!["<|im_end|>".into(), "\nQuestion:".into()],
    }
}

/// Everything a generation yields: texts in order, the summary, an error.
#[derive(Debug, Default)]
struct Outcome {
    texts: Vec<String>,
    summary: Option<GenerateSummary>,
    error: Option<DomainError>,
}

async fn run(config: OpenAiConfig, request: GenerateRequest) -> Result<Outcome, DomainError> {
    let generator = OpenAiCompatible::new(config).expect("valid config");
    let mut stream = generator.generate(request).await?;
    let mut outcome = Outcome::default();
    while let Some(event) = stream.next().await {
        assert!(
            outcome.summary.is_none() && outcome.error.is_none(),
            "nothing may follow the summary or an error: {event:?}"
        );
        match event {
            Ok(GenerateEvent::Text(text)) => outcome.texts.push(text),
            Ok(GenerateEvent::Done(summary)) => outcome.summary = Some(summary),
            Err(e) => outcome.error = Some(e),
        }
    }
    Ok(outcome)
}

#[tokio::test]
async fn streamed_text_arrives_in_order_with_a_summary() {
    let mut frames = answer(&["Yes, ", "we ship ", "to Canada."], "stop");
    frames.push(usage(42, 7, 32));
    let fake = Fake::new(vec![Reply::Stream(frames)]);
    let mut config = config(&serve(fake.clone()).await);
    config.api_key = Some("sk-test-123".into());
    config.temperature = Some(0.25);

    let outcome = run(config, request()).await.expect("generation");

    assert_eq!(outcome.texts, ["Yes, ", "we ship ", "to Canada."]);
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let summary = outcome.summary.expect("a summary");
    assert_eq!(summary.finish, FinishReason::Stop);
    assert_eq!(summary.prompt_tokens, 42);
    assert_eq!(summary.cached_tokens, 32);
    assert_eq!(summary.generated_tokens, 7, "from usage, not the 3 chunks");
    assert!(summary.time_to_first_token_ms > 0.0);
    assert!(summary.time_to_first_token_ms <= summary.total_ms);

    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].authorization.as_deref(), Some("Bearer sk-test-123"));
    let body = &seen[0].body;
    assert_eq!(body["model"], MODEL);
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "Answer only from the passages."},
            {"role": "user", "content": "Do you ship abroad?"},
            {"role": "assistant", "content": "To which country?"},
            {"role": "user", "content": "Canada"},
        ])
    );
    assert_eq!(body["max_tokens"], 64);
    assert!(body.get("max_completion_tokens").is_none(), "{body}");
    assert_eq!(body["stop"], json!(["<|im_end|>", "\nQuestion:"]));
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert_eq!(body["temperature"], 0.25);
}

#[tokio::test]
async fn length_finish_maps_to_length_and_chunks_count_without_usage() {
    let fake = Fake::new(vec![Reply::Stream(answer(&["We ship", " to"], "length"))]);
    let base_url = serve(fake.clone()).await;
    let mut request = request();
    request.stop.clear();

    let outcome = run(config(&base_url), request).await.expect("generation");

    assert_eq!(outcome.texts.concat(), "We ship to");
    let summary = outcome.summary.expect("a summary");
    assert_eq!(summary.finish, FinishReason::Length);
    assert_eq!(summary.generated_tokens, 2, "one per content chunk");
    assert_eq!(summary.prompt_tokens, 0);
    let seen = fake.seen();
    assert_eq!(seen[0].authorization, None, "no key configured, none sent");
    assert!(seen[0].body.get("stop").is_none(), "{}", seen[0].body);
    assert!(
        seen[0].body.get("temperature").is_none(),
        "{}",
        seen[0].body
    );
}

#[tokio::test]
async fn more_than_four_stop_strings_are_cut_to_four() {
    let fake = Fake::new(vec![Reply::Stream(answer(&["ok"], "stop"))]);
    let base_url = serve(fake.clone()).await;
    let mut request = request();
    request.stop = ["a", "b", "c", "d", "e"].map(String::from).to_vec();

    run(config(&base_url), request).await.expect("generation");

    assert_eq!(fake.seen()[0].body["stop"], json!(["a", "b", "c", "d"]));
}

#[tokio::test]
async fn server_errors_before_the_first_token_are_retried() {
    let fake = Fake::new(vec![
        Reply::Status(503, r#"{"error": {"message": "loading the model"}}"#),
        Reply::Status(503, "<html>Service Unavailable</html>"),
        Reply::Stream(answer(&["Hello"], "stop")),
    ]);
    let base_url = serve(fake.clone()).await;

    let outcome = run(config(&base_url), request()).await.expect("generation");

    assert_eq!(outcome.texts, ["Hello"]);
    assert_eq!(
        outcome.summary.expect("a summary").finish,
        FinishReason::Stop
    );
    assert_eq!(fake.seen().len(), 3, "two failures, then the answer");
}

#[tokio::test]
async fn rate_limiting_past_the_retries_is_rate_limited() {
    let body = r#"{"error": {"message": "slow down", "type": "requests"}}"#;
    let fake = Fake::new(vec![Reply::Status(429, body), Reply::Status(429, body)]);
    let mut config = config(&serve(fake.clone()).await);
    config.max_retries = 1;

    let error = run(config, request()).await.expect_err("rate limited");

    assert_eq!(error.code, ErrorCode::RateLimited, "{error}");
    assert!(error.message.contains("slow down"), "{error}");
    assert!(error.message.contains("after 2 attempts"), "{error}");
    assert_eq!(fake.seen().len(), 2, "the first try and one retry");
}

#[tokio::test]
async fn unauthorized_is_not_retried_and_says_so_without_the_key() {
    // llama.cpp's shape: a numeric `code`, which async-openai's own error type cannot parse.
    let body = r#"{"error": {"code": 401, "message": "Invalid API Key: sk-wrong-key", "type": "authentication_error"}}"#;
    let fake = Fake::new(vec![Reply::Status(401, body)]);
    let mut config = config(&serve(fake.clone()).await);
    config.api_key = Some("sk-wrong-key".into());
    config.max_retries = 3;

    let error = run(config, request()).await.expect_err("unauthorized");

    assert_eq!(error.code, ErrorCode::Unavailable, "{error}");
    assert!(error.message.contains("401"), "{error}");
    assert!(error.message.contains(ENV_API_KEY), "{error}");
    assert!(error.message.contains("Invalid API Key"), "{error}");
    assert!(
        !error.message.contains("sk-wrong-key"),
        "key leaked: {error}"
    );
    assert_eq!(fake.seen().len(), 1, "a 401 is not retried");
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_within_the_timeout() {
    // A port that was just free: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base_url = format!("http://{}/v1", listener.local_addr().expect("address"));
    drop(listener);
    let mut config = config(&base_url);
    config.timeout = Duration::from_secs(3);

    let started = Instant::now();
    let error = run(config, request()).await.expect_err("unreachable");

    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(error.code, ErrorCode::Unavailable, "{error}");
    assert!(error.message.contains("cannot connect"), "{error}");
    assert!(error.message.contains(&base_url), "{error}");
}

#[tokio::test]
async fn a_silent_server_times_out() {
    // Accepts connections (the kernel's backlog) but never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base_url = format!("http://{}/v1", listener.local_addr().expect("address"));
    let mut config = config(&base_url);
    config.timeout = Duration::from_secs(1);

    let started = Instant::now();
    let error = run(config, request()).await.expect_err("timed out");

    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert_eq!(error.code, ErrorCode::Unavailable, "{error}");
    assert!(error.message.contains("within 1s"), "{error}");
    drop(listener);
}

#[tokio::test]
async fn dropping_the_stream_closes_the_connection() {
    let fake = Fake::new(vec![Reply::Endless]);
    let generator = OpenAiCompatible::new(config(&serve(fake.clone()).await)).expect("config");
    let mut stream = generator.generate(request()).await.expect("generation");
    let first = stream.next().await.expect("an event").expect("text");
    assert_eq!(first, GenerateEvent::Text("more ".into()));

    drop(stream);

    tokio::time::timeout(Duration::from_secs(5), fake.client_left.notified())
        .await
        .expect("the fake saw the client disconnect");
}

#[tokio::test]
async fn a_failure_after_text_ends_the_stream_with_an_error() {
    let mut frames = answer(&["Partial "], "stop");
    frames.pop(); // no finish reason: the server dies mid-answer
    let fake = Fake::new(vec![Reply::Truncated(frames)]);
    let base_url = serve(fake.clone()).await;

    let outcome = run(config(&base_url), request()).await.expect("started");

    assert_eq!(outcome.texts, ["Partial "]);
    assert!(outcome.summary.is_none());
    let error = outcome.error.expect("an error ends the stream");
    assert_eq!(error.code, ErrorCode::Unavailable, "{error}");
    assert!(error.message.contains("before finishing"), "{error}");
    assert_eq!(fake.seen().len(), 1, "text was sent: no retry");
}

#[tokio::test]
async fn an_error_event_mid_stream_is_unavailable() {
    let mut frames = answer(&["Partial "], "stop");
    frames.pop();
    frames.push(json!({"error": {"message": "engine died", "code": 500}}).to_string());
    let fake = Fake::new(vec![Reply::Stream(frames)]);

    let outcome = run(config(&serve(fake).await), request())
        .await
        .expect("started");

    assert_eq!(outcome.texts, ["Partial "]);
    let error = outcome.error.expect("an error ends the stream");
    assert_eq!(error.code, ErrorCode::Unavailable, "{error}");
    assert!(error.message.contains("engine died"), "{error}");
}

#[tokio::test]
async fn an_unexpected_payload_is_internal() {
    let bad = json!({"id": "x", "object": "chat.completion.chunk", "created": "today",
        "model": MODEL, "choices": []});
    let fake = Fake::new(vec![Reply::Stream(vec![bad.to_string()])]);

    let error = run(config(&serve(fake.clone()).await), request())
        .await
        .expect_err("bad payload");

    assert_eq!(error.code, ErrorCode::Internal, "{error}");
    assert!(error.message.contains("unexpected data"), "{error}");
    assert_eq!(fake.seen().len(), 1, "a bad payload is not retried");
}

fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

#[test]
fn from_env_names_the_missing_variable() {
    let error = OpenAiConfig::from_lookup(lookup(&[(ENV_MODEL, MODEL)])).expect_err("no URL");
    assert_eq!(error, OpenAiConfigError::Missing(ENV_BASE_URL));
    assert!(
        error.to_string().contains("WARMLINE_OPENAI_BASE_URL"),
        "{error}"
    );

    let error = OpenAiConfig::from_lookup(lookup(&[
        (ENV_BASE_URL, "http://localhost:8000/v1"),
        (ENV_MODEL, "  "),
    ]))
    .expect_err("blank model");
    assert!(
        error.to_string().contains("WARMLINE_OPENAI_MODEL"),
        "{error}"
    );

    let error = OpenAiConfig::from_lookup(lookup(&[
        (ENV_BASE_URL, "http://localhost:8000/v1"),
        (ENV_MODEL, MODEL),
        (ENV_TIMEOUT_SECS, "soon"),
    ]))
    .expect_err("bad timeout");
    assert!(
        error.to_string().contains("WARMLINE_OPENAI_TIMEOUT_SECS"),
        "{error}"
    );
}

#[test]
fn from_env_reads_every_variable_and_hides_the_key() {
    let config = OpenAiConfig::from_lookup(lookup(&[
        (ENV_BASE_URL, "http://localhost:8000/v1"),
        (ENV_MODEL, MODEL),
        (ENV_API_KEY, "sk-secret"),
        (ENV_TIMEOUT_SECS, "5"),
    ]))
    .expect("config");
    assert_eq!(config.base_url, "http://localhost:8000/v1");
    assert_eq!(config.model, MODEL);
    assert_eq!(config.api_key.as_deref(), Some("sk-secret"));
    assert_eq!(config.timeout, Duration::from_secs(5));
    assert!(!format!("{config:?}").contains("sk-secret"));

    let defaults = OpenAiConfig::from_lookup(lookup(&[
        (ENV_BASE_URL, "http://localhost:8000/v1"),
        (ENV_MODEL, MODEL),
    ]))
    .expect("config");
    assert_eq!(defaults.api_key, None);
    assert_eq!(defaults.timeout, Duration::from_secs(60));
}

#[test]
fn a_base_url_that_is_not_http_is_refused() {
    let error = OpenAiCompatible::new(config("localhost:8000/v1")).expect_err("no scheme");
    assert!(error.to_string().contains("localhost:8000/v1"), "{error}");
}
