//! Starts the real server on port 0 with a temporary data dir, for black-box tests.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tokio::sync::oneshot;
use warmline::{HttpLimits, Settings, Warmline, app, run};

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

    /// Serves the sample knowledge base with a chat model (for handoff summaries; answers
    /// stay quoted without an embedder).
    pub async fn start_with_generator(
        data_dir: &Path,
        generator: std::sync::Arc<dyn warmline_domain::Generator>,
    ) -> Self {
        let knowledge = sample_knowledge();
        Self::start_opts(
            data_dir,
            &knowledge,
            unlimited(),
            Default::default(),
            Some(generator),
            None,
        )
        .await
    }

    /// Serves the sample knowledge base with Direct Line (`/v3/directline`) configured.
    pub async fn start_with_directline(
        data_dir: &Path,
        limits: HttpLimits,
        directline: warmline_channels::directline::DirectLineConfig,
    ) -> Self {
        Self::start_opts(
            data_dir,
            &sample_knowledge(),
            limits,
            Default::default(),
            None,
            Some(directline),
        )
        .await
    }

    /// Serves the sample knowledge base with generated, verified answers from `generator`,
    /// checked with `embedder` (which also ranks passages).
    pub async fn start_grounded(
        data_dir: &Path,
        generator: std::sync::Arc<dyn warmline_domain::Generator>,
        embedder: std::sync::Arc<dyn warmline_domain::Embedder>,
    ) -> Self {
        let knowledge = sample_knowledge();
        Self::start_settings(data_dir, &knowledge, unlimited(), Default::default(), |s| {
            s.generator = Some(generator);
            s.embedder = Some(embedder);
        })
        .await
    }

    /// Serves with messaging channels configured.
    pub async fn start_full(
        data_dir: &Path,
        knowledge: &Path,
        limits: HttpLimits,
        messaging: warmline_channels::MessagingConfig,
    ) -> Self {
        Self::start_opts(data_dir, knowledge, limits, messaging, None, None).await
    }

    async fn start_opts(
        data_dir: &Path,
        knowledge: &Path,
        limits: HttpLimits,
        messaging: warmline_channels::MessagingConfig,
        generator: Option<std::sync::Arc<dyn warmline_domain::Generator>>,
        directline: Option<warmline_channels::directline::DirectLineConfig>,
    ) -> Self {
        Self::start_settings(data_dir, knowledge, limits, messaging, |s| {
            s.generator = generator;
            s.directline = directline;
        })
        .await
    }

    async fn start_settings(
        data_dir: &Path,
        knowledge: &Path,
        limits: HttpLimits,
        mut messaging: warmline_channels::MessagingConfig,
        adjust: impl FnOnce(&mut Settings),
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
        let mut settings = Settings {
            public_url: base.clone(),
            watch: true,
            messaging,
            ..Settings::local(data_dir, knowledge)
        };
        adjust(&mut settings);
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
        self.warmline.state.closing.send_replace(true);
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

/// The `warmline` binary with no settings from the caller's environment, words-only search.
pub fn warmline_command() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_warmline"));
    cmd.env_remove("RUST_LOG")
        .env_remove("WARMLINE_ADDR")
        .env_remove("WARMLINE_DATA_DIR")
        .env_remove("WARMLINE_KNOWLEDGE")
        .env_remove("WARMLINE_MODELS_DIR")
        // One-off commands embed the whole knowledge base in memory: words only here (the
        // semantic path is tested in tests/semantic.rs and by `serve`).
        .env("WARMLINE_NO_EMBEDDINGS", "1");
    cmd
}

/// Runs `cmd`: whether it succeeded, its stdout and its stderr.
pub fn run_command(cmd: &mut std::process::Command) -> (bool, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Creates an agent account with `skills` and logs it in; returns the session token.
pub async fn agent_session(
    server: &TestServer,
    username: &str,
    role: warmline_domain::AgentRole,
    skills: &[&str],
) -> String {
    use warmline_domain::HandoffStore;
    const PASSWORD: &str = "a test passphrase";
    let store = &server.warmline.state.store;
    let hash = warmline_channels::agents::hash_password(PASSWORD).unwrap();
    let agent = store
        .create_agent(username, username, role, &hash)
        .await
        .unwrap();
    let skills: Vec<String> = skills.iter().map(|s| (*s).to_owned()).collect();
    store.set_skills(agent.id, &skills).await.unwrap();
    let session: serde_json::Value = reqwest::Client::new()
        .post(server.url("/v1/agent/login"))
        .json(&serde_json::json!({"username": username, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    session["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{session}"))
        .to_owned()
}

/// An agent's POST with a JSON body.
pub async fn agent_post(
    server: &TestServer,
    token: &str,
    path: &str,
    body: serde_json::Value,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// A customer message; returns the turn.
pub async fn customer_says(
    server: &TestServer,
    conversation: &str,
    text: &str,
) -> serde_json::Value {
    let response = reqwest::Client::new()
        .post(server.url(&format!("/v1/conversations/{conversation}/messages")))
        .json(&serde_json::json!({ "text": text }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// A customer's rating of the bot reply `message` as stored (1 helpful, 0 not), if any.
pub async fn rating_of(server: &TestServer, message: &str) -> Option<i64> {
    sqlx::query_scalar("SELECT helpful FROM answer_ratings WHERE message_id = ?")
        .bind(message)
        .fetch_optional(server.warmline.state.store.reader_pool())
        .await
        .unwrap()
}
