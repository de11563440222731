//! `{name}` placeholders in URL and body templates. In URLs values are percent-encoded (so an
//! email or `+1` phone can't change the path or query); in JSON bodies they are substituted
//! inside string values only, after parsing, so a value can never break the JSON. A string
//! that is exactly one placeholder of a number (`"{limit}"`) becomes a JSON number.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

/// Everything but RFC 3986 unreserved characters is encoded.
const VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One value for a placeholder.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Var {
    Text(String),
    Number(i64),
}

impl Var {
    fn text(&self) -> String {
        match self {
            Self::Text(t) => t.clone(),
            Self::Number(n) => n.to_string(),
        }
    }
}

/// The values of one request's placeholders; absent ones render empty.
#[derive(Debug, Clone, Default)]
pub(crate) struct Vars(Vec<(&'static str, Var)>);

impl Vars {
    pub(crate) fn text(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.0.push((name, Var::Text(value.into())));
        self
    }

    pub(crate) fn number(mut self, name: &'static str, value: i64) -> Self {
        self.0.push((name, Var::Number(value)));
        self
    }

    fn get(&self, name: &str) -> Option<&Var> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

/// The placeholders in `text`, in order: `{` + lowercase letters, digits, `_` + `}`. Other
/// braces are literal text.
fn placeholders(text: &str) -> Vec<(usize, usize, &str)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(open) = text[from..].find('{').map(|i| i + from) {
        let Some(close) = text[open..].find('}').map(|i| i + open) else {
            break;
        };
        let name = &text[open + 1..close];
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if valid {
            found.push((open, close + 1, name));
            from = close + 1;
        } else {
            from = open + 1;
        }
    }
    found
}

pub(crate) fn check_placeholders(text: &str, allowed: &[&str]) -> Result<(), String> {
    for (_, _, name) in placeholders(text) {
        if !allowed.contains(&name) {
            return Err(format!(
                "unknown placeholder {{{name}}}; here you can use {}",
                allowed
                    .iter()
                    .map(|a| format!("{{{a}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    Ok(())
}

fn substitute(text: &str, vars: &Vars, encode: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (start, end, name) in placeholders(text) {
        out.push_str(&text[last..start]);
        let value = vars.get(name).map(Var::text).unwrap_or_default();
        if encode {
            out.extend(utf8_percent_encode(&value, VALUE));
        } else {
            out.push_str(&value);
        }
        last = end;
    }
    out.push_str(&text[last..]);
    out
}

/// `base` + the URL template with its values percent-encoded.
pub(crate) fn url(base: &str, template: &str, vars: &Vars) -> String {
    format!(
        "{}{}",
        base.trim_end_matches('/'),
        substitute(template, vars, true)
    )
}

/// A parsed JSON body template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Body(Value);

impl Body {
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        serde_json::from_str(text)
            .map(Self)
            .map_err(|e| format!("not JSON: {e}"))
    }

    pub(crate) fn check_placeholders(&self, allowed: &[&str]) -> Result<(), String> {
        fn walk(v: &Value, allowed: &[&str]) -> Result<(), String> {
            match v {
                Value::String(s) => check_placeholders(s, allowed),
                Value::Array(items) => items.iter().try_for_each(|i| walk(i, allowed)),
                Value::Object(map) => map.values().try_for_each(|i| walk(i, allowed)),
                _ => Ok(()),
            }
        }
        walk(&self.0, allowed)
    }

    pub(crate) fn render(&self, vars: &Vars) -> String {
        fn walk(v: &Value, vars: &Vars) -> Value {
            match v {
                Value::String(s) => {
                    let whole = placeholders(s);
                    if let [(0, end, name)] = whole.as_slice()
                        && *end == s.len()
                        && let Some(Var::Number(n)) = vars.get(name)
                    {
                        return Value::from(*n);
                    }
                    Value::String(substitute(s, vars, false))
                }
                Value::Array(items) => Value::Array(items.iter().map(|i| walk(i, vars)).collect()),
                Value::Object(map) => Value::Object(
                    map.iter()
                        .map(|(k, i)| (k.clone(), walk(i, vars)))
                        .collect(),
                ),
                other => other.clone(),
            }
        }
        walk(&self.0, vars).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_values_are_percent_encoded_and_cannot_escape_the_path() {
        let vars = Vars::default()
            .text("email", "ana+crm@example.com")
            .text("order_number", "JM-1/../admin?x=1");
        assert_eq!(
            url("https://crm.example/", "/contacts?email={email}", &vars),
            "https://crm.example/contacts?email=ana%2Bcrm%40example.com"
        );
        assert_eq!(
            url("https://crm.example", "/orders/{order_number}", &vars),
            "https://crm.example/orders/JM-1%2F..%2Fadmin%3Fx%3D1"
        );
        assert_eq!(
            url("https://crm.example", "/a/{phone}/{x-y}", &vars),
            "https://crm.example/a//{x-y}",
            "absent values render empty; invalid names are literal"
        );
    }

    #[test]
    fn body_values_stay_inside_json_strings() {
        let body = Body::parse(
            r#"{"filters": [{"value": "{email}"}], "note": "for {email}!", "limit": "{limit}"}"#,
        )
        .unwrap();
        let vars = Vars::default()
            .text("email", "a\"},{\"evil\":1@example.com")
            .number("limit", 5);
        let rendered: Value = serde_json::from_str(&body.render(&vars)).unwrap();
        assert_eq!(
            rendered["filters"][0]["value"],
            "a\"},{\"evil\":1@example.com"
        );
        assert_eq!(rendered["note"], "for a\"},{\"evil\":1@example.com!");
        assert_eq!(rendered["limit"], 5);
    }

    #[test]
    fn unknown_placeholders_are_reported() {
        assert!(check_placeholders("/c/{email}", &["email"]).is_ok());
        let err = check_placeholders("/c/{emial}", &["email", "phone"]).unwrap_err();
        assert!(
            err.contains("{emial}") && err.contains("{email}, {phone}"),
            "{err}"
        );
        let body = Body::parse(r#"{"a": ["{phone}"]}"#).unwrap();
        assert!(body.check_placeholders(&["email"]).is_err());
        assert!(Body::parse("{not json").is_err());
    }
}
