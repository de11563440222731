//! Gap groups in SQLite.
use super::*;
use warmline_domain::{Channel, GapReason, NewConversation};

fn gap(conversation: ConversationId, group: Option<i64>, q: &str) -> NewGap {
    NewGap {
        group,
        conversation_id: conversation,
        message_id: MessageId::new(),
        question: q.into(),
        terms: q.split(' ').map(str::to_owned).collect(),
        embedding: Some(vec![0.5, -0.25]),
        reason: GapReason::NoAnswer,
        at: warmline_domain::conversation::now(),
    }
}

#[tokio::test]
async fn gaps_group_seed_and_close() {
    use warmline_domain::ConversationStore;
    let store = SqliteStore::in_memory().await.unwrap();
    let conv = store
        .create_conversation(NewConversation {
            channel: Channel::Web,
            locale: "en".into(),
            customer_id: None,
        })
        .await
        .unwrap();
    let a = store
        .add_gap(&gap(conv.id, None, "bitcoin pay"))
        .await
        .unwrap();
    assert_eq!(
        store
            .add_gap(&gap(conv.id, Some(a), "bitcoin accept"))
            .await
            .unwrap(),
        a
    );
    let b = store
        .add_gap(&gap(conv.id, None, "student discount"))
        .await
        .unwrap();
    let seeds = store.gap_seeds(1).await.unwrap();
    assert_eq!(seeds.len(), 2);
    assert_eq!(seeds[0].members.len(), 1, "only the newest member");
    assert_eq!(seeds[0].members[0].0, ["bitcoin", "accept"]);
    assert_eq!(seeds[0].members[0].1.as_deref(), Some(&[0.5, -0.25][..]));
    let groups = store.gap_groups(None, 10, 5).await.unwrap();
    assert_eq!((groups[0].id, groups[0].count), (a, 2));
    assert_eq!(groups[0].samples[0].question, "bitcoin accept");
    store
        .set_gap_status(a, GapStatus::Closed, Some("bitcoin"))
        .await
        .unwrap();
    assert_eq!(store.gap_seeds(5).await.unwrap()[0].id, b);
    let closed = store.gap_group(a, 0).await.unwrap().unwrap();
    assert_eq!(closed.article_id.as_deref(), Some("bitcoin"));
    let err = store
        .set_gap_status(999, GapStatus::Drafting, None)
        .await
        .unwrap_err();
    assert_eq!(err.code, warmline_domain::ErrorCode::NotFound);
}
