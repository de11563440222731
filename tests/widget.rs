//! The web widget in headless Chromium (web/tests/widget.mjs): the demo page at `/` embeds
//! it with one script tag; on a phone-sized screen, with the keyboard only, the customer
//! opens it, asks and gets a cited answer with a link, clicks a quick reply, closes it with
//! Escape, loses the socket (the widget says so and reconnects; what they wrote meanwhile is
//! delivered once), reloads and sees the whole history; then asks for a person with the
//! button, sees the agent's message live, and rates the conversation the agent closed. A
//! screenshot is saved on failure (the path is printed).
//!
//! Needs Debian's `chromium` and `npm ci --prefix web/tests` (playwright-core); `scripts/test`
//! installs both. WARMLINE_CHROMIUM points at another Chromium.

mod common;

use common::{TestServer, get_json, unlimited};
use std::path::Path;
use warmline_domain::AgentRole;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_uses_the_widget_on_a_phone_with_the_keyboard() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        root.join("web/tests/node_modules/playwright-core").is_dir(),
        "playwright-core is missing: run `npm ci --prefix web/tests` (scripts/test does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), unlimited()).await;
    let ana = common::agent_session(&server, "ana", AgentRole::Supervisor, &[]).await;
    let base = server.base.clone();
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).to_owned();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(root.join("web/tests/widget.mjs"))
            .args([base.as_str(), ana.as_str()])
            .arg(&shots)
            .output()
    })
    .await
    .unwrap()
    .expect("node is needed for the browser tests");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the widget test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // What the page showed is what the store holds: each customer message once, answered.
    let id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("conversation "))
        .unwrap_or_else(|| panic!("no conversation id in {stdout}"));
    let transcript = get_json(&server, &format!("/v1/conversations/{id}"), None).await;
    assert_eq!(transcript["conversation"]["channel"], "web");
    let messages = transcript["messages"].as_array().unwrap();
    let said: Vec<&str> = messages
        .iter()
        .filter(|m| m["role"] == "customer")
        .map(|m| m["text"].as_str().unwrap())
        .take(4)
        .collect();
    assert_eq!(
        said,
        [
            "How long do refunds to my card take?",
            "hi",
            "Track an order",
            "what are your store hours?"
        ]
    );
    // The four answers, and the one to "Talk to a person" (who said it: the button).
    let said_then = messages.iter().filter(|m| m["role"] == "customer").count();
    assert_eq!(said_then, 5, "{transcript}");
    let bots = messages.iter().filter(|m| m["role"] == "bot").count();
    assert_eq!(bots, 5, "{transcript}");
    assert!(messages.iter().any(|m| m["role"] == "agent"));
    assert_eq!(transcript["conversation"]["ownership"], "closed");
    // The survey was stored: a second rating is refused.
    let again = reqwest::Client::new()
        .post(server.url(&format!("/v1/conversations/{id}/survey")))
        .json(&serde_json::json!({"score": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);
    assert_eq!(messages[1]["citations"][0]["article_id"], "refund-timing");
    server.stop().await;
}
