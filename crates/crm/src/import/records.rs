//! The import records as written in files (`Raw*`, lenient about scalars: `2` and `"2"` are
//! the same quantity), and their validation into checked records. CSV rows are turned into the
//! same raw records, so both formats are validated by one piece of code.

use super::{ImportError, Place};
use crate::values::{
    non_empty, normalize_email, normalize_phone, parse_bool, parse_cents, parse_currency,
    parse_time,
};
use serde::Deserialize;
use std::collections::HashSet;
use time::OffsetDateTime;
use warmline_domain::{Address, Channel, Money, OrderItem, OrderStatus, Tracking};

/// A JSON scalar: CSV cells are always text, JSON may use numbers and booleans.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum Scalar {
    Bool(bool),
    Number(serde_json::Number),
    Text(String),
}

impl Scalar {
    fn text(&self) -> String {
        match self {
            Self::Bool(b) => b.to_string(),
            Self::Number(n) => n.to_string(),
            Self::Text(t) => t.trim().to_owned(),
        }
    }
}

/// One JSON import file: any of the three lists.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDocument {
    #[serde(default)]
    pub customers: Vec<RawCustomer>,
    #[serde(default)]
    pub orders: Vec<RawOrder>,
    #[serde(default)]
    pub cases: Vec<RawCase>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCustomer {
    pub key: String,
    pub name: Option<String>,
    pub tier: Option<String>,
    pub language: Option<String>,
    pub membership: Option<String>,
    pub marketing_email: Option<Scalar>,
    pub marketing_sms: Option<Scalar>,
    pub lifetime_value: Option<Scalar>,
    pub currency: Option<String>,
    #[serde(default)]
    pub emails: Vec<String>,
    #[serde(default)]
    pub phones: Vec<String>,
    #[serde(default)]
    pub external_ids: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOrder {
    pub number: String,
    pub customer: Option<String>,
    pub email: Option<String>,
    pub status: String,
    pub placed: String,
    pub delivered: Option<String>,
    pub currency: String,
    pub total: Option<Scalar>,
    pub address: Option<RawAddress>,
    pub tracking: Option<RawTracking>,
    #[serde(default)]
    pub items: Vec<RawItem>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAddress {
    pub name: Option<String>,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: String,
    pub country: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTracking {
    pub carrier: String,
    pub number: String,
    pub url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawItem {
    pub sku: String,
    pub name: String,
    pub quantity: Option<Scalar>,
    pub price: Scalar,
    pub category: Option<String>,
    pub final_sale: Option<Scalar>,
    /// Where the item was written, when it differs from its order's place (CSV lines).
    #[serde(skip)]
    pub place: Option<Place>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCase {
    pub id: String,
    pub customer: String,
    pub subject: String,
    pub status: Option<String>,
    pub opened: String,
}

/// A checked customer: keys trimmed, identities normalised (`(channel, id)` as stored).
#[derive(Debug)]
pub(super) struct CustomerRecord {
    pub place: Place,
    pub key: String,
    pub name: Option<String>,
    pub tier: Option<String>,
    pub language: Option<String>,
    pub membership: Option<String>,
    pub marketing_email: bool,
    pub marketing_sms: bool,
    pub lifetime_value: Option<Money>,
    pub identities: Vec<(Channel, String)>,
}

#[derive(Debug)]
pub(super) struct OrderRecord {
    pub place: Place,
    pub number: String,
    pub customer: Option<String>,
    pub email: Option<String>,
    pub status: OrderStatus,
    pub placed_at: OffsetDateTime,
    pub delivered_at: Option<OffsetDateTime>,
    pub total_cents: i64,
    pub currency: String,
    pub address: Option<Address>,
    pub tracking: Option<Tracking>,
    pub items: Vec<OrderItem>,
}

#[derive(Debug)]
pub(super) struct CaseRecord {
    pub place: Place,
    pub id: String,
    pub customer: String,
    pub subject: String,
    pub status: String,
    pub opened_at: OffsetDateTime,
}

/// Lowercase, trimmed, `None` when empty.
fn lower(text: Option<&str>) -> Option<String> {
    non_empty(text).map(|t| t.to_lowercase())
}

fn required(place: &Place, field: &str, text: &str) -> Result<String, ImportError> {
    non_empty(Some(text)).ok_or_else(|| place.error(format!("`{field}` is required")))
}

fn flag(place: &Place, field: &str, value: Option<&Scalar>) -> Result<bool, ImportError> {
    match value.map(Scalar::text).filter(|t| !t.is_empty()) {
        None => Ok(false),
        Some(t) => parse_bool(&t).map_err(|e| place.error(format!("`{field}`: {e}"))),
    }
}

fn amount(place: &Place, field: &str, value: &Scalar) -> Result<i64, ImportError> {
    parse_cents(&value.text()).map_err(|e| place.error(format!("`{field}`: {e}")))
}

impl RawCustomer {
    pub(super) fn validate(self, place: Place) -> Result<CustomerRecord, ImportError> {
        let key = required(&place, "key", &self.key)?;
        let language = lower(self.language.as_deref());
        if let Some(lang) = &language {
            let ok = (2..=12).contains(&lang.len())
                && lang.chars().all(|c| c.is_ascii_alphabetic() || c == '-');
            if !ok {
                return Err(place.error(format!("`language` {lang:?} is not like en or fr-ca")));
            }
        }
        let value = self.lifetime_value.filter(|v| !v.text().is_empty());
        let currency = non_empty(self.currency.as_deref());
        let lifetime_value = match (value, currency) {
            (None, _) => None,
            (Some(v), Some(c)) => Some(Money {
                cents: amount(&place, "lifetime_value", &v)?,
                currency: parse_currency(&c)
                    .map_err(|e| place.error(format!("`currency`: {e}")))?,
            }),
            (Some(_), None) => return Err(place.error("`lifetime_value` needs a `currency`")),
        };
        let mut identities = Vec::new();
        for (i, email) in self.emails.iter().enumerate() {
            let email = normalize_email(email)
                .ok_or_else(|| place.error(format!("emails[{i}] is not an email address")))?;
            identities.push((Channel::Email, email));
        }
        for (i, phone) in self.phones.iter().enumerate() {
            let phone = normalize_phone(phone).ok_or_else(|| {
                place.error(format!(
                    "phones[{i}] is not a phone number (10 digits, or + and the country code)"
                ))
            })?;
            // Reachable by text and by WhatsApp with the same number.
            identities.push((Channel::Sms, phone.clone()));
            identities.push((Channel::WhatsApp, phone));
        }
        for id in self
            .external_ids
            .iter()
            .filter_map(|id| non_empty(Some(id)))
        {
            identities.push((Channel::Api, id));
        }
        if identities.is_empty() {
            return Err(place.error("a customer needs at least one email, phone or external id"));
        }
        Ok(CustomerRecord {
            marketing_email: flag(&place, "marketing_email", self.marketing_email.as_ref())?,
            marketing_sms: flag(&place, "marketing_sms", self.marketing_sms.as_ref())?,
            place,
            key,
            name: non_empty(self.name.as_deref()),
            tier: lower(self.tier.as_deref()),
            language,
            membership: lower(self.membership.as_deref()),
            lifetime_value,
            identities,
        })
    }
}

impl RawOrder {
    pub(super) fn validate(
        self,
        place: Place,
        now: OffsetDateTime,
    ) -> Result<OrderRecord, ImportError> {
        let number = required(&place, "number", &self.number)?.to_uppercase();
        let customer = non_empty(self.customer.as_deref());
        let email = match non_empty(self.email.as_deref()) {
            Some(e) => Some(
                normalize_email(&e)
                    .ok_or_else(|| place.error("`email` is not an email address"))?,
            ),
            None => None,
        };
        if customer.is_none() && email.is_none() {
            return Err(place.error("an order needs a `customer` or, for a guest, an `email`"));
        }
        let status: OrderStatus = self
            .status
            .parse()
            .map_err(|e| place.error(format!("`status`: {e}")))?;
        let time = |field: &str, text: &str| {
            parse_time(text, now).map_err(|e| place.error(format!("`{field}`: {e}")))
        };
        let placed_at = time("placed", &required(&place, "placed", &self.placed)?)?;
        let delivered_at = match non_empty(self.delivered.as_deref()) {
            Some(t) => Some(time("delivered", &t)?),
            None => None,
        };
        if delivered_at.is_some_and(|d| d < placed_at) {
            return Err(place.error("`delivered` is before `placed`"));
        }
        if matches!(status, OrderStatus::Delivered | OrderStatus::PickedUp)
            && delivered_at.is_none()
        {
            return Err(place.error(format!("a {status} order needs `delivered`")));
        }
        let currency =
            parse_currency(&self.currency).map_err(|e| place.error(format!("`currency`: {e}")))?;
        let items = validate_items(&place, self.items)?;
        let total_cents = match self.total.filter(|t| !t.text().is_empty()) {
            Some(total) => amount(&place, "total", &total)?,
            None => items
                .iter()
                .try_fold(0i64, |sum, i| {
                    i.price_cents
                        .checked_mul(i64::from(i.quantity))
                        .and_then(|line| sum.checked_add(line))
                })
                .ok_or_else(|| place.error("the items' total is too large"))?,
        };
        Ok(OrderRecord {
            address: self.address.map(|a| a.validate(&place)).transpose()?,
            tracking: self.tracking.map(|t| t.validate(&place)).transpose()?,
            place,
            number,
            customer,
            email,
            status,
            placed_at,
            delivered_at,
            total_cents,
            currency,
            items,
        })
    }
}

fn validate_items(place: &Place, raw: Vec<RawItem>) -> Result<Vec<OrderItem>, ImportError> {
    if raw.is_empty() {
        return Err(place.error("an order needs at least one item"));
    }
    let mut skus = HashSet::new();
    let mut items = Vec::with_capacity(raw.len());
    for (i, item) in raw.into_iter().enumerate() {
        let at = item.place.clone().unwrap_or_else(|| place.item(i));
        let sku = required(&at, "sku", &item.sku)?;
        if !skus.insert(sku.to_uppercase()) {
            return Err(at.error(format!("sku {sku:?} appears twice in this order")));
        }
        let quantity =
            match item.quantity.map(|q| q.text()).filter(|q| !q.is_empty()) {
                None => 1,
                Some(q) => q.parse::<u32>().ok().filter(|q| *q > 0).ok_or_else(|| {
                    at.error(format!("`quantity` {q:?} is not a whole number > 0"))
                })?,
            };
        items.push(OrderItem {
            name: required(&at, "name", &item.name)?,
            quantity,
            price_cents: amount(&at, "price", &item.price)?,
            category: lower(item.category.as_deref()).map(|c| c.replace([' ', '-'], "_")),
            final_sale: flag(&at, "final_sale", item.final_sale.as_ref())?,
            sku,
        });
    }
    Ok(items)
}

impl RawAddress {
    fn validate(self, place: &Place) -> Result<Address, ImportError> {
        let country = required(place, "address.country", &self.country)?.to_uppercase();
        if country.len() != 2 || !country.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(place.error("`address.country` is not a two-letter code like US"));
        }
        Ok(Address {
            name: non_empty(self.name.as_deref()),
            line1: required(place, "address.line1", &self.line1)?,
            line2: non_empty(self.line2.as_deref()),
            city: required(place, "address.city", &self.city)?,
            region: non_empty(self.region.as_deref()).map(|r| r.to_uppercase()),
            postal_code: required(place, "address.postal_code", &self.postal_code)?,
            country,
        })
    }
}

impl RawTracking {
    fn validate(self, place: &Place) -> Result<Tracking, ImportError> {
        Ok(Tracking {
            carrier: required(place, "tracking.carrier", &self.carrier)?,
            number: required(place, "tracking.number", &self.number)?,
            url: non_empty(self.url.as_deref()),
        })
    }
}

impl RawCase {
    pub(super) fn validate(
        self,
        place: Place,
        now: OffsetDateTime,
    ) -> Result<CaseRecord, ImportError> {
        let opened = required(&place, "opened", &self.opened)?;
        Ok(CaseRecord {
            id: required(&place, "id", &self.id)?,
            customer: required(&place, "customer", &self.customer)?,
            subject: required(&place, "subject", &self.subject)?,
            status: lower(self.status.as_deref()).unwrap_or_else(|| "open".into()),
            opened_at: parse_time(&opened, now)
                .map_err(|e| place.error(format!("`opened`: {e}")))?,
            place,
        })
    }
}
