//! Loading HTTP connector configurations: presets, overrides, and errors that name the setting.

use super::HttpCrmConfig;

fn error(text: &str) -> String {
    HttpCrmConfig::from_toml(text).unwrap_err().to_string()
}

#[test]
fn the_hubspot_preset_is_complete_and_overridable_key_by_key() {
    let config = HttpCrmConfig::from_toml(
        r#"
        preset = "hubspot"
        base_url = "http://127.0.0.1:9"
        timeout_ms = 500
        [auth]
        env = "MY_HUBSPOT_TOKEN"
        [mapping.customer]
        tier = "/properties/customer_tier"
        "#,
    )
    .unwrap();
    assert_eq!(config.preset.as_deref(), Some("hubspot"));
    assert_eq!(config.base_url, "http://127.0.0.1:9");
    let auth = config.auth.as_ref().unwrap();
    assert_eq!(
        (
            auth.header.as_str(),
            auth.prefix.as_str(),
            auth.env.as_str()
        ),
        ("Authorization", "Bearer ", "MY_HUBSPOT_TOKEN"),
        "only env overridden"
    );
    let search = config.operations.find_by_email.as_ref().unwrap();
    assert_eq!(search.method, "POST");
    assert_eq!(search.url, "/crm/v3/objects/contacts/search");
    assert!(
        search.parsed_body.is_some(),
        "the body template is parsed on load"
    );
    assert!(config.operations.find_by_phone.is_some() && config.operations.profile.is_some());
    assert!(
        config.operations.order.is_none(),
        "orders are not HubSpot contacts"
    );
    let fields = &config.mapping.customer;
    assert_eq!(fields["tier"], "/properties/customer_tier");
    assert_eq!(
        fields["first_name"], "/properties/firstname",
        "preset fields kept"
    );
    assert_eq!(
        (
            config.retries,
            config.circuit.failures,
            config.cache.ttl_secs
        ),
        (2, 5, 30)
    );
}

#[test]
fn the_shipped_example_file_loads() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../knowledge/crm/http.example.toml");
    let config = HttpCrmConfig::load(&path).unwrap();
    assert!(config.operations.order.is_some());
}

#[test]
fn mistakes_are_reported_with_the_setting() {
    let base = "base_url = \"https://crm.example\"\n";
    let cases = [
        (
            "preset = \"salesforce\"\nbase_url = \"https://x\"",
            "unknown preset \"salesforce\"",
        ),
        ("base_url = \"ftp://x\"", "base_url"),
        (
            &format!("{base}timeout_ms = 0"),
            "`timeout_ms` must be from 1",
        ),
        (
            &format!("{base}[circuit]\ncooldown_secs = 99999999999"),
            "circuit.cooldown_secs",
        ),
        (&format!("{base}timeout = 5"), "unknown field `timeout`"),
        (
            &format!("{base}[operations.find_by_email]\nurl = \"/c?e={{emial}}\""),
            "operations.find_by_email: `url`: unknown placeholder {emial}",
        ),
        (
            &format!("{base}[operations.find_by_email]\nurl = \"/c\"\nbody = \"{{oops\""),
            "operations.find_by_email: `body`: not JSON",
        ),
        (
            &format!("{base}[operations.profile]\nurl = \"c/{{customer_id}}\""),
            "must start with /",
        ),
        (
            &format!("{base}[mapping.customer]\ntier = \"properties/tier\""),
            "mapping.customer.tier",
        ),
        (
            &format!("{base}[mapping.customer]\nrank = \"/rank\""),
            "mapping.customer.rank: unknown",
        ),
        (
            &format!("{base}[operations.order]\nurl = \"/orders/{{order_number}}\""),
            "`mapping.order` needs `email` or `customer_id`",
        ),
        (
            &format!("{base}[mapping.order_statuses]\nlost = \"gone\""),
            "order_statuses.lost",
        ),
        ("base_url = ", "expected"),
    ];
    for (text, says) in cases {
        let err = error(text);
        assert!(err.contains(says), "{text:?}: {err}");
    }
}
