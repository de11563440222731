//! `{slot}` placeholders in journey texts.

use serde_json::Value;
use std::collections::BTreeMap;

/// The slot names a text refers to, in order.
pub fn names(text: &str) -> impl Iterator<Item = &str> {
    text.split('{').skip(1).filter_map(|rest| {
        let name = rest.split_once('}')?.0;
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        valid.then_some(name)
    })
}

/// `text` with each `{slot}` replaced by its value: strings as they are, `true`/`false` as
/// yes/no, lists of options by their labels joined with commas; an unknown slot by nothing.
pub fn render(text: &str, slots: &BTreeMap<String, Value>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.split_once('}') {
            Some((name, tail)) if names(&rest[open..]).next() == Some(name) => {
                out.push_str(&show(slots.get(name)));
                rest = tail;
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// How a slot value reads in a sentence.
pub fn show(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => if *b { "yes" } else { "no" }.to_owned(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i.get("label") {
                Some(label) => show(Some(label)),
                None => show(Some(i)),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn placeholders_are_filled_and_other_braces_kept() {
        let slots: BTreeMap<String, Value> = [
            ("order_number".to_owned(), json!("JM-1")),
            ("ok".to_owned(), json!(true)),
            (
                "items".to_owned(),
                json!([{"value": "a", "label": "Duvet"}, {"value": "b", "label": "Towels"}]),
            ),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            render(
                "Order {order_number}: {items}; ok {ok}; {missing}|{not a slot}",
                &slots
            ),
            "Order JM-1: Duvet, Towels; ok yes; |{not a slot}"
        );
        assert_eq!(names("a {x.y} {b c} {}").collect::<Vec<_>>(), ["x.y"]);
    }
}
