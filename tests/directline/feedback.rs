//! Web Chat's feedback thumbs: a grounded answer carries the schema.org entity that makes
//! Web Chat 4.18 show them, and the event Web Chat posts when one is pressed rates that answer
//! (pressing the other thumb replaces the rating). Other replies have no thumbs; a thumb of
//! another conversation's answer is refused.

use crate::{dl, get, post, say, server, start};
use serde_json::{Value, json};

use crate::common::rating_of as rating;

/// What Web Chat posts after a thumb is pressed: the chosen action as its only entity.
fn pressed(action: &Value) -> Value {
    json!({"type": "event", "name": "webchat:activity-status/feedback", "entities": [action]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thumbs_under_answers_rate_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let (id, token, _) = start(&server, None).await;
    let activities = dl(&server, &format!("/conversations/{id}/activities"));
    say(
        &server,
        &id,
        &token,
        "How long do refunds to my card take?",
        "c-1",
    )
    .await;
    say(&server, &id, &token, "thank you", "c-2").await;
    let (_, all) = get(&format!("{activities}?watermark="), Some(&token)).await;
    let all = all["activities"].as_array().unwrap().clone();
    assert_eq!(all.len(), 4, "{all:#?}");
    let answer = &all[1];
    assert!(
        answer["text"]
            .as_str()
            .unwrap()
            .contains("3–5 business days")
    );
    let message = &answer["entities"][0];
    assert_eq!(message["@type"], "Message");
    assert_eq!(message["@id"], "");
    assert_eq!(message["type"], "https://schema.org/Message");
    let like = message["potentialAction"][0].clone();
    let dislike = message["potentialAction"][1].clone();
    assert_eq!(like["@type"], "LikeAction");
    assert_eq!(dislike["@type"], "DislikeAction");
    // Small talk is not an answer: no thumbs.
    assert!(all[3]["entities"].is_null(), "{}", all[3]);

    let answer_id = answer["id"].as_str().unwrap();
    assert_eq!(rating(&server, answer_id).await, None);
    let (status, body) = post(&activities, Some(&token), Some(pressed(&dislike))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(rating(&server, answer_id).await, Some(0));
    let (status, _) = post(&activities, Some(&token), Some(pressed(&like))).await;
    assert_eq!(status, 200);
    assert_eq!(rating(&server, answer_id).await, Some(1));
    // A thumb whose type contradicts its token is no rating at all.
    let mixed = json!({"@type": "DislikeAction", "@id": like["@id"]});
    post(&activities, Some(&token), Some(pressed(&mixed))).await;
    assert_eq!(rating(&server, answer_id).await, Some(1));
    // Neither the presses nor anything else became a message.
    let (_, after) = get(&format!("{activities}?watermark=4"), Some(&token)).await;
    assert_eq!(after["activities"], json!([]));

    // Another customer's conversation cannot rate this answer.
    let (other, other_token, _) = start(&server, None).await;
    let (status, body) = post(
        &dl(&server, &format!("/conversations/{other}/activities")),
        Some(&other_token),
        Some(pressed(&dislike)),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    assert_eq!(rating(&server, answer_id).await, Some(1));
    server.stop().await;
}
