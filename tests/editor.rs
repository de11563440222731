//! The knowledge editor's API on the real server: who may use it, the article workflow with
//! publishing live within a second, versions, diff and restore, stale saves refused, the
//! "Try it" panel on a draft, validation flags, and API tokens scoped by role.

mod common;

use common::{TestServer, agent_session, customer_says, open_conversation, unlimited};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use warmline_domain::{AgentRole, ArticleStore};

async fn send(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, server.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(server: &TestServer, path: &str, token: &str) -> (u16, Value) {
    send(server, reqwest::Method::GET, path, Some(token), None).await
}

async fn post(server: &TestServer, path: &str, token: &str, body: Value) -> (u16, Value) {
    send(server, reqwest::Method::POST, path, Some(token), Some(body)).await
}

async fn put(server: &TestServer, path: &str, token: &str, body: Value) -> (u16, Value) {
    send(server, reqwest::Method::PUT, path, Some(token), Some(body)).await
}

fn fields(title: &str, body: &str) -> Value {
    json!({"title": title, "tags": ["test"], "locale": "en", "audience": "customer",
           "channels": [], "body": body})
}

async fn create(server: &TestServer, token: &str, id: &str, title: &str, body: &str) -> Value {
    let (status, article) = post(
        server,
        "/v1/editor/articles",
        token,
        json!({"id": id, "fields": fields(title, body), "note": "first"}),
    )
    .await;
    assert_eq!(status, 201, "{article}");
    article
}

async fn move_to(server: &TestServer, token: &str, id: &str, to: &str, version: u64) -> Value {
    let (status, article) = post(
        server,
        &format!("/v1/editor/articles/{id}/transition"),
        token,
        json!({"to": to, "version": version}),
    )
    .await;
    assert_eq!(status, 200, "{to}: {article}");
    article
}

/// A new customer asks `text` (a new conversation each time: asking the same thing over and
/// over in one would rightly be handed to a person).
async fn ask(server: &TestServer, text: &str) -> Value {
    let conv = open_conversation(server, Value::Null).await;
    customer_says(server, &conv, text).await
}

fn cites(turn: &Value, id: &str) -> bool {
    turn["reply"]["citations"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["article_id"] == id))
}

const GIFT_BODY: &str = "## Gift wrapping\n\nWe gift wrap any order in teal paper with a \
    silver ribbon for 4 dollars per parcel. Choose gift wrapping at checkout.";
const GIFT_QUESTION: &str = "can you gift wrap my parcel in teal paper with a ribbon?";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_editors_and_admins_use_the_editor_and_editors_stay_out_of_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), unlimited()).await;
    let (status, body) = send(
        &server,
        reqwest::Method::GET,
        "/v1/editor/articles",
        None,
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let agent = agent_session(&server, "ana", AgentRole::Agent, &[]).await;
    let (status, body) = get(&server, "/v1/editor/articles", &agent).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let (status, _) = post(
        &server,
        "/v1/editor/articles",
        &agent,
        json!({"id": "x", "fields": fields("X", "x")}),
    )
    .await;
    assert_eq!(status, 403);

    let editor = agent_session(&server, "eve", AgentRole::Editor, &[]).await;
    let (status, list) = get(&server, "/v1/editor/articles", &editor).await;
    assert_eq!(status, 200);
    assert_eq!(
        list.as_array().unwrap().len(),
        67,
        "the sample's folder articles are listed"
    );
    assert!(list[0]["source"] == "folder");
    let (status, found) = get(&server, "/v1/editor/articles?q=locked", &editor).await;
    assert_eq!(status, 200);
    assert!(
        found
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == "account-locked"),
        "{found}"
    );
    // Editors log in like agents but don't work conversations, nor count as agents online.
    let (status, _) = get(&server, "/v1/agent/queue", &editor).await;
    assert_eq!(status, 403);
    let supervisor = agent_session(&server, "sam", AgentRole::Supervisor, &[]).await;
    let (_, stats) = get(&server, "/v1/agent/stats", &supervisor).await;
    let names: Vec<&str> = stats["agents"]
        .as_array()
        .unwrap_or_else(|| panic!("{stats}"))
        .iter()
        .filter_map(|a| a["username"].as_str())
        .collect();
    assert!(names.contains(&"ana") && !names.contains(&"eve"), "{stats}");
    // Admins do both.
    let admin = agent_session(&server, "ada", AgentRole::Admin, &[]).await;
    assert_eq!(get(&server, "/v1/editor/articles", &admin).await.0, 200);
    assert_eq!(get(&server, "/v1/agent/stats", &admin).await.0, 200);
    // Bad input is a clear error.
    let (status, body) = post(
        &server,
        "/v1/editor/articles",
        &editor,
        json!({"id": "Bad Id", "fields": fields("T", "x")}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = get(&server, "/v1/editor/articles?status=nonsense", &editor).await;
    assert_eq!(status, 422);
    let (status, _) = get(&server, "/v1/editor/articles/no-such-article", &editor).await;
    assert_eq!(status, 404);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_tokens_work_for_their_role_only_and_expire() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), unlimited()).await;
    let store = &server.warmline.state.store;
    let hash = |t: &str| warmline_channels::agents::token_hash(t);
    store
        .create_token("ci", AgentRole::Editor, &hash("editor-token"), None)
        .await
        .unwrap();
    store
        .create_token("bot", AgentRole::Agent, &hash("agent-token"), None)
        .await
        .unwrap();
    let past = warmline_domain::conversation::now() - time::Duration::minutes(1);
    store
        .create_token("old", AgentRole::Editor, &hash("old-token"), Some(past))
        .await
        .unwrap();
    let (status, me) = get(&server, "/v1/editor/me", "editor-token").await;
    assert_eq!((status, me["name"].as_str()), (200, Some("token:ci")));
    let created = create(
        &server,
        "editor-token",
        "token-made",
        "Made by CI",
        "## Hi\n\nText.",
    )
    .await;
    assert_eq!(created["updated_by"], "token:ci");
    assert_eq!(get(&server, "/v1/editor/me", "agent-token").await.0, 403);
    assert_eq!(get(&server, "/v1/editor/me", "old-token").await.0, 401);
    // An editor token is no agent session.
    assert_eq!(get(&server, "/v1/agent/queue", "editor-token").await.0, 401);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_article_answers_customers_within_a_second_and_archiving_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), unlimited()).await;
    let editor = agent_session(&server, "eve", AgentRole::Editor, &[]).await;
    let before = ask(&server, GIFT_QUESTION).await;
    assert!(!cites(&before, "gift-wrapping"), "{before}");

    let draft = create(
        &server,
        &editor,
        "gift-wrapping",
        "Do you gift wrap?",
        GIFT_BODY,
    )
    .await;
    assert_eq!(
        (draft["status"].as_str(), draft["version"].as_u64()),
        (Some("draft"), Some(1))
    );
    // A draft is not served, and can't skip review.
    let (status, body) = post(
        &server,
        "/v1/editor/articles/gift-wrapping/transition",
        &editor,
        json!({"to": "published", "version": 1}),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(!cites(&ask(&server, GIFT_QUESTION).await, "gift-wrapping"));
    move_to(&server, &editor, "gift-wrapping", "in_review", 1).await;

    let started = Instant::now();
    let published = move_to(&server, &editor, "gift-wrapping", "published", 1).await;
    assert_eq!(published["published_version"], 1);
    let turn = loop {
        let turn = ask(&server, GIFT_QUESTION).await;
        if cites(&turn, "gift-wrapping") || started.elapsed() > Duration::from_secs(5) {
            break turn;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let took = started.elapsed();
    assert!(cites(&turn, "gift-wrapping"), "{turn}");
    assert!(
        took < Duration::from_secs(1),
        "published to answered took {took:?}"
    );
    println!("published to answered: {took:?}");

    // Editing a published article keeps the published version live until the next publish.
    let (status, saved) = put(&server, "/v1/editor/articles/gift-wrapping", &editor, json!({"base_version": 1, "fields": fields("Do you gift wrap?", "## Gift wrapping\n\nWe stopped gift wrapping.")})).await;
    assert_eq!(
        (status, saved["status"].as_str()),
        (200, Some("draft")),
        "{saved}"
    );
    assert_eq!(saved["published_version"], 1);
    let turn = ask(&server, GIFT_QUESTION).await;
    assert!(cites(&turn, "gift-wrapping"), "{turn}");
    assert!(
        turn["reply"]["text"].as_str().unwrap().contains("teal"),
        "{turn}"
    );

    // The workflow needs the latest version: archive from version 2 after review and publish.
    move_to(&server, &editor, "gift-wrapping", "in_review", 2).await;
    move_to(&server, &editor, "gift-wrapping", "published", 2).await;
    move_to(&server, &editor, "gift-wrapping", "archived", 2).await;
    let turn = ask(&server, GIFT_QUESTION).await;
    assert!(!cites(&turn, "gift-wrapping"), "{turn}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_diff_restore_and_stale_saves_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), unlimited()).await;
    let eve = agent_session(&server, "eve", AgentRole::Editor, &[]).await;
    let ed = agent_session(&server, "ed", AgentRole::Editor, &[]).await;
    create(
        &server,
        &eve,
        "opening-hours",
        "Opening hours",
        "## Weekdays\n\nOpen 9 to 5.",
    )
    .await;
    let path = "/v1/editor/articles/opening-hours";
    let (status, v2) = put(&server, path, &ed, json!({"base_version": 1, "fields": fields("Opening hours", "## Weekdays\n\nOpen 8 to 6."), "note": "longer hours"})).await;
    assert_eq!((status, v2["version"].as_u64()), (200, Some(2)), "{v2}");
    // Eve still has version 1 open: her save is refused and says what is current.
    let (status, refused) = put(&server, path, &eve, json!({"base_version": 1, "fields": fields("Opening hours", "## Weekdays\n\nOpen 10 to 4.")})).await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "conflict");
    assert_eq!(refused["current"]["version"], 2);
    assert!(
        refused["current"]["fields"]["body"]
            .as_str()
            .unwrap()
            .contains("8 to 6")
    );

    // Two saves from the same version at once: exactly one wins.
    let a = put(
        &server,
        path,
        &eve,
        json!({"base_version": 2, "fields": fields("Opening hours", "A")}),
    );
    let b = put(
        &server,
        path,
        &ed,
        json!({"base_version": 2, "fields": fields("Opening hours", "B")}),
    );
    let ((sa, _), (sb, _)) = tokio::join!(a, b);
    let mut statuses = [sa, sb];
    statuses.sort();
    assert_eq!(statuses, [200, 409]);

    let (_, versions) = get(&server, &format!("{path}/versions"), &eve).await;
    let numbers: Vec<u64> = versions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [3, 2, 1]);
    assert_eq!(versions[1]["author"], "ed");
    assert_eq!(versions[1]["note"], "longer hours");
    assert_eq!(versions[2]["author"], "eve");

    let (status, diff) = get(&server, &format!("{path}/diff?from=1&to=2"), &eve).await;
    assert_eq!(status, 200, "{diff}");
    let lines = diff["lines"].as_array().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l["op"] == "delete" && l["text"] == "Open 9 to 5."),
        "{diff}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["op"] == "insert" && l["text"] == "Open 8 to 6."),
        "{diff}"
    );
    assert!(
        diff["unified"].as_str().unwrap().contains("-Open 9 to 5."),
        "{diff}"
    );
    assert_eq!(
        get(&server, &format!("{path}/diff?from=1&to=9"), &eve)
            .await
            .0,
        404
    );

    let (status, restored) = post(
        &server,
        &format!("{path}/restore"),
        &eve,
        json!({"version": 1, "base_version": 3}),
    )
    .await;
    assert_eq!(
        (status, restored["version"].as_u64()),
        (200, Some(4)),
        "{restored}"
    );
    let (_, v1) = get(&server, &format!("{path}/versions/1"), &eve).await;
    assert_eq!(restored["content"], v1["content"]);
    let (status, _) = post(
        &server,
        &format!("{path}/restore"),
        &eve,
        json!({"version": 2, "base_version": 3}),
    )
    .await;
    assert_eq!(status, 409);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn try_it_answers_from_a_draft_without_publishing_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), unlimited()).await;
    let editor = agent_session(&server, "eve", AgentRole::Editor, &[]).await;
    let draft = json!({"id": "gift-wrapping", "fields": fields("Do you gift wrap?", GIFT_BODY)});
    let (status, tried) = post(
        &server,
        "/v1/editor/try",
        &editor,
        json!({"question": GIFT_QUESTION, "draft": draft}),
    )
    .await;
    assert_eq!(status, 200, "{tried}");
    assert_eq!(tried["draft"], true);
    assert_eq!(
        tried["passages"][0]["article_id"], "gift-wrapping",
        "{tried}"
    );
    assert!(tried["passages"][0]["score"].as_f64().unwrap() > 0.0);
    assert_eq!(tried["answer"]["kind"], "answer", "{tried}");
    assert!(
        tried["answer"]["text"].as_str().unwrap().contains("teal"),
        "{tried}"
    );
    // Nothing was published: as published, and for customers, the draft doesn't exist.
    let (_, live) = post(
        &server,
        "/v1/editor/try",
        &editor,
        json!({"question": GIFT_QUESTION}),
    )
    .await;
    assert_eq!(live["draft"], false);
    assert!(
        live["passages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["article_id"] != "gift-wrapping"),
        "{live}"
    );
    assert!(!cites(&ask(&server, GIFT_QUESTION).await, "gift-wrapping"));
    let (status, _) = post(
        &server,
        "/v1/editor/try",
        &editor,
        json!({"question": "  "}),
    )
    .await;
    assert_eq!(status, 422);
    let (status, rendered) = post(
        &server,
        "/v1/editor/render",
        &editor,
        json!({"markdown": "## Hi\n\n<b>x</b>"}),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        rendered["html"].as_str().unwrap().contains("<h2>Hi</h2>"),
        "{rendered}"
    );
    assert!(
        rendered["html"].as_str().unwrap().contains("&lt;b&gt;"),
        "{rendered}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_flags_links_titles_empty_sections_and_unused_articles() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), unlimited()).await;
    let editor = agent_session(&server, "eve", AgentRole::Editor, &[]).await;
    create(&server, &editor, "locked-again", "My account is locked", "## Why\n\n## What to do\n\nSee [the guide](/kb/no-such-guide) and [refunds](/kb/refund-timing).").await;
    // A customer question retrieves the refund article (recorded within about a second).
    let turn = ask(&server, "How long do refunds to my card take?").await;
    assert!(cites(&turn, "refund-timing"), "{turn}");
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let (status, report) = get(&server, "/v1/editor/checks", &editor).await;
    assert_eq!(status, 200, "{report}");
    let flags = report["flags"].as_array().unwrap();
    let has = |id: &str, kind: &str| {
        flags
            .iter()
            .any(|f| f["article_id"] == id && f["kind"] == kind)
    };
    assert!(has("locked-again", "broken_link"), "{report}");
    assert!(
        !flags
            .iter()
            .any(|f| f["message"].as_str().unwrap().contains("refund-timing")
                && f["kind"] == "broken_link")
    );
    assert!(has("locked-again", "empty_section"), "{report}");
    assert!(
        has("locked-again", "duplicate_title") && has("account-locked", "duplicate_title"),
        "{report}"
    );
    assert!(has("account-locked", "not_retrieved"), "{report}");
    assert!(!has("refund-timing", "not_retrieved"), "{report}");
    // A draft is not served, so not expected to be retrieved.
    assert!(!has("locked-again", "not_retrieved"), "{report}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_article_is_edited_in_the_store_and_publishing_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), unlimited()).await;
    let editor = agent_session(&server, "eve", AgentRole::Editor, &[]).await;
    let (_, opened) = get(&server, "/v1/editor/articles/account-locked", &editor).await;
    assert_eq!(
        (opened["source"].as_str(), opened["version"].as_u64()),
        (Some("folder"), Some(0))
    );
    let mut edited = opened["fields"].clone();
    edited["body"] = json!("## Locked\n\nCall the purple helpline at 555 0199 to unlock it.");
    let (status, saved) = put(
        &server,
        "/v1/editor/articles/account-locked",
        &editor,
        json!({"base_version": 0, "fields": edited}),
    )
    .await;
    assert_eq!(
        (status, saved["version"].as_u64()),
        (200, Some(2)),
        "{saved}"
    );
    let (_, versions) = get(
        &server,
        "/v1/editor/articles/account-locked/versions",
        &editor,
    )
    .await;
    assert_eq!(versions[1]["author"], "knowledge folder");
    move_to(&server, &editor, "account-locked", "in_review", 2).await;
    move_to(&server, &editor, "account-locked", "published", 2).await;
    let question = "my account is locked, which helpline unlocks it?";
    let turn = ask(&server, question).await;
    assert!(
        turn["reply"]["text"]
            .as_str()
            .unwrap()
            .contains("purple helpline"),
        "{turn}"
    );
    server.stop().await;

    // The store wins over the file after a restart too.
    let server = TestServer::start(dir.path(), unlimited()).await;
    let turn = ask(&server, question).await;
    assert!(
        turn["reply"]["text"]
            .as_str()
            .unwrap()
            .contains("purple helpline"),
        "{turn}"
    );
    let record = server
        .warmline
        .state
        .store
        .article("account-locked")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.published_version, Some(2));
    server.stop().await;
}
