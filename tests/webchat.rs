//! Microsoft Web Chat 4.18 in headless Chromium (web/tests/webchat.mjs), on a page served from
//! another origin than Warmline: it mints a token across origins (CORS), streams over Direct
//! Line, shows a cited answer whose feedback thumb rates it, and a suggested action starts a
//! journey; no "Send failed". A
//! screenshot is saved on failure (the path is printed).
//!
//! Needs Debian's `chromium` and `npm ci --prefix web/tests` (playwright-core and
//! botframework-webchat); `scripts/test` installs both.

mod common;

use common::{TestServer, unlimited};
use std::path::Path;
use warmline_channels::directline::DirectLineConfig;

const SECRET: &str = "web chat test secret 0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_chat_on_another_origin_talks_to_warmline() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        root.join("web/tests/node_modules/botframework-webchat/dist/webchat.js")
            .is_file(),
        "botframework-webchat is missing: run `npm ci --prefix web/tests` (scripts/test does)"
    );
    // The site's port is chosen here so that its origin can be allowed before Warmline starts.
    let site_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let site = format!("http://127.0.0.1:{site_port}");
    let dir = tempfile::tempdir().unwrap();
    let config = DirectLineConfig::new(SECRET, std::slice::from_ref(&site)).unwrap();
    let server = TestServer::start_with_directline(dir.path(), unlimited(), config).await;
    assert_ne!(server.base, site);

    let base = server.base.clone();
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).to_owned();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(root.join("web/tests/webchat.mjs"))
            .args([base.as_str(), SECRET, &site_port.to_string()])
            .arg(&shots)
            .output()
    })
    .await
    .unwrap()
    .expect("node is needed for the browser tests");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the Web Chat test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // What the page did is Warmline's record: one Direct Line conversation, three customer
    // messages, each answered.
    let store = &server.warmline.state.store;
    let cited = stdout
        .lines()
        .find_map(|l| l.strip_prefix("cited: "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert_eq!(cited, format!("{}/kb/refund-timing", server.base));
    let conversations: Vec<(String,)> =
        sqlx::query_as("SELECT id FROM conversations WHERE channel = 'directline'")
            .fetch_all(store.reader_pool())
            .await
            .unwrap();
    assert_eq!(conversations.len(), 1);
    let id: warmline_domain::ConversationId = conversations[0].0.parse().unwrap();
    let messages = warmline_domain::ConversationStore::messages(store.as_ref(), id, 100)
        .await
        .unwrap();
    let roles: Vec<&str> = messages.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(
        roles,
        ["customer", "bot", "customer", "bot", "customer", "bot"]
    );
    assert_eq!(messages[4].text, "Track an order");
    // The thumb pressed under the answer is its rating.
    assert!(stdout.contains("rated: "), "{stdout}");
    let helpful: Vec<(String, i64)> =
        sqlx::query_as("SELECT message_id, helpful FROM answer_ratings")
            .fetch_all(store.reader_pool())
            .await
            .unwrap();
    assert_eq!(helpful, [(messages[1].id.to_string(), 0)]);
    server.stop().await;
}
