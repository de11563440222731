//! Slot types: what a journey step asks for, how an answer is checked, and the normalised
//! value kept (an order number in its canonical form, an email in lower case, a date in ISO
//! form...).

use regex::Regex;
use serde_json::Value;
use time::{Date, Duration, Month, OffsetDateTime};

/// What kind of answer a step accepts.
#[derive(Debug, Clone)]
pub enum SlotType {
    /// Any non-empty text of at most 500 characters.
    Text,
    Email,
    /// The business's order number. `pattern` is its canonical form (e.g. `^JM-\d{9}$`):
    /// answers are matched after upper-casing and turning spaces into dashes.
    OrderNumber(Regex),
    /// A phone number: 7 to 15 digits, an optional leading `+`; kept as `+digits` or digits.
    Phone,
    /// A calendar date: `2026-11-20`, `11/20/2026`, `today`, `yesterday`.
    Date,
    /// Yes or no; kept as `true` / `false`.
    YesNo,
    /// One of a list: the step's `options`, or a list slot set by an action
    /// (`options_from`, items `{value, label}`). Kept as the option's value.
    Choice,
    /// A US ZIP code or a Canadian postal code; kept upper-case (`K1A 0B1`).
    PostalCode,
    /// A two-letter state or province code; kept upper-case (`OH`, `ON`).
    Region,
    /// Text matching a regular expression of the journey's own (the whole answer must match).
    Pattern(Regex),
}

/// One option of a choice: what is stored and what the customer sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub value: String,
    pub label: String,
}

impl SlotType {
    /// The type named `name` in a journey file (`pattern` only for `pattern`/`order_number`).
    pub fn parse(name: &str, pattern: Option<&str>) -> Result<Self, String> {
        let regex = |p: &str| {
            Regex::new(&format!("^(?:{p})$")).map_err(|e| format!("bad pattern {p:?}: {e}"))
        };
        Ok(match (name, pattern) {
            ("text", None) => Self::Text,
            ("email", None) => Self::Email,
            ("order_number", p) => Self::OrderNumber(regex(p.unwrap_or(r"[A-Z]{2}-\d{9}"))?),
            ("phone", None) => Self::Phone,
            ("date", None) => Self::Date,
            ("yes_no", None) => Self::YesNo,
            ("choice", None) => Self::Choice,
            ("postal_code", None) => Self::PostalCode,
            ("region", None) => Self::Region,
            ("pattern", Some(p)) => Self::Pattern(regex(p)?),
            ("pattern", None) => return Err("type `pattern` needs a `pattern`".into()),
            (_, Some(_)) => {
                return Err(format!(
                    "`pattern` only goes with type `pattern` or `order_number`, not `{name}`"
                ));
            }
            (other, None) => {
                return Err(format!(
                    "unknown slot type `{other}` (text, email, order_number, phone, date, \
                     yes_no, choice, postal_code, region, pattern)"
                ));
            }
        })
    }

    /// Checks an answer; `Ok` holds the value to keep, `Err` a hint of what was expected.
    pub fn accept(&self, answer: &str, choices: &[Choice], today: Date) -> Result<Value, String> {
        let answer = answer.trim();
        match self {
            Self::Text if !answer.is_empty() && answer.chars().count() <= 500 => {
                Ok(Value::from(answer))
            }
            Self::Text => Err("an answer of at most 500 characters".into()),
            Self::Email => email(answer)
                .map(Value::from)
                .ok_or_else(|| "an email address like name@example.com".into()),
            Self::OrderNumber(re) => find_order_number(re, answer)
                .map(Value::from)
                .ok_or_else(|| "an order number as it appears in your confirmation email".into()),
            Self::Phone => phone(answer)
                .map(Value::from)
                .ok_or_else(|| "a phone number with its area code".into()),
            Self::Date => date(answer, today)
                .map(|d| Value::from(d.to_string()))
                .ok_or_else(|| "a date such as 2026-11-20 or 11/20/2026".into()),
            Self::YesNo => yes_no(answer)
                .map(Value::from)
                .ok_or_else(|| "yes or no".into()),
            Self::Choice => choose(answer, choices)
                .map(|c| Value::from(c.value.clone()))
                .ok_or_else(|| "one of the options (you can type its number)".into()),
            Self::PostalCode => postal_code(answer)
                .map(Value::from)
                .ok_or_else(|| "a ZIP code (12345) or postal code (K1A 0B1)".into()),
            Self::Region
                if answer.len() == 2 && answer.chars().all(|c| c.is_ascii_alphabetic()) =>
            {
                Ok(Value::from(answer.to_uppercase()))
            }
            Self::Region => Err("the two-letter code, like OH, NY or ON".into()),
            Self::Pattern(re) if re.is_match(answer) => Ok(Value::from(answer)),
            Self::Pattern(_) => Err("an answer in the expected format".into()),
        }
    }

    /// Finds a value of this type inside a longer message ("where is JM-204518837?"), so a
    /// journey skips questions the customer already answered. Only for types that can be
    /// recognised unambiguously.
    pub fn find_in(&self, text: &str) -> Option<Value> {
        match self {
            Self::OrderNumber(re) => find_order_number(re, text).map(Value::from),
            Self::Email => text
                .split_whitespace()
                .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
                .find_map(email)
                .map(Value::from),
            _ => None,
        }
    }

    /// The quick replies this type offers.
    pub fn buttons(&self, choices: &[Choice]) -> Vec<String> {
        match self {
            Self::YesNo => vec!["Yes".into(), "No".into()],
            Self::Choice => choices.iter().map(|c| c.label.clone()).collect(),
            _ => Vec::new(),
        }
    }
}

fn email(s: &str) -> Option<String> {
    let s = s.trim().trim_end_matches('.').to_lowercase();
    let (local, domain) = s.split_once('@')?;
    let ok_local = !local.is_empty()
        && local.len() <= 64
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._%+-'".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let ok_domain = labels.len() >= 2
        && domain.len() <= 253
        && labels.iter().all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels.last().is_some_and(|tld| tld.len() >= 2);
    (ok_local && ok_domain).then_some(s)
}

/// The first run of words that, upper-cased and joined with dashes, is an order number:
/// accepts `JM-204518837`, `jm 204518837`, `#JM204518837` when the canonical form has a dash
/// after the letters.
fn find_order_number(re: &Regex, text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric())
                .to_uppercase()
        })
        .filter(|w| !w.is_empty())
        .collect();
    let candidates = words
        .iter()
        .cloned()
        .chain(words.windows(2).map(|p| format!("{}-{}", p[0], p[1])));
    for w in candidates {
        if re.is_match(&w) {
            return Some(w);
        }
        // `JM204518837` → `JM-204518837`
        let split = w.find(|c: char| c.is_ascii_digit()).unwrap_or(0);
        if split > 0 && !w[..split].contains('-') {
            let dashed = format!("{}-{}", &w[..split], &w[split..]);
            if re.is_match(&dashed) {
                return Some(dashed);
            }
        }
    }
    None
}

fn phone(s: &str) -> Option<String> {
    if s.chars()
        .any(|c| !(c.is_ascii_digit() || " +-().".contains(c)))
    {
        return None;
    }
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    if !(7..=15).contains(&digits.len()) {
        return None;
    }
    Some(if s.trim_start().starts_with('+') {
        format!("+{digits}")
    } else {
        digits
    })
}

fn date(s: &str, today: Date) -> Option<Date> {
    let s = s.trim().to_lowercase();
    match s.as_str() {
        "today" => return Some(today),
        "yesterday" => return today.checked_sub(Duration::days(1)),
        _ => {}
    }
    let nums: Vec<&str> = s.split(['-', '/', '.']).collect();
    let [a, b, c] = nums.as_slice() else {
        return None;
    };
    let n = |x: &str| x.trim().parse::<i32>().ok();
    // ISO (2026-11-20) when the first part has four digits, else US order (11/20/2026).
    let (y, m, d) = if a.len() == 4 {
        (n(a)?, n(b)?, n(c)?)
    } else {
        (n(c)?, n(a)?, n(b)?)
    };
    let month = Month::try_from(u8::try_from(m).ok()?).ok()?;
    Date::from_calendar_date(y, month, u8::try_from(d).ok()?).ok()
}

const YES: &[&str] = &[
    "yes",
    "y",
    "yeah",
    "yep",
    "yup",
    "sure",
    "ok",
    "okay",
    "correct",
    "right",
    "please do",
    "go ahead",
    "yes please",
    "that's right",
    "that is right",
    "confirm",
    "do it",
];
const NO: &[&str] = &[
    "no",
    "n",
    "nope",
    "nah",
    "no thanks",
    "no thank you",
    "don't",
    "do not",
    "wrong",
    "incorrect",
    "not now",
    "stop",
];

/// Yes or no, from the common ways of saying them (punctuation and case ignored).
pub fn yes_no(s: &str) -> Option<bool> {
    let s: String = s
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace() || *c == '\'')
        .collect();
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if YES.contains(&s.as_str()) {
        Some(true)
    } else if NO.contains(&s.as_str()) {
        Some(false)
    } else {
        None
    }
}

/// The option the customer picked: by number (1-based), by label or value (case ignored),
/// or by the only label containing what they typed.
pub fn choose<'c>(answer: &str, choices: &'c [Choice]) -> Option<&'c Choice> {
    let a = answer.trim().trim_end_matches('.').to_lowercase();
    if a.is_empty() {
        return None;
    }
    if let Ok(n) = a.parse::<usize>() {
        return n.checked_sub(1).and_then(|i| choices.get(i));
    }
    if let Some(c) = choices
        .iter()
        .find(|c| c.label.to_lowercase() == a || c.value.to_lowercase() == a)
    {
        return Some(c);
    }
    let mut partial = choices
        .iter()
        .filter(|c| a.len() >= 3 && c.label.to_lowercase().contains(&a));
    match (partial.next(), partial.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    }
}

fn postal_code(s: &str) -> Option<String> {
    let compact: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect::<String>()
        .to_uppercase();
    let b = compact.as_bytes();
    if (b.len() == 5 || b.len() == 9) && b.iter().all(u8::is_ascii_digit) {
        return Some(if b.len() == 9 {
            format!("{}-{}", &compact[..5], &compact[5..])
        } else {
            compact
        });
    }
    let canadian = b.len() == 6
        && b.iter().enumerate().all(|(i, c)| {
            if i % 2 == 0 {
                c.is_ascii_alphabetic()
            } else {
                c.is_ascii_digit()
            }
        });
    canadian.then(|| format!("{} {}", &compact[..3], &compact[3..]))
}

/// Today in UTC, for relative dates.
pub fn today() -> Date {
    OffsetDateTime::now_utc().date()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn ok(t: &SlotType, s: &str) -> Value {
        t.accept(s, &[], date!(2026 - 11 - 23)).unwrap()
    }

    #[test]
    fn order_numbers_are_found_in_their_common_spellings() {
        let t = SlotType::parse("order_number", Some(r"JM-\d{9}")).unwrap();
        for s in [
            "JM-204518837",
            "jm 204518837",
            "#JM204518837",
            "it's JM-204518837.",
        ] {
            assert_eq!(ok(&t, s), "JM-204518837", "{s}");
        }
        assert!(t.accept("204518837", &[], today()).is_err());
        assert!(t.accept("JM-2045", &[], today()).is_err());
        assert_eq!(
            t.find_in("where is my order jm-204518837 please"),
            Some(Value::from("JM-204518837"))
        );
    }

    #[test]
    fn emails_dates_phones_and_postal_codes_are_normalised() {
        let email = SlotType::parse("email", None).unwrap();
        assert_eq!(
            ok(&email, " Maya.Thompson@Example.com. "),
            "maya.thompson@example.com"
        );
        for bad in [
            "maya",
            "maya@",
            "@example.com",
            "maya@example",
            "a b@example.com",
        ] {
            assert!(email.accept(bad, &[], today()).is_err(), "{bad}");
        }
        let d = SlotType::parse("date", None).unwrap();
        assert_eq!(ok(&d, "2026-11-20"), "2026-11-20");
        assert_eq!(ok(&d, "11/20/2026"), "2026-11-20");
        assert_eq!(ok(&d, "yesterday"), "2026-11-22");
        assert!(d.accept("2026-02-30", &[], today()).is_err());
        let p = SlotType::parse("phone", None).unwrap();
        assert_eq!(ok(&p, "+1 (614) 555-0101"), "+16145550101");
        assert!(p.accept("call me", &[], today()).is_err());
        let pc = SlotType::parse("postal_code", None).unwrap();
        assert_eq!(ok(&pc, "k1a0b1"), "K1A 0B1");
        assert_eq!(ok(&pc, "43215"), "43215");
        assert!(pc.accept("4321", &[], today()).is_err());
    }

    #[test]
    fn yes_no_and_choices_accept_natural_answers() {
        assert_eq!(yes_no("Yes!"), Some(true));
        assert_eq!(yes_no("go ahead"), Some(true));
        assert_eq!(yes_no("Nope."), Some(false));
        assert_eq!(yes_no("maybe"), None);
        let choices = [
            Choice {
                value: "HOME-DUV-Q".into(),
                label: "Linen Duvet Cover, Queen".into(),
            },
            Choice {
                value: "HOME-TWL-6".into(),
                label: "Bath Towel Set".into(),
            },
        ];
        assert_eq!(choose("2", &choices).unwrap().value, "HOME-TWL-6");
        assert_eq!(
            choose("bath towel set", &choices).unwrap().value,
            "HOME-TWL-6"
        );
        assert_eq!(choose("duvet", &choices).unwrap().value, "HOME-DUV-Q");
        assert_eq!(choose("home-twl-6", &choices).unwrap().value, "HOME-TWL-6");
        assert!(choose("3", &choices).is_none());
        assert!(choose("e", &choices).is_none());
    }

    #[test]
    fn bad_type_declarations_are_explained() {
        assert!(
            SlotType::parse("colour", None)
                .unwrap_err()
                .contains("unknown slot type")
        );
        assert!(
            SlotType::parse("pattern", None)
                .unwrap_err()
                .contains("needs")
        );
        assert!(
            SlotType::parse("email", Some("x"))
                .unwrap_err()
                .contains("only goes")
        );
        assert!(
            SlotType::parse("pattern", Some("("))
                .unwrap_err()
                .contains("bad pattern")
        );
    }
}
