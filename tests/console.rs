//! The warm handoff in headless Chromium, both sides (web/tests/console.mjs): a customer in
//! the web widget on the demo page gets angry and asks for a person; the agent, logged into the console, sees
//! the packet arrive live, accepts, they write to each other (the console over its
//! websocket, which falls back to polling and reconnects when the test drops it), the agent inserts a suggested reply and returns the conversation to the bot,
//! and the bot answers the customer's next question; a second customer leaves a message
//! instead of waiting and the agent closes the ticket. Screenshots of both pages are saved on
//! failure (the path is printed).
//!
//! Needs Debian's `chromium` and `npm ci --prefix web/tests` (playwright-core); `scripts/test`
//! installs both. WARMLINE_CHROMIUM points at another Chromium.

mod common;

use common::{TestServer, get_json, unlimited};
use std::path::Path;
use warmline_domain::{AgentRole, HandoffStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_and_an_agent_in_their_browsers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        root.join("web/tests/node_modules/playwright-core").is_dir(),
        "playwright-core is missing: run `npm ci --prefix web/tests` (scripts/test does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), unlimited()).await;
    let hash = warmline_channels::agents::hash_password("console test password").unwrap();
    let store = &server.warmline.state.store;
    let ana = store
        .create_agent("ana", "Ana", AgentRole::Agent, &hash)
        .await
        .unwrap();
    store
        .set_skills(ana.id, &["fraud".to_owned()])
        .await
        .unwrap();
    // Customers are offered a callback or a message at once (the second customer takes it).
    let handoffs = &server.warmline.state.handoffs;
    handoffs.set_routing(
        handoffs
            .routing()
            .with_offer_after(std::time::Duration::ZERO),
    );

    let base = server.base.clone();
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).to_owned();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(root.join("web/tests/console.mjs"))
            .args([base.as_str(), "ana", "console test password"])
            .arg(&shots)
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

    // What happened in the pages reached the store: both sides' words, the return with its
    // note and outcome, and the bot's answer after it.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("handoff "))
        .unwrap_or_else(|| panic!("no handoff id in {stdout}"));
    let sam = common::agent_session(&server, "sam", AgentRole::Supervisor, &[]).await;
    let view = get_json(&server, &format!("/v1/agent/handoffs/{id}"), Some(&sam)).await;
    assert_eq!(view["handoff"]["status"], "returned", "{view}");
    assert_eq!(view["handoff"]["disposition"], "resolved");
    assert_eq!(view["handoff"]["note"], "explained the dispute process");
    let roles: Vec<&str> = view["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    let agent_said = roles.iter().filter(|r| **r == "agent").count();
    assert_eq!(agent_said, 2, "{roles:?}");
    assert_eq!(roles.last(), Some(&"bot"), "{roles:?}");
    assert!(store.queue().await.unwrap().is_empty());
    let tickets = store.tickets(true).await.unwrap();
    assert_eq!(tickets.len(), 1);
    assert!(tickets[0].closed && tickets[0].text.contains("blender"));
    server.stop().await;
}
