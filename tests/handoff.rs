//! The warm handoff, end to end on the real server: a customer reporting fraud is queued for
//! a person with a handoff packet; the bot goes quiet; an agent logs in, sees the queue,
//! accepts (a second agent can't), writes, and gives the conversation back to the bot, which
//! answers again. Agent routes refuse requests without a valid session.

mod common;

use common::{
    TestServer, agent_post as post, customer_says, get_json, open_conversation, unlimited,
};
use serde_json::{Value, json};
use warmline_domain::{AgentRole, HandoffStore};

async fn agent(server: &TestServer, username: &str, role: AgentRole) -> String {
    let hash = warmline_channels::agents::hash_password("correct horse battery").unwrap();
    let created = server
        .warmline
        .state
        .store
        .create_agent(username, &format!("{username} (test)"), role, &hash)
        .await
        .unwrap();
    // Fraud handoffs need the skill (knowledge/policy/routing.toml).
    server
        .warmline
        .state
        .store
        .set_skills(created.id, &["fraud".to_owned()])
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let wrong = client
        .post(server.url("/v1/agent/login"))
        .json(&json!({"username": username, "password": "wrong password!"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let session: Value = client
        .post(server.url("/v1/agent/login"))
        .json(&json!({"username": username, "password": "correct horse battery"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    session["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{session}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_in_trouble_reaches_a_person_who_knows_the_story() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), unlimited()).await;
    let client = reqwest::Client::new();
    let conv = open_conversation(&server, Value::Null).await;

    // An ordinary question: answered, no handoff.
    let calm = customer_says(&server, &conv, "what are your store hours?").await;
    assert!(calm.get("handoff").is_none(), "{calm}");

    // Nobody online yet: the customer is told so, and the handoff waits as a ticket.
    let lonely = open_conversation(&server, Value::Null).await;
    let ticket = customer_says(&server, &lonely, "I want to speak to a human agent").await;
    let availability = ticket["handoff"]["availability"].as_str().unwrap();
    assert!(["no_agents", "closed"].contains(&availability), "{ticket}");
    let told = ticket["reply"]["text"].as_str().unwrap();
    assert!(
        told.contains("nothing you write is lost") || told.contains("Nothing you write is lost"),
        "{told}"
    );

    // With an agent online (within business hours) the customer hears their place in line.
    let ana = agent(&server, "ana", AgentRole::Agent).await;
    let ben = agent(&server, "ben", AgentRole::Agent).await;
    let turn = customer_says(
        &server,
        &conv,
        "someone used my card for purchases I never made",
    )
    .await;
    assert!(
        turn["handoff"]["reasons"]
            .as_array()
            .unwrap()
            .contains(&json!("high_stakes:fraud"))
    );
    let told = turn["reply"]["text"].as_str().unwrap();
    match turn["handoff"]["availability"].as_str().unwrap() {
        "open" => assert!(told.contains("bringing in a person"), "{told}"),
        "closed" => assert!(told.contains("away right now"), "{told}"),
        other => panic!("agents are online, yet {other}: {turn}"),
    }
    // Fraud outranks a plain request: first in line.
    assert_eq!(turn["handoff"]["queue_position"], 1, "{turn}");

    // While queued the bot is quiet, and nothing the customer writes is lost.
    let waiting = customer_says(&server, &conv, "it was 3 charges of $49.99").await;
    assert!(waiting["reply"].is_null(), "{waiting}");

    // Agent routes need a session.
    let anonymous = client
        .get(server.url("/v1/agent/queue"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let forged = client
        .get(server.url("/v1/agent/queue"))
        .bearer_auth("0".repeat(64))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);

    let queue: Value = get_json(&server, "/v1/agent/queue", Some(ana.as_str())).await;
    let queue = queue.as_array().unwrap();
    assert_eq!(queue.len(), 2);
    let handoff = &queue[0];
    assert_eq!(handoff["conversation_id"], conv.as_str());
    let packet = &handoff["packet"];
    assert!(
        packet["summary"]
            .as_str()
            .unwrap()
            .contains("purchases I never made")
    );
    assert!(!packet["cited"].as_array().unwrap().is_empty(), "{packet}");
    let id = handoff["id"].as_str().unwrap().to_owned();

    let accept = format!("/v1/agent/handoffs/{id}/accept");
    assert_eq!(post(&server, &ana, &accept, json!({})).await.status(), 200);
    let mine: Value = get_json(&server, "/v1/agent/mine", Some(ana.as_str())).await;
    assert_eq!(mine[0]["id"], id.as_str());
    assert_eq!(post(&server, &ben, &accept, json!({})).await.status(), 409);
    let write = format!("/v1/agent/handoffs/{id}/messages");
    let meddling = post(&server, &ben, &write, json!({"text": "hi"})).await;
    assert_eq!(meddling.status(), 403);

    let view: Value = get_json(
        &server,
        &format!("/v1/agent/handoffs/{id}"),
        Some(ana.as_str()),
    )
    .await;
    let texts: Vec<&str> = view["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert!(texts.contains(&"it was 3 charges of $49.99"), "{texts:?}");

    let text = "I've blocked the card and opened a dispute for the 3 charges.";
    let sent = post(&server, &ana, &write, json!({ "text": text })).await;
    assert_eq!(sent.status(), 200);
    // Still the agent's conversation: the bot stays out of it.
    let thanks = customer_says(&server, &conv, "thank you so much").await;
    assert!(thanks["reply"].is_null());

    let give_back = format!("/v1/agent/handoffs/{id}/return");
    let back = post(
        &server,
        &ana,
        &give_back,
        json!({"note": "card blocked, dispute opened"}),
    );
    assert_eq!(back.await.status(), 200);
    let again = customer_says(&server, &conv, "when do stores open on sunday?").await;
    assert!(again["reply"]["text"].is_string(), "{again}");

    let transcript: Value = get_json(&server, &format!("/v1/conversations/{conv}"), None).await;
    let roles: Vec<&str> = transcript["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert!(
        roles.contains(&"agent") && roles.contains(&"system"),
        "{roles:?}"
    );
    server.stop().await;
}

/// An identified customer's CRM record travels with the handoff: the agent sees who they are,
/// their tier, recent orders and open cases without asking.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_sees_the_customers_crm_record() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), unlimited()).await;
    let sample = common::sample_knowledge().join("crm");
    warmline_crm::import::import(server.warmline.state.store.writer_pool(), &sample)
        .await
        .unwrap();
    let conv = open_conversation(&server, json!({"customer": {"external_id": "JMC-1001"}})).await;
    let turn = customer_says(&server, &conv, "I need to talk to a person please").await;
    assert!(turn["handoff"]["queue_position"].is_number(), "{turn}");
    let sam = agent(&server, "sam", AgentRole::Supervisor).await;
    let queue: Value = get_json(&server, "/v1/agent/queue", Some(sam.as_str())).await;
    let customer = &queue[0]["packet"]["customer"];
    assert_eq!(customer["name"], "Maya Thompson", "{customer}");
    assert_eq!(customer["tier"], "vip");
    assert!(
        customer["lifetime_value"]
            .as_str()
            .unwrap()
            .ends_with("USD")
    );
    assert!(
        !customer["recent_orders"].as_array().unwrap().is_empty(),
        "{customer}"
    );
    server.stop().await;
}

/// Writes the same summary whatever it is asked, a little later (like a real model).
struct SummaryModel;

#[async_trait::async_trait]
impl warmline_domain::Generator for SummaryModel {
    fn model_id(&self) -> &str {
        "test-summarizer"
    }

    async fn generate(
        &self,
        _: warmline_domain::GenerateRequest,
    ) -> Result<warmline_domain::GenerateStream, warmline_domain::DomainError> {
        use warmline_domain::GenerateEvent;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let text = "The customer reports card purchases they never made and wants them stopped.";
        let events = vec![
            Ok(GenerateEvent::Text(text.to_owned())),
            Ok(GenerateEvent::Done(warmline_domain::GenerateSummary {
                finish: warmline_domain::FinishReason::Stop,
                prompt_tokens: 1,
                cached_tokens: 0,
                generated_tokens: 1,
                time_to_first_token_ms: 0.0,
                total_ms: 0.0,
            })),
        ];
        Ok(Box::pin(futures_util::stream::iter(events)))
    }
}

/// With a chat model loaded, the packet's quoted summary is replaced by a generated one in the
/// background, and the agent's live feed brings it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_model_writes_the_handoff_summary() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        TestServer::start_with_generator(dir.path(), std::sync::Arc::new(SummaryModel)).await;
    let ana = agent(&server, "ana", AgentRole::Agent).await;
    let conv = open_conversation(&server, Value::Null).await;
    customer_says(
        &server,
        &conv,
        "someone used my card for purchases I never made",
    )
    .await;
    // First the quoted summary, at once.
    let queue = get_json(&server, "/v1/agent/queue", Some(ana.as_str())).await;
    assert!(queue[0]["packet"]["summary_by"].is_null(), "{queue}");
    assert!(
        queue[0]["packet"]["summary"]
            .as_str()
            .unwrap()
            .contains("The customer wrote")
    );
    // Then the generated one.
    let mut packet = Value::Null;
    for _ in 0..50 {
        let queue = get_json(&server, "/v1/agent/queue", Some(ana.as_str())).await;
        packet = queue[0]["packet"].clone();
        if !packet["summary_by"].is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(packet["summary_by"], "test-summarizer", "{packet}");
    assert!(
        packet["summary"]
            .as_str()
            .unwrap()
            .starts_with("The customer reports card purchases")
    );
    assert_eq!(
        packet["reasons"][0], "high_stakes:fraud",
        "the rest of the packet stays"
    );
    server.stop().await;
}
