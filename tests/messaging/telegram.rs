//! Telegram: secret-token webhooks, updates built by python-telegram-bot, HTML replies with an
//! inline keyboard, callback queries, one conversation per chat, agent messages delivered.

use crate::fake::Fake;
use crate::{config, eventually, post, python, serve};
use serde_json::{Value, json};
use warmline_channels::telegram::{Telegram, TelegramConfig};
use warmline_domain::{AgentRole, Channel, ChannelStore, ConversationStore, HandoffStore};

const TOKEN: &str = "123456:TEST-token";
pub const SECRET: &str = "webhook_secret-1";

/// An update as python-telegram-bot serialises it: a text message, or a button press
/// (`callback`) in chat 4242 from user 4242.
pub fn update(update_id: i64, kind: &str, text: &str) -> String {
    python(
        r#"
import sys, json, datetime
from telegram import Update, Message, Chat, User, CallbackQuery
kind, uid, text = sys.argv[1], int(sys.argv[2]), sys.argv[3]
user = User(id=4242, first_name="Ana", last_name="Lima", is_bot=False, language_code="en")
chat = Chat(id=4242, type="private")
now = datetime.datetime.now(datetime.timezone.utc)
if kind == "message":
    u = Update(update_id=uid, message=Message(message_id=uid, date=now, chat=chat, from_user=user, text=text))
else:
    earlier = Message(message_id=1, date=now, chat=chat, text="earlier")
    u = Update(update_id=uid, callback_query=CallbackQuery(id=str(uid), from_user=user, chat_instance="1", data=text, message=earlier))
print(json.dumps(u.to_dict()))
"#,
        &[kind, &update_id.to_string(), text],
    )
}

pub fn telegram(fake: &Fake) -> TelegramConfig {
    TelegramConfig {
        token: TOKEN.into(),
        secret: SECRET.into(),
        api_base: fake.base.clone(),
        rate_per_second: 30,
    }
}

pub async fn send_update(base: &str, body: &str, secret: Option<&str>) -> reqwest::Response {
    let headers: Vec<(&str, &str)> = secret
        .map(|s| vec![("x-telegram-bot-api-secret-token", s)])
        .unwrap_or_default();
    post(
        &format!("{base}/webhooks/telegram"),
        "application/json",
        &headers,
        body.to_owned(),
    )
    .await
}

pub fn sends(fake: &Fake) -> Vec<Value> {
    fake.served()
        .iter()
        .filter(|r| r.path == format!("/bot{TOKEN}/sendMessage"))
        .map(|r| r.json())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_answers_once_per_update_in_one_conversation_per_chat() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.telegram = Some(telegram(&fake));
    let server = serve(dir.path(), cfg).await;
    let store = server.warmline.state.store.clone();

    let question = update(
        1001,
        "message",
        "How long do refunds to a credit card take?",
    );
    // Unsigned or wrongly signed: refused, nothing recorded.
    assert_eq!(
        send_update(&server.base, &question, None).await.status(),
        401
    );
    assert_eq!(
        send_update(&server.base, &question, Some("guess"))
            .await
            .status(),
        401
    );
    assert!(
        store
            .thread(Channel::Telegram, "4242")
            .await
            .unwrap()
            .is_none()
    );

    // Delivered twice (Telegram retries when unsure): handled once.
    for _ in 0..2 {
        let ok = send_update(&server.base, &question, Some(SECRET)).await;
        assert_eq!(ok.status(), 200);
    }
    let reply = eventually("the answer", async || sends(&fake).into_iter().next()).await;
    assert_eq!(reply["chat_id"], 4242);
    assert_eq!(reply["parse_mode"], "HTML");
    let text = reply["text"].as_str().unwrap();
    assert!(text.contains("3–5 business days"), "{text}");
    assert!(
        text.contains("Sources:") && text.contains("<a href=\"http://"),
        "{text}"
    );

    // A second message in the chat continues the same conversation, for the same customer.
    let hours = update(1002, "message", "what are your store hours?");
    assert_eq!(
        send_update(&server.base, &hours, Some(SECRET))
            .await
            .status(),
        200
    );
    eventually("the second answer", async || {
        (sends(&fake).len() == 2).then_some(())
    })
    .await;
    let thread = store
        .thread(Channel::Telegram, "4242")
        .await
        .unwrap()
        .unwrap();
    let transcript = store.messages(thread.conversation_id, 50).await.unwrap();
    let said: Vec<&str> = transcript
        .iter()
        .filter(|m| m.role == warmline_domain::Role::Customer)
        .map(|m| m.text.as_str())
        .collect();
    assert_eq!(
        said,
        [
            "How long do refunds to a credit card take?",
            "what are your store hours?"
        ]
    );
    let conversation = store
        .conversation(thread.conversation_id)
        .await
        .unwrap()
        .unwrap();
    let identities = store
        .identities(conversation.customer_id.unwrap())
        .await
        .unwrap();
    assert_eq!(identities[0].channel, Channel::Telegram);
    assert_eq!(identities[0].external_id, "4242");
    let customer = store
        .customer(conversation.customer_id.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(customer.display_name.as_deref(), Some("Ana Lima"));

    // No answer: the offer of a person comes as an inline button; pressing it says so.
    let unknown = update(1003, "message", "what is the capital of Mongolia");
    send_update(&server.base, &unknown, Some(SECRET)).await;
    let offer = eventually("the no-answer", async || sends(&fake).into_iter().nth(2)).await;
    let button = &offer["reply_markup"]["inline_keyboard"][0][0];
    assert_eq!(button["text"], "Talk to a person");
    let pressed = update(1004, "callback", button["callback_data"].as_str().unwrap());
    let answer: Value = send_update(&server.base, &pressed, Some(SECRET))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["method"], "answerCallbackQuery");
    eventually("the button press in the transcript", async || {
        let messages = store.messages(thread.conversation_id, 50).await.unwrap();
        messages
            .iter()
            .any(|m| m.text == "Talk to a person")
            .then_some(())
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_message_reaches_the_customer_on_telegram() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.telegram = Some(telegram(&fake));
    let server = serve(dir.path(), cfg).await;
    let store = server.warmline.state.store.clone();
    let hash = warmline_channels::agents::hash_password("correct horse battery").unwrap();
    store
        .create_agent("ana", "Ana", AgentRole::Agent, &hash)
        .await
        .unwrap();

    let help = update(2001, "message", "I want to speak to a human agent");
    send_update(&server.base, &help, Some(SECRET)).await;
    let handoff = eventually("the handoff", async || {
        store.queue().await.unwrap().into_iter().next()
    })
    .await;

    let client = reqwest::Client::new();
    let session: Value = client
        .post(server.url("/v1/agent/login"))
        .json(&json!({"username": "ana", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = session["token"].as_str().unwrap();
    let accept = client
        .post(server.url(&format!("/v1/agent/handoffs/{}/accept", handoff.id)))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(accept.status(), 200);
    let sent = client
        .post(server.url(&format!("/v1/agent/handoffs/{}/messages", handoff.id)))
        .bearer_auth(token)
        .json(&json!({"text": "Hi, I'm Ana. I can **see** your order."}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    let delivered = eventually("the agent's message on telegram", async || {
        sends(&fake)
            .into_iter()
            .find(|m| m["text"].as_str().unwrap().contains("I'm Ana"))
    })
    .await;
    // The notice that a person took over reached the chat first.
    let texts: Vec<String> = sends(&fake)
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect();
    let joined = texts
        .iter()
        .position(|t| t.contains("Ana") && t.contains("join"));
    let message = texts.iter().position(|t| t.contains("I'm Ana"));
    assert!(joined.is_some() && joined < message, "{texts:?}");
    assert_eq!(delivered["chat_id"], 4242);
    assert_eq!(
        delivered["text"],
        "Hi, I'm Ana. I can <b>see</b> your order."
    );

    // While the agent owns the conversation the bot stays quiet.
    let before = sends(&fake).len();
    send_update(
        &server.base,
        &update(2002, "message", "thanks!"),
        Some(SECRET),
    )
    .await;
    eventually("the message stored", async || {
        let thread = store.thread(Channel::Telegram, "4242").await.unwrap()?;
        let messages = store.messages(thread.conversation_id, 50).await.unwrap();
        messages.iter().any(|m| m.text == "thanks!").then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        sends(&fake).len(),
        before,
        "the bot answered while a person owns the chat"
    );
    server.stop().await;
}

#[tokio::test]
async fn set_webhook_registers_the_url_and_secret() {
    let fake = Fake::start().await;
    let http = reqwest::Client::new();
    let tg = Telegram::new(telegram(&fake), http);
    tg.set_webhook("https://bot.example.com/webhooks/telegram")
        .await
        .unwrap();
    let request = &fake.served()[0];
    assert_eq!(request.path, format!("/bot{TOKEN}/setWebhook"));
    let body = request.json();
    assert_eq!(body["url"], "https://bot.example.com/webhooks/telegram");
    assert_eq!(body["secret_token"], SECRET);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_sets_the_webhook_and_names_missing_settings() {
    let fake = Fake::start().await;
    let run = |with_token: bool| {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_warmline"));
        cmd.args([
            "channels",
            "telegram",
            "set-webhook",
            "--public-url",
            "https://bot.example.com/",
        ])
        .env_remove("WARMLINE_TELEGRAM_TOKEN")
        .env("WARMLINE_TELEGRAM_SECRET", SECRET)
        .env("WARMLINE_TELEGRAM_API_BASE", &fake.base);
        if with_token {
            cmd.env("WARMLINE_TELEGRAM_TOKEN", TOKEN);
        }
        cmd.output()
    };
    let missing = run(false).await.unwrap();
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("WARMLINE_TELEGRAM_TOKEN"), "{stderr}");

    let ok = run(true).await.unwrap();
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        stdout.contains("https://bot.example.com/webhooks/telegram"),
        "{stdout}"
    );
    let body = fake.served()[0].json();
    assert_eq!(body["url"], "https://bot.example.com/webhooks/telegram");
    assert_eq!(body["secret_token"], SECRET);
    assert!(
        !stdout.contains(TOKEN) && !stdout.contains(SECRET),
        "secrets printed: {stdout}"
    );
}
