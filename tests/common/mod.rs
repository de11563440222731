//! Starts the real server on port 0 with a temporary data dir, for black-box tests.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tokio::sync::oneshot;
use warmline::{HttpLimits, Settings, Warmline, app, run};
use warmline_store::Durability;

pub fn sample_knowledge() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge")
}

/// A running server. Dropping it shuts the server down.
pub struct TestServer {
    pub base: String,
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
    pub warmline: Warmline,
}

impl TestServer {
    /// Serves the sample knowledge base from `data_dir` with `limits`.
    pub async fn start(data_dir: &Path, limits: HttpLimits) -> Self {
        Self::start_with(data_dir, &sample_knowledge(), limits).await
    }

    pub async fn start_with(data_dir: &Path, knowledge: &Path, limits: HttpLimits) -> Self {
        Self::start_full(data_dir, knowledge, limits, Default::default()).await
    }

    /// Serves with messaging channels configured.
    pub async fn start_full(
        data_dir: &Path,
        knowledge: &Path,
        limits: HttpLimits,
        mut messaging: warmline_channels::MessagingConfig,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        if let Some(twilio) = messaging
            .twilio
            .as_mut()
            .filter(|t| t.public_url.is_empty())
        {
            twilio.public_url = base.clone();
        }
        let settings = Settings {
            data_dir: data_dir.to_owned(),
            knowledge: knowledge.to_owned(),
            public_url: base.clone(),
            durability: Durability::Process,
            watch: true,
            embedder: None,
            generator: None,
            crm: None,
            messaging,
        };
        let warmline = Warmline::open(&settings, &mut |_, _, _| {}).await.unwrap();
        let router = app(warmline.state.clone(), &limits);
        let (stop, stopped) = oneshot::channel::<()>();
        let done = tokio::spawn(async move {
            run(listener, router, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        Self {
            base,
            addr,
            stop: Some(stop),
            done: Some(done),
            warmline,
        }
    }

    /// Stops serving, waits for running requests, and closes the store.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(done) = self.done.take() {
            let _ = done.await;
        }
        self.warmline.close().await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// Limits with the rate limit off, so tests that send many requests are not throttled.
pub fn unlimited() -> HttpLimits {
    HttpLimits {
        rate_per_second: 0,
        ..HttpLimits::default()
    }
}

/// Where the fetched models are: `WARMLINE_MODELS_DIR`, else the checkout's `models/`.
pub fn models_dir() -> PathBuf {
    std::env::var_os("WARMLINE_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("models"))
}

/// The MiniLM embedder, loaded once per test binary. Panics with what to run when the model
/// has not been fetched (`scripts/test` fetches it).
pub fn embedder() -> std::sync::Arc<dyn warmline_domain::Embedder> {
    static EMBEDDER: std::sync::OnceLock<std::sync::Arc<dyn warmline_domain::Embedder>> =
        std::sync::OnceLock::new();
    EMBEDDER
        .get_or_init(|| {
            warmline::load_embedder(&models_dir()).unwrap_or_else(|e| {
                panic!(
                    "{e:#}\nThese tests need the embedding model: run `cargo run -- models fetch \
                     --models-dir {}` (scripts/test does) or set WARMLINE_MODELS_DIR",
                    models_dir().display()
                )
            })
        })
        .clone()
}

/// Opens a conversation (`body` as the request, `Value::Null` for none) and returns its id.
pub async fn open_conversation(server: &TestServer, body: serde_json::Value) -> String {
    let mut request = reqwest::Client::new().post(server.url("/v1/conversations"));
    if !body.is_null() {
        request = request.json(&body);
    }
    let conversation: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
    conversation["id"].as_str().unwrap().to_owned()
}

/// GETs `path` as JSON, as the agent of `token` when given.
pub async fn get_json(server: &TestServer, path: &str, token: Option<&str>) -> serde_json::Value {
    let mut request = reqwest::Client::new().get(server.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().json().await.unwrap()
}
