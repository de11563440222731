//! Twilio SMS: `X-Twilio-Signature` computed by the `twilio` SDK's RequestValidator over the
//! exact public URL and sorted parameters, TwiML answers, plain-text replies sent through the
//! REST API, long messages in numbered parts, quick replies answered with a digit.

use crate::fake::Fake;
use crate::{config, eventually, post, python, serve};
use serde_json::{Value, json};
use warmline_channels::twilio::TwilioConfig;
use warmline_domain::{Channel, ChannelStore, ConversationStore, Message, Outbound, Role};

const TOKEN: &str = "12345678901234567890123456789012";
const SID: &str = "ACtest00000000000000000000000000";

/// The signature Twilio would send, computed by the `twilio` SDK.
fn twilio_signature(url: &str, params: &[(&str, &str)]) -> String {
    let params: serde_json::Map<String, Value> = params
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    python(
        "import sys, json\nfrom twilio.request_validator import RequestValidator\n\
         print(RequestValidator(sys.argv[1]).compute_signature(sys.argv[2], json.loads(sys.argv[3])))",
        &[TOKEN, url, &Value::Object(params).to_string()],
    )
}

fn sms<'a>(sid: &'a str, body: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("AccountSid", SID),
        ("ApiVersion", "2010-04-01"),
        ("Body", body),
        ("From", "+15551230001"),
        ("MessageSid", sid),
        ("NumMedia", "0"),
        ("NumSegments", "1"),
        ("SmsSid", sid),
        ("To", "+15559870002"),
    ]
}

async fn incoming(base: &str, params: &[(&str, &str)], signature: &str) -> reqwest::Response {
    let form = serde_urlencoded::to_string(params).unwrap();
    post(
        &format!("{base}/webhooks/twilio"),
        "application/x-www-form-urlencoded",
        &[("x-twilio-signature", signature)],
        form,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_sms_is_verified_answered_in_plain_text_and_digits_pick_options() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.twilio = Some(TwilioConfig {
        account_sid: SID.into(),
        auth_token: TOKEN.into(),
        public_url: String::new(), // the test server's own URL
        api_base: fake.base.clone(),
        rate_per_second: 100,
    });
    let server = serve(dir.path(), cfg).await;
    let store = server.warmline.state.store.clone();
    let url = server.url("/webhooks/twilio");

    let question = sms("SM0001", "How long do refunds to a credit card take?");
    let signature = twilio_signature(&url, &question);
    // Tampered (the body changed after signing), or signed for another URL: 403.
    let tampered = sms("SM0001", "How long do refunds to a gift card take?");
    assert_eq!(
        incoming(&server.base, &tampered, &signature).await.status(),
        403
    );
    let elsewhere = twilio_signature("https://other.example.com/webhooks/twilio", &question);
    assert_eq!(
        incoming(&server.base, &question, &elsewhere).await.status(),
        403
    );
    assert_eq!(incoming(&server.base, &question, "").await.status(), 403);

    // Valid, twice: an empty TwiML answer each time, one reply sent.
    for _ in 0..2 {
        let ok = incoming(&server.base, &question, &signature).await;
        assert_eq!(ok.status(), 200);
        assert_eq!(ok.headers()["content-type"], "text/xml");
        assert!(ok.text().await.unwrap().contains("<Response></Response>"));
    }
    let sends = || -> Vec<Value> {
        fake.served()
            .iter()
            .filter(|r| r.path == format!("/2010-04-01/Accounts/{SID}/Messages.json"))
            .map(|r| r.json())
            .collect()
    };
    let reply = eventually("the answer", async || sends().into_iter().next()).await;
    assert_eq!(reply["To"], "+15551230001");
    assert_eq!(reply["From"], "+15559870002");
    assert_eq!(
        reply["StatusCallback"],
        server.url("/webhooks/twilio/status")
    );
    let text = reply["Body"].as_str().unwrap();
    assert!(
        text.contains("3–5 business days") && text.contains("Sources:"),
        "{text}"
    );
    assert!(!text.contains("**") && !text.contains("<a "), "{text}");

    // No answer: the offer of a person is a numbered option; "1" picks it.
    let unknown = sms("SM0002", "what is the capital of Mongolia");
    incoming(&server.base, &unknown, &twilio_signature(&url, &unknown)).await;
    let offer = eventually("the options", async || sends().into_iter().nth(1)).await;
    assert!(
        offer["Body"]
            .as_str()
            .unwrap()
            .ends_with("Reply with a number:\n1. Talk to a person"),
        "{offer}"
    );
    let digit = sms("SM0003", "1");
    incoming(&server.base, &digit, &twilio_signature(&url, &digit)).await;
    let thread = store
        .thread(Channel::Sms, "+15559870002|+15551230001")
        .await
        .unwrap()
        .unwrap();
    eventually("the option in the transcript", async || {
        let messages = store.messages(thread.conversation_id, 50).await.unwrap();
        messages
            .iter()
            .any(|m| m.role == Role::Customer && m.text == "Talk to a person")
            .then_some(())
    })
    .await;

    // The customer is told a person will take over.
    let before = eventually("the handoff notice", async || {
        (sends().len() == 3).then_some(3)
    })
    .await;

    // A long message (an agent's) goes out in numbered parts within Twilio's 1600 characters.
    let long = "Your replacement ships from our central warehouse today. ".repeat(60);
    let messaging = server.warmline.state.messaging.clone().unwrap();
    messaging
        .deliver(&Message::new(
            thread.conversation_id,
            Role::Agent,
            long.trim(),
        ))
        .await
        .unwrap();
    let parts = eventually("the parts", async || {
        let all = sends();
        (all.len() >= before + 3).then(|| all[before..].to_vec())
    })
    .await;
    assert_eq!(parts.len(), 3);
    for (i, part) in parts.iter().enumerate() {
        let body = part["Body"].as_str().unwrap();
        assert!(body.starts_with(&format!("({}/3) ", i + 1)), "{body}");
        assert!(body.chars().count() <= 1600);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_status_callbacks_are_signed_too() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.twilio = Some(TwilioConfig {
        account_sid: SID.into(),
        auth_token: TOKEN.into(),
        public_url: String::new(),
        api_base: fake.base.clone(),
        rate_per_second: 100,
    });
    let server = serve(dir.path(), cfg).await;
    let url = server.url("/webhooks/twilio/status");
    let params = [
        ("MessageSid", "SMout1"),
        ("MessageStatus", "delivered"),
        ("AccountSid", SID),
    ];
    let form = serde_urlencoded::to_string(params).unwrap();
    let unsigned = post(&url, "application/x-www-form-urlencoded", &[], form.clone()).await;
    assert_eq!(unsigned.status(), 403);
    let signature = twilio_signature(&url, &params);
    let ok = post(
        &url,
        "application/x-www-form-urlencoded",
        &[("x-twilio-signature", &signature)],
        form,
    )
    .await;
    assert_eq!(ok.status(), 204);
    server.stop().await;
}
