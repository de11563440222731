//! The dashboard in headless Chromium (web/tests/dashboard.mjs): a supervisor logs in and
//! sees the figures of a small day of traffic with their denominators, the content gap, a
//! survey comment verbatim; opens a draft from the gap and exports the CSV. A screenshot is
//! saved on failure (the path is printed).
//!
//! Needs Debian's `chromium` and `npm ci --prefix web/tests` (playwright-core); `scripts/test`
//! installs both. WARMLINE_CHROMIUM points at another Chromium.

mod common;

use common::{TestServer, agent_post, agent_session, customer_says, get_json, unlimited};
use serde_json::{Value, json};
use std::path::Path;
use warmline_domain::AgentRole;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_reads_the_dashboard_in_a_browser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        root.join("web/tests/node_modules/playwright-core").is_dir(),
        "playwright-core is missing: run `npm ci --prefix web/tests` (scripts/test does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), unlimited()).await;
    let sam = agent_session(&server, "sam", AgentRole::Supervisor, &[]).await;
    let eve = agent_session(&server, "eve", AgentRole::Editor, &[]).await;

    // Three customers: one answered, one not (a content gap), one handed to sam, who closes
    // the conversation; that customer leaves a survey with a comment.
    let answered = common::open_conversation(&server, Value::Null).await;
    customer_says(&server, &answered, "How long do refunds to my card take?").await;
    let unanswered = common::open_conversation(&server, Value::Null).await;
    let turn = customer_says(&server, &unanswered, "do you accept bitcoin").await;
    assert_eq!(turn["reply"]["kind"], "no_answer", "{turn}");
    let person = common::open_conversation(&server, Value::Null).await;
    let turn = customer_says(&server, &person, "I need to talk to a person please").await;
    assert!(turn["handoff"]["queue_position"].is_number(), "{turn}");
    let queue = get_json(&server, "/v1/agent/queue", Some(&sam)).await;
    let id = queue[0]["id"].as_str().unwrap().to_owned();
    let accept = format!("/v1/agent/handoffs/{id}/accept");
    assert_eq!(
        agent_post(&server, &sam, &accept, json!({})).await.status(),
        200
    );
    let close = format!("/v1/agent/handoffs/{id}/close");
    let closed = agent_post(&server, &sam, &close, json!({"disposition": "resolved"})).await;
    assert_eq!(closed.status(), 200);
    let survey = reqwest::Client::new()
        .post(server.url(&format!("/v1/conversations/{person}/survey")))
        .json(&json!({"score": 5, "comment": "<b>Ana</b> fixed it & explained why"}))
        .send()
        .await
        .unwrap();
    assert_eq!(survey.status(), 204);
    // The gap is written in the background: wait for it before the browser looks.
    server.warmline.state.insights.flush().await;

    let base = server.base.clone();
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).to_owned();
    let password = "a test passphrase";
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .arg(root.join("web/tests/dashboard.mjs"))
            .args([base.as_str(), "sam", password])
            .arg(&shots)
            .arg("eve")
            .output()
    })
    .await
    .unwrap()
    .expect("node is needed for the browser tests");
    assert!(
        out.status.success(),
        "the dashboard test failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The draft opened in the page reached the store.
    let gaps = get_json(&server, "/v1/insights/gaps", Some(&sam)).await;
    assert_eq!(gaps[0]["status"], "drafting", "{gaps}");
    // The editor's click stored the draft as an article, a draft by eve.
    let gap = gaps[0]["id"].as_i64().unwrap();
    let article = get_json(
        &server,
        &format!("/v1/editor/articles/gap-{gap}"),
        Some(&eve),
    )
    .await;
    assert_eq!(article["status"], "draft", "{article}");
    assert_eq!(article["updated_by"], "eve", "{article}");
    server.stop().await;
}
