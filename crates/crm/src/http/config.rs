//! The HTTP connector's configuration: a TOML file, optionally on top of a preset
//! (`preset = "hubspot"`). The file is merged into the preset key by key, so one line
//! overrides one setting. Checked on load: unknown keys, bad templates and bad field paths
//! are errors that name the setting.

use super::mapping::{CASE_FIELDS, CUSTOMER_FIELDS, ITEM_FIELDS, ORDER_FIELDS};
use super::template::{self, Body};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

const HUBSPOT: &str = include_str!("presets/hubspot.toml");

/// The configuration could not be used; the message names the file or setting.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpConfigError(String);

/// How to reach and read an HTTP/REST CRM. See `knowledge/README.md` for the file format and
/// `knowledge/crm/http.example.toml` for an example.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpCrmConfig {
    /// The preset this configuration was built on, if any.
    #[serde(default)]
    pub preset: Option<String>,
    /// `https://api.example.com`; operation URLs are appended to it.
    pub base_url: String,
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// Time allowed for one request, connection included.
    #[serde(default = "defaults::timeout_ms")]
    pub timeout_ms: u64,
    /// Further attempts after a timeout, connection error, 429 or 5xx (never after other 4xx).
    #[serde(default = "defaults::retries")]
    pub retries: u32,
    /// First retry delay; doubles each time up to `max_backoff_ms`, with random jitter.
    #[serde(default = "defaults::backoff_ms")]
    pub backoff_ms: u64,
    #[serde(default = "defaults::max_backoff_ms")]
    pub max_backoff_ms: u64,
    #[serde(default)]
    pub circuit: CircuitConfig,
    #[serde(default)]
    pub cache: CacheConfig,
    #[serde(default)]
    pub operations: Operations,
    #[serde(default)]
    pub mapping: Mapping,
}

/// A header carrying a secret read from the environment at start-up. The file holds only
/// the variable's name; the value is never logged.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    #[serde(default = "defaults::auth_header")]
    pub header: String,
    /// Put before the secret, e.g. `"Bearer "`.
    #[serde(default)]
    pub prefix: String,
    /// The environment variable holding the secret.
    pub env: String,
}

/// After `failures` failed attempts in a row, calls fail at once for `cooldown_secs`; then
/// one trial call decides whether to close the circuit again.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CircuitConfig {
    #[serde(default = "defaults::failures")]
    pub failures: u32,
    #[serde(default = "defaults::cooldown_secs")]
    pub cooldown_secs: u64,
}

/// Successful lookups are kept `ttl_secs` (0 turns the cache off), at most `capacity`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    #[serde(default = "defaults::ttl_secs")]
    pub ttl_secs: u64,
    #[serde(default = "defaults::capacity")]
    pub capacity: usize,
}

impl Default for CircuitConfig {
    fn default() -> Self {
        Self {
            failures: defaults::failures(),
            cooldown_secs: defaults::cooldown_secs(),
        }
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            ttl_secs: defaults::ttl_secs(),
            capacity: defaults::capacity(),
        }
    }
}

mod defaults {
    pub fn timeout_ms() -> u64 {
        2000
    }
    pub fn retries() -> u32 {
        2
    }
    pub fn backoff_ms() -> u64 {
        100
    }
    pub fn max_backoff_ms() -> u64 {
        2000
    }
    pub fn auth_header() -> String {
        "Authorization".into()
    }
    pub fn failures() -> u32 {
        5
    }
    pub fn cooldown_secs() -> u64 {
        30
    }
    pub fn ttl_secs() -> u64 {
        30
    }
    pub fn capacity() -> usize {
        1000
    }
    pub fn method() -> String {
        "GET".into()
    }
}

/// One request per connector operation; an operation left out is not supported.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operations {
    pub find_by_email: Option<Operation>,
    pub find_by_phone: Option<Operation>,
    pub find_by_external_id: Option<Operation>,
    pub profile: Option<Operation>,
    pub recent_orders: Option<Operation>,
    pub open_cases: Option<Operation>,
    pub order: Option<Operation>,
    pub update_delivery_address: Option<Operation>,
}

/// A request template: `{name}` placeholders are filled in (URL-encoded in the URL, as JSON
/// strings in the body).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    #[serde(default = "defaults::method")]
    pub method: String,
    /// Appended to `base_url`, e.g. `/contacts/{external_id}?fields=name`.
    pub url: String,
    /// JSON text, sent with `Content-Type: application/json`.
    #[serde(default)]
    pub body: Option<String>,
    /// JSON pointer to the record (or the array of records) in the response; the whole
    /// response when left out.
    #[serde(default)]
    pub records: Option<String>,
    #[serde(skip)]
    pub(crate) parsed_body: Option<Body>,
}

/// Where each field is in a record: a JSON pointer (`/properties/firstname`), `!` and a
/// pointer for a negated yes/no (`!/properties/hs_email_optout`), or `=` and a constant
/// (`=USD`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    #[serde(default)]
    pub customer: BTreeMap<String, String>,
    #[serde(default)]
    pub order: BTreeMap<String, String>,
    /// Relative to each element of the order's `items` array.
    #[serde(default)]
    pub item: BTreeMap<String, String>,
    #[serde(default)]
    pub case: BTreeMap<String, String>,
    /// The CRM's order statuses that differ from Warmline's, e.g. `in_transit = "shipped"`.
    #[serde(default)]
    pub order_statuses: BTreeMap<String, String>,
}

const ADDRESS_VARS: &[&str] = &[
    "address_name",
    "address_line1",
    "address_line2",
    "address_city",
    "address_region",
    "address_postal_code",
    "address_country",
];

impl HttpCrmConfig {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Self, HttpConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| HttpConfigError(format!("cannot read {}: {e}", path.display())))?;
        Self::from_toml(&text).map_err(|e| HttpConfigError(format!("{}: {}", path.display(), e.0)))
    }

    /// Parses and checks a configuration, applying its preset first.
    pub fn from_toml(text: &str) -> Result<Self, HttpConfigError> {
        let user: toml::Table = text.parse().map_err(|e| HttpConfigError(format!("{e}")))?;
        let merged = match user.get("preset") {
            None => user,
            Some(toml::Value::String(name)) => {
                let mut base = preset(name)?;
                merge(&mut base, user);
                base
            }
            Some(_) => return Err(HttpConfigError("`preset` must be a string".into())),
        };
        let mut config: Self = toml::Value::Table(merged)
            .try_into()
            .map_err(|e: toml::de::Error| HttpConfigError(e.message().to_owned()))?;
        config.check()?;
        Ok(config)
    }

    pub(crate) fn check(&mut self) -> Result<(), HttpConfigError> {
        let err = |m: String| Err(HttpConfigError(m));
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://")) {
            return err("`base_url` must start with http:// or https://".into());
        }
        let limits = [
            ("timeout_ms", self.timeout_ms, 1, 600_000),
            ("retries", u64::from(self.retries), 0, 10),
            ("backoff_ms", self.backoff_ms, 0, 60_000),
            ("max_backoff_ms", self.max_backoff_ms, 0, 600_000),
            (
                "circuit.cooldown_secs",
                self.circuit.cooldown_secs,
                0,
                86_400,
            ),
            ("cache.ttl_secs", self.cache.ttl_secs, 0, 86_400),
        ];
        for (name, value, min, max) in limits {
            if !(min..=max).contains(&value) {
                return err(format!("`{name}` must be from {min} to {max}"));
            }
        }
        if let Some(auth) = &self.auth
            && (auth.env.trim().is_empty()
                || reqwest::header::HeaderName::from_bytes(auth.header.as_bytes()).is_err())
        {
            return err("`auth` needs a valid `header` and the `env` variable's name".into());
        }
        check_fields("mapping.customer", &self.mapping.customer, CUSTOMER_FIELDS)?;
        check_fields("mapping.order", &self.mapping.order, ORDER_FIELDS)?;
        check_fields("mapping.item", &self.mapping.item, ITEM_FIELDS)?;
        check_fields("mapping.case", &self.mapping.case, CASE_FIELDS)?;
        let ops = &mut self.operations;
        let with_address: Vec<&str> = ["order_number", "customer_id", "email"]
            .into_iter()
            .chain(ADDRESS_VARS.iter().copied())
            .collect();
        let plan: [(&str, &mut Option<Operation>, &[&str]); 8] = [
            ("find_by_email", &mut ops.find_by_email, &["email"]),
            ("find_by_phone", &mut ops.find_by_phone, &["phone"]),
            (
                "find_by_external_id",
                &mut ops.find_by_external_id,
                &["external_id"],
            ),
            ("profile", &mut ops.profile, &["customer_id"]),
            (
                "recent_orders",
                &mut ops.recent_orders,
                &["customer_id", "limit"],
            ),
            ("open_cases", &mut ops.open_cases, &["customer_id"]),
            (
                "order",
                &mut ops.order,
                &["order_number", "customer_id", "email"],
            ),
            (
                "update_delivery_address",
                &mut ops.update_delivery_address,
                &with_address,
            ),
        ];
        for (name, op, vars) in plan {
            if let Some(op) = op {
                op.check(name, vars)?;
            }
        }
        let uses_orders = ops.order.is_some() || ops.update_delivery_address.is_some();
        let owner_fields = ["email", "customer_id"];
        if uses_orders
            && !owner_fields
                .iter()
                .any(|f| self.mapping.order.contains_key(*f))
        {
            return err(
                "`mapping.order` needs `email` or `customer_id`: an order is shown only to \
                 its owner"
                    .into(),
            );
        }
        for (theirs, ours) in &self.mapping.order_statuses {
            if ours.parse::<warmline_domain::OrderStatus>().is_err() {
                return err(format!(
                    "mapping.order_statuses.{theirs}: unknown status {ours:?}"
                ));
            }
        }
        Ok(())
    }
}

impl Operation {
    fn check(&mut self, name: &str, vars: &[&str]) -> Result<(), HttpConfigError> {
        let at = |m: String| HttpConfigError(format!("operations.{name}: {m}"));
        if !self.url.starts_with('/') {
            return Err(at(
                "`url` must start with / (it is appended to base_url)".into()
            ));
        }
        let method = self.method.to_uppercase();
        if !["GET", "POST", "PUT", "PATCH"].contains(&method.as_str()) {
            return Err(at(format!(
                "`method` {:?} is not GET, POST, PUT or PATCH",
                self.method
            )));
        }
        self.method = method;
        template::check_placeholders(&self.url, vars).map_err(|m| at(format!("`url`: {m}")))?;
        if let Some(body) = &self.body {
            let parsed = Body::parse(body).map_err(|m| at(format!("`body`: {m}")))?;
            parsed
                .check_placeholders(vars)
                .map_err(|m| at(format!("`body`: {m}")))?;
            self.parsed_body = Some(parsed);
        }
        if let Some(records) = &self.records
            && !(records.is_empty() || records.starts_with('/'))
        {
            return Err(at("`records` must be a JSON pointer like /results".into()));
        }
        Ok(())
    }
}

fn check_fields(
    table: &str,
    fields: &BTreeMap<String, String>,
    known: &[&str],
) -> Result<(), HttpConfigError> {
    for (field, source) in fields {
        if !known.contains(&field.as_str()) {
            return Err(HttpConfigError(format!(
                "{table}.{field}: unknown field; expected one of {}",
                known.join(", ")
            )));
        }
        let pointer = source.strip_prefix('!').unwrap_or(source);
        if !(source.starts_with('=') || pointer.is_empty() || pointer.starts_with('/')) {
            return Err(HttpConfigError(format!(
                "{table}.{field}: {source:?} is not a JSON pointer (/a/b), !/a/b or =constant"
            )));
        }
    }
    Ok(())
}

fn preset(name: &str) -> Result<toml::Table, HttpConfigError> {
    let text = match name {
        "hubspot" => HUBSPOT,
        other => {
            return Err(HttpConfigError(format!(
                "unknown preset {other:?}; known presets: hubspot"
            )));
        }
    };
    text.parse()
        .map_err(|e| HttpConfigError(format!("preset {name}: {e}")))
}

/// Merges `over` into `base`: tables key by key, any other value replaced.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}
