//! Conversations over Direct Line: the stream, reconnecting, polling, agents, shutdown.

use crate::*;
use futures_util::StreamExt;
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_on_the_stream_gets_a_cited_answer_and_suggested_actions() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let (id, token, stream_url) = start(&server, None).await;
    assert!(stream_url.starts_with(&format!("ws://{}/v3/directline/", server.addr)));
    let user = claims_of(&token)["user"].as_str().unwrap().to_owned();
    let mut socket = open_stream(&stream_url, Some(SITE)).await.unwrap();

    let posted = say(
        &server,
        &id,
        &token,
        "How long do refunds to my card take?",
        "c-1",
    )
    .await;
    let (seen, watermark) = read_until(&mut socket, is_bot_message).await;
    // The customer's own message comes back with its id and the client's id (else Web Chat
    // says "Send failed"), then typing, then the answer.
    let echo = seen.iter().find(|a| a["from"]["role"] == "user").unwrap();
    assert_eq!(echo["id"], posted.as_str());
    assert_eq!(echo["channelData"]["clientActivityID"], "c-1");
    assert_eq!(echo["from"]["id"], user.as_str());
    assert!(seen.iter().any(|a| a["type"] == "typing"), "{seen:#?}");
    let answer = seen.last().unwrap();
    let text = answer["text"].as_str().unwrap();
    assert_eq!(answer["textFormat"], "markdown");
    assert!(text.contains("3–5 business days"), "{text}");
    assert!(
        text.contains(&format!("]({}/kb/refund-timing)", server.base)),
        "citation link missing: {text}"
    );
    assert_eq!(answer["replyToId"], posted.as_str());
    assert_eq!(watermark, Some(2));

    // A greeting offers the journeys as imBack buttons; picking one is just a message.
    say(&server, &id, &token, "hi", "c-2").await;
    let (seen, watermark) = read_until(&mut socket, is_bot_message).await;
    let actions = seen.last().unwrap()["suggestedActions"]["actions"]
        .as_array()
        .unwrap_or_else(|| panic!("no suggested actions: {seen:#?}"))
        .clone();
    assert!(
        actions
            .iter()
            .all(|a| a["type"] == "imBack" && a["title"] == a["value"])
    );
    let pick = actions
        .iter()
        .find(|a| a["value"] == "Track an order")
        .unwrap_or_else(|| panic!("{actions:#?}"));
    assert_eq!(watermark, Some(4));
    say(&server, &id, &token, pick["value"].as_str().unwrap(), "c-3").await;
    let (seen, _) = read_until(&mut socket, is_bot_message).await;
    assert!(
        seen.last().unwrap()["text"]
            .as_str()
            .unwrap()
            .contains("order"),
        "{seen:#?}"
    );
    // Typing activities are acknowledged and not stored.
    let (status, _) = post(
        &dl(&server, &format!("/conversations/{id}/activities")),
        Some(&token),
        Some(json!({"type": "typing", "from": {"id": user}})),
    )
    .await;
    assert_eq!(status, 200);
    let (_, transcript) = get(&server.url(&format!("/v1/conversations/{id}")), None).await;
    assert_eq!(transcript["messages"].as_array().unwrap().len(), 6);
    assert_eq!(transcript["conversation"]["channel"], "directline");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_from_a_watermark_loses_nothing_and_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let (id, token, stream_url) = start(&server, None).await;
    let mut socket = open_stream(&stream_url, None).await.unwrap();
    say(&server, &id, &token, "do you ship to canada?", "c-1").await;
    let (first, watermark) = read_until(&mut socket, is_bot_message).await;
    let watermark = watermark.unwrap();
    socket.close(None).await.unwrap();

    // While the socket is down, two more turns happen.
    say(&server, &id, &token, "how long do refunds take?", "c-2").await;
    say(&server, &id, &token, "thanks", "c-3").await;
    let (status, again) = get(
        &dl(
            &server,
            &format!("/conversations/{id}?watermark={watermark}"),
        ),
        Some(&token),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    let token = again["token"].as_str().unwrap();
    assert_eq!(claims_of(token)["conv"], id.as_str());
    let mut socket = open_stream(again["streamUrl"].as_str().unwrap(), None)
        .await
        .unwrap();
    let (rest, last) = read_until(&mut socket, |_| true).await;
    assert_eq!(last, Some(6));

    // Together: exactly the transcript, in order, each message once.
    let (_, transcript) = get(&server.url(&format!("/v1/conversations/{id}")), None).await;
    let stored: Vec<&str> = transcript["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    let streamed: Vec<&str> = first
        .iter()
        .chain(&rest)
        .filter(|a| a["type"] == "message")
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(streamed, stored);
    // The echo of a message sent while away still carries the client's id.
    assert_eq!(rest[0]["channelData"]["clientActivityID"], "c-2");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_reads_after_the_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let (id, token, _) = start(&server, None).await;
    let poll = |w: &str| {
        dl(
            &server,
            &format!("/conversations/{id}/activities?watermark={w}"),
        )
    };
    let (status, empty) = get(&poll(""), Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(empty, json!({"activities": [], "watermark": "0"}));
    say(
        &server,
        &id,
        &token,
        "can I return something without a receipt?",
        "c-1",
    )
    .await;
    let (_, all) = get(&poll(""), Some(&token)).await;
    assert_eq!(all["watermark"], "2");
    let activities = all["activities"].as_array().unwrap();
    assert_eq!(activities.len(), 2);
    assert_eq!(activities[0]["channelData"]["clientActivityID"], "c-1");
    assert_eq!(activities[1]["from"]["role"], "bot");
    say(&server, &id, &token, "thank you", "c-2").await;
    let (_, after) = get(&poll("2"), Some(&token)).await;
    let texts: Vec<&str> = after["activities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts.len(), 2, "{after}");
    assert_eq!(texts[0], "thank you");
    assert_eq!(after["watermark"], "4");
    let (_, none) = get(&poll("4"), Some(&token)).await;
    assert_eq!(none["activities"], json!([]));
    let (status, body) = get(&poll("abc"), Some(&token)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("malformed_request"))
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_reach_the_stream_and_shutdown_closes_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let (id, token, stream_url) = start(&server, None).await;
    let mut socket = open_stream(&stream_url, None).await.unwrap();
    say(
        &server,
        &id,
        &token,
        "This is useless. Let me talk to a real person NOW",
        "c-1",
    )
    .await;
    read_until(&mut socket, is_bot_message).await;
    let ana = common::agent_session(&server, "ana", warmline_domain::AgentRole::Agent, &[]).await;
    let (_, queue) = get(&server.url("/v1/agent/queue"), Some(&ana)).await;
    let handoff = queue
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["conversation_id"] == id.as_str())
        .unwrap_or_else(|| panic!("{queue}"))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let accepted = common::agent_post(
        &server,
        &ana,
        &format!("/v1/agent/handoffs/{handoff}/accept"),
        json!({}),
    )
    .await;
    assert_eq!(accepted.status(), 200);
    common::agent_post(
        &server,
        &ana,
        &format!("/v1/agent/handoffs/{handoff}/messages"),
        json!({"text": "Hi, Ana here. How can I help?"}),
    )
    .await;
    let (seen, _) = read_until(&mut socket, |a| {
        a["text"].as_str().is_some_and(|t| t.contains("Ana here"))
    })
    .await;
    assert_eq!(seen.last().unwrap()["from"]["role"], "bot");
    // While a person owns the conversation the bot stays quiet: the echo, no reply.
    say(&server, &id, &token, "my card was charged twice", "c-2").await;
    let (seen, _) = read_until(&mut socket, |a| a["from"]["role"] == "user").await;
    assert_eq!(
        seen.last().unwrap()["channelData"]["clientActivityID"],
        "c-2"
    );

    // Shutting down closes the stream (the client reconnects elsewhere from its watermark).
    server.stop().await;
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(frame)) = socket.next().await {
            if frame.is_close() {
                return;
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the stream stayed open after shutdown");
}
