//! The console's live feed (`GET /v1/agent/ws`) on the real server: the session token rides
//! the websocket subprotocol, foreign origins and missing tokens are refused, and an agent
//! sees the queue change, their conversation's messages both ways, and supervisors the stats,
//! without polling.

mod common;

use common::{TestServer, agent_post, agent_session, customer_says, open_conversation, unlimited};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use warmline_domain::AgentRole;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn request(
    server: &TestServer,
    token: Option<&str>,
    origin: Option<&str>,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let mut request = format!("ws://{}/v1/agent/ws", server.addr)
        .into_client_request()
        .unwrap();
    let headers = request.headers_mut();
    let protocols = match token {
        Some(t) => format!("warmline.v1, bearer.{t}"),
        None => "warmline.v1".to_owned(),
    };
    headers.insert("sec-websocket-protocol", protocols.parse().unwrap());
    if let Some(origin) = origin {
        headers.insert("origin", origin.parse().unwrap());
    }
    request
}

async fn connect(server: &TestServer, token: &str) -> Socket {
    let origin = server.base.clone();
    let (socket, response) =
        tokio_tungstenite::connect_async(request(server, Some(token), Some(&origin)))
            .await
            .unwrap();
    // The server picks its protocol and never echoes the token.
    assert_eq!(response.headers()["sec-websocket-protocol"], "warmline.v1");
    socket
}

/// The next frame of `kind` that satisfies `wanted`, within 5 s.
async fn next(socket: &mut Socket, kind: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .unwrap_or_else(|_| panic!("no {kind} frame in time"))
            .expect("socket closed")
            .unwrap();
        if let Frame::Text(text) = frame {
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["type"] == kind && wanted(&value) {
                return value;
            }
        }
    }
}

fn status(error: tokio_tungstenite::tungstenite::Error) -> u16 {
    match error {
        tokio_tungstenite::tungstenite::Error::Http(response) => response.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_feed_is_live_and_guarded() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), unlimited()).await;
    let ana = agent_session(&server, "ana", AgentRole::Agent, &["fraud"]).await;
    let sam = agent_session(&server, "sam", AgentRole::Supervisor, &[]).await;

    // Refused: no token, a forged one, another site's page.
    let none = tokio_tungstenite::connect_async(request(&server, None, None)).await;
    assert_eq!(status(none.unwrap_err()), 401);
    let forged = "0".repeat(64);
    let forged = tokio_tungstenite::connect_async(request(&server, Some(&forged), None)).await;
    assert_eq!(status(forged.unwrap_err()), 401);
    let evil = request(&server, Some(&ana), Some("https://evil.example"));
    let evil = tokio_tungstenite::connect_async(evil).await;
    assert_eq!(status(evil.unwrap_err()), 403);

    let mut feed = connect(&server, &ana).await;
    let hello = next(&mut feed, "hello", |_| true).await;
    assert_eq!(hello["agent"]["username"], "ana");
    next(&mut feed, "queue", |v| v["handoffs"] == json!([])).await;
    let mut stats = connect(&server, &sam).await;
    next(&mut stats, "stats", |_| true).await;

    // A customer escalates: the queue arrives by itself.
    let conv = open_conversation(&server, Value::Null).await;
    customer_says(
        &server,
        &conv,
        "someone used my card for purchases I never made",
    )
    .await;
    let queue = next(&mut feed, "queue", |v| {
        v["handoffs"].as_array().unwrap().len() == 1
    })
    .await;
    let id = queue["handoffs"][0]["id"].as_str().unwrap().to_owned();
    let waiting = next(&mut stats, "stats", |v| v["waiting"] == 1).await;
    assert!(
        waiting["agents"].as_array().unwrap().len() == 2,
        "{waiting}"
    );

    // Accepted: the handoff and the customer's next words come live, and the agent's too.
    let accept = format!("/v1/agent/handoffs/{id}/accept");
    assert_eq!(
        agent_post(&server, &ana, &accept, json!({})).await.status(),
        200
    );
    next(&mut feed, "mine", |v| {
        v["handoffs"].as_array().unwrap().len() == 1
    })
    .await;
    customer_says(&server, &conv, "it was 3 charges of $49.99").await;
    let said = next(&mut feed, "message", |v| v["message"]["role"] == "customer").await;
    assert_eq!(said["message"]["text"], "it was 3 charges of $49.99");
    let write = format!("/v1/agent/handoffs/{id}/messages");
    let sent = agent_post(
        &server,
        &ana,
        &write,
        json!({"text": "The card is blocked."}),
    )
    .await;
    assert_eq!(sent.status(), 200);
    next(&mut feed, "message", |v| {
        v["message"]["text"] == "The card is blocked."
    })
    .await;

    // Suggested replies for the customer's latest question, with citations.
    customer_says(&server, &conv, "how do I dispute a charge on my card?").await;
    let suggestions = common::get_json(
        &server,
        &format!("/v1/agent/handoffs/{id}/suggestions"),
        Some(&ana),
    )
    .await;
    assert_eq!(
        suggestions["question"],
        "how do I dispute a charge on my card?"
    );
    let replies = suggestions["replies"].as_array().unwrap();
    assert!(!replies.is_empty(), "{suggestions}");
    assert!(!replies[0]["citations"].as_array().unwrap().is_empty());

    // Returned to the bot: the agent's feed says so.
    let back = format!("/v1/agent/handoffs/{id}/return");
    assert_eq!(
        agent_post(&server, &ana, &back, json!({})).await.status(),
        200
    );
    next(&mut feed, "handoff", |v| {
        v["handoff"]["status"] == "returned"
    })
    .await;

    // Logging out ends the session; a new feed is refused.
    let client = reqwest::Client::new();
    let out = client
        .post(server.url("/v1/agent/logout"))
        .bearer_auth(&ana)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    let late = request(&server, Some(&ana), None);
    assert_eq!(
        status(tokio_tungstenite::connect_async(late).await.unwrap_err()),
        401
    );

    // Shutting down closes the feeds still open (the supervisor's).
    server.stop().await;
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(frame)) = stats.next().await {
            if let Frame::Close(_) = frame {
                return;
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the feed outlived the server");
}
