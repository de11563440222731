use super::*;
use time::macros::datetime;

/// The shipped policy with `from` replaced by `to` (which must occur).
fn edited(from: &str, to: &str) -> Result<Policy, PolicyError> {
    assert!(
        DEFAULT_POLICY.contains(from),
        "{from:?} is not in the policy"
    );
    Policy::from_toml(&DEFAULT_POLICY.replacen(from, to, 1), "test.toml")
}

fn field_of(from: &str, to: &str) -> (String, String) {
    let err = edited(from, to).unwrap_err();
    (err.field().unwrap_or_default().to_owned(), err.to_string())
}

#[test]
fn the_shipped_policy_is_valid_and_complete() {
    let p = Policy::default();
    let topics: Vec<&str> = p.topics().collect();
    for t in [
        "fraud",
        "wrong_payee",
        "locked_account",
        "bereavement",
        "legal",
        "safety",
        "cancellation",
    ] {
        assert!(topics.contains(&t), "{t}");
    }
    assert_eq!(p.threshold(), 1.0);
    assert_eq!(p.threshold_for(Some("vip")), 0.5);
    assert!(p.origin().contains("built in"));
}

#[test]
fn the_shipped_hours_are_customer_care_hours() {
    let hours = Policy::default().hours().clone();
    // 8 am to 10 pm ET, every day: -05:00 in winter, -04:00 in summer.
    assert!(hours.is_open(datetime!(2026-07-06 12:00 UTC)));
    assert!(!hours.is_open(datetime!(2026-07-06 11:59 UTC)));
    assert!(hours.is_open(datetime!(2026-12-06 13:00 UTC)));
    assert!(!hours.is_open(datetime!(2026-12-06 12:59 UTC)));
    assert!(!hours.is_open(datetime!(2026-12-07 03:30 UTC)));
    // Closed on Christmas Day; open again on Boxing Day at 8.
    assert!(!hours.is_open(datetime!(2026-12-25 15:00 UTC)));
    let next = hours.next_open(datetime!(2026-12-25 15:00 UTC)).unwrap();
    assert_eq!(next, datetime!(2026-12-26 08:00 -05:00));
}

#[test]
fn a_type_error_names_the_file_line_and_field() {
    let err = edited("threshold = 1.0", "threshold = \"high\"").unwrap_err();
    let PolicyError::Parse {
        origin,
        field,
        line,
        ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(
        (origin.as_str(), field.as_str()),
        ("test.toml", "decision.threshold")
    );
    let expected_line = DEFAULT_POLICY
        .lines()
        .position(|l| l.starts_with("threshold = 1.0"))
        .unwrap()
        + 1;
    assert_eq!(*line, expected_line);
    assert!(
        err.to_string()
            .starts_with(&format!("test.toml:{expected_line}:")),
        "{err}"
    );
}

#[test]
fn unknown_and_missing_settings_are_named() {
    let (field, msg) = field_of(
        "repeated_failure = 1.0",
        "repeated_failure = 1.0\nrepeated_failures = 2.0",
    );
    assert_eq!(field, "weights.repeated_failures", "{msg}");
    assert!(msg.contains("unknown field"), "{msg}");
    let (field, msg) = field_of("lookback = 3", "");
    assert_eq!(field, "repeat", "{msg}");
    assert!(msg.contains("lookback"), "{msg}");
}

#[test]
fn values_out_of_range_are_refused_with_their_field() {
    for (from, to, field) in [
        ("threshold = 1.0", "threshold = 0.0", "decision.threshold"),
        ("threshold = 0.5", "threshold = 11.0", "tiers.vip.threshold"),
        (
            "explicit_request = 1.5",
            "explicit_request = -1.0",
            "weights.explicit_request",
        ),
        ("similarity = 0.6", "similarity = 1.5", "repeat.similarity"),
        ("turns = 3", "turns = 0", "frustration.turns"),
        (
            "remove = []",
            "remove = [\"grumpy\"]",
            "frustration.remove[0]",
        ),
        (
            "\"explicit_request\",\n    \"high_stakes:fraud\"",
            "\"explicit_request\",\n    \"high_stakes:frauds\"",
            "decision.always[1]",
        ),
        (
            "time_zone = \"America/New_York\"",
            "time_zone = \"Eastern\"",
            "hours.time_zone",
        ),
        ("to = \"22:00\"", "to = \"07:00\"", "hours.open[0].to"),
        (
            "route = \"voice\"",
            "route = \"fax\"",
            "channel_rules[1].route",
        ),
        (
            "channels = [\"sms\", \"whatsapp\", \"telegram\"]",
            "channels = [\"pager\"]",
            "channel_rules[1].channels",
        ),
    ] {
        let (got, msg) = field_of(from, to);
        assert_eq!(got, field, "{msg}");
        assert!(msg.starts_with("test.toml: "), "{msg}");
    }
}

#[test]
fn a_channel_rule_naming_an_unknown_topic_is_refused() {
    let (field, msg) = field_of(
        "topics = [\"fraud\", \"locked_account\"]",
        "topics = [\"fraud\", \"locked_acount\"]",
    );
    assert_eq!(field, "channel_rules[1].topics");
    assert!(
        msg.contains("\"locked_acount\"") && msg.contains("locked_account"),
        "{msg}"
    );
}

#[test]
fn a_bad_pattern_names_its_topic_and_position() {
    let (field, msg) = field_of(
        "\"passed_away|passes_away|pass_away|passed_on\",",
        "\"passed_away|passes_away|pass_away|passed_on\",\n    \"@relatives * died\",",
    );
    assert_eq!(field, "topics[3].phrases[1]");
    assert!(
        msg.contains("@relatives") && msg.contains("bereavement"),
        "{msg}"
    );
    let (field, _) = field_of("name = \"privacy\"", "name = \"fraud\"");
    assert_eq!(field, "topics[7].name");
}

#[test]
fn a_missing_file_names_its_path() {
    let err = Policy::load(Path::new("/nonexistent/moments.toml")).unwrap_err();
    assert!(matches!(err, PolicyError::Read { .. }));
    assert!(
        err.to_string().contains("/nonexistent/moments.toml"),
        "{err}"
    );
}

#[test]
fn the_business_can_extend_the_built_in_lexicons() {
    let ctx = |t: &str| super::super::Context::new(t, Channel::Web);
    let detector = |p| super::super::Detector::new(p, None);
    let text = "honestly this service is abysmal, abysmal";
    assert!(
        !detector(Policy::default())
            .assess_phrases(&ctx(text))
            .fired("frustration")
    );
    let p = edited(
        "\"shambolic\" = 0.8",
        "\"shambolic\" = 0.8, \"abysmal\" = 0.9",
    )
    .unwrap();
    assert!(detector(p).assess_phrases(&ctx(text)).fired("frustration"));
    let p = edited(
        "person = [\"card services\"",
        "person = [\"card services\", \"concierge\"",
    )
    .unwrap();
    assert!(
        detector(p)
            .assess_phrases(&ctx("concierge please"))
            .escalate
    );
}
