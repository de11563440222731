//! Direct Line 3.0 against the real server, as directline-js (Web Chat) speaks it: tokens
//! (generate, refresh, forged, expired, another conversation's), starting a conversation,
//! posting activities and reading them over the websocket (the echo with the client's id,
//! typing, a cited markdown answer, suggested actions), reconnecting from a watermark,
//! polling, CORS, limits, agents' messages, one customer across channels, shutdown.

mod common;

use common::{TestServer, unlimited};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use warmline::HttpLimits;
use warmline_channels::directline::DirectLineConfig;
use warmline_channels::directline::tokens::{Claims, Signer, Use};
use warmline_domain::ConversationId;

const SECRET: &str = "test direct line secret 0123456789";
const SITE: &str = "http://shop.example:3000";

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn config() -> DirectLineConfig {
    DirectLineConfig::new(SECRET, &[SITE.to_owned()]).unwrap()
}

async fn server(dir: &std::path::Path) -> TestServer {
    TestServer::start_with_directline(dir, unlimited(), config()).await
}

fn dl(server: &TestServer, path: &str) -> String {
    server.url(&format!("/v3/directline{path}"))
}

async fn call(
    method: reqwest::Method,
    url: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, url);
    if let Some(b) = bearer {
        request = request.bearer_auth(b);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post(url: &str, bearer: Option<&str>, body: Option<Value>) -> (u16, Value) {
    call(reqwest::Method::POST, url, bearer, body).await
}

async fn get(url: &str, bearer: Option<&str>) -> (u16, Value) {
    call(reqwest::Method::GET, url, bearer, None).await
}

/// Generates a token (as a site's server would) and starts its conversation (as Web Chat
/// does): the conversation id, the token and the stream URL.
async fn start(server: &TestServer, user: Option<&str>) -> (String, String, String) {
    let body = user.map(|u| json!({"user": {"id": u, "name": "Maya"}}));
    let (status, generated) = post(&dl(server, "/tokens/generate"), Some(SECRET), body).await;
    assert_eq!(status, 200, "{generated}");
    let token = generated["token"].as_str().unwrap().to_owned();
    let (status, started) = post(
        &dl(server, "/conversations"),
        Some(&token),
        Some(json!({"locale": "en-US"})),
    )
    .await;
    assert_eq!(status, 201, "{started}");
    assert_eq!(started["conversationId"], generated["conversationId"]);
    (
        started["conversationId"].as_str().unwrap().to_owned(),
        started["token"].as_str().unwrap().to_owned(),
        started["streamUrl"].as_str().unwrap().to_owned(),
    )
}

async fn open_stream(url: &str, origin: Option<&str>) -> Result<Socket, u16> {
    let mut request = url.into_client_request().unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("websocket failed: {e}"),
    }
}

/// Reads frames until `want` has matched an activity; returns every activity read and the
/// last watermark seen.
async fn read_until(
    socket: &mut Socket,
    want: impl Fn(&Value) -> bool,
) -> (Vec<Value>, Option<usize>) {
    let mut seen = Vec::new();
    let mut watermark = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .unwrap_or_else(|_| panic!("timed out; saw {seen:#?}"))
            .expect("stream ended")
            .unwrap();
        let Frame::Text(text) = frame else { continue };
        if text.is_empty() {
            continue; // keep-alive
        }
        let group: Value = serde_json::from_str(&text).unwrap();
        if let Some(w) = group["watermark"].as_str() {
            watermark = Some(w.parse().unwrap());
        }
        let mut done = false;
        for activity in group["activities"].as_array().unwrap() {
            done |= want(activity);
            seen.push(activity.clone());
        }
        if done {
            return (seen, watermark);
        }
    }
}

async fn say(server: &TestServer, id: &str, token: &str, text: &str, client_id: &str) -> String {
    let (status, body) = post(
        &dl(server, &format!("/conversations/{id}/activities")),
        Some(token),
        Some(json!({
            "type": "message", "text": text, "locale": "en-US", "textFormat": "plain",
            "channelData": {"clientActivityID": client_id},
        })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

fn is_bot_message(a: &Value) -> bool {
    a["type"] == "message" && a["from"]["role"] == "bot"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_and_tokens_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let generate = dl(&server, "/tokens/generate");
    let (status, body) = post(&generate, None, None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "unauthorized");
    assert_eq!(post(&generate, Some("not the secret"), None).await.0, 403);

    let (status, generated) = post(&generate, Some(SECRET), None).await;
    assert_eq!(status, 200);
    assert_eq!(generated["expires_in"], 1800);
    let token = generated["token"].as_str().unwrap();
    let id = generated["conversationId"].as_str().unwrap();
    // A token cannot mint tokens; the secret cannot be "refreshed".
    assert_eq!(post(&generate, Some(token), None).await.0, 403);
    assert_eq!(
        post(&dl(&server, "/tokens/refresh"), Some(SECRET), None)
            .await
            .0,
        403
    );
    // An anonymous user is a reserved dl_ id, inside the token, as Web Chat reads it.
    let user = claims_of(token)["user"].as_str().unwrap().to_owned();
    assert!(user.starts_with("dl_"), "{user}");

    let (status, refreshed) = post(&dl(&server, "/tokens/refresh"), Some(token), None).await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(refreshed["conversationId"], id);
    let fresh = refreshed["token"].as_str().unwrap();
    assert_eq!(claims_of(fresh)["user"], user.as_str());
    let poll = dl(&server, &format!("/conversations/{id}/activities"));
    assert_eq!(get(&poll, Some(fresh)).await.0, 200);

    // Another conversation's token, a forged one, an expired one, a stream token.
    let (_, other) = post(&generate, Some(SECRET), None).await;
    let (status, body) = get(&poll, other["token"].as_str()).await;
    assert_eq!(status, 403, "{body}");
    let forged = forge(token, &json!({"conv": id, "user": "dl_someone_else"}));
    assert_eq!(get(&poll, Some(&forged)).await.0, 403);
    let conversation: ConversationId = id.parse().unwrap();
    let signer = Signer::new(SECRET);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let expired = signer.sign(&Claims::new(
        conversation,
        &user,
        Use::Api,
        now - 3600,
        1800,
    ));
    let (status, body) = get(&poll, Some(&expired)).await;
    assert_eq!(status, 403);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    let stream = signer.sign(&Claims::new(conversation, &user, Use::Stream, now, 300));
    assert_eq!(get(&poll, Some(&stream)).await.0, 403);
    // With the secret, a site reads any conversation; an unknown one is 404.
    assert_eq!(get(&poll, Some(SECRET)).await.0, 200);
    let unknown = dl(
        &server,
        &format!("/conversations/{}", ConversationId::new()),
    );
    assert_eq!(get(&unknown, Some(SECRET)).await.0, 404);
    // A message from another user than the token's is refused.
    let (status, _) = post(
        &poll,
        Some(token),
        Some(json!({"type": "message", "text": "hi", "from": {"id": "dl_other"}})),
    )
    .await;
    assert_eq!(status, 403);
    // Bad input: no text, not JSON, too long.
    let (status, body) = post(&poll, Some(token), Some(json!({"type": "message"}))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("invalid_input"))
    );
    let response = reqwest::Client::new()
        .post(&poll)
        .bearer_auth(token)
        .body("{not json")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let long = "a".repeat(5000);
    let (status, _) = post(
        &poll,
        Some(token),
        Some(json!({"type": "message", "text": long})),
    )
    .await;
    assert_eq!(status, 413);
    server.stop().await;

    // Without a secret there is no Direct Line at all.
    let dir = tempfile::tempdir().unwrap();
    let plain = TestServer::start(dir.path(), unlimited()).await;
    assert_eq!(
        post(&dl(&plain, "/tokens/generate"), Some(SECRET), None)
            .await
            .0,
        404
    );
    plain.stop().await;
}

fn claims_of(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// `token` with its claims replaced by `claims` (merged), keeping its signature.
fn forge(token: &str, changes: &Value) -> String {
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims = claims_of(token);
    for (k, v) in changes.as_object().unwrap() {
        claims[k] = v.clone();
    }
    let parts: Vec<&str> = token.split('.').collect();
    let payload = engine.encode(serde_json::to_vec(&claims).unwrap());
    format!("{}.{payload}.{}", parts[0], parts[2])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_on_the_stream_gets_a_cited_answer_and_suggested_actions() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let (id, token, stream_url) = start(&server, None).await;
    assert!(stream_url.starts_with(&format!("ws://{}/v3/directline/", server.addr)));
    let user = claims_of(&token)["user"].as_str().unwrap().to_owned();
    let mut socket = open_stream(&stream_url, Some(SITE)).await.unwrap();

    let posted = say(
        &server,
        &id,
        &token,
        "How long do refunds to my card take?",
        "c-1",
    )
    .await;
    let (seen, watermark) = read_until(&mut socket, is_bot_message).await;
    // The customer's own message comes back with its id and the client's id (else Web Chat
    // says "Send failed"), then typing, then the answer.
    let echo = seen.iter().find(|a| a["from"]["role"] == "user").unwrap();
    assert_eq!(echo["id"], posted.as_str());
    assert_eq!(echo["channelData"]["clientActivityID"], "c-1");
    assert_eq!(echo["from"]["id"], user.as_str());
    assert!(seen.iter().any(|a| a["type"] == "typing"), "{seen:#?}");
    let answer = seen.last().unwrap();
    let text = answer["text"].as_str().unwrap();
    assert_eq!(answer["textFormat"], "markdown");
    assert!(text.contains("3–5 business days"), "{text}");
    assert!(
        text.contains(&format!("]({}/kb/refund-timing)", server.base)),
        "citation link missing: {text}"
    );
    assert_eq!(answer["replyToId"], posted.as_str());
    assert_eq!(watermark, Some(2));

    // A greeting offers the journeys as imBack buttons; picking one is just a message.
    say(&server, &id, &token, "hi", "c-2").await;
    let (seen, watermark) = read_until(&mut socket, is_bot_message).await;
    let actions = seen.last().unwrap()["suggestedActions"]["actions"]
        .as_array()
        .unwrap_or_else(|| panic!("no suggested actions: {seen:#?}"))
        .clone();
    assert!(
        actions
            .iter()
            .all(|a| a["type"] == "imBack" && a["title"] == a["value"])
    );
    let pick = actions
        .iter()
        .find(|a| a["value"] == "Track an order")
        .unwrap_or_else(|| panic!("{actions:#?}"));
    assert_eq!(watermark, Some(4));
    say(&server, &id, &token, pick["value"].as_str().unwrap(), "c-3").await;
    let (seen, _) = read_until(&mut socket, is_bot_message).await;
    assert!(
        seen.last().unwrap()["text"]
            .as_str()
            .unwrap()
            .contains("order"),
        "{seen:#?}"
    );
    // Typing activities are acknowledged and not stored.
    let (status, _) = post(
        &dl(&server, &format!("/conversations/{id}/activities")),
        Some(&token),
        Some(json!({"type": "typing", "from": {"id": user}})),
    )
    .await;
    assert_eq!(status, 200);
    let (_, transcript) = get(&server.url(&format!("/v1/conversations/{id}")), None).await;
    assert_eq!(transcript["messages"].as_array().unwrap().len(), 6);
    assert_eq!(transcript["conversation"]["channel"], "directline");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_from_a_watermark_loses_nothing_and_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let (id, token, stream_url) = start(&server, None).await;
    let mut socket = open_stream(&stream_url, None).await.unwrap();
    say(&server, &id, &token, "do you ship to canada?", "c-1").await;
    let (first, watermark) = read_until(&mut socket, is_bot_message).await;
    let watermark = watermark.unwrap();
    socket.close(None).await.unwrap();

    // While the socket is down, two more turns happen.
    say(&server, &id, &token, "how long do refunds take?", "c-2").await;
    say(&server, &id, &token, "thanks", "c-3").await;
    let (status, again) = get(
        &dl(
            &server,
            &format!("/conversations/{id}?watermark={watermark}"),
        ),
        Some(&token),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    let token = again["token"].as_str().unwrap();
    assert_eq!(claims_of(token)["conv"], id.as_str());
    let mut socket = open_stream(again["streamUrl"].as_str().unwrap(), None)
        .await
        .unwrap();
    let (rest, last) = read_until(&mut socket, |_| true).await;
    assert_eq!(last, Some(6));

    // Together: exactly the transcript, in order, each message once.
    let (_, transcript) = get(&server.url(&format!("/v1/conversations/{id}")), None).await;
    let stored: Vec<&str> = transcript["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    let streamed: Vec<&str> = first
        .iter()
        .chain(&rest)
        .filter(|a| a["type"] == "message")
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(streamed, stored);
    // The echo of a message sent while away still carries the client's id.
    assert_eq!(rest[0]["channelData"]["clientActivityID"], "c-2");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_reads_after_the_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let (id, token, _) = start(&server, None).await;
    let poll = |w: &str| {
        dl(
            &server,
            &format!("/conversations/{id}/activities?watermark={w}"),
        )
    };
    let (status, empty) = get(&poll(""), Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(empty, json!({"activities": [], "watermark": "0"}));
    say(
        &server,
        &id,
        &token,
        "can I return something without a receipt?",
        "c-1",
    )
    .await;
    let (_, all) = get(&poll(""), Some(&token)).await;
    assert_eq!(all["watermark"], "2");
    let activities = all["activities"].as_array().unwrap();
    assert_eq!(activities.len(), 2);
    assert_eq!(activities[0]["channelData"]["clientActivityID"], "c-1");
    assert_eq!(activities[1]["from"]["role"], "bot");
    say(&server, &id, &token, "thank you", "c-2").await;
    let (_, after) = get(&poll("2"), Some(&token)).await;
    let texts: Vec<&str> = after["activities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts.len(), 2, "{after}");
    assert_eq!(texts[0], "thank you");
    assert_eq!(after["watermark"], "4");
    let (_, none) = get(&poll("4"), Some(&token)).await;
    assert_eq!(none["activities"], json!([]));
    let (status, body) = get(&poll("abc"), Some(&token)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("malformed_request"))
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_answers_configured_origins_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let preflight = |origin: &str| {
        reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, dl(&server, "/tokens/generate"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type,x-ms-bot-agent",
            )
            .send()
    };
    let allowed = preflight(SITE).await.unwrap();
    assert!(allowed.status().is_success());
    let headers = allowed.headers();
    assert_eq!(headers["access-control-allow-origin"], SITE);
    let allow = headers["access-control-allow-headers"].to_str().unwrap();
    for needed in ["authorization", "x-ms-bot-agent", "x-requested-with"] {
        assert!(allow.contains(needed), "{allow}");
    }
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    // Real requests from the site carry the header (and Retry-After is readable).
    let response = reqwest::Client::new()
        .post(dl(&server, "/tokens/generate"))
        .header("origin", SITE)
        .bearer_auth(SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["access-control-allow-origin"], SITE);
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(exposed.contains("retry-after"), "{exposed}");
    // Streams: the site's pages and this server's own may open them; others may not.
    let (_, _, stream_url) = start(&server, None).await;
    assert_eq!(
        open_stream(&stream_url, Some("https://evil.example"))
            .await
            .err(),
        Some(403)
    );
    let own = server.base.clone();
    assert!(open_stream(&stream_url, Some(&own)).await.is_ok());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_and_requests_are_limited() {
    let dir = tempfile::tempdir().unwrap();
    let limits = HttpLimits {
        rate_per_second: 1,
        burst: 5,
        ..HttpLimits::default()
    };
    let mut config = config();
    config.sockets_per_conversation = 1;
    let server = TestServer::start_with_directline(dir.path(), limits, config).await;
    let (_, _, stream_url) = start(&server, None).await;
    let _first = open_stream(&stream_url, None).await.unwrap();
    // One socket per conversation here: a second is refused until the first closes.
    assert_eq!(open_stream(&stream_url, None).await.err(), Some(429));
    // Forged or missing stream tokens.
    let bare = stream_url.split('?').next().unwrap().to_owned();
    let missing = open_stream(&bare, None).await.err();
    let forged = open_stream(&format!("{bare}?t=a.b.c"), None).await.err();
    // The per-client rate limit applies to the conversation routes (429 + Retry-After).
    let mut limited = None;
    for _ in 0..20 {
        let response = reqwest::Client::new()
            .get(
                stream_url
                    .replace("ws://", "http://")
                    .replace("/stream", "/activities"),
            )
            .bearer_auth(SECRET)
            .header("origin", SITE)
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            limited = Some(response);
            break;
        }
    }
    let limited = limited.expect("never rate limited");
    assert!(limited.headers().contains_key("retry-after"));
    assert_eq!(limited.headers()["access-control-allow-origin"], SITE);
    assert_eq!(missing, Some(401));
    assert_eq!(forged, Some(403));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_reach_the_stream_and_shutdown_closes_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let (id, token, stream_url) = start(&server, None).await;
    let mut socket = open_stream(&stream_url, None).await.unwrap();
    say(
        &server,
        &id,
        &token,
        "This is useless. Let me talk to a real person NOW",
        "c-1",
    )
    .await;
    read_until(&mut socket, is_bot_message).await;
    let ana = common::agent_session(&server, "ana", warmline_domain::AgentRole::Agent, &[]).await;
    let (_, queue) = get(&server.url("/v1/agent/queue"), Some(&ana)).await;
    let handoff = queue
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["conversation_id"] == id.as_str())
        .unwrap_or_else(|| panic!("{queue}"))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let accepted = common::agent_post(
        &server,
        &ana,
        &format!("/v1/agent/handoffs/{handoff}/accept"),
        json!({}),
    )
    .await;
    assert_eq!(accepted.status(), 200);
    common::agent_post(
        &server,
        &ana,
        &format!("/v1/agent/handoffs/{handoff}/messages"),
        json!({"text": "Hi, Ana here. How can I help?"}),
    )
    .await;
    let (seen, _) = read_until(&mut socket, |a| {
        a["text"].as_str().is_some_and(|t| t.contains("Ana here"))
    })
    .await;
    assert_eq!(seen.last().unwrap()["from"]["role"], "bot");
    // While a person owns the conversation the bot stays quiet: the echo, no reply.
    say(&server, &id, &token, "my card was charged twice", "c-2").await;
    let (seen, _) = read_until(&mut socket, |a| a["from"]["role"] == "user").await;
    assert_eq!(
        seen.last().unwrap()["channelData"]["clientActivityID"],
        "c-2"
    );

    // Shutting down closes the stream (the client reconnects elsewhere from its watermark).
    server.stop().await;
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(frame)) = socket.next().await {
            if frame.is_close() {
                return;
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the stream stayed open after shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_user_id_is_the_same_customer_as_on_other_channels() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let rest =
        common::open_conversation(&server, json!({"customer": {"external_id": "JMC-1001"}})).await;
    let (id, token, _) = start(&server, Some("JMC-1001")).await;
    assert_eq!(claims_of(&token)["user"], "JMC-1001");
    let store = &server.warmline.state.conversations;
    let customer = |c: &str| {
        let c: ConversationId = c.parse().unwrap();
        async move { store.conversation(c).await.unwrap().unwrap().customer_id }
    };
    let on_rest = customer(&rest).await;
    assert!(on_rest.is_some());
    assert_eq!(customer(&id).await, on_rest);
    // Anonymous users are not linked to anyone.
    let (anonymous, _, _) = start(&server, None).await;
    assert_eq!(customer(&anonymous).await, None);
    server.stop().await;
}
