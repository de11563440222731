//! Nobody there: a waiting customer is offered a callback or to leave a message, which
//! becomes a ticket for the team; the customer's words are kept and the bot takes over again.

mod common;

use common::{
    TestServer, agent_post, agent_session, customer_says, get_json, open_conversation, unlimited,
};
use serde_json::{Value, json};
use std::time::Duration;
use warmline_domain::AgentRole;

async fn transcript(server: &TestServer, conv: &str) -> Value {
    get_json(server, &format!("/v1/conversations/{conv}"), None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_nobody_can_take_leaves_a_callback_request() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), unlimited()).await;
    let conv = open_conversation(&server, Value::Null).await;
    let turn = customer_says(&server, &conv, "I want to speak to a human agent").await;
    assert!(turn["handoff"]["queue_position"].is_number(), "{turn}");
    customer_says(&server, &conv, "my order JM-1 arrived broken").await;

    // No agent is online: the offer comes within a sweep.
    let mut offer = None;
    for _ in 0..50 {
        let t = transcript(&server, &conv).await;
        offer = t["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["role"] == "system" && !m["suggestions"].is_null())
            .cloned();
        if offer.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let offer = offer.expect("no callback offer");
    assert_eq!(
        offer["suggestions"],
        json!(["Call me back", "Leave a message", "Keep waiting"])
    );

    let client = reqwest::Client::new();
    let url = server.url(&format!("/v1/conversations/{conv}/ticket"));
    let no_contact = client
        .post(&url)
        .json(&json!({"kind": "callback"}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_contact.status(), 422);
    let created = client
        .post(&url)
        .json(&json!({"kind": "callback", "contact": "+1 555 0100"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let ticket: Value = created.json().await.unwrap();
    // Nothing the customer wrote is lost: the ticket quotes them and keeps the packet.
    assert!(
        ticket["text"].as_str().unwrap().contains("arrived broken"),
        "{ticket}"
    );
    assert!(ticket["packet"]["reasons"].is_array(), "{ticket}");

    // The bot is back for the customer meanwhile.
    let t = transcript(&server, &conv).await;
    assert_eq!(t["conversation"]["ownership"], "bot");
    let again = customer_says(&server, &conv, "what are your store hours?").await;
    assert!(again["reply"]["text"].is_string(), "{again}");

    // The team sees it and closes it.
    let ana = agent_session(&server, "ana", AgentRole::Agent, &[]).await;
    let open = get_json(&server, "/v1/agent/tickets", Some(&ana)).await;
    assert_eq!(open.as_array().unwrap().len(), 1, "{open}");
    assert_eq!(open[0]["contact"], "+1 555 0100");
    let queue = get_json(&server, "/v1/agent/queue", Some(&ana)).await;
    assert!(queue.as_array().unwrap().is_empty(), "{queue}");
    let close = format!("/v1/agent/tickets/{}/close", ticket["id"].as_str().unwrap());
    let closed = agent_post(&server, &ana, &close, json!({"note": "called back"})).await;
    assert_eq!(closed.status(), 200);
    assert_eq!(
        agent_post(&server, &ana, &close, json!({})).await.status(),
        409
    );
    let open = get_json(&server, "/v1/agent/tickets", Some(&ana)).await;
    assert!(open.as_array().unwrap().is_empty());
    let all = get_json(&server, "/v1/agent/tickets?all=true", Some(&ana)).await;
    assert_eq!(all[0]["closed"], true);
    server.stop().await;
}
