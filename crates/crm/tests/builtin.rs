//! The built-in CRM against a temporary store database holding the sample data
//! (knowledge/crm/customers.json, imported with dates relative to now).

use std::path::PathBuf;
use warmline_crm::import::import;
use warmline_crm::{BuiltinCrm, ReturnRules};
use warmline_domain::{
    Address, Channel, ConversationStore, CrmConnector, CrmCustomerRef, CrmError, CustomerIdentity,
    OrderOwner, OrderStatus,
};
use warmline_store::{Durability, SqliteStore};

fn sample() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../knowledge/crm")
}

fn identity(channel: Channel, id: &str) -> CustomerIdentity {
    CustomerIdentity {
        channel,
        external_id: id.into(),
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: SqliteStore,
    crm: BuiltinCrm,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("warmline.db"), Durability::Process)
        .await
        .unwrap();
    let report = import(store.writer_pool(), &sample()).await.unwrap();
    assert_eq!((report.customers, report.orders, report.cases), (12, 25, 5));
    // Items bought Nov 1–Dec 24 may be returned until January 31: switched off here so that
    // "delivered 45 days ago" is outside the window whatever the date the tests run.
    let rules = ReturnRules {
        holiday: None,
        ..ReturnRules::default()
    };
    let crm =
        BuiltinCrm::new(store.reader_pool().clone(), store.writer_pool().clone()).with_rules(rules);
    Fixture {
        _dir: dir,
        store,
        crm,
    }
}

async fn reference(crm: &BuiltinCrm, email: &str) -> CrmCustomerRef {
    crm.find_customer(&identity(Channel::Email, email))
        .await
        .unwrap()
        .expect("sample customer")
        .reference
}

#[tokio::test]
async fn every_identity_kind_finds_the_same_customer_as_the_store() {
    let f = fixture().await;
    let maya = reference(&f.crm, "Maya.Thompson@Example.com").await;
    for id in [
        identity(Channel::Sms, "(614) 555-0101"),
        identity(Channel::WhatsApp, "whatsapp:+16145550101"),
        identity(Channel::Api, "JMC-1001"),
    ] {
        let found = f.crm.find_customer(&id).await.unwrap().expect("found");
        assert_eq!(found.reference, maya, "{id:?}");
        assert_eq!(found.profile.name.as_deref(), Some("Maya Thompson"));
    }
    // The conversation store knows the same person by the same id.
    let email = identity(Channel::Email, "maya.thompson@example.com");
    let customer = f.store.customer_for_identity(&email, None).await.unwrap();
    assert_eq!(customer.id.to_string(), maya.0);
    let whatsapp = identity(Channel::WhatsApp, "+16145550101");
    let customer = f
        .store
        .customer_for_identity(&whatsapp, None)
        .await
        .unwrap();
    assert_eq!(customer.id.to_string(), maya.0);

    for unknown in [
        identity(Channel::Email, "nobody@example.com"),
        identity(Channel::Email, "not an email"),
        identity(Channel::Sms, "+1 999 555 0100"),
        identity(Channel::Telegram, "123456789"),
    ] {
        assert_eq!(f.crm.find_customer(&unknown).await, Ok(None), "{unknown:?}");
    }
}

#[tokio::test]
async fn profiles_carry_tier_language_consent_and_lifetime_value() {
    let f = fixture().await;
    let maya = reference(&f.crm, "maya.thompson@example.com").await;
    let profile = f.crm.profile(&maya).await.unwrap();
    assert_eq!(profile.tier.as_deref(), Some("vip"));
    assert_eq!(profile.language.as_deref(), Some("en"));
    assert_eq!(profile.membership.as_deref(), Some("juniper_plus"));
    assert!(profile.consent.marketing_email && profile.consent.marketing_sms);
    let value = profile.lifetime_value.unwrap();
    assert_eq!((value.cents, value.currency.as_str()), (482_015, "USD"));

    let sophie = reference(&f.crm, "sophie.tremblay@example.org").await;
    let profile = f.crm.profile(&sophie).await.unwrap();
    assert_eq!(profile.language.as_deref(), Some("fr"));
    assert!(!profile.consent.marketing_email);
    assert_eq!(profile.lifetime_value.unwrap().currency, "CAD");

    let unknown = CrmCustomerRef("no-such-customer".into());
    assert_eq!(f.crm.profile(&unknown).await, Err(CrmError::NotFound));
}

#[tokio::test]
async fn orders_come_newest_first_with_items_tracking_and_open_cases() {
    let f = fixture().await;
    let maya = reference(&f.crm, "maya.thompson@example.com").await;
    let orders = f.crm.recent_orders(&maya, 10).await.unwrap();
    let numbers: Vec<&str> = orders.iter().map(|o| o.number.as_str()).collect();
    assert_eq!(
        numbers,
        [
            "JM-204519876",
            "JM-204519204",
            "JM-204518837",
            "JM-204510022"
        ]
    );
    let duvet = &orders[2];
    assert_eq!(duvet.status, OrderStatus::Delivered);
    assert_eq!(duvet.items.len(), 2);
    assert_eq!(duvet.items[0].sku, "HOME-DUV-Q");
    assert_eq!(duvet.total_cents, 8999 + 3999);
    assert_eq!(duvet.tracking.as_ref().unwrap().carrier, "UPS");
    assert_eq!(duvet.delivery_address.as_ref().unwrap().city, "Columbus");
    let newest_two = f.crm.recent_orders(&maya, 2).await.unwrap();
    assert_eq!(newest_two, orders[..2].to_vec());

    let cases = f.crm.open_cases(&maya).await.unwrap();
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0].id, "CS-50112");
    let liam = reference(&f.crm, "liam.chen@example.com").await;
    assert!(f.crm.open_cases(&liam).await.unwrap().is_empty(), "closed");
    let daniel = reference(&f.crm, "daniel.okafor@example.net").await;
    assert_eq!(
        f.crm.open_cases(&daniel).await.unwrap()[0].status,
        "pending"
    );
}

#[tokio::test]
async fn orders_are_disclosed_only_to_their_owner() {
    let f = fixture().await;
    let maya = OrderOwner::Customer(reference(&f.crm, "maya.thompson@example.com").await);
    let daniel = OrderOwner::Customer(reference(&f.crm, "daniel.okafor@example.net").await);
    let number = "JM-204518837";
    assert!(f.crm.order(number, &maya).await.unwrap().is_some());
    assert!(
        f.crm
            .order(" jm-204518837 ", &maya)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(f.crm.order(number, &daniel).await, Ok(None));
    let by_email = OrderOwner::Email("MAYA.THOMPSON@example.com".into());
    assert!(f.crm.order(number, &by_email).await.unwrap().is_some());
    let wrong_email = OrderOwner::Email("liam.chen@example.com".into());
    assert_eq!(f.crm.order(number, &wrong_email).await, Ok(None));
    let guest = OrderOwner::Email("guest.shopper@example.org".into());
    let order = f.crm.order("JM-204519777", &guest).await.unwrap().unwrap();
    assert_eq!(order.status, OrderStatus::Shipped);
    assert_eq!(f.crm.order("JM-000000000", &maya).await, Ok(None));
}

#[tokio::test]
async fn returns_follow_the_window_the_membership_and_the_item() {
    let f = fixture().await;
    let by = |email: &str| OrderOwner::Email(email.into());
    let maya = by("maya.thompson@example.com");
    let liam = by("liam.chen@example.com");
    let check = |order: &'static str, sku: &'static str, owner: OrderOwner| {
        let crm = f.crm.clone();
        async move { crm.return_eligibility(order, sku, &owner).await }
    };

    let recent = check("JM-204518837", "HOME-DUV-Q", maya.clone())
        .await
        .unwrap();
    assert!(recent.eligible && recent.return_by.is_some(), "{recent:?}");
    let late = check("JM-204513378", "BAG-WKND", liam.clone())
        .await
        .unwrap();
    assert!(
        !late.eligible && late.reason.contains("ended on"),
        "{late:?}"
    );
    let member = check("JM-204510022", "HOME-THR", maya.clone())
        .await
        .unwrap();
    assert!(member.eligible, "Juniper Plus: 60 days, {member:?}");
    let tablet = by("amelie.gagnon@example.org");
    let electronics = check("JM-204517733", "ELEC-TAB10", tablet).await.unwrap();
    assert!(
        !electronics.eligible,
        "electronics: 15 days, {electronics:?}"
    );

    for (sku, says) in [("ACC-WAL-P", "Personalized"), ("APP-DNM-M", "Final sale")] {
        let e = check("JM-204518552", sku, liam.clone()).await.unwrap();
        assert!(!e.eligible && e.reason.contains(says), "{sku}: {e:?}");
    }
    let serum = check("JM-204518552", "BEAUTY-SER", liam.clone())
        .await
        .unwrap();
    assert!(
        serum.eligible && serum.reason.contains("unopened"),
        "{serum:?}"
    );
    let shipped = check("JM-204519204", "ELEC-TV55", maya.clone())
        .await
        .unwrap();
    assert!(
        !shipped.eligible && shipped.reason.contains("arrives"),
        "{shipped:?}"
    );

    let no_sku = check("JM-204518837", "NOPE", maya).await;
    assert_eq!(no_sku, Err(CrmError::NotFound));
    let not_theirs = check("JM-204518837", "HOME-DUV-Q", liam).await;
    assert_eq!(not_theirs, Err(CrmError::NotFound));
}

fn columbus(line1: &str) -> Address {
    Address {
        name: Some("Maya Thompson".into()),
        line1: line1.into(),
        line2: None,
        city: "Columbus".into(),
        region: Some("OH".into()),
        postal_code: "43206".into(),
        country: "US".into(),
    }
}

#[tokio::test]
async fn delivery_address_changes_only_before_the_order_is_packed() {
    let f = fixture().await;
    let maya = OrderOwner::Customer(reference(&f.crm, "maya.thompson@example.com").await);
    let new = columbus("77 Oak Street");
    let updated = f
        .crm
        .update_delivery_address("JM-204519876", &new, &maya)
        .await
        .unwrap();
    assert_eq!(updated.delivery_address.as_ref(), Some(&new));
    let stored = f.crm.order("JM-204519876", &maya).await.unwrap().unwrap();
    assert_eq!(stored.delivery_address, Some(new.clone()));

    let refusal = |r| match r {
        Err(CrmError::Refused(reason)) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    };
    let shipped = f
        .crm
        .update_delivery_address("JM-204519204", &new, &maya)
        .await;
    assert!(refusal(shipped).contains("already shipped"));
    let daniel = OrderOwner::Customer(reference(&f.crm, "daniel.okafor@example.net").await);
    let packing = f
        .crm
        .update_delivery_address("JM-204519341", &new, &daniel)
        .await;
    assert!(refusal(packing).contains("being packed"));
    let canada = Address {
        country: "CA".into(),
        postal_code: "K1P 5J2".into(),
        ..new.clone()
    };
    let abroad = f
        .crm
        .update_delivery_address("JM-204519876", &canada, &maya)
        .await;
    assert!(refusal(abroad).contains("same country"));
    let unchanged = f.crm.order("JM-204519876", &maya).await.unwrap().unwrap();
    assert_eq!(
        unchanged.delivery_address,
        Some(new.clone()),
        "refusals write nothing"
    );

    // A guest, by the email they ordered with; Canadian postal codes are tidied.
    let guest = OrderOwner::Email("jordan.lee@example.org".into());
    let toronto = Address {
        city: "Toronto".into(),
        region: Some("ON".into()),
        postal_code: "m5v2t6".into(),
        ..canada
    };
    let moved = f
        .crm
        .update_delivery_address("JM-204519788", &toronto, &guest)
        .await
        .unwrap();
    assert_eq!(moved.delivery_address.unwrap().postal_code, "M5V 2T6");
    let stranger = f
        .crm
        .update_delivery_address("JM-204519788", &toronto, &maya)
        .await;
    assert_eq!(stranger, Err(CrmError::NotFound));
}

#[tokio::test]
async fn a_closed_database_is_an_outage_not_a_crash() {
    let f = fixture().await;
    f.store.close().await;
    let found = f
        .crm
        .find_customer(&identity(Channel::Email, "maya.thompson@example.com"))
        .await;
    assert!(matches!(found, Err(CrmError::Unavailable(_))), "{found:?}");
}
