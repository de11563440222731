//! Slack Events API: signatures made by `slack_sdk`'s SignatureVerifier, the 5-minute replay
//! window, url_verification, replies in the message's thread, our own bot's messages ignored.

use crate::common::TestServer;
use crate::fake::Fake;
use crate::{config, eventually, post, python, serve};
use serde_json::Value;
use warmline_channels::slack::SlackConfig;

pub const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

/// `v0=...` for `body` at `timestamp`, computed by slack_sdk.
/// The Slack settings the tests use, against `fake`.
pub fn slack(fake: &Fake) -> SlackConfig {
    SlackConfig {
        signing_secret: SECRET.into(),
        bot_token: "xoxb-test".into(),
        api_base: fake.base.clone(),
        rate_per_second: 50,
    }
}

/// Seconds since the Unix epoch (Slack's request timestamps).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn slack_signature(timestamp: i64, body: &str) -> String {
    python(
        "import sys\nfrom slack_sdk.signature import SignatureVerifier\n\
         print(SignatureVerifier(sys.argv[1]).generate_signature(timestamp=sys.argv[2], body=sys.argv[3]))",
        &[SECRET, &timestamp.to_string(), body],
    )
}

pub async fn event(
    base: &str,
    body: &str,
    timestamp: i64,
    signature: &str,
    retry: bool,
) -> reqwest::Response {
    let ts = timestamp.to_string();
    let mut headers = vec![
        ("x-slack-request-timestamp", ts.as_str()),
        ("x-slack-signature", signature),
    ];
    if retry {
        headers.push(("x-slack-retry-num", "1"));
        headers.push(("x-slack-retry-reason", "http_timeout"));
    }
    post(
        &format!("{base}/webhooks/slack/events"),
        "application/json",
        &headers,
        body.to_owned(),
    )
    .await
}

/// The server with Slack pointed at `fake`.
pub async fn slack_server(fake: &Fake, dir: &std::path::Path) -> TestServer {
    let mut cfg = config();
    cfg.slack = Some(slack(fake));
    serve(dir, cfg).await
}

/// What Warmline posted to Slack's `chat.postMessage`, in order.
pub fn posts(fake: &Fake) -> Vec<Value> {
    fake.served()
        .iter()
        .filter(|r| r.path == "/chat.postMessage")
        .map(|r| r.json())
        .collect()
}

/// A button press as Slack posts it to the interactivity URL: a form whose `payload` is the
/// documented `block_actions` example with this user, trigger, action and value.
pub fn press_form(user: &str, trigger: &str, action_id: &str, value: &str) -> String {
    let payload = fixture("slack_block_actions.json")
        .replace("USER_ID", user)
        .replace("TRIGGER_ID", trigger)
        .replace("ACTION_ID", action_id)
        .replace("VALUE", value);
    let payload: Value = serde_json::from_str(&payload).unwrap();
    serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap()
}

/// Posts `form` to the interactivity URL with `signature` at `timestamp`; the status.
pub async fn interaction(base: &str, form: &str, timestamp: i64, signature: &str) -> u16 {
    let ts = timestamp.to_string();
    post(
        &format!("{base}/webhooks/slack/interactions"),
        "application/x-www-form-urlencoded",
        &[
            ("x-slack-request-timestamp", ts.as_str()),
            ("x-slack-signature", signature),
        ],
        form.to_owned(),
    )
    .await
    .status()
    .as_u16()
}

pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/messaging/fixtures")
            .join(name),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_checks_signatures_and_replay_window_and_answers_in_the_thread() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = slack_server(&fake, dir.path()).await;
    let now = unix_now();

    let challenge = r#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let ok = event(
        &server.base,
        challenge,
        now,
        &slack_signature(now, challenge),
        false,
    )
    .await;
    assert_eq!(ok.status(), 200);
    let answer: Value = ok.json().await.unwrap();
    assert_eq!(
        answer["challenge"],
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );

    let body = fixture("slack_message.json");
    // Stale (a replay), tampered, or signed with another secret: refused.
    let stale = now - 301;
    assert_eq!(
        event(
            &server.base,
            &body,
            stale,
            &slack_signature(stale, &body),
            false
        )
        .await
        .status(),
        401
    );
    let tampered = body.replace("credit card", "gift card");
    assert_eq!(
        event(
            &server.base,
            &tampered,
            now,
            &slack_signature(now, &body),
            false
        )
        .await
        .status(),
        401
    );
    assert_eq!(
        event(&server.base, &body, now, "v0=deadbeef", false)
            .await
            .status(),
        401
    );

    // Delivered, then retried by Slack: answered once, in the thread.
    let signature = slack_signature(now, &body);
    assert_eq!(
        event(&server.base, &body, now, &signature, false)
            .await
            .status(),
        200
    );
    assert_eq!(
        event(&server.base, &body, now, &signature, true)
            .await
            .status(),
        200
    );
    let posts = || -> Vec<Value> {
        fake.served()
            .iter()
            .filter(|r| r.path == "/chat.postMessage")
            .inspect(|r| assert_eq!(r.authorization, "Bearer xoxb-test"))
            .map(|r| r.json())
            .collect()
    };
    let reply = eventually("the answer", async || posts().into_iter().next()).await;
    assert_eq!(reply["channel"], "C0LAN2Q65");
    assert_eq!(reply["thread_ts"], "1515449522.000016");
    let text = reply["text"].as_str().unwrap();
    assert!(
        text.contains("3–5 business days") && text.contains("|"),
        "{text}"
    );

    // Our own reply comes back as an event: never answered.
    let bot = fixture("slack_bot_message.json");
    assert_eq!(
        event(&server.base, &bot, now, &slack_signature(now, &bot), false)
            .await
            .status(),
        200
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(posts().len(), 1, "{:?}", posts());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_quick_replies_are_buttons_and_a_press_is_said_in_the_thread() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = slack_server(&fake, dir.path()).await;
    let now = unix_now();
    let posts = || posts(&fake);
    // A greeting: small talk offers the journeys as quick replies.
    let hello = fixture("slack_message.json")
        .replace("How long do refunds to a credit card take?", "hi there");
    event(
        &server.base,
        &hello,
        now,
        &slack_signature(now, &hello),
        false,
    )
    .await;
    let reply = eventually("the greeting", async || posts().into_iter().next()).await;
    let blocks = reply["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["text"]["text"], reply["text"]);
    let options = blocks
        .iter()
        .find(|b| b["block_id"] == "warmline_options")
        .unwrap_or_else(|| panic!("no quick replies in {reply}"));
    let buttons = options["elements"].as_array().unwrap();
    assert!(buttons.len() >= 2, "{options}");
    // The text no longer lists them as numbered lines.
    assert!(
        !reply["text"].as_str().unwrap().contains("\n1. "),
        "{reply}"
    );
    let pick = buttons
        .iter()
        .find(|b| b["text"]["text"].as_str().unwrap().contains("order"))
        .unwrap_or_else(|| panic!("no order journey in {options}"));
    let label = pick["text"]["text"].as_str().unwrap();

    // The press, posted to the interactivity URL.
    let form = press_form(
        "U061F7AUR",
        "t-9",
        pick["action_id"].as_str().unwrap(),
        pick["value"].as_str().unwrap(),
    );
    let status = interaction(&server.base, &form, now, &slack_signature(now, &form)).await;
    assert_eq!(status, 200);
    // Said as the customer's words in the conversation, and answered in the thread.
    let next = eventually("the journey's first question", async || {
        posts().into_iter().nth(1)
    })
    .await;
    assert_eq!(next["thread_ts"], "1515449522.000016");
    let store = server.warmline.state.store.clone();
    let thread = warmline_domain::ChannelStore::thread(
        store.as_ref(),
        warmline_domain::Channel::Slack,
        "C0LAN2Q65:1515449522.000016",
    )
    .await
    .unwrap()
    .unwrap();
    let messages =
        warmline_domain::ConversationStore::messages(store.as_ref(), thread.conversation_id, 10)
            .await
            .unwrap();
    assert!(
        messages.iter().any(|m| m.text == label),
        "the press is not in the transcript: {messages:?}"
    );
    server.stop().await;
}
