use super::*;
use warmline_domain::{Channel, Citation, Reply, ReplyKind};

async fn file_store(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(&dir.path().join("warmline.db"), Durability::Process)
        .await
        .unwrap()
}

fn new_conversation() -> NewConversation {
    NewConversation {
        channel: Channel::Web,
        locale: "en".into(),
        customer_id: None,
    }
}

#[tokio::test]
async fn messages_with_citations_survive_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(&dir).await;
    let conv = store.create_conversation(new_conversation()).await.unwrap();
    store
        .append_message(&Message::from_customer(conv.id, "where is my order?"))
        .await
        .unwrap();
    let reply = Reply {
        text: "You can track it from Orders.".into(),
        citations: vec![Citation {
            article_id: "order-status".into(),
            title: "Track your order".into(),
            url: "/kb/order-status".into(),
            passage: "You can track it from Orders.".into(),
            score: 7.5,
        }],
        kind: ReplyKind::Answer,
        support: 1.0,
        suggestions: vec!["Talk to a person".into()],
    };
    store
        .append_message(&Message::from_reply(conv.id, &reply))
        .await
        .unwrap();
    store.close().await;

    let reopened = file_store(&dir).await;
    let got = reopened.conversation(conv.id).await.unwrap().unwrap();
    assert_eq!(got.channel, Channel::Web);
    let transcript = reopened.messages(conv.id, 100).await.unwrap();
    assert_eq!(transcript.len(), 2);
    assert_eq!(transcript[0].text, "where is my order?");
    assert_eq!(transcript[1].citations, reply.citations);
    assert_eq!(transcript[1].reply_kind, Some(ReplyKind::Answer));
    assert_eq!(transcript[1].suggestions, reply.suggestions);
}

#[tokio::test]
async fn a_message_for_an_unknown_conversation_is_not_found() {
    let store = SqliteStore::in_memory().await.unwrap();
    let err = store
        .append_message(&Message::from_customer(ConversationId::new(), "hi"))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound);
    assert!(
        store
            .conversation(ConversationId::new())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn transcript_limit_keeps_the_newest_in_order() {
    let store = SqliteStore::in_memory().await.unwrap();
    let conv = store.create_conversation(new_conversation()).await.unwrap();
    for i in 0..5 {
        store
            .append_message(&Message::from_customer(conv.id, format!("m{i}")))
            .await
            .unwrap();
    }
    let last: Vec<_> = store
        .messages(conv.id, 2)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(last, ["m3", "m4"]);
}

#[tokio::test]
async fn one_customer_across_channels() {
    let store = SqliteStore::in_memory().await.unwrap();
    let phone = CustomerIdentity {
        channel: Channel::WhatsApp,
        external_id: "+15550100".into(),
    };
    let first = store
        .customer_for_identity(&phone, Some("Ana"))
        .await
        .unwrap();
    let again = store.customer_for_identity(&phone, None).await.unwrap();
    assert_eq!(
        first.id, again.id,
        "the same identity finds the same customer"
    );

    let email = CustomerIdentity {
        channel: Channel::Email,
        external_id: "ana@example.com".into(),
    };
    store.link_identity(first.id, &email).await.unwrap();
    store.link_identity(first.id, &email).await.unwrap(); // idempotent
    assert_eq!(store.identities(first.id).await.unwrap().len(), 2);

    let other = store
        .customer_for_identity(
            &CustomerIdentity {
                channel: Channel::Sms,
                external_id: "+15550199".into(),
            },
            None,
        )
        .await
        .unwrap();
    let err = store.link_identity(other.id, &email).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Conflict);
}

#[tokio::test]
async fn ownership_changes_are_stored() {
    let store = SqliteStore::in_memory().await.unwrap();
    let conv = store.create_conversation(new_conversation()).await.unwrap();
    store
        .set_ownership(conv.id, Ownership::Queued)
        .await
        .unwrap();
    let got = store.conversation(conv.id).await.unwrap().unwrap();
    assert_eq!(got.ownership, Ownership::Queued);
    let err = store
        .set_ownership(ConversationId::new(), Ownership::Human)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_all_succeed_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(file_store(&dir).await);
    let mut conversations = Vec::new();
    for _ in 0..8 {
        conversations.push(store.create_conversation(new_conversation()).await.unwrap());
    }
    let mut tasks = Vec::new();
    for (c, conv) in conversations.iter().enumerate() {
        for i in 0..25 {
            let store = store.clone();
            let id = conv.id;
            tasks.push(tokio::spawn(async move {
                store
                    .append_message(&Message::from_customer(id, format!("c{c} m{i}")))
                    .await
            }));
        }
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    for conv in &conversations {
        assert_eq!(store.messages(conv.id, 1000).await.unwrap().len(), 25);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bad_message_in_a_busy_moment_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(file_store(&dir).await);
    let conv = store.create_conversation(new_conversation()).await.unwrap();
    let first = Message::from_customer(conv.id, "first");
    store.append_message(&first).await.unwrap();

    let mut batch = vec![first.clone()]; // a duplicate id
    batch.push(Message::from_customer(ConversationId::new(), "nowhere")); // unknown conversation
    for i in 0..30 {
        batch.push(Message::from_customer(conv.id, format!("ok {i}")));
    }
    let tasks: Vec<_> = batch
        .into_iter()
        .map(|m| {
            let store = store.clone();
            tokio::spawn(async move { store.append_message(&m).await })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    assert_eq!(results[0].as_ref().unwrap_err().code, ErrorCode::Conflict);
    assert_eq!(results[1].as_ref().unwrap_err().code, ErrorCode::NotFound);
    assert!(results[2..].iter().all(Result::is_ok));
    assert_eq!(store.messages(conv.id, 100).await.unwrap().len(), 31);
    let cached = store.conversation(conv.id).await.unwrap().unwrap();
    store.close().await;
    let reopened = file_store(&dir).await;
    let stored = reopened.conversation(conv.id).await.unwrap().unwrap();
    assert_eq!(
        cached, stored,
        "the cached conversation matches the database"
    );
}

#[tokio::test]
async fn last_activity_is_the_latest_message_even_when_stored_out_of_clock_order() {
    // Messages written at once can reach the database in another order than their clocks
    // (CI once saw the cache and the database disagree by a millisecond).
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(&dir).await;
    let conv = store.create_conversation(new_conversation()).await.unwrap();
    let later = Message::from_customer(conv.id, "later");
    let mut earlier = Message::from_customer(conv.id, "earlier");
    earlier.created_at = later.created_at - time::Duration::milliseconds(5);
    store.append_message(&later).await.unwrap();
    store.append_message(&earlier).await.unwrap();
    let cached = store.conversation(conv.id).await.unwrap().unwrap();
    assert_eq!(cached.updated_at, later.created_at);
    store.close().await;
    let stored = file_store(&dir)
        .await
        .conversation(conv.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        cached, stored,
        "the cached conversation matches the database"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_write_goes_on_after_messages_are_stored() {
    // Messages are written by the group-commit task; every other write must still get the
    // writer connection afterwards (a task holding it forever once hung conversation creation).
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(&dir).await;
    let timeout = std::time::Duration::from_secs(5);
    let conv = store.create_conversation(new_conversation()).await.unwrap();
    store
        .append_message(&Message::from_customer(conv.id, "hello"))
        .await
        .unwrap();
    let second = tokio::time::timeout(timeout, store.create_conversation(new_conversation()))
        .await
        .expect("creating a conversation after a message must not hang")
        .unwrap();
    tokio::time::timeout(timeout, store.set_ownership(second.id, Ownership::Queued))
        .await
        .unwrap()
        .unwrap();
    let identity = CustomerIdentity {
        channel: Channel::Sms,
        external_id: "+15550123".into(),
    };
    tokio::time::timeout(timeout, store.customer_for_identity(&identity, None))
        .await
        .unwrap()
        .unwrap();
    tokio::time::timeout(timeout, store.close())
        .await
        .expect("closing after writes must not hang");
}

/// A handoff moves the conversation with it: queued, then human when one agent (and only one)
/// accepts it, then back to the bot with the agent's note; every step survives a reopen.
#[tokio::test]
async fn handoffs_move_ownership_and_only_one_agent_wins() {
    use warmline_domain::{AgentRole, HandoffPacket, HandoffStatus, HandoffStore};
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(&dir).await;
    let conv = store.create_conversation(new_conversation()).await.unwrap();
    let packet = HandoffPacket {
        reasons: vec!["high_stakes:fraud".into()],
        summary: "Card used for purchases the customer did not make.".into(),
        ..HandoffPacket::default()
    };
    let queued = store.open_handoff(conv.id, 5, &packet).await.unwrap();
    assert_eq!(queued.status, HandoffStatus::Queued);
    assert_eq!(queued.packet, packet);
    let owner = |s: &SqliteStore| {
        let s = s.clone();
        async move { s.conversation(conv.id).await.unwrap().unwrap().ownership }
    };
    assert_eq!(owner(&store).await, Ownership::Queued);
    let again = store.open_handoff(conv.id, 5, &packet).await.unwrap_err();
    assert_eq!(again.code, ErrorCode::Conflict);

    // A lower-priority handoff queues behind it; a higher one ahead.
    let other = store.create_conversation(new_conversation()).await.unwrap();
    let low = store.open_handoff(other.id, 1, &packet).await.unwrap();
    let third = store.create_conversation(new_conversation()).await.unwrap();
    let high = store.open_handoff(third.id, 9, &packet).await.unwrap();
    let order: Vec<_> = store.queue().await.unwrap().iter().map(|h| h.id).collect();
    assert_eq!(order, [high.id, queued.id, low.id]);

    let ana = store
        .create_agent("ana", "Ana", AgentRole::Agent, "$argon2id$fake")
        .await
        .unwrap();
    let ben = store
        .create_agent("ben", "Ben", AgentRole::Agent, "$argon2id$fake")
        .await
        .unwrap();
    assert_eq!(
        store
            .create_agent("ana", "Ana 2", AgentRole::Agent, "x")
            .await
            .unwrap_err()
            .code,
        ErrorCode::Conflict
    );
    let (a, b) = tokio::join!(
        store.accept(queued.id, ana.id),
        store.accept(queued.id, ben.id)
    );
    assert!(a.is_ok() != b.is_ok(), "exactly one agent gets it");
    let lost = if a.is_ok() { b } else { a };
    assert_eq!(lost.unwrap_err().code, ErrorCode::Conflict);
    assert_eq!(owner(&store).await, Ownership::Human);

    let returned = store
        .finish(
            queued.id,
            HandoffStatus::Returned,
            Some("refund issued"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(returned.note.as_deref(), Some("refund issued"));
    assert_eq!(owner(&store).await, Ownership::Bot);
    assert!(store.open_handoff_of(conv.id).await.unwrap().is_none());
    assert_eq!(
        store
            .finish(queued.id, HandoffStatus::Closed, None, None)
            .await
            .unwrap_err()
            .code,
        ErrorCode::Conflict
    );

    drop(store);
    let store = file_store(&dir).await;
    let kept = store.handoff(queued.id).await.unwrap().unwrap();
    assert_eq!(kept.status, HandoffStatus::Returned);
    assert_eq!(store.queue().await.unwrap().len(), 2);
}

#[tokio::test]
async fn agent_sessions_expire() {
    use warmline_domain::{AgentRole, HandoffStore};
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(&dir).await;
    let ana = store
        .create_agent("ana", "Ana", AgentRole::Supervisor, "$argon2id$fake")
        .await
        .unwrap();
    let (found, hash) = store.agent_login("ana").await.unwrap().unwrap();
    assert_eq!(found, ana);
    assert_eq!(hash, "$argon2id$fake");
    assert!(store.agent_login("nobody").await.unwrap().is_none());
    let now = warmline_domain::conversation::now();
    store
        .create_session("live", ana.id, now + time::Duration::hours(1))
        .await
        .unwrap();
    store
        .create_session("stale", ana.id, now - time::Duration::seconds(1))
        .await
        .unwrap();
    // A session makes the agent online; ending their last one, offline.
    let online = warmline_domain::Agent {
        presence: warmline_domain::Presence::Online,
        ..ana.clone()
    };
    assert_eq!(store.session_agent("live").await.unwrap(), Some(online));
    assert_eq!(store.session_agent("stale").await.unwrap(), None);
    store.end_session("stale").await.unwrap();
    store.end_session("live").await.unwrap();
    assert_eq!(store.session_agent("live").await.unwrap(), None);
    let (after, _) = store.agent_login("ana").await.unwrap().unwrap();
    assert_eq!(after.presence, warmline_domain::Presence::Offline);
    // Skills are stored trimmed, lower-case and once each; nonsense is refused.
    let skilled = store
        .set_skills(ana.id, &[" Fraud".into(), "billing".into(), "fraud".into()])
        .await
        .unwrap();
    assert_eq!(skilled.skills, ["fraud", "billing"]);
    assert!(
        store
            .set_skills(ana.id, &["no spaces".into()])
            .await
            .is_err()
    );
}

/// Agents seen recently count as online; accepted handoffs report how long they waited.
#[tokio::test]
async fn presence_and_waits() {
    use warmline_domain::{AgentRole, HandoffPacket, HandoffStore};
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(&dir).await;
    let now = warmline_domain::conversation::now();
    let minute_ago = now - time::Duration::minutes(1);
    assert_eq!(store.agents_online(minute_ago).await.unwrap(), 0);
    let ana = store
        .create_agent("ana", "Ana", AgentRole::Agent, "$argon2id$fake")
        .await
        .unwrap();
    store
        .create_session("t", ana.id, now + time::Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(store.agents_online(minute_ago).await.unwrap(), 1);
    assert_eq!(
        store
            .agents_online(now + time::Duration::minutes(1))
            .await
            .unwrap(),
        0
    );
    assert!(store.recent_waits(10).await.unwrap().is_empty());
    let conv = store.create_conversation(new_conversation()).await.unwrap();
    let h = store
        .open_handoff(conv.id, 0, &HandoffPacket::default())
        .await
        .unwrap();
    store.accept(h.id, ana.id).await.unwrap();
    let waits = store.recent_waits(10).await.unwrap();
    assert_eq!(waits.len(), 1);
    assert!(waits[0] >= time::Duration::ZERO && waits[0] < time::Duration::seconds(5));
}

#[tokio::test]
async fn crm_tables_are_migrated_and_reachable_through_the_pools() {
    let dir = tempfile::tempdir().unwrap();
    let store = file_store(&dir).await;
    let identity = CustomerIdentity {
        channel: Channel::Email,
        external_id: "ana@example.com".into(),
    };
    let customer = store.customer_for_identity(&identity, None).await.unwrap();
    sqlx::query(
        "INSERT INTO customer_profiles (customer_id, crm_key, tier, updated_at)
         VALUES (?, 'C-1', 'vip', 0)",
    )
    .bind(customer.id.to_string())
    .execute(store.writer_pool())
    .await
    .unwrap();
    let tier: String =
        sqlx::query_scalar("SELECT tier FROM customer_profiles WHERE crm_key = 'C-1'")
            .fetch_one(store.reader_pool())
            .await
            .unwrap();
    assert_eq!(tier, "vip");
    let bad_status = sqlx::query(
        "INSERT INTO orders (number, status, placed_at, total_cents, currency, updated_at)
         VALUES ('JM-1', 'lost', 0, 0, 'USD', 0)",
    )
    .execute(store.writer_pool())
    .await;
    assert!(bad_status.is_err(), "order statuses are checked");
}
