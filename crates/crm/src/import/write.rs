//! Writes checked records in one transaction: upserts keyed by the business's own keys, so a
//! second import of the same files changes nothing but `updated_at`.

use super::records::{CaseRecord, CustomerRecord, OrderRecord};
use super::{ImportError, ImportReport};
use crate::values::to_millis;
use sqlx::{Sqlite, Transaction};
use std::collections::HashMap;
use time::OffsetDateTime;
use warmline_domain::CustomerId;

type Tx<'c> = Transaction<'c, Sqlite>;

fn db(e: sqlx::Error) -> ImportError {
    ImportError::Database(e)
}

/// Customer keys to store customer ids, filled as customers are written, read from the
/// database for keys imported before.
struct Keys(HashMap<String, String>);

impl Keys {
    async fn resolve(&mut self, tx: &mut Tx<'_>, key: &str) -> Result<Option<String>, ImportError> {
        if let Some(id) = self.0.get(key) {
            return Ok(Some(id.clone()));
        }
        let id: Option<String> =
            sqlx::query_scalar("SELECT customer_id FROM customer_profiles WHERE crm_key = ?")
                .bind(key)
                .fetch_optional(&mut **tx)
                .await
                .map_err(db)?;
        if let Some(id) = &id {
            self.0.insert(key.to_owned(), id.clone());
        }
        Ok(id)
    }
}

pub(super) async fn write_all(
    tx: &mut Tx<'_>,
    customers: &[CustomerRecord],
    orders: &[OrderRecord],
    cases: &[CaseRecord],
    now: OffsetDateTime,
) -> Result<ImportReport, ImportError> {
    let now = to_millis(now);
    let mut keys = Keys(HashMap::new());
    let mut report = ImportReport::default();
    for customer in customers {
        let id = customer_id(tx, &mut keys, &customer.key, now).await?;
        write_customer(tx, &id, customer, now).await?;
        report.customers += 1;
    }
    for order in orders {
        let customer = match &order.customer {
            Some(key) => Some(
                keys.resolve(tx, key)
                    .await?
                    .ok_or_else(|| order.place.error(format!("unknown customer {key:?}")))?,
            ),
            None => None,
        };
        write_order(tx, customer.as_deref(), order, now).await?;
        report.orders += 1;
        report.items += order.items.len();
    }
    for case in cases {
        let customer = keys.resolve(tx, &case.customer).await?.ok_or_else(|| {
            case.place
                .error(format!("unknown customer {:?}", case.customer))
        })?;
        write_case(tx, &customer, case, now).await?;
        report.cases += 1;
    }
    Ok(report)
}

/// The store customer behind a CRM key, created on first import.
async fn customer_id(
    tx: &mut Tx<'_>,
    keys: &mut Keys,
    key: &str,
    now: i64,
) -> Result<String, ImportError> {
    if let Some(id) = keys.resolve(tx, key).await? {
        return Ok(id);
    }
    let id = CustomerId::new().to_string();
    sqlx::query("INSERT INTO customers (id, display_name, created_at) VALUES (?, NULL, ?)")
        .bind(&id)
        .bind(now)
        .execute(&mut **tx)
        .await
        .map_err(db)?;
    keys.0.insert(key.to_owned(), id.clone());
    Ok(id)
}

async fn write_customer(
    tx: &mut Tx<'_>,
    id: &str,
    c: &CustomerRecord,
    now: i64,
) -> Result<(), ImportError> {
    sqlx::query("UPDATE customers SET display_name = ? WHERE id = ?")
        .bind(&c.name)
        .bind(id)
        .execute(&mut **tx)
        .await
        .map_err(db)?;
    sqlx::query(
        "INSERT INTO customer_profiles (customer_id, crm_key, name, tier, language, membership,
             marketing_email, marketing_sms, lifetime_value_cents, currency, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (customer_id) DO UPDATE SET name = excluded.name, tier = excluded.tier,
             language = excluded.language, membership = excluded.membership,
             marketing_email = excluded.marketing_email, marketing_sms = excluded.marketing_sms,
             lifetime_value_cents = excluded.lifetime_value_cents,
             currency = excluded.currency, updated_at = excluded.updated_at",
    )
    .bind(id)
    .bind(&c.key)
    .bind(&c.name)
    .bind(&c.tier)
    .bind(&c.language)
    .bind(&c.membership)
    .bind(c.marketing_email)
    .bind(c.marketing_sms)
    .bind(c.lifetime_value.as_ref().map(|m| m.cents))
    .bind(c.lifetime_value.as_ref().map(|m| m.currency.as_str()))
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(db)?;
    // The CRM is the authority on who an email or number belongs to: an identity first met
    // in a conversation moves to the imported customer.
    for (channel, external_id) in &c.identities {
        sqlx::query(
            "INSERT INTO customer_identities (channel, external_id, customer_id, created_at)
             VALUES (?, ?, ?, ?)
             ON CONFLICT (channel, external_id) DO UPDATE SET customer_id = excluded.customer_id",
        )
        .bind(channel.as_str())
        .bind(external_id)
        .bind(id)
        .bind(now)
        .execute(&mut **tx)
        .await
        .map_err(db)?;
    }
    Ok(())
}

async fn write_order(
    tx: &mut Tx<'_>,
    customer: Option<&str>,
    o: &OrderRecord,
    now: i64,
) -> Result<(), ImportError> {
    let a = o.address.as_ref();
    let t = o.tracking.as_ref();
    sqlx::query(
        "INSERT INTO orders (number, customer_id, email, status, placed_at, delivered_at,
             total_cents, currency, ship_name, ship_line1, ship_line2, ship_city, ship_region,
             ship_postal_code, ship_country, tracking_carrier, tracking_number, tracking_url,
             updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (number) DO UPDATE SET customer_id = excluded.customer_id,
             email = excluded.email, status = excluded.status, placed_at = excluded.placed_at,
             delivered_at = excluded.delivered_at, total_cents = excluded.total_cents,
             currency = excluded.currency, ship_name = excluded.ship_name,
             ship_line1 = excluded.ship_line1, ship_line2 = excluded.ship_line2,
             ship_city = excluded.ship_city, ship_region = excluded.ship_region,
             ship_postal_code = excluded.ship_postal_code, ship_country = excluded.ship_country,
             tracking_carrier = excluded.tracking_carrier,
             tracking_number = excluded.tracking_number, tracking_url = excluded.tracking_url,
             updated_at = excluded.updated_at",
    )
    .bind(&o.number)
    .bind(customer)
    .bind(&o.email)
    .bind(o.status.as_str())
    .bind(to_millis(o.placed_at))
    .bind(o.delivered_at.map(to_millis))
    .bind(o.total_cents)
    .bind(&o.currency)
    .bind(a.and_then(|a| a.name.as_deref()))
    .bind(a.map(|a| a.line1.as_str()))
    .bind(a.and_then(|a| a.line2.as_deref()))
    .bind(a.map(|a| a.city.as_str()))
    .bind(a.and_then(|a| a.region.as_deref()))
    .bind(a.map(|a| a.postal_code.as_str()))
    .bind(a.map(|a| a.country.as_str()))
    .bind(t.map(|t| t.carrier.as_str()))
    .bind(t.map(|t| t.number.as_str()))
    .bind(t.and_then(|t| t.url.as_deref()))
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(db)?;
    // Items are replaced as a whole: the file says what the order holds now.
    sqlx::query("DELETE FROM order_items WHERE order_number = ?")
        .bind(&o.number)
        .execute(&mut **tx)
        .await
        .map_err(db)?;
    for (line, item) in o.items.iter().enumerate() {
        sqlx::query(
            "INSERT INTO order_items (order_number, line, sku, name, quantity, price_cents,
                 category, final_sale)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&o.number)
        .bind(i64::try_from(line).unwrap_or(i64::MAX))
        .bind(&item.sku)
        .bind(&item.name)
        .bind(i64::from(item.quantity))
        .bind(item.price_cents)
        .bind(&item.category)
        .bind(item.final_sale)
        .execute(&mut **tx)
        .await
        .map_err(db)?;
    }
    Ok(())
}

async fn write_case(
    tx: &mut Tx<'_>,
    customer: &str,
    c: &CaseRecord,
    now: i64,
) -> Result<(), ImportError> {
    sqlx::query(
        "INSERT INTO cases (id, customer_id, subject, status, opened_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET customer_id = excluded.customer_id,
             subject = excluded.subject, status = excluded.status,
             opened_at = excluded.opened_at, updated_at = excluded.updated_at",
    )
    .bind(&c.id)
    .bind(customer)
    .bind(&c.subject)
    .bind(&c.status)
    .bind(to_millis(c.opened_at))
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(db)?;
    Ok(())
}
