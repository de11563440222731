//! The knowledge editor in headless Chromium (web/tests/editor.mjs): an editor logs in,
//! edits an article with the live preview, tries the draft, publishes it, and a customer on
//! the web widget gets the new answer. Screenshots of both pages are saved on failure (the
//! path is printed).
//!
//! Needs Debian's `chromium` and `npm ci --prefix web/tests` (playwright-core); `scripts/test`
//! installs both. WARMLINE_CHROMIUM points at another Chromium.

mod common;

use common::{TestServer, unlimited};
use std::path::Path;
use warmline_domain::{AgentRole, ArticleStore, HandoffStore, Workflow};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_editor_publishes_in_the_browser_and_a_customer_gets_the_new_answer() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        root.join("web/tests/node_modules/playwright-core").is_dir(),
        "playwright-core is missing: run `npm ci --prefix web/tests` (scripts/test does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), unlimited()).await;
    let hash = warmline_channels::agents::hash_password("editor test password").unwrap();
    let store = &server.warmline.state.store;
    store
        .create_agent("eve", "Eve", AgentRole::Editor, &hash)
        .await
        .unwrap();

    let base = server.base.clone();
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).to_owned();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(root.join("web/tests/editor.mjs"))
            .args([base.as_str(), "eve", "editor test password"])
            .arg(&shots)
            .output()
    })
    .await
    .unwrap()
    .expect("node is needed for the browser tests");
    assert!(
        out.status.success(),
        "the editor test failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // What the page did reached the store: two versions, the second published by eve.
    let record = store.article("account-locked").await.unwrap().unwrap();
    assert_eq!(record.status, Workflow::Published);
    assert_eq!((record.version, record.published_version), (2, Some(2)));
    let versions = store.versions("account-locked").await.unwrap();
    assert_eq!(versions[0].author, "eve");
    assert_eq!(versions[0].note.as_deref(), Some("phone unlock"));
    assert!(versions[0].content.contains("purple helpline"));
    server.stop().await;
}
