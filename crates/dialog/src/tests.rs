use super::*;
use warmline_domain::testing::{FixedKnowledge, MemoryStore};
use warmline_domain::{ReplyKind, Role};

fn dialog() -> (Dialog, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::default());
    let knowledge = Arc::new(FixedKnowledge::new(&[
        (
            "store-hours",
            "Store hours",
            "Our stores open at 9 am and close at 9 pm.",
        ),
        (
            "returns",
            "Returns",
            "You can return most items within 30 days.",
        ),
    ]));
    (
        Dialog::new(store.clone(), knowledge, DialogConfig::default()),
        store,
    )
}

#[tokio::test]
async fn a_turn_stores_the_question_then_a_cited_answer() {
    let (dialog, store) = dialog();
    let conv = dialog.start(Start::default()).await.unwrap();
    let turn = dialog
        .handle(conv.id, "  when do stores open?  ")
        .await
        .unwrap();
    assert_eq!(turn.message.text, "when do stores open?");
    let (reply, stored) = turn.reply.unwrap();
    assert_eq!(reply.kind, ReplyKind::Answer);
    assert_eq!(reply.citations[0].article_id, "store-hours");
    let all = store.all_messages();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].role, Role::Customer);
    assert_eq!(all[1], stored);
}

#[tokio::test]
async fn the_question_is_kept_even_when_answering_fails() {
    struct Broken;
    #[async_trait::async_trait]
    impl KnowledgeSearch for Broken {
        async fn search(
            &self,
            _: &SearchQuery,
        ) -> Result<warmline_domain::SearchResult, DomainError> {
            Err(DomainError::unavailable("index down"))
        }
        fn analyze(&self, _: &str) -> Vec<String> {
            Vec::new()
        }
        fn has_locale(&self, _: &str) -> bool {
            true
        }
    }
    let store = Arc::new(MemoryStore::default());
    let dialog = Dialog::new(store.clone(), Arc::new(Broken), DialogConfig::default());
    let conv = dialog.start(Start::default()).await.unwrap();
    let err = dialog
        .handle(conv.id, "where is my parcel")
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Unavailable);
    let kept = store.all_messages();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].text, "where is my parcel");
}

#[tokio::test]
async fn bad_messages_are_refused_with_clear_codes() {
    let (dialog, store) = dialog();
    let conv = dialog.start(Start::default()).await.unwrap();
    assert_eq!(
        dialog.handle(conv.id, " \n ").await.unwrap_err().code,
        ErrorCode::InvalidInput
    );
    let long = "a".repeat(4001);
    let err = dialog.handle(conv.id, &long).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::PayloadTooLarge);
    assert!(err.message.contains("4000"));
    let err = dialog
        .handle(ConversationId::new(), "hi")
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound);
    assert!(store.all_messages().is_empty(), "nothing invalid is stored");
}

#[tokio::test]
async fn the_bot_is_quiet_while_a_person_owns_the_conversation() {
    let (dialog, store) = dialog();
    let conv = dialog.start(Start::default()).await.unwrap();
    store
        .set_ownership(conv.id, Ownership::Human)
        .await
        .unwrap();
    let turn = dialog.handle(conv.id, "when do stores open").await.unwrap();
    assert!(turn.reply.is_none());
    assert_eq!(store.all_messages().len(), 1, "the message is still stored");
    store
        .set_ownership(conv.id, Ownership::Closed)
        .await
        .unwrap();
    let err = dialog.handle(conv.id, "hello?").await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Conflict);
}

#[tokio::test]
async fn questions_outside_the_knowledge_base_get_no_invented_answer() {
    let (dialog, _) = dialog();
    let conv = dialog.start(Start::default()).await.unwrap();
    let (reply, _) = dialog
        .handle(conv.id, "what is the weather in paris")
        .await
        .unwrap()
        .reply
        .unwrap();
    assert_eq!(reply.kind, ReplyKind::NoAnswer);
    assert!(reply.citations.is_empty());
    assert_eq!(reply.suggestions, [TALK_TO_A_PERSON]);
}

#[tokio::test]
async fn an_identity_links_conversations_to_one_customer() {
    let (dialog, _) = dialog();
    let identity = CustomerIdentity {
        channel: Channel::Telegram,
        external_id: "4242".into(),
    };
    let start = Start {
        channel: Channel::Telegram,
        identity: Some(identity),
        ..Start::default()
    };
    let a = dialog.start(start.clone()).await.unwrap();
    let b = dialog.start(start).await.unwrap();
    assert!(a.customer_id.is_some());
    assert_eq!(a.customer_id, b.customer_id);
    let bad = Start {
        locale: Some("en_US; DROP".into()),
        ..Start::default()
    };
    assert_eq!(
        dialog.start(bad).await.unwrap_err().code,
        ErrorCode::InvalidInput
    );
}

/// With the detector on, a customer in trouble gets the offer of a person first and the turn
/// carries the reasons; an ordinary question carries none.
#[tokio::test]
async fn moments_of_truth_are_flagged_on_the_turn() {
    let (dialog, _) = dialog();
    let dialog = dialog.with_moments(moments::Detector::new(moments::Policy::default(), None));
    let conv = dialog.start(Start::default()).await.unwrap();

    let calm = dialog
        .handle(conv.id, "when do stores open?")
        .await
        .unwrap();
    assert!(calm.moment.is_none());
    let (reply, _) = calm.reply.unwrap();
    assert!(!reply.suggestions.contains(&TALK_TO_A_PERSON.to_owned()));

    let fraud = dialog
        .handle(conv.id, "someone used my card for purchases I never made")
        .await
        .unwrap();
    let decision = fraud.moment.expect("fraud is a moment of truth");
    assert!(decision.escalate);
    assert!(decision.fired("high_stakes:fraud"), "{decision}");
    let (reply, _) = fraud.reply.unwrap();
    assert_eq!(
        reply.suggestions.first().map(String::as_str),
        Some(TALK_TO_A_PERSON)
    );

    let ask = dialog
        .handle(conv.id, "can I talk to a real person please")
        .await
        .unwrap();
    assert!(ask.moment.unwrap().fired("explicit_request"));
}

/// A CRM outage costs the customer nothing: the turn is answered and assessed as if they were
/// anonymous. A working CRM's tier reaches the detector.
#[tokio::test]
async fn a_failing_crm_leaves_the_conversation_anonymous_but_working() {
    use warmline_domain::crm::{CrmCustomer, CrmCustomerRef, CustomerProfile};
    use warmline_domain::testing::MemoryCrm;
    use warmline_domain::{Channel, CustomerIdentity};
    let (dialog, _) = dialog();
    let crm = Arc::new(MemoryCrm::default());
    let identity = CustomerIdentity {
        channel: Channel::Api,
        external_id: "C-1".into(),
    };
    crm.add_customer(
        identity.clone(),
        CrmCustomer {
            reference: CrmCustomerRef("C-1".into()),
            profile: CustomerProfile {
                tier: Some("vip".into()),
                ..CustomerProfile::default()
            },
        },
    );
    let dialog = dialog
        .with_moments(moments::Detector::new(moments::Policy::default(), None))
        .with_crm(crm.clone());
    let conv = dialog
        .start(Start {
            identity: Some(identity),
            ..Start::default()
        })
        .await
        .unwrap();

    let ask = dialog
        .handle(conv.id, "can I speak to someone")
        .await
        .unwrap();
    let decision = ask.moment.expect("an explicit request");
    assert!(decision.fired("tier:vip"), "{decision}");
    assert!(crm.calls() > 0);

    crm.set_failing(true);
    let turn = dialog
        .handle(conv.id, "when do stores open?")
        .await
        .unwrap();
    let (reply, _) = turn.reply.expect("answered despite the CRM");
    assert_eq!(reply.kind, ReplyKind::Answer);
}

/// A customer the CRM knows speaks their language when articles exist in it, and the
/// default language otherwise; a locale the channel gives wins.
#[tokio::test]
async fn conversations_pick_the_customers_language_when_articles_exist_in_it() {
    use warmline_domain::crm::{CrmCustomer, CrmCustomerRef, CustomerProfile};
    use warmline_domain::testing::MemoryCrm;
    use warmline_domain::{Channel, CustomerIdentity};
    let (dialog, _) = dialog();
    let crm = Arc::new(MemoryCrm::default());
    let customer = |id: &str, language: &str| {
        let identity = CustomerIdentity {
            channel: Channel::Email,
            external_id: id.into(),
        };
        crm.add_customer(
            identity.clone(),
            CrmCustomer {
                reference: CrmCustomerRef(id.into()),
                profile: CustomerProfile {
                    language: Some(language.into()),
                    ..CustomerProfile::default()
                },
            },
        );
        identity
    };
    let (english, french) = (
        customer("en@example.com", "en"),
        customer("fr@example.com", "fr"),
    );
    let dialog = dialog.with_crm(crm.clone());
    let start = |identity: CustomerIdentity, locale: Option<&str>| Start {
        identity: Some(identity),
        locale: locale.map(str::to_owned),
        ..Start::default()
    };
    let locale = |s| {
        let dialog = dialog.clone();
        async move { dialog.start(s).await.unwrap().locale }
    };
    // The fixed knowledge base has English articles only.
    assert_eq!(locale(start(french.clone(), None)).await, "en");
    assert_eq!(locale(start(english, None)).await, "en");
    assert_eq!(locale(start(french, Some("de"))).await, "de");
}

/// A journey left alone longer than its `expires_after_minutes` is dropped: the next message
/// is routed afresh instead of being taken as the answer to a stale question. A journey still
/// fresh carries on, and one a person took over waits until they hand back.
#[tokio::test]
async fn journeys_expire_and_wait_for_people() {
    use warmline_domain::{Memories, MemoryKey};
    let (dialog, store) = dialog();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../knowledge/journeys");
    let (library, errors) = journey::Library::load_dir(&dir);
    assert!(errors.is_empty(), "{errors:?}");
    let dialog = dialog.with_journeys(journey::Journeys::new(library), store.clone());
    let conv = dialog.start(Start::default()).await.unwrap();
    let key = MemoryKey::Conversation(conv.id);

    let ask = dialog.handle(conv.id, "where is my order").await.unwrap();
    assert_eq!(ask.reply.unwrap().0.kind, ReplyKind::Journey);
    let mut memory = store
        .recall(key.clone())
        .await
        .unwrap()
        .expect("remembered");
    assert_eq!(memory.journey.as_ref().unwrap().step, "order");

    memory.updated_at -= time::Duration::minutes(31);
    store.remember(key.clone(), &memory).await.unwrap();
    let later = dialog
        .handle(conv.id, "when do stores open?")
        .await
        .unwrap();
    let (reply, _) = later.reply.unwrap();
    assert_eq!(reply.kind, ReplyKind::Answer, "{}", reply.text);
    assert!(
        store
            .recall(key.clone())
            .await
            .unwrap()
            .unwrap()
            .journey
            .is_none()
    );

    // In a journey, then a person takes over: the journey waits where it was.
    dialog.handle(conv.id, "track my order").await.unwrap();
    store
        .set_ownership(conv.id, warmline_domain::Ownership::Human)
        .await
        .unwrap();
    let quiet = dialog.handle(conv.id, "JM-204518837").await.unwrap();
    assert!(quiet.reply.is_none());
    let memory = store.recall(key.clone()).await.unwrap().unwrap();
    assert_eq!(
        memory.journey.unwrap().step,
        "order",
        "not advanced by the person's chat"
    );
    store
        .set_ownership(conv.id, warmline_domain::Ownership::Bot)
        .await
        .unwrap();
    let back = dialog.handle(conv.id, "JM-204518837").await.unwrap();
    let (reply, _) = back.reply.unwrap();
    assert!(reply.text.contains("email"), "{}", reply.text);
}

/// With embeddings, a message close to a journey's examples starts that journey even when no
/// trigger phrase matches; without them, it is a knowledge question.
#[tokio::test]
async fn a_journey_starts_by_meaning_when_retrieval_embeds_the_question() {
    use warmline_domain::{Embedder, SearchResult};
    /// The fixed passages, plus the question's embedding as hybrid retrieval returns it.
    struct Embedding(FixedKnowledge);
    #[async_trait::async_trait]
    impl KnowledgeSearch for Embedding {
        async fn search(&self, q: &SearchQuery) -> Result<SearchResult, DomainError> {
            let mut result = self.0.search(q).await?;
            result.embedding = Some(meaning(&q.text));
            Ok(result)
        }
        fn analyze(&self, text: &str) -> Vec<String> {
            self.0.analyze(text)
        }
        fn has_locale(&self, locale: &str) -> bool {
            self.0.has_locale(locale)
        }
    }
    /// Two "meanings": moving house, and anything else.
    fn meaning(text: &str) -> Vec<f32> {
        if text.contains("mov") {
            vec![1.0, 0.0]
        } else {
            vec![0.0, 1.0]
        }
    }
    struct Fake;
    #[async_trait::async_trait]
    impl Embedder for Fake {
        fn model_id(&self) -> &str {
            "fake"
        }
        fn dimensions(&self) -> usize {
            2
        }
        async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, DomainError> {
            Ok(texts.iter().map(|t| meaning(t)).collect())
        }
        fn embed_blocking(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, DomainError> {
            Ok(texts.iter().map(|t| meaning(t)).collect())
        }
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../knowledge/journeys");
    let text = "we're moving to a new flat before it arrives";
    for with_meaning in [false, true] {
        let store = Arc::new(MemoryStore::default());
        let knowledge = Embedding(FixedKnowledge::new(&[(
            "returns",
            "Returns",
            "Return most items within 30 days.",
        )]));
        let (library, _) = journey::Library::load_dir(&dir);
        assert!(library.triggered_by(text).is_none());
        let mut dialog = Dialog::new(store.clone(), Arc::new(knowledge), DialogConfig::default())
            .with_journeys(journey::Journeys::new(library), store.clone());
        if with_meaning {
            dialog = dialog.with_journey_embedder(Arc::new(Fake));
        }
        let conv = dialog.start(Start::default()).await.unwrap();
        let turn = dialog.handle(conv.id, text).await.unwrap();
        let (reply, _) = turn.reply.unwrap();
        let memory = dialog
            .memory(&dialog.transcript(conv.id).await.unwrap().0)
            .await
            .unwrap();
        if with_meaning {
            assert_eq!(reply.kind, ReplyKind::Journey, "{}", reply.text);
            assert_eq!(memory.journey.unwrap().journey, "change-address");
        } else {
            assert_eq!(reply.kind, ReplyKind::NoAnswer, "{}", reply.text);
            assert!(memory.journey.is_none());
        }
    }
}
