//! Messaging apps end to end: the real server on port 0 receives signed webhooks (signatures
//! computed by the providers' own SDKs where they exist: PyPI `twilio`, `slack_sdk`; Telegram
//! updates built with `python-telegram-bot`), and sends to fake provider APIs on 127.0.0.1:0.
//!
//! The Python peers live in tests/peers/.venv (`scripts/test` installs them; the path can be
//! overridden with WARMLINE_PEERS_PYTHON).

mod asked;
#[path = "../common/mod.rs"]
mod common;
mod email;
mod fake;
mod outbox;
mod ratings;
mod slack;
mod telegram;
mod twilio;
mod whatsapp;

use common::{TestServer, sample_knowledge, unlimited};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use warmline_channels::MessagingConfig;
use warmline_channels::messaging::OutboxConfig;

/// The Python of the peers' virtualenv; panics with the command that creates it.
pub fn peer_python() -> PathBuf {
    let path = std::env::var_os("WARMLINE_PEERS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/.venv/bin/python")
        });
    assert!(
        path.exists(),
        "the provider SDK peers are missing ({}): run scripts/test, or \
         `python3 -m venv tests/peers/.venv && tests/peers/.venv/bin/pip install -r tests/peers/requirements.txt`",
        path.display()
    );
    path
}

/// Runs a Python snippet in the peers' virtualenv with `args` and returns its stdout, trimmed.
pub fn python(code: &str, args: &[&str]) -> String {
    let out = Command::new(peer_python())
        .arg("-c")
        .arg(code)
        .args(args)
        .output()
        .expect("the peers' python runs");
    assert!(
        out.status.success(),
        "python peer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Outbox timing for tests: retries after tens of milliseconds.
pub fn quick_outbox() -> OutboxConfig {
    OutboxConfig {
        retry_base: Duration::from_millis(50),
        retry_max: Duration::from_millis(400),
        max_attempts: 1000,
        send_timeout: Duration::from_secs(5),
        ..OutboxConfig::default()
    }
}

pub fn config() -> MessagingConfig {
    MessagingConfig {
        outbox: quick_outbox(),
        max_backlog: 10_000,
        ..MessagingConfig::default()
    }
}

pub async fn serve(data: &Path, messaging: MessagingConfig) -> TestServer {
    TestServer::start_full(data, &sample_knowledge(), unlimited(), messaging).await
}

/// Polls `check` every 20 ms until it gives a value; panics after 20 s naming `what`.
pub async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A POST with raw bytes and headers.
pub async fn post(
    url: &str,
    content_type: &str,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", content_type)
        .body(body);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    request.send().await.unwrap()
}

/// A channel without its secrets is not mounted: its webhook is 404, never an open door.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unconfigured_channels_are_not_mounted() {
    let fake = fake::Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.telegram = Some(telegram::telegram(&fake));
    let server = serve(dir.path(), cfg).await;
    for path in [
        "/webhooks/whatsapp",
        "/webhooks/twilio",
        "/webhooks/slack/events",
        "/webhooks/email",
    ] {
        let r = post(&server.url(path), "application/json", &[], "{}").await;
        assert_eq!(r.status(), 404, "{path}");
    }
    let r = post(
        &server.url("/webhooks/telegram"),
        "application/json",
        &[],
        "{}",
    )
    .await;
    assert_eq!(r.status(), 401, "mounted, and refusing unsigned updates");
    server.stop().await;
}
