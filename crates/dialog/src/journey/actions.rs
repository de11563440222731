//! What journey steps can do in the business's systems, through the [`CrmConnector`]: look
//! an order up, check whether an item can be returned, change a delivery address. Each action
//! reads slots, writes slots, and ends in a named outcome the journey branches on.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use warmline_domain::CrmCustomerRef;
use warmline_domain::crm::{Address, CrmConnector, CrmError, Order, OrderOwner, OrderStatus};

/// An action a step can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    LookupOrder,
    CheckReturn,
    UpdateAddress,
}

/// The outcome every action can end in when the CRM cannot be reached.
pub const UNAVAILABLE: &str = "unavailable";
/// The outcome when the order (or item) is not the customer's or does not exist.
pub const NOT_FOUND: &str = "not_found";

impl Action {
    pub fn parse(name: &str) -> Result<Self, String> {
        Ok(match name {
            "lookup_order" => Self::LookupOrder,
            "check_return" => Self::CheckReturn,
            "update_address" => Self::UpdateAddress,
            other => {
                return Err(format!(
                    "unknown action `{other}` (lookup_order, check_return, update_address)"
                ));
            }
        })
    }

    /// Slots that must be collected before the action runs.
    pub fn needs(self) -> &'static [&'static str] {
        match self {
            Self::LookupOrder => &["order_number"],
            Self::CheckReturn => &["order_number", "item"],
            Self::UpdateAddress => &[
                "order_number",
                "address.line1",
                "address.city",
                "address.postal_code",
            ],
        }
    }

    /// Slots the action sets (some only on success).
    pub fn outputs(self) -> &'static [&'static str] {
        match self {
            Self::LookupOrder => &[
                "order.status",
                "order.status_code",
                "order.placed",
                "order.delivered",
                "order.carrier",
                "order.tracking_number",
                "order.tracking_url",
                "order.items",
                "order.address",
                "order.total",
            ],
            Self::CheckReturn => &["return.eligible", "return.reason", "return.by"],
            Self::UpdateAddress => &["order.address", "refusal"],
        }
    }

    /// The outcomes a journey can branch on with `on:`. The first is success, which goes to
    /// the step's `next` unless mapped.
    pub fn outcomes(self) -> &'static [&'static str] {
        match self {
            Self::LookupOrder => &["found", NOT_FOUND, UNAVAILABLE],
            Self::CheckReturn => &["eligible", "not_eligible", NOT_FOUND, UNAVAILABLE],
            Self::UpdateAddress => &["updated", "refused", NOT_FOUND, UNAVAILABLE],
        }
    }

    /// Runs the action for `customer` (the CRM's record of an identified customer) with the
    /// slots collected so far; writes its outputs into `slots` and returns the outcome.
    pub async fn run(
        self,
        crm: &dyn CrmConnector,
        customer: Option<&CrmCustomerRef>,
        slots: &mut BTreeMap<String, Value>,
    ) -> &'static str {
        let text = |slots: &BTreeMap<String, Value>, k: &str| {
            slots
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let owner = match (customer, slots.get("email").and_then(Value::as_str)) {
            (Some(c), _) => OrderOwner::Customer(c.clone()),
            (None, Some(email)) => OrderOwner::Email(email.to_owned()),
            (None, None) => return NOT_FOUND,
        };
        let number = text(slots, "order_number");
        let result = match self {
            Self::LookupOrder => match crm.order(&number, &owner).await {
                Ok(Some(order)) => {
                    write_order(&order, slots);
                    Ok("found")
                }
                Ok(None) => Err(CrmError::NotFound),
                Err(e) => Err(e),
            },
            Self::CheckReturn => {
                let sku = text(slots, "item");
                crm.return_eligibility(&number, &sku, &owner)
                    .await
                    .map(|r| {
                        slots.insert("return.eligible".into(), json!(r.eligible));
                        slots.insert("return.reason".into(), json!(r.reason));
                        if let Some(by) = r.return_by {
                            slots.insert("return.by".into(), json!(long_date(by)));
                        }
                        if r.eligible {
                            "eligible"
                        } else {
                            "not_eligible"
                        }
                    })
            }
            Self::UpdateAddress => {
                let address = address_from(slots);
                crm.update_delivery_address(&number, &address, &owner)
                    .await
                    .map(|order| {
                        write_order(&order, slots);
                        "updated"
                    })
            }
        };
        match result {
            Ok(outcome) => outcome,
            Err(CrmError::NotFound) => NOT_FOUND,
            Err(CrmError::Refused(reason)) => {
                slots.insert("refusal".into(), json!(reason));
                if self == Self::UpdateAddress {
                    "refused"
                } else {
                    NOT_FOUND
                }
            }
            Err(e) => {
                metrics::counter!("warmline_crm_failures_total").increment(1);
                tracing::warn!(error = %e, action = ?self, "journey action failed");
                UNAVAILABLE
            }
        }
    }
}

fn address_from(slots: &BTreeMap<String, Value>) -> Address {
    let get = |k: &str| {
        slots
            .get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let postal_code = get("address.postal_code").unwrap_or_default();
    // A Canadian postal code has letters; a ZIP code is digits.
    let country = if postal_code.chars().any(|c| c.is_ascii_alphabetic()) {
        "CA"
    } else {
        "US"
    };
    Address {
        name: get("customer.name"),
        line1: get("address.line1").unwrap_or_default(),
        line2: get("address.line2"),
        city: get("address.city").unwrap_or_default(),
        region: get("address.region").map(|r| r.to_uppercase()),
        postal_code,
        country: country.into(),
    }
}

fn write_order(order: &Order, slots: &mut BTreeMap<String, Value>) {
    let mut set = |k: &str, v: Value| {
        slots.insert(k.to_owned(), v);
    };
    set("order.status", json!(status_words(order.status)));
    set("order.status_code", json!(order.status.as_str()));
    set("order.placed", json!(long_date(order.placed_at)));
    if let Some(at) = order.delivered_at {
        set("order.delivered", json!(long_date(at)));
    }
    if let Some(t) = &order.tracking {
        set("order.carrier", json!(t.carrier));
        set("order.tracking_number", json!(t.number));
        if let Some(url) = &t.url {
            set("order.tracking_url", json!(url));
        }
    }
    let items: Vec<Value> = order
        .items
        .iter()
        .map(|i| json!({"value": i.sku, "label": i.name}))
        .collect();
    set("order.items", Value::Array(items));
    if let Some(a) = &order.delivery_address {
        let region = a
            .region
            .as_deref()
            .map(|r| format!(" {r}"))
            .unwrap_or_default();
        set(
            "order.address",
            json!(format!("{}, {}{region} {}", a.line1, a.city, a.postal_code)),
        );
    }
    set(
        "order.total",
        json!(money(order.total_cents, &order.currency)),
    );
}

/// How an order status reads after "Your order is ...".
pub fn status_words(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::Received => "received and not yet being packed",
        OrderStatus::Processing => "being packed at our warehouse",
        OrderStatus::Shipped => "on its way",
        OrderStatus::OutForDelivery => "out for delivery today",
        OrderStatus::Delivered => "delivered",
        OrderStatus::ReadyForPickup => "ready for pickup at the store",
        OrderStatus::PickedUp => "picked up",
        OrderStatus::Cancelled => "cancelled",
        OrderStatus::Returned => "returned",
    }
}

fn long_date(t: OffsetDateTime) -> String {
    format!("{} {}, {}", t.month(), t.day(), t.year())
}

fn money(cents: i64, currency: &str) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let symbol = match currency {
        "USD" => "$",
        "CAD" => "CA$",
        _ => "",
    };
    let abs = cents.unsigned_abs();
    let amount = format!("{sign}{symbol}{}.{:02}", abs / 100, abs % 100);
    if symbol.is_empty() {
        format!("{amount} {currency}")
    } else {
        amount
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_and_dates_read_naturally() {
        assert_eq!(money(12998, "USD"), "$129.98");
        assert_eq!(money(-5, "CAD"), "-CA$0.05");
        assert_eq!(money(100, "EUR"), "1.00 EUR");
        let t = time::macros::datetime!(2026-11-03 10:00 UTC);
        assert_eq!(long_date(t), "November 3, 2026");
    }

    #[test]
    fn every_action_names_its_needs_outputs_and_outcomes() {
        for name in ["lookup_order", "check_return", "update_address"] {
            let a = Action::parse(name).unwrap();
            assert!(!a.needs().is_empty() && !a.outputs().is_empty());
            assert!(a.outcomes().contains(&UNAVAILABLE) && a.outcomes().contains(&NOT_FOUND));
        }
        assert!(
            Action::parse("refund_everything")
                .unwrap_err()
                .contains("unknown action")
        );
    }
}
