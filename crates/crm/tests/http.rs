//! The HTTP connector against a local server speaking HubSpot's contacts API (plus a small
//! order system): lookups, timeouts, retries, the circuit breaker and the cache, counted by
//! the requests the server really received.

mod fake_crm;

use std::time::{Duration, Instant};
use warmline_crm::{HttpCrm, HttpCrmConfig};
use warmline_domain::{
    Address, Channel, CrmConnector, CrmCustomerRef, CrmError, CustomerIdentity, OrderOwner,
    OrderStatus,
};

const SECRET_ENV: &str = "TEST_HUBSPOT_TOKEN";

/// The HubSpot preset pointed at the fake, with `extra` settings on top.
fn connector(url: &str, extra: &str) -> HttpCrm {
    let text = format!(
        "preset = \"hubspot\"\nbase_url = \"{url}\"\n{extra}\n[auth]\nenv = \"{SECRET_ENV}\"\n"
    );
    let config = HttpCrmConfig::from_toml(&text).unwrap();
    HttpCrm::with_secrets(config, |name| {
        (name == SECRET_ENV).then(|| fake_crm::TOKEN.to_owned())
    })
    .unwrap()
}

fn email(address: &str) -> CustomerIdentity {
    CustomerIdentity {
        channel: Channel::Email,
        external_id: address.into(),
    }
}

#[tokio::test]
async fn hubspot_contacts_are_found_by_email_phone_and_id() {
    let (url, fake) = fake_crm::start().await;
    let crm = connector(&url, "");
    let maya = crm
        .find_customer(&email("Maya.Thompson@example.com"))
        .await
        .unwrap()
        .expect("found by email");
    assert_eq!(maya.reference.0, "501");
    let profile = &maya.profile;
    assert_eq!(profile.name.as_deref(), Some("Maya Thompson"));
    assert_eq!(profile.language.as_deref(), Some("en"));
    assert!(profile.consent.marketing_email, "hs_email_optout is false");
    let value = profile.lifetime_value.as_ref().unwrap();
    assert_eq!((value.cents, value.currency.as_str()), (482_015, "USD"));

    let by_phone = CustomerIdentity {
        channel: Channel::WhatsApp,
        external_id: "whatsapp:+1 (614) 555-0101".into(),
    };
    let found = crm.find_customer(&by_phone).await.unwrap().unwrap();
    assert_eq!(found.reference.0, "501");
    assert_eq!(fake.hits("search:+16145550101"), 1, "searched in E.164");

    let by_id = CustomerIdentity {
        channel: Channel::Api,
        external_id: "501".into(),
    };
    assert_eq!(crm.find_customer(&by_id).await.unwrap().unwrap(), maya);
    let again = crm.profile(&maya.reference).await.unwrap();
    assert_eq!(&again, profile);
}

#[tokio::test]
async fn unknown_customers_are_none_and_a_wrong_token_is_a_configuration_error() {
    let (url, fake) = fake_crm::start().await;
    let crm = connector(&url, "");
    assert_eq!(
        crm.find_customer(&email("nobody@example.com")).await,
        Ok(None)
    );
    let unknown_id = CustomerIdentity {
        channel: Channel::Api,
        external_id: "999".into(),
    };
    assert_eq!(crm.find_customer(&unknown_id).await, Ok(None), "404");
    assert_eq!(fake.hits("get:999"), 1);
    let unknown = CrmCustomerRef("998".into());
    assert_eq!(crm.profile(&unknown).await, Err(CrmError::NotFound));
    let telegram = CustomerIdentity {
        channel: Channel::Telegram,
        external_id: "12345".into(),
    };
    let before = fake.total_hits();
    assert_eq!(crm.find_customer(&telegram).await, Ok(None));
    assert_eq!(
        fake.total_hits(),
        before,
        "platform ids are not sent to the CRM"
    );
    assert!(matches!(
        crm.recent_orders(&unknown, 5).await,
        Err(CrmError::Misconfigured(_))
    ));
    assert!(!crm.capabilities().recent_orders && crm.capabilities().profile);

    let config = HttpCrmConfig::from_toml(&format!(
        "preset = \"hubspot\"\nbase_url = \"{url}\"\n[auth]\nenv = \"{SECRET_ENV}\""
    ))
    .unwrap();
    let wrong = HttpCrm::with_secrets(config.clone(), |_| Some("wrong-token".into())).unwrap();
    let refused = wrong
        .find_customer(&email("maya.thompson@example.com"))
        .await;
    assert!(
        matches!(&refused, Err(CrmError::Misconfigured(m)) if m.contains("credentials")),
        "{refused:?}"
    );
    let missing = HttpCrm::with_secrets(config, |_| None).unwrap_err();
    assert!(missing.to_string().contains(SECRET_ENV), "{missing}");
    assert!(
        !format!("{crm:?}").contains(fake_crm::TOKEN),
        "no secret in Debug"
    );
}

#[tokio::test]
async fn a_slow_crm_is_unavailable_after_the_retries() {
    let (url, fake) = fake_crm::start().await;
    let crm = connector(&url, "timeout_ms = 200\nretries = 2\nbackoff_ms = 10");
    let started = Instant::now();
    let result = crm.find_customer(&email("slow@example.com")).await;
    let elapsed = started.elapsed();
    assert!(
        matches!(result, Err(CrmError::Unavailable(_))),
        "{result:?}"
    );
    assert_eq!(
        fake.hits("search:slow@example.com"),
        3,
        "one try and two retries"
    );
    assert!(
        elapsed >= Duration::from_millis(600) && elapsed < Duration::from_millis(1900),
        "three timeouts of 200 ms, not the server's 2 s: {elapsed:?}"
    );
}

#[tokio::test]
async fn a_500_is_retried_and_the_retry_succeeds() {
    let (url, fake) = fake_crm::start().await;
    let crm = connector(&url, "backoff_ms = 10");
    let found = crm
        .find_customer(&email("flaky@example.com"))
        .await
        .unwrap();
    assert_eq!(found.unwrap().reference.0, "502");
    assert_eq!(fake.hits("search:flaky@example.com"), 2);
}

#[tokio::test]
async fn repeated_failures_open_the_circuit_and_calls_then_fail_fast() {
    let (url, fake) = fake_crm::start().await;
    let crm = connector(
        &url,
        "retries = 2\nbackoff_ms = 10\n[circuit]\nfailures = 3\ncooldown_secs = 60",
    );
    let down = crm.find_customer(&email("down@example.com")).await;
    assert!(matches!(down, Err(CrmError::Unavailable(_))), "{down:?}");
    assert_eq!(fake.hits("search:down@example.com"), 3);

    let before = fake.total_hits();
    let started = Instant::now();
    for address in ["down@example.com", "maya.thompson@example.com"] {
        let result = crm.find_customer(&email(address)).await;
        assert!(
            matches!(result, Err(CrmError::Unavailable(_))),
            "{result:?}"
        );
    }
    assert_eq!(fake.total_hits(), before, "an open circuit sends nothing");
    assert!(started.elapsed() < Duration::from_millis(200), "fails fast");
}

#[tokio::test]
async fn after_the_cool_down_one_good_call_closes_the_circuit() {
    let (url, fake) = fake_crm::start().await;
    let crm = connector(
        &url,
        "retries = 0\n[circuit]\nfailures = 1\ncooldown_secs = 1",
    );
    assert!(crm.find_customer(&email("down@example.com")).await.is_err());
    let maya = email("maya.thompson@example.com");
    assert!(crm.find_customer(&maya).await.is_err(), "open");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(
        crm.find_customer(&maya).await.unwrap().is_some(),
        "the trial call"
    );
    assert!(
        crm.find_customer(&email("nobody@example.com"))
            .await
            .is_ok(),
        "closed again"
    );
    assert_eq!(fake.hits("search:nobody@example.com"), 1);
}

#[tokio::test]
async fn successful_lookups_are_cached_for_a_while() {
    let (url, fake) = fake_crm::start().await;
    let crm = connector(&url, "");
    let maya = email("maya.thompson@example.com");
    let first = crm.find_customer(&maya).await.unwrap();
    let second = crm.clone().find_customer(&maya).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(
        fake.hits("search:maya.thompson@example.com"),
        1,
        "clones share the cache"
    );
    crm.find_customer(&email("nobody@example.com"))
        .await
        .unwrap();
    crm.find_customer(&email("nobody@example.com"))
        .await
        .unwrap();
    assert_eq!(
        fake.hits("search:nobody@example.com"),
        1,
        "no match is an answer too"
    );

    let uncached = connector(&url, "[cache]\nttl_secs = 0");
    uncached.find_customer(&maya).await.unwrap();
    uncached.find_customer(&maya).await.unwrap();
    assert_eq!(fake.hits("search:maya.thompson@example.com"), 3);
}

const ORDERS: &str = r#"
[operations.order]
url = "/orders/{order_number}"
[operations.update_delivery_address]
method = "PATCH"
url = "/orders/{order_number}"
body = '{"ship_to": {"street1": "{address_line1}", "city": "{address_city}", "zip": "{address_postal_code}"}}'
[mapping.order]
number = "/order_number"
status = "/state"
placed_at = "/placed_at"
currency = "/currency"
email = "/customer/email"
customer_id = "/customer/id"
items = "/lines"
address_line1 = "/ship_to/street1"
address_city = "/ship_to/city"
address_region = "/ship_to/state"
address_postal_code = "/ship_to/zip"
address_country = "/ship_to/country"
[mapping.item]
sku = "/sku"
name = "/title"
quantity = "/qty"
price = "/unit_price"
category = "/category"
[mapping.order_statuses]
pending = "received"
in_transit = "shipped"
"#;

#[tokio::test]
async fn orders_are_shown_and_changed_only_for_their_owner_and_before_shipping() {
    let (url, fake) = fake_crm::start().await;
    let crm = connector(&url, ORDERS);
    let maya = OrderOwner::Email("maya.thompson@example.com".into());
    let order = crm.order("JM-2", &maya).await.unwrap().expect("her order");
    assert_eq!(order.status, OrderStatus::Shipped);
    assert_eq!(order.total_cents, 8999);
    let stranger = OrderOwner::Email("liam.chen@example.com".into());
    assert_eq!(crm.order("JM-2", &stranger).await, Ok(None));
    let by_id = OrderOwner::Customer(CrmCustomerRef("501".into()));
    assert!(crm.order("JM-2", &by_id).await.unwrap().is_some());
    assert_eq!(crm.order("JM-404", &maya).await, Ok(None));
    let eligible = crm
        .return_eligibility("JM-2", "HOME-DUV-Q", &maya)
        .await
        .unwrap();
    assert!(
        !eligible.eligible && eligible.reason.contains("arrives"),
        "{eligible:?}"
    );

    let new = Address {
        name: None,
        line1: "77 Oak Street".into(),
        line2: None,
        city: "Columbus".into(),
        region: Some("OH".into()),
        postal_code: "43206".into(),
        country: "US".into(),
    };
    let shipped = crm.update_delivery_address("JM-2", &new, &maya).await;
    assert!(matches!(&shipped, Err(CrmError::Refused(r)) if r.contains("shipped")));
    assert_eq!(fake.hits("patch:JM-2"), 0, "refused before calling the CRM");
    let updated = crm
        .update_delivery_address("JM-1", &new, &maya)
        .await
        .unwrap();
    assert_eq!(updated.delivery_address.unwrap().line1, "77 Oak Street");
    let sent = fake.patches.lock().unwrap()["JM-1"].clone();
    assert_eq!(sent["ship_to"]["street1"], "77 Oak Street");
    assert_eq!(sent["ship_to"]["zip"], "43206");
    let locked = crm.update_delivery_address("JM-3", &new, &maya).await;
    assert!(
        matches!(locked, Err(CrmError::Refused(_))),
        "409 from the CRM: {locked:?}"
    );
    let theirs = crm.update_delivery_address("JM-1", &new, &stranger).await;
    assert_eq!(theirs, Err(CrmError::NotFound));
}
