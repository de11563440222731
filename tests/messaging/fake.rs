//! A fake provider API on 127.0.0.1:0: records every request and answers like the real ones
//! (one body that satisfies Telegram, WhatsApp, Twilio and Slack), or fails on demand.

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// How the fake answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    Ok = 0,
    /// 500 Internal Server Error (an outage).
    Down = 1,
    /// 429 with `Retry-After: 1`.
    RateLimited = 2,
}

#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    pub content_type: String,
    pub authorization: String,
    pub body: Vec<u8>,
    pub at: std::time::Instant,
}

impl Request {
    /// The body as JSON, or a form body as a JSON object of strings.
    pub fn json(&self) -> Value {
        if self
            .content_type
            .starts_with("application/x-www-form-urlencoded")
        {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&self.body).unwrap();
            Value::Object(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect(),
            )
        } else {
            serde_json::from_slice(&self.body).unwrap_or(Value::Null)
        }
    }
}

#[derive(Default)]
struct State {
    mode: AtomicU8,
    served: Mutex<Vec<Request>>,
    failed: AtomicUsize,
}

#[derive(Clone)]
pub struct Fake {
    pub base: String,
    state: Arc<State>,
}

impl Fake {
    pub async fn start() -> Self {
        Self::start_on(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()).await
    }

    pub async fn start_on(listener: tokio::net::TcpListener) -> Self {
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(State::default());
        let s = state.clone();
        let app = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let s = s.clone();
                async move { answer(&s, method, uri, headers, body) }
            },
        );
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { base, state }
    }

    pub fn set_mode(&self, mode: Mode) {
        self.state.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// Requests answered with success, in order.
    pub fn served(&self) -> Vec<Request> {
        self.state.served.lock().unwrap().clone()
    }

    /// Requests answered with an error.
    pub fn failed(&self) -> usize {
        self.state.failed.load(Ordering::SeqCst)
    }
}

fn answer(s: &State, _method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    match s.mode.load(Ordering::SeqCst) {
        1 => {
            s.failed.fetch_add(1, Ordering::SeqCst);
            return (StatusCode::INTERNAL_SERVER_ERROR, "provider outage").into_response();
        }
        2 => {
            s.failed.fetch_add(1, Ordering::SeqCst);
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "1")],
                axum::Json(
                    json!({"ok": false, "error_code": 429, "parameters": {"retry_after": 1}}),
                ),
            )
                .into_response();
        }
        _ => {}
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let mut served = s.served.lock().unwrap();
    served.push(Request {
        path: uri.path().to_owned(),
        content_type: header("content-type"),
        authorization: header("authorization"),
        body: body.to_vec(),
        at: std::time::Instant::now(),
    });
    let n = served.len();
    axum::Json(json!({
        "ok": true,
        "result": {"message_id": n},
        "messages": [{"id": format!("wamid.out{n}")}],
        "sid": format!("SMout{n}"),
        "ts": format!("{n}.000100"),
    }))
    .into_response()
}
