//! What the team asks a customer outside a bot turn reaches their app, and the app's plain
//! replies answer it: the offer to a customer waiting with nobody free (call me back, leave a
//! message, keep waiting) and the survey after an agent closes the conversation.

use crate::common::TestServer;
use crate::fake::Fake;
use crate::telegram::{SECRET, send_update, sends, telegram, update};
use crate::{config, eventually, serve};
use serde_json::Value;
use warmline_channels::messaging::asked::{CALLBACK_NUMBER, KEPT_WAITING};
use warmline_channels::messaging::rating::THANKS;
use warmline_domain::{
    AgentRole, Channel, ChannelStore, ConversationStore, Handoff, HandoffStore, Ownership,
    TicketKind,
};

/// The `callback_data` of the inline button labelled `label` in a sent message.
fn button(sent: &Value, label: &str) -> String {
    sent["reply_markup"]["inline_keyboard"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row.as_array().into_iter().flatten())
        .find(|b| b["text"] == label)
        .and_then(|b| b["callback_data"].as_str())
        .unwrap_or_else(|| panic!("no {label:?} button in {sent}"))
        .to_owned()
}

/// The first message sent to the chat whose text contains `needle`.
async fn sent_containing(fake: &Fake, needle: &str) -> Value {
    eventually(&format!("a message with {needle:?}"), async || {
        sends(fake)
            .into_iter()
            .find(|m| m["text"].as_str().unwrap_or_default().contains(needle))
    })
    .await
}

/// The server with Telegram pointed at `fake`.
async fn telegram_server(fake: &Fake, dir: &std::path::Path) -> TestServer {
    let mut cfg = config();
    cfg.telegram = Some(telegram(fake));
    serve(dir, cfg).await
}

/// The Telegram customer asks for a person; an agent accepts and closes the conversation;
/// the survey reaches the chat. Returns the handoff and the survey as sent.
async fn closed_by_an_agent(server: &TestServer, fake: &Fake, update_id: i64) -> (Handoff, Value) {
    let store = &server.warmline.state.store;
    let token = crate::common::agent_session(server, "ana", AgentRole::Agent, &[]).await;
    send_update(
        &server.base,
        &update(update_id, "message", "can i talk to a person"),
        Some(SECRET),
    )
    .await;
    let handoff = eventually("the handoff", async || {
        store.queue().await.unwrap().into_iter().next()
    })
    .await;
    for step in ["accept", "close"] {
        let path = format!("/v1/agent/handoffs/{}/{step}", handoff.id);
        let r = crate::common::agent_post(server, &token, &path, serde_json::json!({})).await;
        assert_eq!(r.status(), 200, "{step}");
    }
    let survey = sent_containing(fake, "How did we do").await;
    (handoff, survey)
}

/// The surveys stored for `handoff`'s conversation: (score, comment).
async fn surveys(server: &TestServer, handoff: &Handoff) -> Vec<(i64, Option<String>)> {
    sqlx::query_as("SELECT score, comment FROM surveys WHERE conversation_id = ?")
        .bind(handoff.conversation_id.to_string())
        .fetch_all(server.warmline.state.store.writer_pool())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_waiting_with_nobody_free_gets_the_offer_and_answers_it_from_telegram() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = telegram_server(&fake, dir.path()).await;
    let store = server.warmline.state.store.clone();

    // No agent exists, so nobody is online: the switchboard's sweep offers at once.
    send_update(
        &server.base,
        &update(3001, "message", "I want to speak to a human agent"),
        Some(SECRET),
    )
    .await;
    let offer = sent_containing(&fake, "call back").await;
    let conversation = store
        .thread(Channel::Telegram, "4242")
        .await
        .unwrap()
        .unwrap()
        .conversation_id;

    // Keep waiting: acknowledged, still in line.
    send_update(
        &server.base,
        &update(3002, "callback", &button(&offer, "Keep waiting")),
        Some(SECRET),
    )
    .await;
    sent_containing(&fake, KEPT_WAITING).await;
    assert_eq!(store.queue().await.unwrap().len(), 1);

    // Call me back: Telegram has no phone number, so it is asked for.
    send_update(
        &server.base,
        &update(3003, "callback", &button(&offer, "Call me back")),
        Some(SECRET),
    )
    .await;
    let ask = sent_containing(&fake, CALLBACK_NUMBER).await;
    button(&ask, "Leave a message");
    send_update(
        &server.base,
        &update(3004, "message", "sure, it's +1 555 010 0134"),
        Some(SECRET),
    )
    .await;
    let thanks = sent_containing(&fake, "call you back at").await;
    assert!(
        thanks["text"].as_str().unwrap().contains("+1 555 010 0134"),
        "{thanks}"
    );
    let tickets = store.tickets(true).await.unwrap();
    assert_eq!(tickets.len(), 1, "{tickets:?}");
    let ticket = &tickets[0];
    assert_eq!(ticket.kind, TicketKind::Callback);
    assert_eq!(ticket.contact.as_deref(), Some("+1 555 010 0134"));
    assert_eq!(ticket.conversation_id, conversation);
    assert!(ticket.text.contains("human agent"), "{ticket:?}");
    // The customer stopped waiting: the bot answers again.
    assert!(store.queue().await.unwrap().is_empty());
    let c = store.conversation(conversation).await.unwrap().unwrap();
    assert_eq!(c.ownership, Ownership::Bot);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_closing_survey_is_answered_from_telegram_once() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = telegram_server(&fake, dir.path()).await;
    let store = server.warmline.state.store.clone();
    let (handoff, survey) = closed_by_an_agent(&server, &fake, 4001).await;
    // The buttons are the scores.
    send_update(
        &server.base,
        &update(4002, "callback", &button(&survey, "4")),
        Some(SECRET),
    )
    .await;
    sent_containing(&fake, THANKS).await;
    assert_eq!(surveys(&server, &handoff).await, vec![(4, None)]);

    // Anything after the answer is a new conversation with the bot, a "5" included.
    send_update(&server.base, &update(4003, "message", "5"), Some(SECRET)).await;
    let thread = eventually("a new conversation", async || {
        let thread = store.thread(Channel::Telegram, "4242").await.unwrap()?;
        (thread.conversation_id != handoff.conversation_id).then_some(thread)
    })
    .await;
    assert_eq!(surveys(&server, &handoff).await, vec![(4, None)]);
    let messages = store.messages(thread.conversation_id, 10).await.unwrap();
    assert_eq!(messages[0].text, "5", "{messages:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_survey_answer_with_a_comment_in_one_message() {
    let fake = Fake::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = telegram_server(&fake, dir.path()).await;
    let (handoff, _) = closed_by_an_agent(&server, &fake, 5001).await;
    send_update(
        &server.base,
        &update(5002, "message", "2 - it took ages to get someone"),
        Some(SECRET),
    )
    .await;
    sent_containing(&fake, THANKS).await;
    assert_eq!(
        surveys(&server, &handoff).await,
        vec![(2, Some("it took ages to get someone".into()))]
    );
    server.stop().await;
}
