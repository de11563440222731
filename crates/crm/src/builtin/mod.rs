//! The built-in CRM: customer profiles, orders and cases in the store's own SQLite database
//! (tables from store migration 0002, filled by [`crate::import`]). The embedded default:
//! nothing to set up, and the same customer ids as the conversation store, because CRM
//! customers are rows of its `customers` table and their identities rows of
//! `customer_identities`.

mod rows;

use crate::ReturnRules;
use crate::changes::{check_address, check_editable};
use crate::values::{Lookup, normalize_email, to_millis};
use async_trait::async_trait;
use sqlx::sqlite::{SqlitePool, SqliteRow};
use std::collections::HashMap;
use std::time::Duration;
use warmline_domain::{
    Address, Case, Channel, CrmConnector, CrmCustomer, CrmCustomerRef, CrmError, CustomerIdentity,
    CustomerProfile, Order, OrderItem, OrderOwner, ReturnEligibility,
};

/// [`CrmConnector`] over the store's SQLite database. Cheap to clone (pools are shared).
///
/// A customer's [`CrmCustomerRef`] is their store customer id, so the conversation store and
/// the CRM agree on who someone is.
#[derive(Debug, Clone)]
pub struct BuiltinCrm {
    reader: SqlitePool,
    writer: SqlitePool,
    rules: ReturnRules,
}

impl BuiltinCrm {
    /// Reads through `reader` and writes (address changes) through `writer`: with
    /// `warmline_store::SqliteStore`, its `reader_pool()` and `writer_pool()`. Both may be the
    /// same pool. Returns follow Juniper Market's [`ReturnRules::default`].
    pub fn new(reader: SqlitePool, writer: SqlitePool) -> Self {
        Self {
            reader,
            writer,
            rules: ReturnRules::default(),
        }
    }

    /// The same connector with another return policy.
    pub fn with_rules(mut self, rules: ReturnRules) -> Self {
        self.rules = rules;
        self
    }

    /// The order and its customer id, if it exists and belongs to `owner`.
    async fn owned_order(
        &self,
        number: &str,
        owner: &OrderOwner,
    ) -> Result<Option<(Order, Option<String>)>, CrmError> {
        let number = number.trim().to_uppercase();
        let row = match owner {
            OrderOwner::Customer(customer) => {
                sqlx::query("SELECT * FROM orders WHERE number = ? AND customer_id = ?")
                    .bind(&number)
                    .bind(&customer.0)
                    .fetch_optional(&self.reader)
                    .await
            }
            OrderOwner::Email(email) => {
                let Some(email) = normalize_email(email) else {
                    return Ok(None);
                };
                // The email it was placed with, or any email the customer is known by.
                sqlx::query(
                    "SELECT * FROM orders o WHERE number = ? AND (email = ? OR EXISTS (
                         SELECT 1 FROM customer_identities i WHERE i.customer_id = o.customer_id
                         AND i.channel = 'email' AND i.external_id = ?))",
                )
                .bind(&number)
                .bind(&email)
                .bind(&email)
                .fetch_optional(&self.reader)
                .await
            }
        }
        .map_err(db_error)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let items = sqlx::query("SELECT * FROM order_items WHERE order_number = ? ORDER BY line")
            .bind(&number)
            .fetch_all(&self.reader)
            .await
            .map_err(db_error)?
            .iter()
            .map(rows::item)
            .collect::<Result<Vec<_>, _>>()?;
        let customer_id: Option<String> =
            sqlx::Row::try_get::<Option<String>, _>(&row, "customer_id").map_err(db_error)?;
        Ok(Some((rows::order(&row, items)?, customer_id)))
    }
}

fn db_error(e: sqlx::Error) -> CrmError {
    tracing::warn!(error = %e, "crm database call failed");
    CrmError::Unavailable("the crm database is unavailable".into())
}

/// The most a call may take: the database is local, so this is a stuck writer or a locked
/// file, and the conversation should go on without the CRM rather than wait.
const BUDGET: Duration = Duration::from_secs(5);

async fn bounded<T>(
    call: &'static str,
    work: impl Future<Output = Result<T, CrmError>>,
) -> Result<T, CrmError> {
    tokio::time::timeout(BUDGET, work)
        .await
        .unwrap_or_else(|_| {
            tracing::warn!(call, "crm database call timed out");
            Err(CrmError::Unavailable("the crm database timed out".into()))
        })
}

#[async_trait]
impl CrmConnector for BuiltinCrm {
    async fn find_customer(
        &self,
        identity: &CustomerIdentity,
    ) -> Result<Option<CrmCustomer>, CrmError> {
        bounded("find_customer", self.find(identity)).await
    }

    async fn profile(&self, customer: &CrmCustomerRef) -> Result<CustomerProfile, CrmError> {
        bounded("profile", self.read_profile(customer)).await
    }

    async fn recent_orders(
        &self,
        customer: &CrmCustomerRef,
        limit: usize,
    ) -> Result<Vec<Order>, CrmError> {
        bounded("recent_orders", self.orders(customer, limit)).await
    }

    async fn open_cases(&self, customer: &CrmCustomerRef) -> Result<Vec<Case>, CrmError> {
        bounded("open_cases", self.cases(customer)).await
    }

    async fn order(&self, number: &str, owner: &OrderOwner) -> Result<Option<Order>, CrmError> {
        let found = bounded("order", self.owned_order(number, owner)).await?;
        Ok(found.map(|(order, _)| order))
    }

    async fn return_eligibility(
        &self,
        order_number: &str,
        sku: &str,
        owner: &OrderOwner,
    ) -> Result<ReturnEligibility, CrmError> {
        bounded(
            "return_eligibility",
            self.eligibility(order_number, sku, owner),
        )
        .await
    }

    async fn update_delivery_address(
        &self,
        order_number: &str,
        address: &Address,
        owner: &OrderOwner,
    ) -> Result<Order, CrmError> {
        bounded(
            "update_delivery_address",
            self.change_address(order_number, address, owner),
        )
        .await
    }
}

impl BuiltinCrm {
    async fn find(&self, identity: &CustomerIdentity) -> Result<Option<CrmCustomer>, CrmError> {
        let Some(lookup) = Lookup::from_identity(identity) else {
            return Ok(None);
        };
        let kind = lookup.kind();
        // The importer stores emails under `email`, phones under `sms` (and `whatsapp`), and
        // the business's ids under `api`.
        let (channel, key) = match lookup {
            Lookup::Email(email) => (Channel::Email, email),
            Lookup::Phone(phone) => (Channel::Sms, phone),
            Lookup::ExternalId(id) => (Channel::Api, id),
            Lookup::Other(channel, id) => (channel, id),
        };
        let row = sqlx::query(
            "SELECT p.* FROM customer_identities i
             JOIN customer_profiles p ON p.customer_id = i.customer_id
             WHERE i.channel = ? AND i.external_id = ?",
        )
        .bind(channel.as_str())
        .bind(&key)
        .fetch_optional(&self.reader)
        .await
        .map_err(db_error)?;
        tracing::debug!(lookup = kind, found = row.is_some(), "crm customer lookup");
        let Some(row) = row else {
            return Ok(None);
        };
        let reference: String = sqlx::Row::try_get(&row, "customer_id").map_err(db_error)?;
        Ok(Some(CrmCustomer {
            reference: CrmCustomerRef(reference),
            profile: rows::profile(&row)?,
        }))
    }

    async fn read_profile(&self, customer: &CrmCustomerRef) -> Result<CustomerProfile, CrmError> {
        let row = sqlx::query("SELECT * FROM customer_profiles WHERE customer_id = ?")
            .bind(&customer.0)
            .fetch_optional(&self.reader)
            .await
            .map_err(db_error)?;
        row.as_ref()
            .map(rows::profile)
            .transpose()?
            .ok_or(CrmError::NotFound)
    }

    async fn orders(
        &self,
        customer: &CrmCustomerRef,
        limit: usize,
    ) -> Result<Vec<Order>, CrmError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let orders = sqlx::query(
            "SELECT * FROM orders WHERE number IN (SELECT number FROM orders WHERE customer_id = ?
                 ORDER BY placed_at DESC, number DESC LIMIT ?)
             ORDER BY placed_at DESC, number DESC",
        )
        .bind(&customer.0)
        .bind(limit)
        .fetch_all(&self.reader)
        .await
        .map_err(db_error)?;
        let item_rows = sqlx::query(
            "SELECT * FROM order_items WHERE order_number IN (SELECT number FROM orders
                 WHERE customer_id = ? ORDER BY placed_at DESC, number DESC LIMIT ?)
             ORDER BY line",
        )
        .bind(&customer.0)
        .bind(limit)
        .fetch_all(&self.reader)
        .await
        .map_err(db_error)?;
        let mut items: HashMap<String, Vec<OrderItem>> = HashMap::new();
        for row in &item_rows {
            let number: String = sqlx::Row::try_get(row, "order_number").map_err(db_error)?;
            items.entry(number).or_default().push(rows::item(row)?);
        }
        orders
            .iter()
            .map(|row: &SqliteRow| {
                let number: String = sqlx::Row::try_get(row, "number").map_err(db_error)?;
                rows::order(row, items.remove(&number).unwrap_or_default())
            })
            .collect()
    }

    async fn cases(&self, customer: &CrmCustomerRef) -> Result<Vec<Case>, CrmError> {
        let rows = sqlx::query(
            "SELECT * FROM cases WHERE customer_id = ?
                 AND lower(status) NOT IN ('closed', 'resolved', 'solved')
             ORDER BY opened_at DESC, id",
        )
        .bind(&customer.0)
        .fetch_all(&self.reader)
        .await
        .map_err(db_error)?;
        rows.iter().map(rows::case).collect()
    }

    async fn eligibility(
        &self,
        order_number: &str,
        sku: &str,
        owner: &OrderOwner,
    ) -> Result<ReturnEligibility, CrmError> {
        let (order, customer_id) = self
            .owned_order(order_number, owner)
            .await?
            .ok_or(CrmError::NotFound)?;
        let membership: Option<String> = match customer_id {
            Some(id) => {
                sqlx::query_scalar("SELECT membership FROM customer_profiles WHERE customer_id = ?")
                    .bind(id)
                    .fetch_optional(&self.reader)
                    .await
                    .map_err(db_error)?
                    .flatten()
            }
            None => None,
        };
        let now = time::OffsetDateTime::now_utc();
        self.rules.evaluate(&order, sku, membership.as_deref(), now)
    }

    async fn change_address(
        &self,
        order_number: &str,
        address: &Address,
        owner: &OrderOwner,
    ) -> Result<Order, CrmError> {
        let (order, _) = self
            .owned_order(order_number, owner)
            .await?
            .ok_or(CrmError::NotFound)?;
        check_editable(order.status)?;
        let address = check_address(address, order.delivery_address.as_ref())?;
        // Guarded by status: if the order moved on since we read it, nothing is written.
        let updated = sqlx::query(
            "UPDATE orders SET ship_name = ?, ship_line1 = ?, ship_line2 = ?, ship_city = ?,
                 ship_region = ?, ship_postal_code = ?, ship_country = ?, updated_at = ?
             WHERE number = ? AND status = 'received'",
        )
        .bind(&address.name)
        .bind(&address.line1)
        .bind(&address.line2)
        .bind(&address.city)
        .bind(&address.region)
        .bind(&address.postal_code)
        .bind(&address.country)
        .bind(to_millis(time::OffsetDateTime::now_utc()))
        .bind(&order.number)
        .execute(&self.writer)
        .await
        .map_err(db_error)?;
        if updated.rows_affected() == 0 {
            return Err(CrmError::Refused(
                "This order can no longer be changed.".into(),
            ));
        }
        tracing::debug!("crm delivery address updated");
        Ok(Order {
            delivery_address: Some(address),
            ..order
        })
    }
}
