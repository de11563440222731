//! The web widget's socket (`GET /v1/conversations/{id}/ws`) on the real server: resuming
//! after a dropped socket without duplicates or gaps, idempotent client message ids, access
//! tokens, origins, limits, an agent's message pushed live, shutdown, and streamed answers
//! where only verified sentences are sent.

mod common;

use async_trait::async_trait;
use common::{TestServer, agent_post, agent_session, customer_says, unlimited};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use warmline_domain::{
    AgentRole, DomainError, Embedder, FinishReason, GenerateEvent, GenerateRequest, GenerateStream,
    GenerateSummary, Generator,
};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a widget conversation: its id and access token.
async fn open(server: &TestServer) -> (String, String) {
    let opened: Value = reqwest::Client::new()
        .post(server.url("/v1/conversations"))
        .json(&json!({"channel": "web"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = opened["access_token"].as_str().unwrap().to_owned();
    (opened["id"].as_str().unwrap().to_owned(), token)
}

fn request(
    server: &TestServer,
    id: &str,
    token: Option<&str>,
    after: Option<&str>,
    origin: Option<&str>,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let query = after.map(|a| format!("?after={a}")).unwrap_or_default();
    let url = format!("ws://{}/v1/conversations/{id}/ws{query}", server.addr);
    let mut request = url.into_client_request().unwrap();
    let headers = request.headers_mut();
    let protocols = match token {
        Some(t) => format!("warmline.widget.v1, token.{t}"),
        None => "warmline.widget.v1".to_owned(),
    };
    headers.insert("sec-websocket-protocol", protocols.parse().unwrap());
    if let Some(origin) = origin {
        headers.insert("origin", origin.parse().unwrap());
    }
    request
}

/// Connects as the widget does (from the server's own page), resuming after `after`.
async fn connect(server: &TestServer, id: &str, token: &str, after: Option<&str>) -> Socket {
    let origin = server.base.clone();
    let (socket, response) =
        tokio_tungstenite::connect_async(request(server, id, Some(token), after, Some(&origin)))
            .await
            .unwrap();
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "warmline.widget.v1"
    );
    socket
}

fn refusal(result: Result<(Socket, impl Sized), tokio_tungstenite::tungstenite::Error>) -> u16 {
    match result {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("expected a refusal, the socket opened"),
    }
}

/// Every JSON frame until one of `kind` satisfies `wanted` (included), within 30 s (a
/// generated answer on a loaded 2-core machine can take more than 10).
async fn until(socket: &mut Socket, kind: &str, wanted: impl Fn(&Value) -> bool) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    loop {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .unwrap_or_else(|_| panic!("no {kind} frame in time; saw {seen:?}"))
            .unwrap_or_else(|| panic!("socket closed; saw {seen:?}"))
            .unwrap();
        if let Frame::Text(text) = frame {
            let value: Value = serde_json::from_str(&text).unwrap();
            let done = value["type"] == kind && wanted(&value);
            seen.push(value);
            if done {
                return seen;
            }
        }
    }
}

/// The ids of the `message` frames among `frames`.
fn message_ids(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .filter(|f| f["type"] == "message")
        .map(|f| f["message"]["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn say(socket: &mut Socket, client_id: &str, text: &str) {
    let frame = json!({"type": "message", "client_id": client_id, "text": text});
    socket
        .send(Frame::Text(frame.to_string().into()))
        .await
        .unwrap();
}

async fn transcript_ids(server: &TestServer, id: &str) -> Vec<String> {
    let transcript = common::get_json(server, &format!("/v1/conversations/{id}"), None).await;
    transcript["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_socket_resumes_without_duplicates_or_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), unlimited()).await;
    let (id, token) = open(&server).await;

    let mut socket = connect(&server, &id, &token, None).await;
    let hello = until(&mut socket, "state", |_| true).await;
    assert_eq!(hello[0]["type"], "hello");
    assert_eq!(hello[0]["ownership"], "bot");
    say(&mut socket, "c1", "How long do refunds to my card take?").await;
    let first = until(&mut socket, "message", |v| v["message"]["role"] == "bot").await;
    let answer = first.last().unwrap();
    assert_eq!(answer["message"]["reply_kind"], "answer", "{answer}");
    assert!(
        answer["message"]["citations"][0]["url"]
            .as_str()
            .unwrap()
            .contains("/kb/refund-timing")
    );
    assert!(
        first
            .iter()
            .any(|f| f["type"] == "typing" && f["on"] == true)
    );
    let seen = message_ids(&first);
    assert_eq!(
        seen.len(),
        2,
        "the customer's message and the answer: {first:?}"
    );
    drop(socket);

    // While the socket is down the conversation goes on (another tab, over REST).
    customer_says(&server, &id, "do you ship to canada?").await;
    customer_says(&server, &id, "thanks").await;

    // Reconnecting after the last message seen brings exactly the rest, then live ones.
    let mut socket = connect(&server, &id, &token, Some(&seen[1])).await;
    let resumed = until(&mut socket, "state", |_| true).await;
    let all = transcript_ids(&server, &id).await;
    assert_eq!(all.len(), 6);
    assert_eq!(
        message_ids(&resumed),
        all[2..].to_vec(),
        "no gap, no repeat"
    );
    say(&mut socket, "c2", "what are your store hours?").await;
    let live = until(&mut socket, "message", |v| v["message"]["role"] == "bot").await;
    let live_ids = message_ids(&live);
    assert_eq!(live_ids.len(), 2);
    let mut everything = [seen.clone(), message_ids(&resumed), live_ids].concat();
    assert_eq!(everything, transcript_ids(&server, &id).await);
    everything.dedup();
    assert_eq!(everything.len(), 8);

    // A reload (no resume point) gets the whole transcript, in order.
    let mut fresh = connect(&server, &id, &token, None).await;
    let history = until(&mut fresh, "state", |_| true).await;
    assert_eq!(message_ids(&history), transcript_ids(&server, &id).await);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_again_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), unlimited()).await;
    let (id, token) = open(&server).await;
    let mut socket = connect(&server, &id, &token, None).await;
    say(
        &mut socket,
        "same-1",
        "can I return something without a receipt?",
    )
    .await;
    let frames = until(&mut socket, "ack", |_| true).await;
    let stored = frames.last().unwrap()["message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    drop(socket);

    // The widget did not see the ack before the drop: it sends the frame again.
    let mut socket = connect(&server, &id, &token, None).await;
    say(
        &mut socket,
        "same-1",
        "can I return something without a receipt?",
    )
    .await;
    let again = until(&mut socket, "ack", |_| true).await;
    assert_eq!(again.last().unwrap()["message_id"], stored.as_str());
    // And on the same socket, twice in a row.
    say(
        &mut socket,
        "same-1",
        "can I return something without a receipt?",
    )
    .await;
    until(&mut socket, "ack", |v| v["message_id"] == stored.as_str()).await;
    let transcript = common::get_json(&server, &format!("/v1/conversations/{id}"), None).await;
    let customer: Vec<&Value> = transcript["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "customer")
        .collect();
    assert_eq!(customer.len(), 1, "{transcript}");
    let bots = transcript["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "bot")
        .count();
    assert_eq!(bots, 1, "answered once");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_conversations_own_token_and_allowed_sites_get_in() {
    let dir = tempfile::tempdir().unwrap();
    let mut limits = unlimited();
    limits.widget.origins = vec!["https://shop.example".into()];
    let server = TestServer::start(dir.path(), limits).await;
    let (a, token_a) = open(&server).await;
    let (b, _) = open(&server).await;

    let connect_with = |id: &str, token: Option<&str>, origin: Option<&str>| {
        tokio_tungstenite::connect_async(request(&server, id, token, None, origin))
    };
    assert_eq!(refusal(connect_with(&b, Some(&token_a), None).await), 401);
    assert_eq!(refusal(connect_with(&a, None, None).await), 401);
    assert_eq!(refusal(connect_with(&a, Some("forged"), None).await), 401);
    let evil = Some("https://evil.example");
    assert_eq!(refusal(connect_with(&a, Some(&token_a), evil).await), 403);
    // A valid token for a conversation that does not exist.
    let ghost = warmline_domain::ConversationId::new();
    let ghost_token = server.warmline.state.widget_key.token(ghost);
    let ghost = ghost.to_string();
    assert_eq!(
        refusal(connect_with(&ghost, Some(&ghost_token), None).await),
        404
    );
    let bad_after = tokio_tungstenite::connect_async(request(
        &server,
        &a,
        Some(&token_a),
        Some("yesterday"),
        None,
    ))
    .await;
    assert_eq!(refusal(bad_after), 422);

    // The configured site may embed the widget: the socket opens, and its REST calls pass CORS.
    let shop = Some("https://shop.example");
    let (mut socket, _) = connect_with(&a, Some(&token_a), shop).await.unwrap();
    until(&mut socket, "hello", |_| true).await;
    let preflight = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, server.url("/v1/conversations"))
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    let agents = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, server.url("/v1/agent/login"))
        .header("origin", "https://shop.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(
        !agents.headers().contains_key("access-control-allow-origin"),
        "the agent API stays same-origin"
    );
    let other = reqwest::Client::new()
        .post(server.url("/v1/conversations"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(
        !other.headers().contains_key("access-control-allow-origin"),
        "another site's page cannot read the answer"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_frames_and_messages_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut limits = unlimited();
    limits.widget.max_sockets = 2;
    limits.widget.message_burst = 2.0;
    limits.widget.messages_per_second = 0.2;
    let server = TestServer::start(dir.path(), limits).await;
    let (id, token) = open(&server).await;
    let mut first = connect(&server, &id, &token, None).await;
    let _second = connect(&server, &id, &token, None).await;
    let third = tokio_tungstenite::connect_async(request(&server, &id, Some(&token), None, None));
    assert_eq!(refusal(third.await), 429);

    // Bad frames are answered with errors; the socket stays up.
    first
        .send(Frame::Text("{\"type\":\"shout\"}".into()))
        .await
        .unwrap();
    let bad = until(&mut first, "error", |_| true).await;
    assert_eq!(bad.last().unwrap()["code"], "malformed_request");
    say(&mut first, "", "hello").await;
    let no_id = until(&mut first, "error", |_| true).await;
    assert_eq!(no_id.last().unwrap()["code"], "invalid_input");
    say(&mut first, "long", &"a".repeat(4001)).await;
    let long = until(&mut first, "error", |v| v["client_id"] == "long").await;
    assert_eq!(long.last().unwrap()["code"], "payload_too_large");
    // The burst is spent (the long message took one): the next is refused, not stored.
    say(&mut first, "r1", "hello").await;
    say(&mut first, "r2", "hello again").await;
    let limited = until(&mut first, "error", |v| v["client_id"] == "r2").await;
    assert_eq!(limited.last().unwrap()["code"], "rate_limited");
    until(&mut first, "ack", |v| v["client_id"] == "r1").await;

    // A frame over the size limit ends the socket.
    let huge = json!({"type": "message", "client_id": "x", "text": "a".repeat(20_000)});
    let _ = first.send(Frame::Text(huge.to_string().into())).await;
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match first.next().await {
                None | Some(Err(_)) | Some(Ok(Frame::Close(_))) => break,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "an oversized frame closes the socket");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_message_arrives_live_and_shutdown_closes_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), unlimited()).await;
    let ana = agent_session(&server, "ana", AgentRole::Agent, &["fraud"]).await;
    let (id, token) = open(&server).await;
    let mut socket = connect(&server, &id, &token, None).await;
    say(
        &mut socket,
        "p1",
        "someone used my card for purchases I never made",
    )
    .await;
    until(&mut socket, "state", |v| v["ownership"] == "queued").await;
    let queue = common::get_json(&server, "/v1/agent/queue", Some(&ana)).await;
    let handoff = queue[0]["id"].as_str().unwrap_or_else(|| panic!("{queue}"));
    let accepted = agent_post(
        &server,
        &ana,
        &format!("/v1/agent/handoffs/{handoff}/accept"),
        json!({}),
    )
    .await;
    assert_eq!(accepted.status(), 200);
    until(&mut socket, "state", |v| v["ownership"] == "human").await;
    let sent = agent_post(
        &server,
        &ana,
        &format!("/v1/agent/handoffs/{handoff}/messages"),
        json!({"text": "I've blocked the card. Which purchases were they?"}),
    )
    .await;
    assert_eq!(sent.status(), 200);
    let frames = until(&mut socket, "message", |v| v["message"]["role"] == "agent").await;
    assert_eq!(
        frames.last().unwrap()["message"]["text"],
        "I've blocked the card. Which purchases were they?"
    );

    // At shutdown the server says goodbye (1001): the widget reconnects to the next one.
    let closing = server.warmline.state.closing.clone();
    closing.send_replace(true);
    let code = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match socket.next().await {
                Some(Ok(Frame::Close(Some(close)))) => break u16::from(close.code),
                None | Some(Err(_)) | Some(Ok(Frame::Close(None))) => break 0,
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(code, 1001);
    server.stop().await;
}

/// Writes, token by token, the first sentence of passage [1] (supported) and then a
/// sentence with a number no passage has (invented).
struct Echo;

#[async_trait]
impl Generator for Echo {
    fn model_id(&self) -> &str {
        "echo"
    }
    async fn generate(&self, request: GenerateRequest) -> Result<GenerateStream, DomainError> {
        let prompt = &request.turns[0].1;
        let passage = prompt
            .lines()
            .find_map(|l| l.strip_prefix("[1] "))
            .and_then(|l| l.split_once(": "))
            .map(|(_, text)| text)
            .unwrap_or_default();
        let first = passage
            .split_inclusive(". ")
            .next()
            .unwrap_or(passage)
            .trim();
        let first = first.trim_end_matches('.');
        let text = format!("{first} [1]. Every refund also earns a 97% bonus voucher [1].");
        let mut events: Vec<Result<GenerateEvent, DomainError>> = text
            .split_inclusive(' ')
            .map(|t| Ok(GenerateEvent::Text(t.to_owned())))
            .collect();
        events.push(Ok(GenerateEvent::Done(GenerateSummary {
            finish: FinishReason::Stop,
            prompt_tokens: 1,
            cached_tokens: 0,
            generated_tokens: events.len(),
            time_to_first_token_ms: 0.0,
            total_ms: 0.0,
        })));
        Ok(Box::pin(futures_util::stream::iter(events)))
    }
}

/// Bag-of-words vectors: texts sharing words are similar (fast, no model).
struct Words;

#[async_trait]
impl Embedder for Words {
    fn model_id(&self) -> &str {
        "test-words"
    }
    fn dimensions(&self) -> usize {
        256
    }
    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, DomainError> {
        self.embed_blocking(texts)
    }
    fn embed_blocking(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, DomainError> {
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0.0f32; 256];
                for w in t
                    .to_lowercase()
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| w.len() > 2)
                {
                    let h = w
                        .bytes()
                        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
                    v[(h % 256) as usize] += 1.0;
                }
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
                v.iter().map(|x| x / norm).collect()
            })
            .collect())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_answers_stream_only_verified_sentences() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_grounded(dir.path(), Arc::new(Echo), Arc::new(Words)).await;
    let (id, token) = open(&server).await;
    let mut socket = connect(&server, &id, &token, None).await;
    say(&mut socket, "g1", "How long do refunds to my card take?").await;
    let frames = until(&mut socket, "ack", |_| true).await;
    let drafts: Vec<&str> = frames
        .iter()
        .filter(|f| f["type"] == "draft")
        .map(|f| f["text"].as_str().unwrap())
        .collect();
    assert_eq!(drafts.len(), 1, "one verified sentence: {frames:?}");
    assert!(
        !drafts[0].contains("97%"),
        "the invented sentence is never sent"
    );
    let is_bot = |f: &Value| f["type"] == "message" && f["message"]["role"] == "bot";
    let bot = match frames.iter().find(|f| is_bot(f)) {
        Some(bot) => bot.clone(),
        None => until(&mut socket, "message", |v| v["message"]["role"] == "bot")
            .await
            .pop()
            .unwrap(),
    };
    let text = bot["message"]["text"].as_str().unwrap();
    assert!(text.starts_with(drafts[0]), "{text} / {}", drafts[0]);
    assert!(!text.contains("97%"), "{text}");
    server.stop().await;
}

#[test]
fn a_widget_origin_that_is_not_an_origin_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = common::run_command(common::warmline_command().args([
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--widget-origins",
        "https://shop.example,shop.example/help",
    ]));
    assert!(!ok);
    assert!(
        stderr.contains("\"shop.example/help\" is not an origin"),
        "{stderr}"
    );
}
