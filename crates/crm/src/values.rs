//! Parsing and normalising the values CRMs exchange: identities (emails, phone numbers), money
//! as text, times (absolute or relative to now), yes/no flags. Shared by the importer and the
//! HTTP mapping, so both read a value the same way.

use time::format_description::well_known::Rfc3339;
use time::{Date, Duration, OffsetDateTime, Time};
use warmline_domain::{Channel, CustomerIdentity};

/// How a connector looks a customer up, from the identity a channel gave.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Lookup {
    /// Lowercased address.
    Email(String),
    /// E.164 (`+15551234567`), from SMS and WhatsApp identities.
    Phone(String),
    /// The business's own customer id (identities on the `api` channel).
    ExternalId(String),
    /// A platform id (web session, Direct Line, Telegram, Slack), matched only exactly.
    Other(Channel, String),
}

impl Lookup {
    /// `None` when the identity can't be a valid key (an email or phone that doesn't parse).
    pub(crate) fn from_identity(identity: &CustomerIdentity) -> Option<Self> {
        let id = identity.external_id.trim();
        match identity.channel {
            Channel::Email => normalize_email(id).map(Self::Email),
            Channel::Sms | Channel::WhatsApp => normalize_phone(id).map(Self::Phone),
            Channel::Api => (!id.is_empty()).then(|| Self::ExternalId(id.to_owned())),
            other => (!id.is_empty()).then(|| Self::Other(other, id.to_owned())),
        }
    }

    /// Short name for logs (never the value itself).
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Email(_) => "email",
            Self::Phone(_) => "phone",
            Self::ExternalId(_) => "external_id",
            Self::Other(..) => "platform_id",
        }
    }
}

/// Lowercased, trimmed; `None` unless it looks like `local@domain.tld`.
pub(crate) fn normalize_email(raw: &str) -> Option<String> {
    let email = raw.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let valid = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !email.chars().any(char::is_whitespace);
    valid.then_some(email)
}

/// E.164 with a leading `+`. Ten-digit numbers (and eleven starting with 1) are North American
/// (`+1`): Juniper Market serves the US and Canada. A `whatsapp:` prefix (Twilio) is dropped;
/// spaces, dots, dashes and parentheses are ignored. `None` for anything else.
pub(crate) fn normalize_phone(raw: &str) -> Option<String> {
    let s = raw.trim();
    let s = s.strip_prefix("whatsapp:").unwrap_or(s).trim();
    let plus = s.starts_with('+');
    let body = if plus { &s[1..] } else { s };
    if !body
        .chars()
        .all(|c| c.is_ascii_digit() || " .-()".contains(c))
    {
        return None;
    }
    let digits: String = body.chars().filter(char::is_ascii_digit).collect();
    match (plus, digits.len()) {
        (false, 10) => Some(format!("+1{digits}")),
        (false, 11) if digits.starts_with('1') => Some(format!("+{digits}")),
        (true, 8..=15) => Some(format!("+{digits}")),
        _ => None,
    }
}

/// A decimal amount in major units (`129.99`, `-5`, `0.5`) as cents. At most two decimals
/// (more only if they are zeros); no thousands separators, no currency signs.
pub(crate) fn parse_cents(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let bad = || format!("{t:?} is not an amount like 129.99");
    let (negative, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !all_digits(whole) || !all_digits(frac) {
        return Err(bad());
    }
    if frac.len() > 2 && frac[2..].chars().any(|c| c != '0') {
        return Err(format!("{t:?} has more than two decimals"));
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let frac_cents = match frac.get(..2).unwrap_or(frac) {
        "" => 0,
        f if f.len() == 1 => f.parse::<i64>().map_err(|_| bad())? * 10,
        f => f.parse::<i64>().map_err(|_| bad())?,
    };
    let cents = whole
        .checked_mul(100)
        .and_then(|c| c.checked_add(frac_cents))
        .ok_or_else(|| format!("{t:?} is too large"))?;
    Ok(if negative { -cents } else { cents })
}

/// An ISO 4217 code: three ASCII letters, returned uppercase.
pub(crate) fn parse_currency(text: &str) -> Result<String, String> {
    let t = text.trim();
    if t.len() == 3 && t.chars().all(|c| c.is_ascii_alphabetic()) {
        Ok(t.to_ascii_uppercase())
    } else {
        Err(format!("{t:?} is not a currency code like USD"))
    }
}

/// `true`/`false`, `yes`/`no`, `y`/`n`, `1`/`0` (any case).
pub(crate) fn parse_bool(text: &str) -> Result<bool, String> {
    match text.trim().to_lowercase().as_str() {
        "true" | "yes" | "y" | "1" => Ok(true),
        "false" | "no" | "n" | "0" => Ok(false),
        _ => Err(format!(
            "{:?} is not yes/no (true, false, yes, no, 1, 0)",
            text.trim()
        )),
    }
}

/// A time written as RFC 3339 (`2026-03-01T15:00:00Z`), a date (`2026-03-01`, midnight UTC),
/// `now`, or relative to `now`: `-20m`, `-3h`, `-10d`, `-2w` (minutes, hours, days, weeks
/// ago). Relative times keep sample data true whenever it is imported. Millisecond precision.
pub(crate) fn parse_time(text: &str, now: OffsetDateTime) -> Result<OffsetDateTime, String> {
    let t = text.trim();
    let parsed = if t == "now" {
        Some(now)
    } else if let Some(ago) = t.strip_prefix('-') {
        relative(ago).and_then(|d| now.checked_sub(d))
    } else if let Ok(at) = OffsetDateTime::parse(t, &Rfc3339) {
        Some(at)
    } else {
        let date_format = time::macros::format_description!("[year]-[month]-[day]");
        Date::parse(t, &date_format)
            .ok()
            .map(|d| d.with_time(Time::MIDNIGHT).assume_utc())
    };
    let at = parsed.ok_or_else(|| {
        format!(
            "{t:?} is not a time: write 2026-03-01T15:00:00Z, 2026-03-01, now, or a time ago \
             like -20m, -3h, -10d, -2w"
        )
    })?;
    Ok(to_millis_precision(at))
}

fn relative(ago: &str) -> Option<Duration> {
    let unit = ago.chars().last()?;
    let amount: i64 = ago[..ago.len() - unit.len_utf8()].parse().ok()?;
    let minutes = match unit {
        'm' => 1,
        'h' => 60,
        'd' => 24 * 60,
        'w' => 7 * 24 * 60,
        _ => return None,
    };
    // At most a century back: beyond that it is a typo, and the arithmetic stays in range.
    const CENTURY_MINUTES: i64 = 100 * 366 * 24 * 60;
    amount
        .checked_mul(minutes)
        .filter(|m| (0..=CENTURY_MINUTES).contains(m))
        .map(Duration::minutes)
}

/// Drops sub-millisecond precision: what the store keeps, so values read back compare equal.
pub(crate) fn to_millis_precision(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(t.millisecond() as u32 * 1_000_000)
        .unwrap_or(t)
}

pub(crate) fn to_millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

pub(crate) fn from_millis(ms: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
}

/// Trimmed, `None` when empty.
pub(crate) fn non_empty(text: Option<&str>) -> Option<String> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn phones_normalise_to_e164_and_junk_is_refused() {
        for raw in [
            "(614) 555-0101",
            "614.555.0101",
            "1 614 555 0101",
            "+1 614-555-0101",
        ] {
            assert_eq!(
                normalize_phone(raw).as_deref(),
                Some("+16145550101"),
                "{raw}"
            );
        }
        assert_eq!(
            normalize_phone("whatsapp:+447700900123").as_deref(),
            Some("+447700900123")
        );
        for junk in [
            "",
            "555-0101",
            "call me",
            "+1 614 555 0101 ext 2",
            "++16145550101",
        ] {
            assert_eq!(normalize_phone(junk), None, "{junk}");
        }
    }

    #[test]
    fn emails_are_lowercased_and_checked() {
        assert_eq!(
            normalize_email(" Maya.T@Example.COM ").as_deref(),
            Some("maya.t@example.com")
        );
        for junk in [
            "maya",
            "@example.com",
            "maya@example",
            "ma ya@example.com",
            "a@b@c.d",
        ] {
            assert_eq!(normalize_email(junk), None, "{junk}");
        }
    }

    #[test]
    fn identities_pick_the_lookup_by_channel() {
        let id = |channel, external_id: &str| CustomerIdentity {
            channel,
            external_id: external_id.into(),
        };
        assert_eq!(
            Lookup::from_identity(&id(Channel::WhatsApp, "whatsapp:+16145550101")),
            Some(Lookup::Phone("+16145550101".into()))
        );
        assert_eq!(
            Lookup::from_identity(&id(Channel::Api, " JMC-1001 ")),
            Some(Lookup::ExternalId("JMC-1001".into()))
        );
        assert_eq!(Lookup::from_identity(&id(Channel::Email, "nope")), None);
        assert_eq!(Lookup::from_identity(&id(Channel::Telegram, "")), None);
    }

    #[test]
    fn amounts_parse_exactly_without_floats() {
        let ok = [
            ("129.99", 12999),
            ("0.5", 50),
            (".5", 50),
            ("-5", -500),
            ("12.500", 1250),
            ("4820.15", 482015),
        ];
        for (text, cents) in ok {
            assert_eq!(parse_cents(text), Ok(cents), "{text}");
        }
        for junk in [
            "",
            "-",
            ".",
            "12.345",
            "1,299.00",
            "$5",
            "1e3",
            "99999999999999999999",
        ] {
            assert!(parse_cents(junk).is_err(), "{junk}");
        }
    }

    #[test]
    fn times_are_absolute_dates_or_relative_to_now() {
        let now = datetime!(2030-06-15 12:00:00.123456 UTC);
        let at = |t| parse_time(t, now);
        assert_eq!(at("-10d"), Ok(datetime!(2030-06-05 12:00:00.123 UTC)));
        assert_eq!(at("-20m"), Ok(datetime!(2030-06-15 11:40:00.123 UTC)));
        assert_eq!(at("-2w"), Ok(datetime!(2030-06-01 12:00:00.123 UTC)));
        assert_eq!(at("2026-03-01"), Ok(datetime!(2026-03-01 00:00 UTC)));
        assert_eq!(
            at("2026-03-01T15:00:00-05:00"),
            Ok(datetime!(2026-03-01 20:00 UTC))
        );
        for junk in [
            "",
            "-10",
            "-d",
            "-10y",
            "yesterday",
            "2026-13-01",
            "-99999999999999d",
        ] {
            let err = at(junk).unwrap_err();
            assert!(err.contains("-10d"), "{junk}: {err}");
        }
    }

    #[test]
    fn flags_and_currencies() {
        assert_eq!(parse_bool(" Yes "), Ok(true));
        assert_eq!(parse_bool("0"), Ok(false));
        assert!(parse_bool("maybe").is_err());
        assert_eq!(parse_currency("cad"), Ok("CAD".into()));
        assert!(parse_currency("dollars").is_err());
    }

    proptest::proptest! {
        #[test]
        fn amounts_round_trip_through_text(cents in -10_000_000_000i64..10_000_000_000) {
            let sign = if cents < 0 { "-" } else { "" };
            let text = format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100);
            proptest::prop_assert_eq!(parse_cents(&text), Ok(cents));
        }

        #[test]
        fn parsers_never_panic_on_any_text(text in "\\PC{0,40}") {
            let now = OffsetDateTime::now_utc();
            let _ = (parse_cents(&text), parse_time(&text, now), parse_bool(&text));
            let _ = (normalize_phone(&text), normalize_email(&text), parse_currency(&text));
        }

        #[test]
        fn phones_normalise_to_one_form(digits in "[2-9][0-9]{9}") {
            let pretty = format!("({}) {}-{}", &digits[..3], &digits[3..6], &digits[6..]);
            let expected = format!("+1{digits}");
            proptest::prop_assert_eq!(normalize_phone(&pretty), Some(expected.clone()));
            proptest::prop_assert_eq!(normalize_phone(&expected), Some(expected));
        }
    }
}
