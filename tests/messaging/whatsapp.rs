//! WhatsApp Cloud API: the verify handshake, `X-Hub-Signature-256` over the raw body
//! (fixtures from Meta's documented examples), text and interactive replies, button replies,
//! delivery statuses.

use crate::fake::Fake;
use crate::{config, eventually, post, serve};
use serde_json::Value;
use warmline_channels::messaging::sign::hmac_sha256;
use warmline_channels::whatsapp::WhatsAppConfig;
use warmline_domain::{Channel, ChannelStore, ConversationStore};

const APP_SECRET: &str = "wa-app-secret";
const ACCESS_TOKEN: &str = "EAAG-test";

fn sign(body: &str) -> String {
    format!(
        "sha256={}",
        hex::encode(hmac_sha256(APP_SECRET.as_bytes(), &[body.as_bytes()]))
    )
}

pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/messaging/fixtures")
            .join(name),
    )
    .unwrap()
}

/// The WhatsApp settings the tests use, against `fake`.
pub fn whatsapp(fake: &Fake) -> WhatsAppConfig {
    WhatsAppConfig {
        app_secret: APP_SECRET.into(),
        verify_token: "verify-me".into(),
        access_token: ACCESS_TOKEN.into(),
        api_base: fake.base.clone(),
        rate_per_second: 80,
    }
}

/// A notification signed with the app secret; the status code.
pub async fn notify_signed(base: &str, body: &str) -> u16 {
    notify(base, body, Some(&sign(body))).await
}

async fn notify(base: &str, body: &str, signature: Option<&str>) -> u16 {
    let headers: Vec<(&str, &str)> = signature
        .map(|s| vec![("x-hub-signature-256", s)])
        .unwrap_or_default();
    post(
        &format!("{base}/webhooks/whatsapp"),
        "application/json",
        &headers,
        body.to_owned(),
    )
    .await
    .status()
    .as_u16()
}

pub fn sends(fake: &Fake) -> Vec<Value> {
    fake.served()
        .iter()
        .filter(|r| r.path == "/106540352242922/messages")
        .inspect(|r| assert_eq!(r.authorization, format!("Bearer {ACCESS_TOKEN}")))
        .map(|r| r.json())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_verifies_signatures_and_answers_with_text_and_buttons() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.whatsapp = Some(whatsapp(&fake));
    let server = serve(dir.path(), cfg).await;
    let store = server.warmline.state.store.clone();
    let client = reqwest::Client::new();

    // The subscription handshake.
    let verify = |token: &str| {
        server.url(&format!(
            "/webhooks/whatsapp?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={token}"
        ))
    };
    let ok = client.get(verify("verify-me")).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    assert_eq!(
        client.get(verify("wrong")).send().await.unwrap().status(),
        403
    );

    // A tampered body, or none signed: refused, nothing recorded.
    let body = fixture("whatsapp_text.json");
    let tampered = body.replace("credit card", "gift card");
    assert_eq!(
        notify(&server.base, &tampered, Some(&sign(&body))).await,
        401
    );
    assert_eq!(notify(&server.base, &body, None).await, 401);
    assert_eq!(notify(&server.base, &body, Some("sha256=00")).await, 401);
    assert!(
        store
            .thread(Channel::WhatsApp, "16505551234")
            .await
            .unwrap()
            .is_none()
    );

    // Signed, and delivered twice: answered once, in WhatsApp's markup.
    assert_eq!(notify(&server.base, &body, Some(&sign(&body))).await, 200);
    assert_eq!(notify(&server.base, &body, Some(&sign(&body))).await, 200);
    let reply = eventually("the answer", async || sends(&fake).into_iter().next()).await;
    assert_eq!(reply["messaging_product"], "whatsapp");
    assert_eq!(reply["to"], "16505551234");
    // An answer: its rating buttons make it an interactive message (tests/messaging/ratings.rs).
    assert_eq!(reply["type"], "interactive", "{reply}");
    let text = reply["interactive"]["body"]["text"].as_str().unwrap();
    assert!(
        text.contains("3–5 business days") && text.contains("Sources:\n[1] "),
        "{text}"
    );
    assert!(!text.contains("<a ") && !text.contains("**"), "{text}");

    // The delivery status lands on the sent message.
    let status = fixture("whatsapp_status.json").replace("STATUS_ID", "wamid.out1");
    assert_eq!(
        notify(&server.base, &status, Some(&sign(&status))).await,
        200
    );
    let delivery: Option<String> = sqlx::query_scalar(
        "SELECT delivery_status FROM channel_outbox WHERE provider_message_id = 'wamid.out1'",
    )
    .fetch_one(store.reader_pool())
    .await
    .unwrap();
    assert_eq!(delivery.as_deref(), Some("delivered"));

    // No answer: the offer of a person is a reply button; pressing it says so.
    let unknown = body
        .replace(
            "How long do refunds to a credit card take?",
            "what is the capital of Mongolia",
        )
        .replace(
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
            "wamid.unknown",
        );
    assert_eq!(
        notify(&server.base, &unknown, Some(&sign(&unknown))).await,
        200
    );
    let offer = eventually("the buttons", async || sends(&fake).into_iter().nth(1)).await;
    assert_eq!(offer["type"], "interactive", "{offer}");
    let button = &offer["interactive"]["action"]["buttons"][0]["reply"];
    assert_eq!(button["title"], "Talk to a person");
    let pressed = fixture("whatsapp_button_reply.json")
        .replace("BUTTON_ID", button["id"].as_str().unwrap())
        .replace("BUTTON_TITLE", "Talk to a person");
    assert_eq!(
        notify(&server.base, &pressed, Some(&sign(&pressed))).await,
        200
    );
    let thread = store
        .thread(Channel::WhatsApp, "16505551234")
        .await
        .unwrap()
        .unwrap();
    eventually("the button press in the transcript", async || {
        let messages = store.messages(thread.conversation_id, 50).await.unwrap();
        messages
            .iter()
            .any(|m| m.text == "Talk to a person")
            .then_some(())
    })
    .await;
    let customer_messages = store
        .messages(thread.conversation_id, 50)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.role == warmline_domain::Role::Customer)
        .count();
    assert_eq!(
        customer_messages, 3,
        "one conversation for the phone number, each message once"
    );
    server.stop().await;
}
