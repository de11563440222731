//! Direct Line 3.0 against the real server, as directline-js (Web Chat) speaks it: tokens
//! (generate, refresh, forged, expired, another conversation's), starting a conversation,
//! posting activities and reading them over the websocket (the echo with the client's id,
//! typing, a cited markdown answer, suggested actions), reconnecting from a watermark,
//! polling, CORS, limits, agents' messages, one customer across channels, shutdown.

mod access;
#[path = "../common/mod.rs"]
mod common;
mod feedback;
mod stream;

use common::{TestServer, unlimited};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use warmline_channels::directline::DirectLineConfig;

pub const SECRET: &str = "test direct line secret 0123456789";
pub const SITE: &str = "http://shop.example:3000";

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub fn config() -> DirectLineConfig {
    DirectLineConfig::new(SECRET, &[SITE.to_owned()]).unwrap()
}

pub async fn server(dir: &std::path::Path) -> TestServer {
    TestServer::start_with_directline(dir, unlimited(), config()).await
}

pub fn dl(server: &TestServer, path: &str) -> String {
    server.url(&format!("/v3/directline{path}"))
}

pub async fn call(
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

pub async fn post(url: &str, bearer: Option<&str>, body: Option<Value>) -> (u16, Value) {
    call(reqwest::Method::POST, url, bearer, body).await
}

pub async fn get(url: &str, bearer: Option<&str>) -> (u16, Value) {
    call(reqwest::Method::GET, url, bearer, None).await
}

/// Generates a token (as a site's server would) and starts its conversation (as Web Chat
/// does): the conversation id, the token and the stream URL.
pub async fn start(server: &TestServer, user: Option<&str>) -> (String, String, String) {
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

pub async fn open_stream(url: &str, origin: Option<&str>) -> Result<Socket, u16> {
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
pub async fn read_until(
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

pub async fn say(
    server: &TestServer,
    id: &str,
    token: &str,
    text: &str,
    client_id: &str,
) -> String {
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

pub fn is_bot_message(a: &Value) -> bool {
    a["type"] == "message" && a["from"]["role"] == "bot"
}

pub fn claims_of(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// `token` with its claims replaced by `claims` (merged), keeping its signature.
pub fn forge(token: &str, changes: &Value) -> String {
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
