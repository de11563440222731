//! Black-box tests of the HTTP API: the real server on port 0 with a temporary data dir.

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use warmline::HttpLimits;

mod common;
use common::{TestServer, unlimited};

async fn open(client: &Client, server: &TestServer) -> String {
    let res = client
        .post(server.url("/v1/conversations"))
        .json(&json!({"channel": "web"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

async fn say(client: &Client, server: &TestServer, id: &str, text: &str) -> Value {
    let res = client
        .post(server.url(&format!("/v1/conversations/{id}/messages")))
        .json(&json!({ "text": text }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn get_json(client: &Client, url: &str) -> Value {
    let res = client.get(url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "GET {url}");
    res.json().await.unwrap()
}

/// Sends `request` and asserts the answer is the JSON error `code` with `status`.
async fn expect_error(request: reqwest::RequestBuilder, status: StatusCode, code: &str) -> String {
    assert_error(request.send().await.unwrap(), status, code).await
}

/// Asserts the response is the JSON error `{"error": {"code", "message"}}` with `status`.
async fn assert_error(res: reqwest::Response, status: StatusCode, code: &str) -> String {
    assert_eq!(res.status(), status, "wrong status for {code}");
    let body: Value = res.json().await.expect("error bodies are JSON");
    assert_eq!(body["error"]["code"], code, "{body}");
    let message = body["error"]["message"].as_str().unwrap().to_owned();
    assert!(!message.is_empty());
    message
}

#[tokio::test(flavor = "multi_thread")]
async fn a_customer_gets_a_cited_answer_and_the_transcript_keeps_it() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(data.path(), unlimited()).await;
    let client = Client::new();

    let health = get_json(&client, &server.url("/healthz")).await;
    assert_eq!(health["status"], "ok");
    let ready = get_json(&client, &server.url("/readyz")).await;
    assert!(ready["articles"].as_u64().unwrap() >= 40, "{ready}");
    assert_eq!(ready["problems"], 0);

    let id = open(&client, &server).await;
    let turn = say(
        &client,
        &server,
        &id,
        "How long do refunds to a credit card take?",
    )
    .await;
    let reply = &turn["reply"];
    assert_eq!(reply["kind"], "answer", "{turn}");
    assert!(
        reply["text"]
            .as_str()
            .unwrap()
            .contains("3–5 business days"),
        "{reply}"
    );
    let citation = &reply["citations"][0];
    for field in ["article_id", "title", "url", "passage"] {
        assert!(
            !citation[field].as_str().unwrap().is_empty(),
            "{field} in {citation}"
        );
    }
    assert!(citation["score"].as_f64().unwrap() > 0.0);
    let url = citation["url"].as_str().unwrap();
    assert!(url.starts_with(&server.url("/kb/")), "{url}");
    let page = client.get(url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(
            citation["title"]
                .as_str()
                .unwrap()
                .split('?')
                .next()
                .unwrap()
        )
    );

    let unknown = say(&client, &server, &id, "what is the capital of Mongolia").await;
    assert_eq!(unknown["reply"]["kind"], "no_answer");
    assert!(
        unknown["reply"]["text"]
            .as_str()
            .unwrap()
            .contains("person")
    );
    assert_eq!(unknown["reply"]["citations"], json!([]));
    assert_eq!(unknown["reply"]["suggestions"][0], "Talk to a person");

    let transcript = get_json(&client, &server.url(&format!("/v1/conversations/{id}"))).await;
    assert_eq!(transcript["conversation"]["id"], id.as_str());
    assert_eq!(transcript["conversation"]["channel"], "web");
    let messages = transcript["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["customer", "bot", "customer", "bot"]);
    assert_eq!(
        messages[0]["text"],
        "How long do refunds to a credit card take?"
    );
    assert_eq!(messages[1]["citations"], reply["citations"]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn conversations_survive_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let client = Client::new();
    let server = TestServer::start(data.path(), unlimited()).await;
    let id = open(&client, &server).await;
    say(&client, &server, &id, "what are your store hours").await;
    // Conversations keep opening and answering while messages are being written.
    let other = open(&client, &server).await;
    say(&client, &server, &other, "how do I reset my password").await;
    server.stop().await;

    let server = TestServer::start(data.path(), unlimited()).await;
    let transcript = get_json(&client, &server.url(&format!("/v1/conversations/{id}"))).await;
    assert_eq!(transcript["messages"].as_array().unwrap().len(), 2);
    assert_eq!(
        transcript["messages"][0]["text"],
        "what are your store hours"
    );
    assert_eq!(
        server.warmline.sync.added, 0,
        "the persisted index is reused"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_bad_input_gets_a_clear_4xx_json_error() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(data.path(), unlimited()).await;
    let client = Client::new();
    let id = open(&client, &server).await;
    let messages = server.url(&format!("/v1/conversations/{id}/messages"));
    let post = |url: &str| client.post(url.to_owned());

    let message = expect_error(
        post(&messages).json(&json!({"text": "   "})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
    )
    .await;
    assert!(message.contains("empty"), "{message}");

    let message = expect_error(
        post(&messages).json(&json!({"text": "a".repeat(4001)})),
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    assert!(message.contains("4000"), "{message}");

    let huge = json!({"text": "a".repeat(70 * 1024)});
    expect_error(
        post(&messages).json(&huge),
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;

    expect_error(
        post(&messages)
            .header("content-type", "application/json")
            .body("{\"text\": "),
        StatusCode::BAD_REQUEST,
        "malformed_request",
    )
    .await;

    expect_error(
        post(&messages)
            .header("content-type", "application/json")
            .body(b"{\"text\": \"caf\xe9\"}".to_vec()),
        StatusCode::BAD_REQUEST,
        "malformed_request",
    )
    .await;

    expect_error(
        post(&messages).json(&json!({"txt": "hello"})),
        StatusCode::BAD_REQUEST,
        "malformed_request",
    )
    .await;

    expect_error(
        post(&messages).body("{\"text\": \"hi\"}"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;

    let message = expect_error(
        post(&server.url("/v1/conversations")).json(&json!({"channel": "fax"})),
        StatusCode::BAD_REQUEST,
        "malformed_request",
    )
    .await;
    assert!(message.contains("fax"), "{message}");

    expect_error(
        post(&server.url("/v1/conversations"))
            .header("content-type", "text/plain")
            .body("hello"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;

    let stranger = "01900000-0000-7000-8000-000000000000";
    for unknown in [stranger, "not-a-uuid"] {
        expect_error(
            post(&server.url(&format!("/v1/conversations/{unknown}/messages")))
                .json(&json!({"text": "hi"})),
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
        expect_error(
            client.get(server.url(&format!("/v1/conversations/{unknown}"))),
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }

    expect_error(
        client.get(server.url("/v1/nothing-here")),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        client.delete(server.url("/v1/conversations")),
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;

    // None of it was stored: the transcript is still empty.
    let transcript = get_json(&client, &server.url(&format!("/v1/conversations/{id}"))).await;
    assert_eq!(transcript["messages"], json!([]));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_over_its_rate_gets_429_with_retry_after() {
    let data = tempfile::tempdir().unwrap();
    let limits = HttpLimits {
        rate_per_second: 1,
        burst: 3,
        ..HttpLimits::default()
    };
    let server = TestServer::start(data.path(), limits).await;
    let client = Client::new();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let res = client
            .post(server.url("/v1/conversations"))
            .send()
            .await
            .unwrap();
        statuses.push(res.status());
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry: u64 = res.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(retry >= 1);
            assert_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
        }
    }
    assert_eq!(&statuses[..3], [StatusCode::CREATED; 3], "{statuses:?}");
    assert!(
        statuses[3..].contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    // Health checks are never rate limited.
    for _ in 0..5 {
        let res = client.get(server.url("/healthz")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_and_openapi_describe_the_server() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(data.path(), unlimited()).await;
    let client = Client::new();
    let id = open(&client, &server).await;
    say(&client, &server, &id, "how do I reset my password").await;

    let metrics = client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("warmline_turns_total{outcome=\"answer\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("warmline_http_requests_total"));
    assert!(metrics.contains("warmline_turn_duration_seconds_bucket"));
    assert!(metrics.contains("warmline_knowledge_articles"));

    let doc = get_json(&client, &server.url("/openapi.json")).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1/conversations",
        "/v1/conversations/{id}",
        "/v1/conversations/{id}/messages",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    assert!(doc["components"]["schemas"]["Citation"].is_object());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn drafts_and_agent_articles_have_no_public_page() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(data.path(), unlimited()).await;
    let client = Client::new();
    let catalog = server.warmline.state.knowledge.index().catalog();
    let hidden: Vec<&String> = catalog
        .articles
        .values()
        .filter(|a| {
            a.status == warmline_retrieval::Status::Draft
                || a.audience == warmline_domain::Audience::Agent
        })
        .map(|a| &a.id)
        .collect();
    assert!(!hidden.is_empty());
    for id in hidden {
        let res = client
            .get(server.url(&format!("/kb/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{id}");
    }
    let list = client
        .get(server.url("/kb"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let home = client.get(server.url("/")).send().await.unwrap();
    assert_eq!(home.status(), StatusCode::OK);
    let home = home.text().await.unwrap();
    assert!(home.contains("<script src=\"/widget.js\"") && home.contains("/v1/conversations"));
    let widget = client.get(server.url("/widget.js")).send().await.unwrap();
    assert_eq!(widget.status(), StatusCode::OK);
    assert!(
        widget.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(
        widget.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    assert!(widget.text().await.unwrap().contains("attachShadow"));
    assert!(list.contains("/kb/store-hours"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_articles_are_reported_and_the_rest_are_served() {
    let kb = tempfile::tempdir().unwrap();
    let articles = kb.path().join("articles");
    std::fs::create_dir_all(&articles).unwrap();
    std::fs::write(
        articles.join("good.md"),
        "---\nid: gift-wrap\ntitle: Gift wrap\n---\nGift wrap costs $4 per item.\n",
    )
    .unwrap();
    std::fs::write(articles.join("broken.md"), "---\nid: [oops\n---\nbody\n").unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(data.path(), kb.path(), unlimited()).await;
    assert_eq!(server.warmline.problems().len(), 1);
    assert!(
        server.warmline.problems()[0]
            .to_string()
            .starts_with("articles/broken.md:2")
    );
    let client = Client::new();
    let ready = get_json(&client, &server.url("/readyz")).await;
    assert_eq!(
        (ready["articles"].as_u64(), ready["problems"].as_u64()),
        (Some(1), Some(1))
    );
    let id = open(&client, &server).await;
    let turn = say(&client, &server, &id, "how much is gift wrap").await;
    assert_eq!(turn["reply"]["citations"][0]["article_id"], "gift-wrap");
    server.stop().await;
}

/// An article page shows raw HTML as text and leaves editors' comments out (a content gap's
/// draft lists customers' questions in one).
#[tokio::test(flavor = "multi_thread")]
async fn article_pages_hide_comments_and_show_raw_html_as_text() {
    let kb = tempfile::tempdir().unwrap();
    let articles = kb.path().join("articles");
    std::fs::create_dir_all(&articles).unwrap();
    std::fs::write(
        articles.join("gift-wrap.md"),
        "---\nid: gift-wrap\ntitle: Gift wrap\n---\n<!-- Customers asked:\n  - \
         is gift wrap free for [email]\n-->\n\nGift wrap costs $4 <b>per item</b>.\n",
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(data.path(), kb.path(), unlimited()).await;
    let page = Client::new()
        .get(server.url("/kb/gift-wrap"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Gift wrap costs $4"), "{page}");
    assert!(page.contains("&lt;b&gt;per item"), "{page}");
    assert!(
        !page.contains("Customers asked") && !page.contains("is gift wrap free"),
        "{page}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_servers_cannot_share_a_data_dir_but_run_side_by_side() {
    let data = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let first = TestServer::start(data.path(), unlimited()).await;
    let second = TestServer::start(other.path(), unlimited()).await;
    assert_ne!(first.addr, second.addr);
    let settings = warmline::Settings {
        data_dir: data.path().to_owned(),
        knowledge: common::sample_knowledge(),
        public_url: String::new(),
        durability: warmline_store::Durability::Process,
        watch: false,
        embedder: None,
        generator: None,
        crm: None,
        messaging: Default::default(),
        directline: None,
    };
    let err = warmline::Warmline::open(&settings, &mut |_, _, _| {})
        .await
        .err()
        .unwrap();
    assert!(format!("{err:#}").contains("--data-dir"), "{err:#}");
    first.stop().await;
    second.stop().await;
}
