//! Rating answers in the messaging apps: answers carry "helpful / not helpful" buttons
//! (Telegram inline keyboard, WhatsApp reply buttons, Slack Block Kit); a press is recorded
//! once per provider id, a second press replaces the first, it is never a dialog turn, and a
//! button naming another customer's conversation is ignored.

use crate::fake::Fake;
use crate::{config, eventually, serve, slack, telegram, whatsapp};
use serde_json::Value;
use warmline_channels::messaging::rating;
use warmline_domain::{Channel, ChannelStore, ConversationStore, Role};

use crate::common::rating_of;

/// The id of the latest bot reply in the conversation of `channel`'s chat `key`, and how many
/// messages the customer wrote there.
async fn latest_answer(
    server: &crate::common::TestServer,
    channel: Channel,
    key: &str,
) -> (String, usize) {
    let store = &server.warmline.state.store;
    let thread = store.thread(channel, key).await.unwrap().unwrap();
    let messages = store.messages(thread.conversation_id, 50).await.unwrap();
    let answer = messages.iter().rev().find(|m| m.role == Role::Bot).unwrap();
    let said = messages.iter().filter(|m| m.role == Role::Customer).count();
    (answer.id.to_string(), said)
}

/// A cited answer on the website (another customer): its rating token for `helpful`.
async fn someone_elses_answer(server: &crate::common::TestServer) -> (String, String) {
    let id = crate::common::open_conversation(server, Value::Null).await;
    let turn =
        crate::common::customer_says(server, &id, "How long do refunds to a credit card take?")
            .await;
    let message = turn["reply"]["message_id"].as_str().unwrap().to_owned();
    let token = rating::token(id.parse().unwrap(), message.parse().unwrap(), false);
    (message, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_answers_are_rated_with_inline_buttons() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.telegram = Some(telegram::telegram(&fake));
    let server = serve(dir.path(), cfg).await;
    let sends = || -> Vec<Value> {
        fake.served()
            .iter()
            .filter(|r| r.path.ends_with("/sendMessage"))
            .map(|r| r.json())
            .collect()
    };
    let send = async |update: &str| -> Value {
        let r = telegram::send_update(&server.base, update, Some("webhook_secret-1")).await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap_or(Value::Null)
    };

    send(&telegram::update(
        3001,
        "message",
        "How long do refunds to a credit card take?",
    ))
    .await;
    let reply = eventually("the answer", async || sends().into_iter().next()).await;
    let rows = reply["reply_markup"]["inline_keyboard"].as_array().unwrap();
    let pair = rows.last().unwrap().as_array().unwrap();
    assert_eq!(pair.len(), 2, "{rows:?}");
    assert_eq!(pair[0]["text"], rating::HELPFUL);
    assert_eq!(pair[1]["text"], rating::NOT_HELPFUL);
    let (answer, _) = latest_answer(&server, Channel::Telegram, "4242").await;

    // "Not helpful", delivered twice by Telegram: the toast thanks the customer; recorded.
    let no = telegram::update(3002, "callback", pair[1]["callback_data"].as_str().unwrap());
    for _ in 0..2 {
        let toast = send(&no).await;
        assert_eq!(toast["method"], "answerCallbackQuery");
        assert_eq!(toast["text"], rating::THANKS);
    }
    eventually("the rating", async || {
        (rating_of(&server, &answer).await == Some(0)).then_some(())
    })
    .await;
    // Changing their mind replaces it.
    send(&telegram::update(
        3003,
        "callback",
        pair[0]["callback_data"].as_str().unwrap(),
    ))
    .await;
    eventually("the changed rating", async || {
        (rating_of(&server, &answer).await == Some(1)).then_some(())
    })
    .await;

    // A button naming someone else's answer does nothing.
    let (theirs, token) = someone_elses_answer(&server).await;
    send(&telegram::update(3004, "callback", &token)).await;
    // The next message is handled after it (one chat's messages go in order).
    send(&telegram::update(
        3005,
        "message",
        "what are your store hours?",
    ))
    .await;
    eventually("the next answer", async || {
        (sends().len() == 2).then_some(())
    })
    .await;
    assert_eq!(rating_of(&server, &theirs).await, None);
    // No press became a message, and Telegram's toast was the only thanks.
    let (_, said) = latest_answer(&server, Channel::Telegram, "4242").await;
    assert_eq!(said, 2);
    assert!(
        sends()
            .iter()
            .all(|s| !s["text"].as_str().unwrap().contains(rating::THANKS))
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_answers_are_rated_with_reply_buttons() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.whatsapp = Some(whatsapp::whatsapp(&fake));
    let server = serve(dir.path(), cfg).await;
    let body = whatsapp::fixture("whatsapp_text.json");
    assert_eq!(whatsapp::notify_signed(&server.base, &body).await, 200);
    let reply = eventually("the answer", async || {
        whatsapp::sends(&fake)
            .into_iter()
            .find(|s| s["type"] == "interactive")
    })
    .await;
    assert_eq!(reply["type"], "interactive", "{reply}");
    let buttons = reply["interactive"]["action"]["buttons"]
        .as_array()
        .unwrap();
    assert_eq!(buttons.len(), 2, "{buttons:?}");
    assert_eq!(buttons[0]["reply"]["title"], rating::HELPFUL);
    let (answer, _) = latest_answer(&server, Channel::WhatsApp, "16505551234").await;

    let press = |n: usize, id: &str| {
        whatsapp::fixture("whatsapp_button_reply.json")
            .replace("BUTTON_ID", id)
            .replace("BUTTON_TITLE", "Helpful")
            .replace(
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUE3MTVERjQ0RjQ3Mzg4RTI0NwA=",
                &format!("wamid.rate{n}"),
            )
    };
    let helpful = press(1, buttons[0]["reply"]["id"].as_str().unwrap());
    assert_eq!(whatsapp::notify_signed(&server.base, &helpful).await, 200);
    assert_eq!(whatsapp::notify_signed(&server.base, &helpful).await, 200);
    eventually("the rating", async || {
        (rating_of(&server, &answer).await == Some(1)).then_some(())
    })
    .await;
    // WhatsApp shows nothing by itself: one short thank-you, even for the retried press.
    let thanks = eventually("the thanks", async || {
        whatsapp::sends(&fake)
            .into_iter()
            .find(|s| s["text"]["body"] == rating::THANKS)
    })
    .await;
    assert_eq!(thanks["to"], "16505551234");

    // Someone else's answer: ignored.
    let (theirs, token) = someone_elses_answer(&server).await;
    assert_eq!(
        whatsapp::notify_signed(&server.base, &press(2, &token)).await,
        200
    );
    let (_, said) = latest_answer(&server, Channel::WhatsApp, "16505551234").await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(rating_of(&server, &theirs).await, None);
    assert_eq!(said, 1, "no press became a message");
    let thanked = whatsapp::sends(&fake)
        .iter()
        .filter(|s| s["text"]["body"] == rating::THANKS)
        .count();
    assert_eq!(thanked, 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_answers_are_rated_with_block_kit_buttons() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = slack::slack_server(&fake, dir.path()).await;
    let now = slack::unix_now();
    let posts = || slack::posts(&fake);
    let question = slack::fixture("slack_message.json");
    let signature = slack::slack_signature(now, &question);
    slack::event(&server.base, &question, now, &signature, false).await;
    let reply = eventually("the answer", async || posts().into_iter().next()).await;
    assert!(
        reply["text"]
            .as_str()
            .unwrap()
            .contains("3–5 business days")
    );
    let blocks = reply["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "section");
    assert_eq!(blocks[0]["text"]["text"], reply["text"]);
    let buttons = blocks[1]["elements"].as_array().unwrap();
    assert_eq!(buttons[1]["text"]["text"], rating::NOT_HELPFUL);
    let key = "C0LAN2Q65:1515449522.000016";
    let (answer, _) = latest_answer(&server, Channel::Slack, key).await;

    // The press, as Slack posts it to the interactivity URL: a form with the JSON payload.
    let press = |trigger: &str, value: &str| -> String {
        slack::press_form("U061F7AUR", trigger, "warmline_not_helpful", value)
    };
    let interact = async |form: &str, signature: &str| -> u16 {
        slack::interaction(&server.base, form, now, signature).await
    };
    let form = press("t-1", buttons[1]["value"].as_str().unwrap());
    // Signed with another body, or not at all: refused.
    let forged = form.replace("U061F7AUR", "U0ATTACKER");
    assert_eq!(
        interact(&forged, &slack::slack_signature(now, &form)).await,
        401
    );
    assert_eq!(interact(&form, "v0=00").await, 401);
    assert_eq!(
        interact(&form, &slack::slack_signature(now, &form)).await,
        200
    );
    eventually("the rating", async || {
        (rating_of(&server, &answer).await == Some(0)).then_some(())
    })
    .await;
    let thanks = eventually("the thanks", async || {
        posts().into_iter().find(|p| p["text"] == rating::THANKS)
    })
    .await;
    assert_eq!(thanks["thread_ts"], "1515449522.000016");

    // Someone else's answer, pressed in this thread: ignored.
    let (theirs, token) = someone_elses_answer(&server).await;
    let other = press("t-2", &token);
    assert_eq!(
        interact(&other, &slack::slack_signature(now, &other)).await,
        200
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(rating_of(&server, &theirs).await, None);
    let (_, said) = latest_answer(&server, Channel::Slack, key).await;
    assert_eq!(said, 1, "no press became a message");
    server.stop().await;
}
