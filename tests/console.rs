//! The agent console page in headless Chromium (web/tests/console.mjs): an agent logs in,
//! takes a fraud report from the queue, writes to the customer and returns the conversation.
//!
//! Needs Debian's `chromium` and `npm ci --prefix web/tests` (playwright-core); `scripts/test`
//! installs both. WARMLINE_CHROMIUM points at another Chromium.

mod common;

use common::{TestServer, get_json, open_conversation, unlimited};
use serde_json::{Value, json};
use std::path::Path;
use warmline_domain::{AgentRole, HandoffStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_works_a_handoff_in_the_console() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        root.join("web/tests/node_modules/playwright-core").is_dir(),
        "playwright-core is missing: run `npm ci --prefix web/tests` (scripts/test does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), unlimited()).await;
    let hash = warmline_channels::agents::hash_password("console test password").unwrap();
    let ana = server
        .warmline
        .state
        .store
        .create_agent("ana", "Ana", AgentRole::Agent, &hash)
        .await
        .unwrap();
    server
        .warmline
        .state
        .store
        .set_skills(ana.id, &["fraud".to_owned()])
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let conv = open_conversation(&server, Value::Null).await;
    let turn: Value = client
        .post(server.url(&format!("/v1/conversations/{conv}/messages")))
        .json(&json!({"text": "someone used my card for purchases I never made"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(turn["handoff"]["queue_position"], 1, "{turn}");

    let base = server.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(root.join("web/tests/console.mjs"))
            .args([base.as_str(), "ana", "console test password"])
            .output()
    })
    .await
    .unwrap()
    .expect("node is needed for the browser tests");
    assert!(
        out.status.success(),
        "the console test failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // What the agent did in the page reached the store.
    let transcript: Value = get_json(&server, &format!("/v1/conversations/{conv}"), None).await;
    assert_eq!(transcript["conversation"]["ownership"], "bot");
    assert!(
        transcript["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["role"] == "agent" && m["text"].as_str().unwrap().contains("new one"))
    );
    server.stop().await;
}
