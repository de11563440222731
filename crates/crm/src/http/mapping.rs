//! Reading records out of a CRM's JSON with the configured field sources. Errors name the
//! field (never its value: values are personal data).

use crate::values::{
    non_empty, normalize_email, parse_bool, parse_cents, parse_currency, parse_time,
};
use serde_json::Value;
use std::collections::BTreeMap;
use time::OffsetDateTime;
use warmline_domain::{
    Address, Case, Consent, CrmCustomer, CrmCustomerRef, CustomerProfile, Money, Order, OrderItem,
    OrderStatus, Tracking,
};

type Fields = BTreeMap<String, String>;

/// The fields each kind of record can map (the keys of `mapping.customer` etc.).
pub(crate) const CUSTOMER_FIELDS: &[&str] = &[
    "id",
    "name",
    "first_name",
    "last_name",
    "tier",
    "language",
    "membership",
    "marketing_email",
    "marketing_sms",
    "lifetime_value",
    "lifetime_value_cents",
    "currency",
];
pub(crate) const ORDER_FIELDS: &[&str] = &[
    "number",
    "status",
    "placed_at",
    "delivered_at",
    "total",
    "total_cents",
    "currency",
    "email",
    "customer_id",
    "items",
    "address_name",
    "address_line1",
    "address_line2",
    "address_city",
    "address_region",
    "address_postal_code",
    "address_country",
    "tracking_carrier",
    "tracking_number",
    "tracking_url",
];
pub(crate) const ITEM_FIELDS: &[&str] = &[
    "sku",
    "name",
    "quantity",
    "price",
    "price_cents",
    "category",
    "final_sale",
];
pub(crate) const CASE_FIELDS: &[&str] = &["id", "subject", "status", "opened_at"];

/// The records an operation's response holds: the array (or single object) at `pointer`,
/// none when it is missing or null.
pub(crate) fn records<'v>(response: &'v Value, pointer: Option<&str>) -> Vec<&'v Value> {
    match response.pointer(pointer.unwrap_or_default()) {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(Value::Null) | None => Vec::new(),
        Some(one) => vec![one],
    }
}

/// Reads fields of one record.
struct Record<'a> {
    fields: &'a Fields,
    value: &'a Value,
}

impl Record<'_> {
    /// The field as text (numbers and booleans written out), `None` if unmapped, missing,
    /// null or blank.
    fn text(&self, field: &str) -> Option<String> {
        let source = self.fields.get(field)?;
        if let Some(constant) = source.strip_prefix('=') {
            return non_empty(Some(constant));
        }
        let pointer = source.strip_prefix('!').unwrap_or(source);
        match self.value.pointer(pointer)? {
            Value::String(s) => non_empty(Some(s)),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    fn required(&self, field: &str) -> Result<String, String> {
        self.text(field)
            .ok_or_else(|| format!("the record has no `{field}`"))
    }

    fn flag(&self, field: &str) -> Result<bool, String> {
        let negate = self.fields.get(field).is_some_and(|s| s.starts_with('!'));
        match self.text(field) {
            None => Ok(false),
            Some(t) => parse_bool(&t)
                .map(|b| b != negate)
                .map_err(|_| format!("`{field}` is not yes/no")),
        }
    }

    /// An amount from `field` (major units) or `{field}_cents`.
    fn cents(&self, field: &str) -> Result<Option<i64>, String> {
        if let Some(t) = self.text(&format!("{field}_cents")) {
            return t
                .parse()
                .map(Some)
                .map_err(|_| format!("`{field}_cents` is not a whole number"));
        }
        self.text(field)
            .map(|t| parse_cents(&t).map_err(|_| format!("`{field}` is not an amount")))
            .transpose()
    }

    fn time(&self, field: &str) -> Result<Option<OffsetDateTime>, String> {
        let Some(t) = self.text(field) else {
            return Ok(None);
        };
        // Unix milliseconds (HubSpot's date properties), or the formats of the importer.
        if let Ok(ms) = t.parse::<i64>() {
            return crate::values::from_millis(ms)
                .map(Some)
                .ok_or_else(|| format!("`{field}` is out of range"));
        }
        parse_time(&t, OffsetDateTime::now_utc())
            .map(Some)
            .map_err(|_| format!("`{field}` is not a time"))
    }
}

pub(crate) fn customer(fields: &Fields, value: &Value) -> Result<CrmCustomer, String> {
    let r = Record { fields, value };
    let reference = CrmCustomerRef(r.required("id")?);
    Ok(CrmCustomer {
        reference,
        profile: profile(fields, value)?,
    })
}

pub(crate) fn profile(fields: &Fields, value: &Value) -> Result<CustomerProfile, String> {
    let r = Record { fields, value };
    let name = r.text("name").or_else(|| {
        let parts: Vec<String> = ["first_name", "last_name"]
            .iter()
            .filter_map(|f| r.text(f))
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    });
    let lower = |f: &str| r.text(f).map(|t| t.to_lowercase());
    let lifetime_value = match (r.cents("lifetime_value")?, r.text("currency")) {
        (Some(cents), Some(currency)) => Some(Money {
            cents,
            currency: parse_currency(&currency).map_err(|_| "`currency` is not a code")?,
        }),
        _ => None,
    };
    Ok(CustomerProfile {
        name,
        tier: lower("tier"),
        language: lower("language"),
        membership: lower("membership"),
        consent: Consent {
            marketing_email: r.flag("marketing_email")?,
            marketing_sms: r.flag("marketing_sms")?,
        },
        lifetime_value,
    })
}

/// An order with what proves its owner.
pub(crate) struct MappedOrder {
    pub order: Order,
    pub email: Option<String>,
    pub customer_id: Option<String>,
}

pub(crate) fn order(
    fields: &Fields,
    item_fields: &Fields,
    statuses: &BTreeMap<String, String>,
    value: &Value,
) -> Result<MappedOrder, String> {
    let r = Record { fields, value };
    let status = r.required("status")?;
    let status = statuses
        .iter()
        .find(|(theirs, _)| theirs.eq_ignore_ascii_case(&status))
        .map_or(status.as_str(), |(_, ours)| ours.as_str())
        .parse::<OrderStatus>()
        .map_err(|_| "`status` is not a known order status (see mapping.order_statuses)")?;
    let item_values = match fields.get("items") {
        Some(pointer) => records(value, Some(pointer)),
        None => Vec::new(),
    };
    let items = item_values
        .into_iter()
        .enumerate()
        .map(|(i, v)| item(item_fields, v).map_err(|e| format!("items[{i}]: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let total_cents = match r.cents("total")? {
        Some(total) => total,
        None => items
            .iter()
            .map(|i| i.price_cents.saturating_mul(i64::from(i.quantity)))
            .fold(0i64, i64::saturating_add),
    };
    let currency = parse_currency(&r.required("currency")?).map_err(|_| "`currency`")?;
    let delivery_address = r.text("address_line1").map(|line1| Address {
        name: r.text("address_name"),
        line1,
        line2: r.text("address_line2"),
        city: r.text("address_city").unwrap_or_default(),
        region: r.text("address_region").map(|s| s.to_uppercase()),
        postal_code: r.text("address_postal_code").unwrap_or_default(),
        country: r.text("address_country").unwrap_or_default().to_uppercase(),
    });
    let tracking = r
        .text("tracking_carrier")
        .zip(r.text("tracking_number"))
        .map(|(carrier, number)| Tracking {
            carrier,
            number,
            url: r.text("tracking_url"),
        });
    let order = Order {
        number: r.required("number")?.to_uppercase(),
        status,
        placed_at: r
            .time("placed_at")?
            .ok_or("the record has no `placed_at`")?,
        delivered_at: r.time("delivered_at")?,
        items,
        total_cents,
        currency,
        delivery_address,
        tracking,
    };
    Ok(MappedOrder {
        order,
        email: r.text("email").and_then(|e| normalize_email(&e)),
        customer_id: r.text("customer_id"),
    })
}

fn item(fields: &Fields, value: &Value) -> Result<OrderItem, String> {
    let r = Record { fields, value };
    let quantity = match r.text("quantity") {
        None => 1,
        Some(q) => q
            .parse::<u32>()
            .map_err(|_| "`quantity` is not a whole number")?,
    };
    Ok(OrderItem {
        sku: r.required("sku")?,
        name: r.text("name").unwrap_or_default(),
        quantity,
        price_cents: r.cents("price")?.unwrap_or_default(),
        category: r
            .text("category")
            .map(|c| c.to_lowercase().replace([' ', '-'], "_")),
        final_sale: r.flag("final_sale")?,
    })
}

pub(crate) fn case(fields: &Fields, value: &Value) -> Result<Case, String> {
    let r = Record { fields, value };
    Ok(Case {
        id: r.required("id")?,
        subject: r.text("subject").unwrap_or_default(),
        status: r
            .text("status")
            .map_or_else(|| "open".into(), |s| s.to_lowercase()),
        opened_at: r
            .time("opened_at")?
            .ok_or("the record has no `opened_at`")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn hubspot_contacts_map_to_profiles() {
        let contact = json!({"id": "501", "properties": {"firstname": "Maya",
            "lastname": "Thompson", "hs_language": "FR-CA", "hs_email_optout": "false",
            "total_revenue": "4820.15", "tier": null}});
        let f = fields(&[
            ("id", "/id"),
            ("first_name", "/properties/firstname"),
            ("last_name", "/properties/lastname"),
            ("language", "/properties/hs_language"),
            ("tier", "/properties/tier"),
            ("marketing_email", "!/properties/hs_email_optout"),
            ("lifetime_value", "/properties/total_revenue"),
            ("currency", "=usd"),
        ]);
        let c = customer(&f, &contact).unwrap();
        assert_eq!(c.reference.0, "501");
        assert_eq!(c.profile.name.as_deref(), Some("Maya Thompson"));
        assert_eq!(c.profile.language.as_deref(), Some("fr-ca"));
        assert_eq!(c.profile.tier, None);
        assert!(c.profile.consent.marketing_email && !c.profile.consent.marketing_sms);
        assert_eq!(c.profile.lifetime_value.unwrap().cents, 482_015);

        let no_id = customer(&f, &json!({"properties": {}})).unwrap_err();
        assert!(no_id.contains("`id`"), "{no_id}");
        let bad_flag = json!({"id": 1, "properties": {"hs_email_optout": "sometimes"}});
        let err = customer(&f, &bad_flag).unwrap_err();
        assert!(
            err.contains("marketing_email") && !err.contains("sometimes"),
            "{err}"
        );
    }

    #[test]
    fn orders_map_with_items_statuses_and_owner_fields() {
        let f = fields(&[
            ("number", "/id"),
            ("status", "/state"),
            ("placed_at", "/created"),
            ("currency", "=CAD"),
            ("email", "/buyer/email"),
            ("items", "/lines"),
            ("address_line1", "/ship/street"),
            ("address_country", "/ship/country"),
        ]);
        let items = fields(&[
            ("sku", "/sku"),
            ("price", "/unit_price"),
            ("quantity", "/qty"),
        ]);
        let statuses = fields(&[("in_transit", "shipped")]);
        let value = json!({"id": "jm-1", "state": "IN_TRANSIT", "created": 1_700_000_000_000i64,
            "buyer": {"email": "Ana@Example.com"}, "ship": {"street": "1 Main", "country": "ca"},
            "lines": [{"sku": "A", "unit_price": 10.5, "qty": 2}, {"sku": "B", "unit_price": "1"}]});
        let m = order(&f, &items, &statuses, &value).unwrap();
        assert_eq!(m.order.number, "JM-1");
        assert_eq!(m.order.status, OrderStatus::Shipped);
        assert_eq!(m.order.placed_at.unix_timestamp(), 1_700_000_000);
        assert_eq!(m.order.total_cents, 2 * 1050 + 100);
        assert_eq!(m.order.delivery_address.unwrap().country, "CA");
        assert_eq!(m.email.as_deref(), Some("ana@example.com"));
        let unknown = json!({"id": "x", "state": "lost", "created": "2026-01-01", "lines": []});
        let err = order(&f, &items, &statuses, &unknown).err().unwrap();
        assert!(err.contains("status"), "{err}");
    }

    #[test]
    fn records_are_found_by_pointer() {
        let v = json!({"results": [{"id": 1}, {"id": 2}], "one": {"id": 3}, "none": null});
        assert_eq!(records(&v, Some("/results")).len(), 2);
        assert_eq!(records(&v, Some("/one")).len(), 1);
        assert!(records(&v, Some("/none")).is_empty());
        assert!(records(&v, Some("/missing")).is_empty());
        assert_eq!(records(&v, None).len(), 1, "the whole response");
    }
}
