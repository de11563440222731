//! Content gaps, answer ratings and the dashboard's API against the real server.

mod common;

use common::{TestServer, agent_session, customer_says, get_json, open_conversation, unlimited};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use warmline_domain::AgentRole;

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Polls `check` until it returns `Some`, for up to 20 s.
async fn eventually<T>(mut check: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..100 {
        if let Some(v) = check().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("never happened");
}

/// Each question in its own conversation (two unanswered in a row would hand over).
async fn ask_alone(server: &TestServer, text: &str) -> Value {
    let id = open_conversation(server, Value::Null).await;
    let mut turn = customer_says(server, &id, text).await;
    turn["conversation_id"] = json!(id);
    turn
}

async fn feedback(server: &TestServer, conversation: &str, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url(&format!("/v1/conversations/{conversation}/feedback")))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn unanswered_questions_are_redacted_grouped_drafted_and_closed_by_a_new_article() {
    let data = tempfile::tempdir().unwrap();
    let knowledge = tempfile::tempdir().unwrap();
    copy_dir(&common::sample_knowledge(), knowledge.path());
    let server = TestServer::start_with(data.path(), knowledge.path(), unlimited()).await;
    let boss = agent_session(&server, "sam", AgentRole::Supervisor, &[]).await;

    for q in [
        "do you accept bitcoin? my email is ana.lopez@example.com",
        "do you accept bitcoin payments",
        "is bitcoin accepted for order JM-204518837",
    ] {
        let turn = ask_alone(&server, q).await;
        assert_eq!(turn["reply"]["kind"], "no_answer", "{q}: {turn}");
    }
    let gaps = eventually(async || {
        let gaps = get_json(&server, "/v1/insights/gaps", Some(&boss)).await;
        (gaps[0]["count"] == 3).then_some(gaps)
    })
    .await;
    assert_eq!(gaps.as_array().unwrap().len(), 1, "one group: {gaps}");
    let group = &gaps[0];
    assert_eq!(group["status"], "open");
    let text = group["samples"].to_string();
    assert!(
        text.contains("[email]") && text.contains("[order]"),
        "{text}"
    );
    assert!(
        !text.contains("ana.lopez") && !text.contains("204518837"),
        "{text}"
    );

    let id = group["id"].as_i64().unwrap();
    let draft = reqwest::Client::new()
        .post(server.url(&format!("/v1/insights/gaps/{id}/draft")))
        .bearer_auth(&boss)
        .send()
        .await
        .unwrap();
    assert_eq!(draft.status(), 200);
    let draft: Value = draft.json().await.unwrap();
    assert_eq!(draft["status"], "drafting");
    assert!(draft["title"].as_str().unwrap().ends_with('?'), "{draft}");
    assert_eq!(draft["questions"].as_array().unwrap().len(), 3);
    assert!(
        draft["markdown"]
            .as_str()
            .unwrap()
            .contains("status: draft")
    );
    let missing = reqwest::Client::new()
        .post(server.url("/v1/insights/gaps/999999/draft"))
        .bearer_auth(&boss)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // An article that answers the group's questions closes it after the re-index.
    std::fs::write(
        knowledge.path().join("articles").join("bitcoin.md"),
        "---\nid: paying-with-bitcoin\ntitle: Paying with bitcoin\ntags: [payment, bitcoin]\n---\n\n\
         ## Do you accept bitcoin?\n\nYes: we accept bitcoin payments at checkout. You can pay \
         with bitcoin for any order, and bitcoin is accepted for every order in the US and Canada.\n",
    )
    .unwrap();
    let closed = eventually(async || {
        let all = get_json(&server, "/v1/insights/gaps?status=closed", Some(&boss)).await;
        (all.as_array().is_some_and(|a| !a.is_empty())).then_some(all)
    })
    .await;
    assert_eq!(closed[0]["id"].as_i64(), Some(id));
    assert_eq!(closed[0]["article_id"], "paying-with-bitcoin");
    let open = get_json(&server, "/v1/insights/gaps", Some(&boss)).await;
    assert_eq!(open.as_array().unwrap().len(), 0, "{open}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn customers_rate_bot_replies_once_per_message_and_editors_see_it_per_article() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(data.path(), unlimited()).await;
    let boss = agent_session(&server, "sam", AgentRole::Supervisor, &[]).await;
    let turn = ask_alone(&server, "How long do refunds to my card take?").await;
    let conversation = turn["conversation_id"].as_str().unwrap().to_owned();
    let reply = turn["reply"]["message_id"].as_str().unwrap().to_owned();
    let article = turn["reply"]["citations"][0]["article_id"].clone();
    let other = ask_alone(&server, "How do I reset my password?").await;
    let other_reply = other["reply"]["message_id"].as_str().unwrap();

    let r = feedback(
        &server,
        &conversation,
        json!({"message_id": reply, "helpful": true}),
    )
    .await;
    assert_eq!(r.status(), 204);
    // A second rating replaces the first.
    let r = feedback(
        &server,
        &conversation,
        json!({"message_id": reply, "helpful": false}),
    )
    .await;
    assert_eq!(r.status(), 204);
    // The customer's own message is not a bot reply.
    let mine = turn["message"]["id"].as_str().unwrap();
    let r = feedback(
        &server,
        &conversation,
        json!({"message_id": mine, "helpful": true}),
    )
    .await;
    assert_eq!(r.status(), 422);
    // Another conversation's reply, an unknown conversation, a malformed id, a bad body.
    let r = feedback(
        &server,
        &conversation,
        json!({"message_id": other_reply, "helpful": true}),
    )
    .await;
    assert_eq!(r.status(), 404);
    let unknown = "0190d4c8-0000-7000-8000-000000000000";
    let r = feedback(
        &server,
        unknown,
        json!({"message_id": reply, "helpful": true}),
    )
    .await;
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    let r = feedback(
        &server,
        &conversation,
        json!({"message_id": "nope", "helpful": true}),
    )
    .await;
    assert_eq!(r.status(), 422);
    let r = feedback(&server, &conversation, json!({"message_id": reply})).await;
    assert_eq!(r.status(), 400);

    let articles = get_json(&server, "/v1/insights/articles?since=1d", Some(&boss)).await;
    assert_eq!(articles[0]["article_id"], article);
    assert_eq!(
        (
            articles[0]["helpful"].as_u64(),
            articles[0]["rated"].as_u64()
        ),
        (Some(0), Some(1))
    );
    let summary = get_json(&server, "/v1/insights/summary?since=1d", Some(&boss)).await;
    assert_eq!(summary["helpfulness"]["count"], 0);
    assert_eq!(summary["helpfulness"]["denominator"], 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_insights_routes_need_a_supervisor_and_explain_bad_windows() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(data.path(), unlimited()).await;
    let agent = agent_session(&server, "ana", AgentRole::Agent, &[]).await;
    let boss = agent_session(&server, "sam", AgentRole::Supervisor, &[]).await;
    let client = reqwest::Client::new();
    for path in [
        "/v1/insights/summary",
        "/v1/insights/gaps",
        "/v1/insights/articles",
        "/v1/insights/export.csv",
    ] {
        let none = client.get(server.url(path)).send().await.unwrap();
        assert_eq!(none.status(), 401, "{path}");
        let body: Value = none.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
        let as_agent = client
            .get(server.url(path))
            .bearer_auth(&agent)
            .send()
            .await
            .unwrap();
        assert_eq!(as_agent.status(), 403, "{path}");
        let ok = client
            .get(server.url(path))
            .bearer_auth(&boss)
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200, "{path}");
    }
    let draft = client
        .post(server.url("/v1/insights/gaps/1/draft"))
        .bearer_auth(&agent)
        .send()
        .await
        .unwrap();
    assert_eq!(draft.status(), 403);

    for bad in [
        "since=forever",
        "since=400d",
        "durable_days=0",
        "status=lost",
        "durable_days=x",
    ] {
        let path = if bad.starts_with("status") {
            format!("/v1/insights/gaps?{bad}")
        } else {
            format!("/v1/insights/summary?{bad}")
        };
        let r = client
            .get(server.url(&path))
            .bearer_auth(&boss)
            .send()
            .await
            .unwrap();
        assert!(
            matches!(r.status().as_u16(), 400 | 422),
            "{bad}: {}",
            r.status()
        );
        let body: Value = r.json().await.unwrap();
        assert!(body["error"]["message"].is_string(), "{bad}: {body}");
    }

    // The export is CSV with a denominator column; the summary states its definitions.
    let ask = ask_alone(&server, "How long do refunds to my card take?").await;
    assert_eq!(ask["reply"]["kind"], "answer");
    let csv = client
        .get(server.url("/v1/insights/export.csv?since=1d"))
        .bearer_auth(&boss)
        .send()
        .await
        .unwrap();
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = csv.text().await.unwrap();
    assert!(csv.starts_with("metric,key,value,denominator\n"), "{csv}");
    assert!(csv.contains("\nbot_resolved,,1,1\n"), "{csv}");
    let summary = get_json(&server, "/v1/insights/summary?since=1d", Some(&boss)).await;
    assert_eq!(summary["conversations"], 1);
    assert!(
        summary["definitions"]["durable_resolution"]
            .as_str()
            .unwrap()
            .contains("any channel")
    );
    let support = eventually(async || {
        let s = get_json(&server, "/v1/insights/summary?since=1d", Some(&boss)).await;
        (s["support"]["replies"] == 1).then_some(s)
    })
    .await;
    assert_eq!(support["support"]["answered"]["count"], 1);

    // The dashboard is served, with no external script.
    let page = client.get(server.url("/dashboard")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("/v1/insights/summary") && !html.contains("<script src"));

    // The gauges reach /metrics without waiting for a scrape to compute them.
    let metrics = eventually(async || {
        let text = client
            .get(server.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.contains("warmline_insights_gap_groups_open")
            .then_some(text)
    })
    .await;
    assert!(
        metrics.contains("warmline_insights_conversations"),
        "{metrics}"
    );
    server.stop().await;
}
