//! 200 customers escalate at once to 10 agents who accept concurrently over the HTTP API of
//! the real server: every handoff is delivered exactly once, none is lost, none is assigned
//! twice, and every customer hears exactly one "has joined".

mod common;

use common::{TestServer, agent_post, agent_session, get_json, open_conversation, unlimited};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use warmline_domain::AgentRole;

const CUSTOMERS: usize = 200;
const AGENTS: usize = 10;

async fn escalate(server: Arc<TestServer>) -> String {
    let conv = open_conversation(&server, Value::Null).await;
    let response = reqwest::Client::new()
        .post(server.url(&format!("/v1/conversations/{conv}/messages")))
        .json(&json!({"text": "I want to speak to a human agent"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let turn: Value = response.json().await.unwrap();
    assert!(turn["handoff"]["queue_position"].is_number(), "{turn}");
    conv
}

/// Takes handoffs from the queue until every customer is with someone; returns what it got.
async fn work(
    server: Arc<TestServer>,
    token: String,
    taken: Arc<Mutex<HashMap<String, usize>>>,
    me: usize,
) -> usize {
    let mut mine = 0;
    let started = Instant::now();
    while taken.lock().unwrap().len() < CUSTOMERS {
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "agents starved"
        );
        let queue = get_json(&server, "/v1/agent/queue", Some(&token)).await;
        let ids: Vec<String> = queue
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].as_str().unwrap().to_owned())
            .collect();
        if ids.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        // Everyone goes for the same ones first: the worst case for double assignment.
        for id in ids.iter().take(5) {
            let response = agent_post(
                &server,
                &token,
                &format!("/v1/agent/handoffs/{id}/accept"),
                json!({}),
            )
            .await;
            match response.status().as_u16() {
                200 => {
                    let before = taken.lock().unwrap().insert(id.clone(), me);
                    assert!(before.is_none(), "handoff {id} assigned twice");
                    mine += 1;
                }
                409 => {}
                other => panic!(
                    "accept answered {other}: {}",
                    response.text().await.unwrap()
                ),
            }
        }
    }
    mine
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_customers_ten_agents_each_handoff_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Arc::new(TestServer::start(dir.path(), unlimited()).await);
    let mut tokens = Vec::new();
    for n in 0..AGENTS {
        tokens.push(agent_session(&server, &format!("agent{n}"), AgentRole::Agent, &[]).await);
    }
    let taken = Arc::new(Mutex::new(HashMap::new()));
    let started = Instant::now();
    let agents: Vec<_> = tokens
        .iter()
        .enumerate()
        .map(|(n, t)| tokio::spawn(work(server.clone(), t.clone(), taken.clone(), n)))
        .collect();
    let customers: Vec<_> = (0..CUSTOMERS)
        .map(|_| tokio::spawn(escalate(server.clone())))
        .collect();
    let mut conversations = HashSet::new();
    for c in customers {
        conversations.insert(c.await.unwrap());
    }
    let mut per_agent = Vec::new();
    for a in agents {
        per_agent.push(a.await.unwrap());
    }
    let elapsed = started.elapsed();
    assert_eq!(conversations.len(), CUSTOMERS);
    assert_eq!(per_agent.iter().sum::<usize>(), CUSTOMERS, "{per_agent:?}");

    // The store agrees: nothing waits, each agent has what they accepted, nobody twice.
    let queue = get_json(&server, "/v1/agent/queue", Some(&tokens[0])).await;
    assert!(queue.as_array().unwrap().is_empty(), "{queue}");
    let mut held = HashSet::new();
    for (n, token) in tokens.iter().enumerate() {
        let mine = get_json(&server, "/v1/agent/mine", Some(token)).await;
        let mine = mine.as_array().unwrap();
        assert_eq!(mine.len(), per_agent[n]);
        for h in mine {
            assert!(held.insert(h["conversation_id"].as_str().unwrap().to_owned()));
        }
    }
    assert_eq!(held, conversations);
    for conv in &conversations {
        let t = get_json(&server, &format!("/v1/conversations/{conv}"), None).await;
        assert_eq!(t["conversation"]["ownership"], "human");
        let joined = t["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["text"].as_str().unwrap().contains("has joined"))
            .count();
        assert_eq!(joined, 1, "{t}");
    }
    println!(
        "{CUSTOMERS} handoffs to {AGENTS} agents in {:.2} s; per agent {per_agent:?}",
        elapsed.as_secs_f64()
    );
    Arc::into_inner(server).unwrap().stop().await;
}
