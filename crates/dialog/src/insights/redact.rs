//! Redaction of personal data from a question before it is stored as a content gap: email
//! addresses, card-like digit runs, phone numbers, order and tracking numbers, and any other
//! long number. Editors need the question, never the customer's details.

use regex::Regex;
use std::sync::LazyLock;

/// (pattern, replacement), applied in this order: a card number is not left to look like a
/// phone number, nor a phone number like an order number.
static RULES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    let rule = |pattern: &str, with| {
        (
            Regex::new(pattern).expect("redaction patterns are valid"),
            with,
        )
    };
    vec![
        rule(r"(?i)[\w.+-]+@[\w-]+(?:\.[\w-]+)+", "[email]"),
        // 13 to 19 digits, maybe grouped by spaces or dashes: a payment card.
        rule(r"\b\d(?:[ -]?\d){12,18}\b", "[card]"),
        // Phone numbers: an optional +, then 7 to 15 digits with usual separators.
        rule(r"\+?\(?\d(?:[ ().-]{0,2}\d){6,14}\b", "[phone]"),
        // Order and tracking numbers: letters then (dash) digits, or #digits.
        rule(r"(?i)\b[a-z]{1,4}-?\d{4,}[a-z0-9]*\b", "[order]"),
        rule(r"#\d{3,}\b", "[order]"),
        rule(r"\b\d{5,}\b", "[number]"),
    ]
});

/// `text` with personal data replaced by `[email]`, `[card]`, `[phone]`, `[order]` or
/// `[number]`.
pub fn redact(text: &str) -> String {
    let (email, rest) = RULES.split_first().expect("rules are not empty");
    let mut out = email.0.replace_all(text, email.1).into_owned();
    out = mixed_codes(&out);
    for (pattern, with) in rest {
        if pattern.is_match(&out) {
            out = pattern.replace_all(&out, *with).into_owned();
        }
    }
    out
}

/// Words mixing letters and at least 5 digits (`JM-204518837`, `1Z9A61E40312345671`): order,
/// tracking or account numbers.
fn mixed_codes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let core = word.trim_matches(|c: char| !c.is_alphanumeric());
        let digits = core.chars().filter(char::is_ascii_digit).count();
        let letters = core.chars().filter(|c| c.is_alphabetic()).count();
        if digits >= 5 && letters > 0 && !core.starts_with('[') {
            out.push_str(&word.replacen(core, "[order]", 1));
        } else {
            out.push_str(word);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn personal_data_is_replaced() {
        let cases = [
            (
                "my email is ana.lopez+shop@example.co.uk, why no refund",
                "my email is [email], why no refund",
            ),
            (
                "card 4111 1111 1111 1111 was charged twice",
                "card [card] was charged twice",
            ),
            ("card 4111-1111-1111-1111 declined", "card [card] declined"),
            (
                "call me on +44 20 7946 0958 please",
                "call me on [phone] please",
            ),
            ("my number is (555) 123-4567", "my number is [phone]"),
            (
                "where is order JM-204518837 and 1Z9A61E40312345671",
                "where is order [order] and [order]",
            ),
            ("order #12345 is late", "order [order] is late"),
            ("my member id 8812345 again", "my member id [phone] again"),
        ];
        for (given, expected) in cases {
            assert_eq!(redact(given), expected, "{given}");
        }
    }

    #[test]
    fn ordinary_questions_are_left_alone() {
        for q in [
            "do you sell gift cards for 25 or 50 dollars",
            "can I return shoes after 30 days",
            "are you open on december 24",
            "what is the 2024 price of membership",
        ] {
            assert_eq!(redact(q), q);
        }
    }
}
