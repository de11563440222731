use super::run::{self, Ctx, Status};
use super::*;
use warmline_domain::crm::{Address, Order, OrderItem, OrderStatus, Tracking};
use warmline_domain::testing::MemoryCrm;
use warmline_domain::{ConversationId, Memory, ReturnEligibility};

fn sample() -> Library {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../knowledge/journeys");
    let (library, errors) = Library::load_dir(&dir);
    assert!(errors.is_empty(), "{errors:?}");
    library
}

fn mistakes(yaml: &str) -> Vec<String> {
    let (_, errors) = Library::from_sources(&[("j.yaml".into(), yaml.into())]);
    errors.iter().map(ToString::to_string).collect()
}

#[test]
fn the_sample_journeys_load_and_are_triggered_by_what_customers_say() {
    let library = sample();
    assert!(library.journeys().len() >= 4);
    let id = |text: &str| library.triggered_by(text).map(|j| j.id.as_str());
    assert_eq!(
        id("hi, where's my order JM-204518837?"),
        Some("order-status")
    );
    assert_eq!(id("Can you track my package"), Some("order-status"));
    assert_eq!(id("Track an order"), Some("order-status"));
    assert_eq!(id("I want to return an item"), Some("return-item"));
    assert_eq!(id("I'd like a refund for my order"), Some("return-item"));
    assert_eq!(id("I lost my card"), Some("lost-card"));
    assert_eq!(
        id("I need to change the delivery address"),
        Some("change-address")
    );
    assert_eq!(id("how long does shipping take"), None);
    assert_eq!(id("what are your store hours"), None);
}

#[test]
fn journey_mistakes_are_reported_with_file_and_line() {
    let errors = mistakes(
        "id: broken\ntitle: Broken\ntriggers: [break it]\nsteps:\n  - id: a\n    ask: Name?\n    slot: name\n    type: text\n    next: nowhere\n  - id: b\n    say: Hello {nobody}\n",
    );
    assert!(
        errors
            .iter()
            .any(|e| e == "j.yaml:9: unknown step `nowhere`"),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("j.yaml:10:") && e.contains("`{nobody}`")),
        "{errors:?}"
    );

    let errors = mistakes(
        "id: u\ntitle: U\ntriggers: [x]\nsteps:\n  - id: a\n    say: hi\n    end: true\n  - id: orphan\n    say: never\n",
    );
    assert_eq!(errors, ["j.yaml:8: step `orphan` can never be reached"]);

    let errors = mistakes(
        "id: t\ntitle: T\ntriggers: [x]\nsteps:\n  - id: a\n    ask: Colour?\n    slot: c\n    type: colour\n",
    );
    assert!(
        errors[0].starts_with("j.yaml:8: unknown slot type `colour`"),
        "{errors:?}"
    );

    let errors =
        mistakes("id: m\ntitle: M\ntriggers: [x]\nsteps:\n  - id: a\n    action: lookup_order\n");
    assert!(
        errors[0].contains("needs slot `order_number`"),
        "{errors:?}"
    );

    let errors = mistakes("id: y\ntitle: Y\ntriggers: [x]\nsteps:\n  - id: a\n    sya: hi\n");
    assert!(
        errors[0].starts_with("j.yaml:6:") && errors[0].contains("sya"),
        "{errors:?}"
    );

    let errors = mistakes(
        "id: two\ntitle: T\ntriggers: [x]\nsteps:\n  - id: a\n    say: hi\n    handoff: note\n",
    );
    assert!(errors[0].contains("exactly one of"), "{errors:?}");

    let errors = mistakes("id: bad\ntitle: B\ntriggers: ['a |']\nsteps:\n  - id: a\n    say: hi\n");
    assert!(errors[0].starts_with("j.yaml:3: trigger"), "{errors:?}");
}

#[test]
fn a_bad_file_does_not_stop_the_others() {
    let good = "id: good\ntitle: Good\ntriggers: [good]\nsteps:\n  - id: a\n    say: hi\n";
    let (library, errors) = Library::from_sources(&[
        ("a.yaml".into(), "id: [".into()),
        ("b.yaml".into(), good.into()),
        ("c.yaml".into(), good.into()),
    ]);
    assert_eq!(library.journeys().len(), 1);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[1]
            .to_string()
            .starts_with("c.yaml:1: journey id `good` is used")
    );
}

fn order(number: &str, status: OrderStatus) -> Order {
    Order {
        number: number.into(),
        status,
        placed_at: time::macros::datetime!(2026-11-10 12:00 UTC),
        delivered_at: None,
        items: vec![
            OrderItem {
                sku: "MUG".into(),
                name: "Stoneware Mug".into(),
                quantity: 1,
                price_cents: 1200,
                category: Some("kitchen".into()),
                final_sale: false,
            },
            OrderItem {
                sku: "TV".into(),
                name: "Aurora 55-inch TV".into(),
                quantity: 1,
                price_cents: 54999,
                category: Some("electronics".into()),
                final_sale: false,
            },
        ],
        total_cents: 56199,
        currency: "USD".into(),
        delivery_address: Some(Address {
            name: None,
            line1: "1 Main St".into(),
            line2: None,
            city: "Columbus".into(),
            region: Some("OH".into()),
            postal_code: "43215".into(),
            country: "US".into(),
        }),
        tracking: Some(Tracking {
            carrier: "UPS".into(),
            number: "1Z999".into(),
            url: Some("https://ups.example/1Z999".into()),
        }),
    }
}

struct Chat {
    library: Library,
    crm: MemoryCrm,
    memory: Memory,
}

impl Chat {
    fn new() -> Self {
        let crm = MemoryCrm::default();
        crm.add_order(
            None,
            "ana@example.com",
            order("JM-204518837", OrderStatus::Shipped),
        );
        crm.add_order(
            None,
            "ana@example.com",
            order("JM-204519876", OrderStatus::Received),
        );
        Self {
            library: sample(),
            crm,
            memory: Memory::new(warmline_domain::conversation::now()),
        }
    }

    async fn say(&mut self, text: &str) -> run::Output {
        let ctx = Ctx {
            crm: Some(&self.crm),
            customer: None,
            conversation: ConversationId::new(),
            now: warmline_domain::conversation::now(),
        };
        match self.memory.journey.clone() {
            Some(p) => {
                let journey = self.library.get(&p.journey).unwrap().clone();
                run::resume(&journey, &mut self.memory, text, &ctx).await
            }
            None => {
                let journey = self.library.triggered_by(text).expect("a journey").clone();
                run::start(&journey, &mut self.memory, text, &ctx).await
            }
        }
    }

    fn step(&self) -> Option<&str> {
        self.memory.journey.as_ref().map(|p| p.step.as_str())
    }
}

#[tokio::test]
async fn order_status_asks_only_what_it_does_not_know_and_reports_tracking() {
    let mut chat = Chat::new();
    let out = chat.say("where is my order JM-204518837").await;
    assert_eq!(
        chat.step(),
        Some("email"),
        "the order number was in the message"
    );
    assert!(out.text().contains("JM-204518837"), "{}", out.text());

    let out = chat.say("not an email").await;
    assert!(
        out.rejected && out.text().contains("name@example.com"),
        "{}",
        out.text()
    );
    let out = chat.say("Ana@Example.com").await;
    assert_eq!(out.status, Status::Finished);
    let text = out.text();
    assert!(
        text.contains("on its way with UPS") && text.contains("1Z999"),
        "{text}"
    );
    assert_eq!(out.cite, ["order-status"]);
    assert!(chat.memory.journey.is_none());
}

#[tokio::test]
async fn an_unknown_order_is_asked_again_and_a_crm_outage_is_explained() {
    let mut chat = Chat::new();
    chat.say("track my order").await;
    chat.say("JM-111111111").await;
    let out = chat.say("ana@example.com").await;
    assert!(
        out.text().contains("couldn't find order JM-111111111"),
        "{}",
        out.text()
    );
    assert_eq!(chat.step(), Some("order"), "asks for the number again");

    chat.crm.set_failing(true);
    chat.say("JM-204518837").await;
    let out = chat.say("ana@example.com").await;
    assert!(
        out.text().contains("can't reach our order system"),
        "{}",
        out.text()
    );
    assert_eq!(out.status, Status::Finished);
}

#[tokio::test]
async fn repeated_wrong_answers_offer_a_person() {
    let mut chat = Chat::new();
    chat.say("where is my parcel").await;
    let first = chat.say("I don't know it").await;
    assert!(
        first.rejected
            && !first
                .suggestions
                .iter()
                .any(|s| s == crate::TALK_TO_A_PERSON)
    );
    let second = chat.say("no idea").await;
    assert!(
        second
            .suggestions
            .iter()
            .any(|s| s == crate::TALK_TO_A_PERSON)
    );
    assert_eq!(chat.memory.journey.as_ref().unwrap().failures, 2);
}

#[tokio::test]
async fn returns_pick_an_item_from_the_order_and_follow_the_crm_rules() {
    let mut chat = Chat::new();
    chat.crm.set_eligibility(
        "JM-204518837",
        "TV",
        ReturnEligibility {
            eligible: false,
            reason: "The return window ended on November 1, 2026.".into(),
            return_by: None,
        },
    );
    chat.say("I want to return something").await;
    chat.say("JM-204518837").await;
    let out = chat.say("ana@example.com").await;
    assert_eq!(out.suggestions, ["Stoneware Mug", "Aurora 55-inch TV"]);
    assert!(
        out.text().contains("2. Aurora 55-inch TV"),
        "{}",
        out.text()
    );
    let out = chat.say("2").await;
    assert!(
        out.text().contains("window ended on November 1"),
        "{}",
        out.text()
    );
    assert_eq!(out.status, Status::Finished);
}

#[tokio::test]
async fn an_address_changes_only_after_the_customer_confirms() {
    let mut chat = Chat::new();
    chat.say("I need to change the delivery address on JM-204519876")
        .await;
    let out = chat.say("ana@example.com").await;
    assert!(
        out.text().contains("1 Main St, Columbus OH 43215"),
        "{}",
        out.text()
    );
    chat.say("22 Elm Street").await;
    chat.say("Dayton").await;
    chat.say("oh").await;
    let out = chat.say("45402").await;
    assert!(
        out.text().contains("22 Elm Street, Dayton OH 45402"),
        "{}",
        out.text()
    );
    assert_eq!(out.suggestions, ["Yes", "No"]);
    let out = chat.say("maybe").await;
    assert!(out.rejected);
    let out = chat.say("yes").await;
    assert!(out.text().starts_with("Done"), "{}", out.text());
    let owner = warmline_domain::OrderOwner::Email("ana@example.com".into());
    use warmline_domain::CrmConnector;
    let changed = chat
        .crm
        .order("JM-204519876", &owner)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(changed.delivery_address.unwrap().line1, "22 Elm Street");
}

#[tokio::test]
async fn a_shipped_order_cannot_change_address_and_no_changes_nothing() {
    let mut chat = Chat::new();
    chat.say("wrong address on order JM-204518837").await;
    let out = chat.say("ana@example.com").await;
    assert!(out.text().contains("already on its way"), "{}", out.text());

    chat.say("change my delivery address for JM-204519876")
        .await;
    for answer in ["ana@example.com", "9 Oak Ave", "Toronto", "ON", "m5v 2t6"] {
        chat.say(answer).await;
    }
    let out = chat.say("no").await;
    assert!(
        out.text().contains("haven't changed anything"),
        "{}",
        out.text()
    );
    let owner = warmline_domain::OrderOwner::Email("ana@example.com".into());
    use warmline_domain::CrmConnector;
    let kept = chat
        .crm
        .order("JM-204519876", &owner)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.delivery_address.unwrap().line1, "1 Main St");
}

#[tokio::test]
async fn a_lost_card_with_strange_charges_goes_to_a_person() {
    let mut chat = Chat::new();
    let out = chat.say("I lost my card").await;
    assert_eq!(out.suggestions.len(), 3);
    let (_, step) = chat.library.get("lost-card").unwrap().step("what").unwrap();
    assert!(step.experience_critical);
    let out = chat.say("1").await;
    assert!(out.text().contains("Lock card"), "{}", out.text());
    let out = chat.say("yes").await;
    match out.status {
        Status::Handoff { note } => assert!(note.contains("Lost it"), "{note}"),
        other => panic!("expected a handoff, got {other:?}"),
    }
}
