//! What the business's CRM knows about a customer (profile, orders, open cases) and the few
//! actions guided journeys take for them (return checks, delivery-address changes).
//!
//! A CRM is an outside system that fails: every [`CrmConnector`] bounds its own time and
//! reports an outage as [`CrmError::Unavailable`], so the dialog goes on with an anonymous
//! conversation instead of waiting or failing the turn.

use crate::conversation::CustomerIdentity;
use crate::error::{DomainError, ErrorCode};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use time::OffsetDateTime;

/// The CRM's own key for a customer: opaque to callers, passed back to the connector.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CrmCustomerRef(pub String);

impl fmt::Display for CrmCustomerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A customer found by one of their identities, with the profile read in the same lookup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrmCustomer {
    pub reference: CrmCustomerRef,
    pub profile: CustomerProfile,
}

/// What the conversation may use about a customer. Every field can be unknown.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomerProfile {
    pub name: Option<String>,
    /// Service tier, lowercase (`vip`, `gold`, `standard`...): moments-of-truth thresholds
    /// are set per tier.
    pub tier: Option<String>,
    /// Preferred language, a lowercase BCP-47-ish tag (`en`, `fr`, `fr-ca`).
    pub language: Option<String>,
    /// Paid membership, lowercase (`juniper_plus`): it can change return windows.
    pub membership: Option<String>,
    pub consent: Consent,
    pub lifetime_value: Option<Money>,
}

/// What the customer agreed to receive. Unknown means no.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub marketing_email: bool,
    pub marketing_sms: bool,
}

/// An amount in the currency's minor unit (cents), never a float.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub cents: i64,
    /// ISO 4217 code, uppercase (`USD`, `CAD`).
    pub currency: String,
}

/// Where an order is in its life (Juniper Market's statuses; pickup orders use
/// `ready_for_pickup` / `picked_up`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Placed and still editable ("Received"; `placed` is accepted as a synonym).
    #[serde(alias = "placed")]
    Received,
    /// Being packed: no longer editable, not yet with the carrier.
    Processing,
    Shipped,
    OutForDelivery,
    Delivered,
    ReadyForPickup,
    PickedUp,
    Cancelled,
    Returned,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 9] = [
        Self::Received,
        Self::Processing,
        Self::Shipped,
        Self::OutForDelivery,
        Self::Delivered,
        Self::ReadyForPickup,
        Self::PickedUp,
        Self::Cancelled,
        Self::Returned,
    ];

    /// The wire name (snake_case), as serialized and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Processing => "processing",
            Self::Shipped => "shipped",
            Self::OutForDelivery => "out_for_delivery",
            Self::Delivered => "delivered",
            Self::ReadyForPickup => "ready_for_pickup",
            Self::PickedUp => "picked_up",
            Self::Cancelled => "cancelled",
            Self::Returned => "returned",
        }
    }

    /// Whether the order has left the warehouse (the carrier or a store has it, or had it).
    pub fn has_shipped(self) -> bool {
        matches!(
            self,
            Self::Shipped
                | Self::OutForDelivery
                | Self::Delivered
                | Self::ReadyForPickup
                | Self::PickedUp
                | Self::Returned
        )
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderStatus {
    type Err = String;
    /// Case-insensitive; spaces and dashes count as underscores; `placed` means `received`,
    /// `canceled` means `cancelled`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let key = s.trim().to_lowercase().replace([' ', '-'], "_");
        let key = match key.as_str() {
            "placed" => "received",
            "canceled" => "cancelled",
            other => other,
        };
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == key)
            .ok_or_else(|| {
                let known: Vec<_> = Self::ALL.iter().map(|st| st.as_str()).collect();
                format!(
                    "unknown order status {s:?}; expected one of {}",
                    known.join(", ")
                )
            })
    }
}

/// One order, as the customer would see it in My Account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// The business's order number (`JM-204518837`).
    pub number: String,
    pub status: OrderStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub placed_at: OffsetDateTime,
    /// When it was delivered or picked up: return windows count from here.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<OffsetDateTime>,
    pub items: Vec<OrderItem>,
    pub total_cents: i64,
    /// ISO 4217 code, uppercase.
    pub currency: String,
    pub delivery_address: Option<Address>,
    pub tracking: Option<Tracking>,
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderItem {
    pub sku: String,
    pub name: String,
    pub quantity: u32,
    /// Unit price.
    pub price_cents: i64,
    /// Product category, lowercase (`electronics`, `gift_card`, `personal_care`...): return
    /// rules depend on it.
    pub category: Option<String>,
    /// Marked "Final sale": never returnable.
    #[serde(default)]
    pub final_sale: bool,
}

/// A postal address in the US or Canada.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub name: Option<String>,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    /// State or province code (`OH`, `ON`).
    pub region: Option<String>,
    pub postal_code: String,
    /// ISO 3166 alpha-2, uppercase (`US`, `CA`).
    pub country: String,
}

/// Where a shipped parcel can be followed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tracking {
    pub carrier: String,
    pub number: String,
    pub url: Option<String>,
}

/// A support case (ticket) the customer has open with the business.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    pub id: String,
    pub subject: String,
    /// As the CRM names it (`open`, `pending`...), lowercase.
    pub status: String,
    #[serde(with = "time::serde::rfc3339")]
    pub opened_at: OffsetDateTime,
}

/// Who is asking about an order. An order is disclosed or changed only for its owner: a
/// known customer, or an anonymous one who gives the email the order was placed with. An
/// order that exists but belongs to someone else looks exactly like a missing one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OrderOwner {
    Customer(CrmCustomerRef),
    Email(String),
}

/// Whether one item of an order can be returned now, and why (a sentence for the customer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnEligibility {
    pub eligible: bool,
    pub reason: String,
    /// The last moment a return can be started, when there is a window.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub return_by: Option<OffsetDateTime>,
}

/// Which operations a connector can perform, so journeys offer only what works. Calling an
/// unsupported one fails with [`CrmError::Misconfigured`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrmCapabilities {
    pub profile: bool,
    pub recent_orders: bool,
    pub open_cases: bool,
    pub order_lookup: bool,
    pub return_eligibility: bool,
    pub update_delivery_address: bool,
}

impl CrmCapabilities {
    pub const ALL: CrmCapabilities = CrmCapabilities {
        profile: true,
        recent_orders: true,
        open_cases: true,
        order_lookup: true,
        return_eligibility: true,
        update_delivery_address: true,
    };
}

/// Why a CRM call failed. Cheap to build and to match: an outage must cost the conversation
/// nothing but the CRM's data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrmError {
    /// No such customer, order or item (or it is not the asker's).
    #[error("not found in the crm")]
    NotFound,
    /// The CRM understood and said no; the text is fit to show the customer.
    #[error("refused: {0}")]
    Refused(String),
    /// Outage, timeout, or the circuit breaker is open: carry on without the CRM. The text
    /// is for logs (no personal data).
    #[error("crm unavailable: {0}")]
    Unavailable(String),
    /// The connector is set up wrongly (credentials, mapping, an operation not configured).
    /// The text is for the operator's log.
    #[error("crm misconfigured: {0}")]
    Misconfigured(String),
}

impl From<CrmError> for DomainError {
    fn from(e: CrmError) -> Self {
        match e {
            CrmError::NotFound => DomainError::not_found("not found"),
            CrmError::Refused(reason) => DomainError::new(ErrorCode::Conflict, reason),
            CrmError::Unavailable(detail) => DomainError::unavailable(detail),
            CrmError::Misconfigured(detail) => DomainError::internal(detail),
        }
    }
}

/// A CRM: the business's record of customers, orders and cases.
///
/// Contract: every call returns within the connector's configured time budget; outages are
/// [`CrmError::Unavailable`]. Order operations check [`OrderOwner`] and answer
/// [`CrmError::NotFound`] (or `Ok(None)`) for someone else's order. Implementations: the
/// built-in tables (`warmline_crm::BuiltinCrm`) and HTTP/REST (`warmline_crm::HttpCrm`).
#[async_trait]
pub trait CrmConnector: Send + Sync {
    /// What this connector can do (all operations unless it says otherwise).
    fn capabilities(&self) -> CrmCapabilities {
        CrmCapabilities::ALL
    }

    /// The customer known by this identity (email, phone, or the business's own id on the
    /// `api` channel), or `Ok(None)` when the CRM doesn't know them.
    async fn find_customer(
        &self,
        identity: &CustomerIdentity,
    ) -> Result<Option<CrmCustomer>, CrmError>;

    /// The customer's current profile; `NotFound` for an unknown reference.
    async fn profile(&self, customer: &CrmCustomerRef) -> Result<CustomerProfile, CrmError>;

    /// The customer's newest orders first, at most `limit`.
    async fn recent_orders(
        &self,
        customer: &CrmCustomerRef,
        limit: usize,
    ) -> Result<Vec<Order>, CrmError>;

    /// The customer's cases that are not closed, newest first.
    async fn open_cases(&self, customer: &CrmCustomerRef) -> Result<Vec<Case>, CrmError>;

    /// One order by number, if it exists and belongs to `owner`.
    async fn order(&self, number: &str, owner: &OrderOwner) -> Result<Option<Order>, CrmError>;

    /// Whether item `sku` of the order can be returned now. `NotFound` when the order is not
    /// the owner's or has no such item.
    async fn return_eligibility(
        &self,
        order_number: &str,
        sku: &str,
        owner: &OrderOwner,
    ) -> Result<ReturnEligibility, CrmError>;

    /// Changes where the order goes, while it is still editable; returns the updated order.
    /// `Refused` (with the reason for the customer) once it is being packed or has shipped,
    /// or when the address is not acceptable.
    async fn update_delivery_address(
        &self,
        order_number: &str,
        address: &Address,
        owner: &OrderOwner,
    ) -> Result<Order, CrmError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_statuses_parse_leniently_and_round_trip() {
        for st in OrderStatus::ALL {
            assert_eq!(st, st.as_str().parse().unwrap());
            assert_eq!(serde_json::to_string(&st).unwrap(), format!("\"{st}\""));
        }
        assert_eq!("Placed".parse(), Ok(OrderStatus::Received));
        assert_eq!("Out for delivery".parse(), Ok(OrderStatus::OutForDelivery));
        assert_eq!("canceled".parse(), Ok(OrderStatus::Cancelled));
        let err = "lost".parse::<OrderStatus>().unwrap_err();
        assert!(err.contains("lost") && err.contains("delivered"), "{err}");
        assert!(OrderStatus::Shipped.has_shipped() && !OrderStatus::Processing.has_shipped());
    }

    #[test]
    fn crm_errors_map_to_stable_codes() {
        let code = |e: CrmError| DomainError::from(e).code;
        assert_eq!(code(CrmError::NotFound), ErrorCode::NotFound);
        assert_eq!(code(CrmError::Refused("no".into())), ErrorCode::Conflict);
        assert_eq!(
            code(CrmError::Unavailable("x".into())),
            ErrorCode::Unavailable
        );
        assert_eq!(
            code(CrmError::Misconfigured("x".into())),
            ErrorCode::Internal
        );
    }
}
