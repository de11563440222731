//! A CRM over HTTP/REST, configured declaratively ([`HttpCrmConfig`]): each operation is a
//! request template, each field a JSON pointer into the answer. `preset = "hubspot"` fills
//! in HubSpot's contacts API. Failures are bounded and typed: a timeout per attempt, a few
//! retries with backoff on transient errors, a circuit breaker that fails fast during an
//! outage (`CrmError::Unavailable`), and a short cache of successful reads.

mod breaker;
mod cache;
mod config;
mod mapping;
mod template;
mod transport;

#[cfg(test)]
mod config_tests;

pub use config::{
    AuthConfig, CacheConfig, CircuitConfig, HttpConfigError, HttpCrmConfig, Mapping, Operation,
    Operations,
};

use crate::ReturnRules;
use crate::changes::{check_address, check_editable};
use crate::values::{Lookup, normalize_email};
use async_trait::async_trait;
use mapping::MappedOrder;
use serde_json::Value;
use std::fmt;
use std::sync::Arc;
use template::Vars;
use transport::{Reply, Transport};
use warmline_domain::{
    Address, Case, CrmCapabilities, CrmConnector, CrmCustomer, CrmCustomerRef, CrmError,
    CustomerIdentity, CustomerProfile, Order, OrderOwner, ReturnEligibility,
};

/// [`CrmConnector`] for an HTTP/REST CRM. Cheap to clone (the client, breaker and cache are
/// shared between clones).
#[derive(Clone)]
pub struct HttpCrm {
    config: Arc<HttpCrmConfig>,
    transport: Arc<Transport>,
    rules: ReturnRules,
}

impl fmt::Debug for HttpCrm {
    // Never the auth header.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpCrm")
            .field("base_url", &self.config.base_url)
            .field("preset", &self.config.preset)
            .finish_non_exhaustive()
    }
}

impl HttpCrm {
    /// A connector reading its auth secret from the environment variable the config names.
    /// `Misconfigured` when that variable is not set.
    pub fn new(config: HttpCrmConfig) -> Result<Self, CrmError> {
        Self::with_secrets(config, |name| std::env::var(name).ok())
    }

    /// Same, with secrets looked up by `secret(variable name)` (a secrets manager, tests).
    pub fn with_secrets(
        config: HttpCrmConfig,
        secret: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, CrmError> {
        let mut config = config;
        // Loading checks already; a config built another way is checked here.
        config
            .check()
            .map_err(|e| CrmError::Misconfigured(e.to_string()))?;
        let transport = Transport::new(&config, &secret)?;
        Ok(Self {
            config: Arc::new(config),
            transport: Arc::new(transport),
            rules: ReturnRules::default(),
        })
    }

    /// The same connector with another return policy.
    pub fn with_rules(mut self, rules: ReturnRules) -> Self {
        self.rules = rules;
        self
    }

    fn operation(&self, name: &'static str) -> Result<&Operation, CrmError> {
        let ops = &self.config.operations;
        let op = match name {
            "profile" => &ops.profile,
            "recent_orders" => &ops.recent_orders,
            "open_cases" => &ops.open_cases,
            "order" => &ops.order,
            "update_delivery_address" => &ops.update_delivery_address,
            _ => &None,
        };
        op.as_ref()
            .ok_or_else(|| CrmError::Misconfigured(format!("operation {name} is not configured")))
    }

    /// Calls `name` and returns its records (none for a 404).
    async fn records(
        &self,
        name: &'static str,
        op: &Operation,
        vars: &Vars,
        cacheable: bool,
    ) -> Result<Option<Arc<Value>>, CrmError> {
        match self.transport.call(name, op, vars, cacheable).await? {
            Reply::Found(value) => Ok(Some(value)),
            Reply::Missing => Ok(None),
            Reply::Rejected => Err(CrmError::Misconfigured(format!(
                "the crm refused the {name} request"
            ))),
        }
    }

    /// The order if the CRM has it and its record proves `owner` owns it.
    async fn owned_order(
        &self,
        number: &str,
        owner: &OrderOwner,
        cacheable: bool,
    ) -> Result<Option<MappedOrder>, CrmError> {
        let op = self.operation("order")?;
        let vars = owner_vars(Vars::default().text("order_number", number.trim()), owner);
        let Some(value) = self.records("order", op, &vars, cacheable).await? else {
            return Ok(None);
        };
        let m = &self.config.mapping;
        for record in mapping::records(&value, op.records.as_deref()) {
            let mapped = mapping::order(&m.order, &m.item, &m.order_statuses, record)
                .map_err(|e| mapping_error("order", e))?;
            let owned = match owner {
                OrderOwner::Customer(c) => mapped.customer_id.as_deref() == Some(c.0.as_str()),
                OrderOwner::Email(e) => {
                    mapped.email.is_some() && mapped.email == normalize_email(e)
                }
            };
            if owned && mapped.order.number.eq_ignore_ascii_case(number.trim()) {
                return Ok(Some(mapped));
            }
        }
        Ok(None)
    }
}

fn owner_vars(vars: Vars, owner: &OrderOwner) -> Vars {
    match owner {
        OrderOwner::Customer(c) => vars.text("customer_id", c.0.clone()),
        OrderOwner::Email(e) => vars.text("email", normalize_email(e).unwrap_or_default()),
    }
}

/// A record that doesn't fit the mapping: the config is wrong for this CRM. The detail names
/// fields, never values.
fn mapping_error(op: &str, detail: String) -> CrmError {
    tracing::warn!(op, %detail, "crm answer does not fit the mapping");
    CrmError::Misconfigured(format!("{op}: {detail}"))
}

const CLOSED_CASES: [&str; 3] = ["closed", "resolved", "solved"];

#[async_trait]
impl CrmConnector for HttpCrm {
    fn capabilities(&self) -> CrmCapabilities {
        let ops = &self.config.operations;
        CrmCapabilities {
            profile: ops.profile.is_some(),
            recent_orders: ops.recent_orders.is_some(),
            open_cases: ops.open_cases.is_some(),
            order_lookup: ops.order.is_some(),
            return_eligibility: ops.order.is_some(),
            update_delivery_address: ops.order.is_some() && ops.update_delivery_address.is_some(),
        }
    }

    async fn find_customer(
        &self,
        identity: &CustomerIdentity,
    ) -> Result<Option<CrmCustomer>, CrmError> {
        let ops = &self.config.operations;
        let (name, op, vars) = match Lookup::from_identity(identity) {
            Some(Lookup::Email(e)) => (
                "find_by_email",
                &ops.find_by_email,
                Vars::default().text("email", e),
            ),
            Some(Lookup::Phone(p)) => (
                "find_by_phone",
                &ops.find_by_phone,
                Vars::default().text("phone", p),
            ),
            Some(Lookup::ExternalId(id)) => (
                "find_by_external_id",
                &ops.find_by_external_id,
                Vars::default().text("external_id", id),
            ),
            // Platform ids (web sessions, Telegram...) mean nothing to a CRM.
            Some(Lookup::Other(..)) | None => return Ok(None),
        };
        let Some(op) = op else {
            return Ok(None);
        };
        let Some(value) = self.records(name, op, &vars, true).await? else {
            tracing::debug!(op = name, found = false, "crm customer lookup");
            return Ok(None);
        };
        let found = mapping::records(&value, op.records.as_deref())
            .first()
            .map(|record| mapping::customer(&self.config.mapping.customer, record))
            .transpose()
            .map_err(|e| mapping_error(name, e))?;
        tracing::debug!(op = name, found = found.is_some(), "crm customer lookup");
        Ok(found)
    }

    async fn profile(&self, customer: &CrmCustomerRef) -> Result<CustomerProfile, CrmError> {
        let op = self.operation("profile")?;
        let vars = Vars::default().text("customer_id", customer.0.clone());
        let value = self
            .records("profile", op, &vars, true)
            .await?
            .ok_or(CrmError::NotFound)?;
        let records = mapping::records(&value, op.records.as_deref());
        let record = records.first().ok_or(CrmError::NotFound)?;
        mapping::profile(&self.config.mapping.customer, record)
            .map_err(|e| mapping_error("profile", e))
    }

    async fn recent_orders(
        &self,
        customer: &CrmCustomerRef,
        limit: usize,
    ) -> Result<Vec<Order>, CrmError> {
        let op = self.operation("recent_orders")?;
        let vars = Vars::default()
            .text("customer_id", customer.0.clone())
            .number("limit", i64::try_from(limit).unwrap_or(i64::MAX));
        let Some(value) = self.records("recent_orders", op, &vars, true).await? else {
            return Ok(Vec::new());
        };
        let m = &self.config.mapping;
        let mut orders = mapping::records(&value, op.records.as_deref())
            .into_iter()
            .map(|r| mapping::order(&m.order, &m.item, &m.order_statuses, r).map(|o| o.order))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| mapping_error("recent_orders", e))?;
        orders.sort_by_key(|o| std::cmp::Reverse(o.placed_at));
        orders.truncate(limit);
        Ok(orders)
    }

    async fn open_cases(&self, customer: &CrmCustomerRef) -> Result<Vec<Case>, CrmError> {
        let op = self.operation("open_cases")?;
        let vars = Vars::default().text("customer_id", customer.0.clone());
        let Some(value) = self.records("open_cases", op, &vars, true).await? else {
            return Ok(Vec::new());
        };
        let mut cases = mapping::records(&value, op.records.as_deref())
            .into_iter()
            .map(|r| mapping::case(&self.config.mapping.case, r))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| mapping_error("open_cases", e))?;
        cases.retain(|c| !CLOSED_CASES.contains(&c.status.as_str()));
        cases.sort_by_key(|c| std::cmp::Reverse(c.opened_at));
        Ok(cases)
    }

    async fn order(&self, number: &str, owner: &OrderOwner) -> Result<Option<Order>, CrmError> {
        Ok(self
            .owned_order(number, owner, true)
            .await?
            .map(|m| m.order))
    }

    async fn return_eligibility(
        &self,
        order_number: &str,
        sku: &str,
        owner: &OrderOwner,
    ) -> Result<ReturnEligibility, CrmError> {
        let mapped = self
            .owned_order(order_number, owner, true)
            .await?
            .ok_or(CrmError::NotFound)?;
        // Membership can lengthen the window; without a profile the standard window applies.
        let customer = match owner {
            OrderOwner::Customer(c) => Some(c.clone()),
            OrderOwner::Email(_) => mapped.customer_id.map(CrmCustomerRef),
        };
        let membership = match customer {
            Some(c) if self.config.operations.profile.is_some() => {
                self.profile(&c).await?.membership
            }
            _ => None,
        };
        let now = time::OffsetDateTime::now_utc();
        self.rules
            .evaluate(&mapped.order, sku, membership.as_deref(), now)
    }

    async fn update_delivery_address(
        &self,
        order_number: &str,
        address: &Address,
        owner: &OrderOwner,
    ) -> Result<Order, CrmError> {
        let op = self.operation("update_delivery_address")?;
        // Fresh, not cached: the status decides whether the change is allowed.
        let current = self
            .owned_order(order_number, owner, false)
            .await?
            .ok_or(CrmError::NotFound)?
            .order;
        check_editable(current.status)?;
        let address = check_address(address, current.delivery_address.as_ref())?;
        let vars = owner_vars(
            Vars::default().text("order_number", current.number.clone()),
            owner,
        )
        .text("address_name", address.name.clone().unwrap_or_default())
        .text("address_line1", address.line1.clone())
        .text("address_line2", address.line2.clone().unwrap_or_default())
        .text("address_city", address.city.clone())
        .text("address_region", address.region.clone().unwrap_or_default())
        .text("address_postal_code", address.postal_code.clone())
        .text("address_country", address.country.clone());
        match self
            .transport
            .call("update_delivery_address", op, &vars, false)
            .await?
        {
            Reply::Missing => Err(CrmError::NotFound),
            Reply::Rejected => Err(CrmError::Refused(
                "This order can no longer be changed.".into(),
            )),
            Reply::Found(_) => Ok(Order {
                delivery_address: Some(address),
                ..current
            }),
        }
    }
}
