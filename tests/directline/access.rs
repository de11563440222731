//! Who may use Direct Line: secrets and tokens, CORS and websocket origins, limits, and
//! which customer a conversation belongs to.

use crate::common::{TestServer, unlimited};
use crate::*;
use serde_json::json;
use warmline::HttpLimits;
use warmline_channels::directline::tokens::{Claims, Signer, Use};
use warmline_domain::ConversationId;

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
