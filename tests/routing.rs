//! Routing handoffs on the real server: skills decide who may accept, conversations move
//! between agents and back to the queue, close with a disposition, presence counts, and
//! auto-assignment gives waiting customers to the least busy online agent within its limit.

mod common;

use common::{
    TestServer, agent_post, agent_session, customer_says, get_json, open_conversation, unlimited,
};
use serde_json::{Value, json};
use warmline_domain::AgentRole;

const FRAUD: &str = "someone used my card for purchases I never made";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skills_transfers_and_dispositions() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), unlimited()).await;
    let ana = agent_session(&server, "ana", AgentRole::Agent, &["fraud"]).await;
    let ben = agent_session(&server, "ben", AgentRole::Agent, &["billing"]).await;
    let sam = agent_session(&server, "sam", AgentRole::Supervisor, &[]).await;
    let conv = open_conversation(&server, Value::Null).await;
    customer_says(&server, &conv, FRAUD).await;

    let queue = get_json(&server, "/v1/agent/queue", Some(&ben)).await;
    assert_eq!(queue[0]["skill"], "fraud", "{queue}");
    let id = queue[0]["id"].as_str().unwrap().to_owned();
    let accept = format!("/v1/agent/handoffs/{id}/accept");
    // Ben lacks the skill; Ana has it.
    let refused = agent_post(&server, &ben, &accept, json!({})).await;
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("fraud"));
    assert_eq!(
        agent_post(&server, &ana, &accept, json!({})).await.status(),
        200
    );

    // A transfer to someone without the skill is refused; back to the queue works.
    let transfer = format!("/v1/agent/handoffs/{id}/transfer");
    let to_ben = agent_post(&server, &ana, &transfer, json!({"to": "ben"})).await;
    assert_eq!(to_ben.status(), 422);
    let back = agent_post(
        &server,
        &ana,
        &transfer,
        json!({"note": "card blocked; needs the dispute opened"}),
    )
    .await;
    assert_eq!(back.status(), 200);
    let back: Value = back.json().await.unwrap();
    assert_eq!(back["status"], "queued");
    assert_eq!(back["note"], "card blocked; needs the dispute opened");
    let transcript = get_json(&server, &format!("/v1/conversations/{conv}"), None).await;
    assert_eq!(transcript["conversation"]["ownership"], "queued");
    assert!(
        transcript["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["text"].as_str().unwrap().contains("keep your place")),
        "{transcript}"
    );

    // Supervisors take anything; then hand it to Ana by name.
    assert_eq!(
        agent_post(&server, &sam, &accept, json!({})).await.status(),
        200
    );
    let to_ana = agent_post(&server, &sam, &transfer, json!({"to": "ana"})).await;
    assert_eq!(to_ana.status(), 200);
    let mine = get_json(&server, "/v1/agent/mine", Some(&ana)).await;
    assert_eq!(mine[0]["id"], id.as_str());

    // Close with a disposition, kept on the handoff.
    let close = format!("/v1/agent/handoffs/{id}/close");
    let bad = agent_post(&server, &ana, &close, json!({"disposition": "maybe"})).await;
    assert_eq!(bad.status(), 400);
    let closed = agent_post(
        &server,
        &ana,
        &close,
        json!({"disposition": "follow_up", "note": "dispute opened"}),
    )
    .await;
    assert_eq!(closed.status(), 200);
    let view = get_json(&server, &format!("/v1/agent/handoffs/{id}"), Some(&sam)).await;
    assert_eq!(view["handoff"]["disposition"], "follow_up", "{view}");

    // Presence: Ben steps away; the supervisor's stats say so.
    let away = agent_post(
        &server,
        &ben,
        "/v1/agent/presence",
        json!({"presence": "away"}),
    )
    .await;
    assert_eq!(away.status(), 200);
    let stats = get_json(&server, "/v1/agent/stats", Some(&sam)).await;
    let ben_row = stats["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["username"] == "ben")
        .unwrap();
    assert_eq!(ben_row["presence"], "away", "{stats}");
    assert_eq!(stats["agents_online"], 2, "{stats}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_assignment_respects_skills_and_the_chat_limit() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path(), unlimited()).await;
    let mut routing = server.warmline.state.handoffs.routing();
    routing.auto_assign = true;
    routing.max_chats = 1;
    server.warmline.state.handoffs.set_routing(routing);
    let ana = agent_session(&server, "ana", AgentRole::Agent, &["fraud"]).await;
    let ben = agent_session(&server, "ben", AgentRole::Agent, &[]).await;

    // A fraud report goes to Ana (the only one with the skill).
    let first = open_conversation(&server, Value::Null).await;
    customer_says(&server, &first, FRAUD).await;
    let mine = get_json(&server, "/v1/agent/mine", Some(&ana)).await;
    assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");
    let transcript = get_json(&server, &format!("/v1/conversations/{first}"), None).await;
    assert_eq!(transcript["conversation"]["ownership"], "human");

    // A plain request goes to Ben, the least busy; a third waits (both are at their limit).
    let second = open_conversation(&server, Value::Null).await;
    customer_says(&server, &second, "I want to speak to a human agent").await;
    let bens = get_json(&server, "/v1/agent/mine", Some(&ben)).await;
    assert_eq!(bens.as_array().unwrap().len(), 1, "{bens}");
    let third = open_conversation(&server, Value::Null).await;
    customer_says(&server, &third, "let me talk to a real person please").await;
    let queue = get_json(&server, "/v1/agent/queue", Some(&ana)).await;
    assert_eq!(queue.as_array().unwrap().len(), 1, "{queue}");

    // When Ben finishes, the waiting customer is his.
    let done = format!(
        "/v1/agent/handoffs/{}/return",
        bens[0]["id"].as_str().unwrap()
    );
    assert_eq!(
        agent_post(&server, &ben, &done, json!({})).await.status(),
        200
    );
    let bens = get_json(&server, "/v1/agent/mine", Some(&ben)).await;
    let waiting: Vec<&Value> = bens.as_array().unwrap().iter().collect();
    assert_eq!(waiting.len(), 1, "{bens}");
    assert_eq!(waiting[0]["conversation_id"], third.as_str());
    server.stop().await;
}
