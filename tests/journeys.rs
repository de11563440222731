//! Guided journeys over the HTTP API, against the real server with the sample journeys and the
//! sample CRM: asking only what is unknown, side questions, cancel and start over, the same
//! customer continuing on another channel, handing over with the slots, and reloading journey
//! files without a restart.

mod common;

use common::{TestServer, customer_says as say, open_conversation, unlimited};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use warmline_domain::{ConversationId, HandoffStore};

fn reply(turn: &Value) -> (&str, &str) {
    (
        turn["reply"]["kind"].as_str().unwrap_or(""),
        turn["reply"]["text"].as_str().unwrap_or(""),
    )
}

async fn with_sample_crm(dir: &Path) -> TestServer {
    let server = TestServer::start(dir, unlimited()).await;
    let sample = common::sample_knowledge().join("crm");
    warmline_crm::import::import(server.warmline.state.store.writer_pool(), &sample)
        .await
        .unwrap();
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_customer_tracks_an_order_with_a_question_on_the_way() {
    let dir = tempfile::tempdir().unwrap();
    let server = with_sample_crm(dir.path()).await;
    let conv = open_conversation(&server, json!({"channel": "web"})).await;

    let hello = say(&server, &conv, "Hi!").await;
    assert_eq!(reply(&hello).0, "small_talk");
    let buttons = hello["reply"]["suggestions"].as_array().unwrap();
    assert!(buttons.iter().any(|b| b == "Track an order"), "{hello}");

    let ask = say(&server, &conv, "Track an order").await;
    let (kind, text) = reply(&ask);
    assert_eq!(kind, "journey");
    assert!(text.contains("order number"), "{text}");

    let bad = say(&server, &conv, "12345").await;
    assert!(reply(&bad).1.contains("JM-204518837"), "a hint: {bad}");

    say(&server, &conv, "it's jm 204518837").await;
    let side = say(&server, &conv, "How long do refunds take?").await;
    let (kind, text) = reply(&side);
    assert_eq!(kind, "answer", "{side}");
    assert!(
        text.contains("Back to \"Track an order\"") && text.contains("email"),
        "{text}"
    );

    let done = say(&server, &conv, "Maya.Thompson@example.com").await;
    let (kind, text) = reply(&done);
    assert_eq!(kind, "journey");
    assert!(text.contains("JM-204518837 was delivered on"), "{text}");
    assert_eq!(
        done["reply"]["citations"][0]["article_id"], "order-status",
        "{done}"
    );

    // The journey is over: the next message is a knowledge question again.
    let next = say(&server, &conv, "what are your store hours?").await;
    assert_eq!(reply(&next).0, "answer", "{next}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_start_over_do_what_they_say() {
    let dir = tempfile::tempdir().unwrap();
    let server = with_sample_crm(dir.path()).await;
    let conv = open_conversation(&server, json!({"channel": "web"})).await;
    say(&server, &conv, "I want to return an item from JM-204518837").await;
    let again = say(&server, &conv, "start over").await;
    assert!(reply(&again).1.contains("Which order"), "{again}");
    let stopped = say(&server, &conv, "never mind").await;
    assert!(
        reply(&stopped).1.contains("stopped \"Return an item\""),
        "{stopped}"
    );
    let after = say(&server, &conv, "maya.thompson@example.com").await;
    assert_ne!(reply(&after).0, "journey", "no journey is waiting: {after}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_customer_starts_on_email_and_finishes_by_sms() {
    let dir = tempfile::tempdir().unwrap();
    let server = with_sample_crm(dir.path()).await;
    let email = open_conversation(
        &server,
        json!({"channel": "email", "customer": {"external_id": "maya.thompson@example.com"}}),
    )
    .await;
    let hello = say(&server, &email, "hello").await;
    assert!(
        reply(&hello).1.starts_with("Hi Maya!"),
        "greeted by name: {hello}"
    );
    let ask = say(&server, &email, "where is my order?").await;
    assert!(reply(&ask).1.contains("order number"), "{ask}");

    let sms = open_conversation(
        &server,
        json!({"channel": "sms", "customer": {"external_id": "+1 614 555 0101"}}),
    )
    .await;
    let done = say(&server, &sms, "JM-204519204").await;
    let text = reply(&done).1;
    // No email asked: the CRM knows who this is; the order is hers.
    assert!(
        text.contains("on its way with UPS") && text.contains("1Z9A61E40312345682"),
        "{text}"
    );

    // One history across both channels, in order.
    let history =
        common::get_json(&server, &format!("/v1/conversations/{sms}/history"), None).await;
    let said: Vec<String> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "customer")
        .map(|m| {
            format!(
                "{}: {}",
                m["channel"].as_str().unwrap(),
                m["text"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        said,
        [
            "email: hello",
            "email: where is my order?",
            "sms: JM-204519204"
        ],
        "{history}"
    );
    // An anonymous conversation's history is its own transcript only.
    let other = open_conversation(&server, json!({"channel": "web"})).await;
    say(&server, &other, "hello").await;
    let own = common::get_json(&server, &format!("/v1/conversations/{other}/history"), None).await;
    assert_eq!(own["messages"].as_array().unwrap().len(), 2, "{own}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journey_hands_over_with_what_the_customer_said() {
    let dir = tempfile::tempdir().unwrap();
    let server = with_sample_crm(dir.path()).await;
    let store = server.warmline.state.store.clone();

    // The journey's own handoff step.
    let conv = open_conversation(&server, json!({"channel": "web"})).await;
    say(&server, &conv, "I lost my card").await;
    let lock = say(&server, &conv, "1").await;
    assert!(reply(&lock).1.contains("Lock card"), "{lock}");
    let turn = say(&server, &conv, "yes").await;
    assert_eq!(turn["handoff"]["reasons"][0], "journey:lost-card", "{turn}");
    assert!(turn["handoff"]["queue_position"].is_number(), "{turn}");
    let id: ConversationId = conv.parse().unwrap();
    let handoff = store.open_handoff_of(id).await.unwrap().expect("queued");
    let journey = handoff.packet.journey.expect("journey in the packet");
    assert_eq!(journey.id, "lost-card");
    assert!(journey.note.unwrap().contains("Lost it"));
    assert!(
        journey
            .slots
            .iter()
            .any(|(k, v)| k == "card.what" && v == "Lost it")
    );
    // The agent's view of it: the journey in the packet, the conversation as history.
    let token =
        common::agent_session(&server, "ana", warmline_domain::AgentRole::Supervisor, &[]).await;
    let view = common::get_json(
        &server,
        &format!("/v1/agent/handoffs/{}", handoff.id),
        Some(token.as_str()),
    )
    .await;
    assert_eq!(
        view["handoff"]["packet"]["journey"]["id"], "lost-card",
        "{view}"
    );
    let history = view["history"].as_array().expect("history");
    assert!(
        history.iter().all(|m| m["channel"] == "web") && history.len() >= 6,
        "{view}"
    );

    // An experience-critical step that keeps failing is a moment of truth.
    let conv = open_conversation(&server, json!({"channel": "web"})).await;
    say(&server, &conv, "I can't find my card anywhere").await;
    let first = say(&server, &conv, "hmm not sure").await;
    assert!(
        first["handoff"].is_null(),
        "one miss is not enough: {first}"
    );
    let second = say(&server, &conv, "i dunno").await;
    let reasons = second["handoff"]["reasons"]
        .as_array()
        .expect("handed over");
    assert!(
        reasons.iter().any(|r| r == "experience_critical"),
        "{second}"
    );
    let id: ConversationId = conv.parse().unwrap();
    let handoff = store.open_handoff_of(id).await.unwrap().expect("queued");
    assert_eq!(handoff.packet.journey.unwrap().step, "what");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journey_files_reload_without_a_restart_and_a_broken_save_changes_nothing() {
    let knowledge = tempfile::tempdir().unwrap();
    copy_dir(&common::sample_knowledge(), knowledge.path());
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), knowledge.path(), unlimited()).await;
    let journeys = knowledge.path().join("journeys");
    // A fresh conversation per try: asking one the same thing again would read as frustration.
    let ask = || async {
        let conv = open_conversation(&server, json!({"channel": "web"})).await;
        say(&server, &conv, "can you gift wrap it").await
    };

    std::fs::write(
        journeys.join("gift-wrap.yaml"),
        "id: gift-wrap\ntitle: Gift wrap an order\ntriggers: [gift wrap]\nsteps:\n  - id: a\n    say: Gift wrap is added at checkout.\n    end: true\n",
    )
    .unwrap();
    let turn = poll(ask, |t| reply(t).1.contains("added at checkout")).await;
    assert_eq!(reply(&turn).0, "journey");

    // A mistake saved over it leaves the working version in place.
    std::fs::write(journeys.join("gift-wrap.yaml"), "id: gift-wrap\nsteps: [").unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let turn = ask().await;
    assert!(reply(&turn).1.contains("added at checkout"), "{turn}");
    server.stop().await;
}

/// Calls `f` until `done` holds (up to 10 s), returning the last result.
async fn poll<F, Fut>(f: F, done: impl Fn(&Value) -> bool) -> Value
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Value>,
{
    let mut last = Value::Null;
    for _ in 0..50 {
        last = f().await;
        if done(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("never happened; last: {last}");
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A customer the CRM knows as French-speaking is answered from French articles when the
/// knowledge base has them; others stay in English.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_customer_is_answered_in_their_language() {
    let knowledge = tempfile::tempdir().unwrap();
    copy_dir(&common::sample_knowledge(), knowledge.path());
    std::fs::write(
        knowledge.path().join("articles/heures-magasins.md"),
        "---\nid: heures-magasins\ntitle: Heures d'ouverture des magasins\nlocale: fr\naudience: customer\nstatus: published\n---\n\nNos magasins sont ouverts de 9 h à 21 h du lundi au samedi, et de 10 h à 18 h le dimanche.\n",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), knowledge.path(), unlimited()).await;
    let crm = knowledge.path().join("crm");
    warmline_crm::import::import(server.warmline.state.store.writer_pool(), &crm)
        .await
        .unwrap();
    let open = |email: &'static str| {
        let server = &server;
        async move {
            let body = json!({"channel": "email", "customer": {"external_id": email}});
            let response = reqwest::Client::new()
                .post(server.url("/v1/conversations"))
                .json(&body)
                .send()
                .await
                .unwrap();
            let conversation: Value = response.json().await.unwrap();
            conversation
        }
    };
    let sophie = open("sophie.tremblay@example.org").await;
    assert_eq!(sophie["locale"], "fr", "{sophie}");
    let turn = say(
        &server,
        sophie["id"].as_str().unwrap(),
        "heures d'ouverture des magasins",
    )
    .await;
    assert_eq!(
        turn["reply"]["citations"][0]["article_id"], "heures-magasins",
        "{turn}"
    );
    let maya = open("maya.thompson@example.com").await;
    assert_eq!(maya["locale"], "en", "{maya}");
    server.stop().await;
}
