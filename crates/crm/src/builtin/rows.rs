//! Rows of the CRM tables (store migration 0002) into domain types.

use crate::values::from_millis;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;
use warmline_domain::{
    Address, Case, Consent, CrmError, CustomerProfile, Money, Order, OrderItem, OrderStatus,
    Tracking,
};

/// A stored value that doesn't read back: the database was edited by hand or by a newer
/// version. Not an outage, so not `Unavailable`.
fn corrupt(detail: String) -> CrmError {
    tracing::error!(%detail, "crm data is not readable");
    CrmError::Misconfigured(format!("stored crm data is not readable: {detail}"))
}

fn get<'r, T>(row: &'r SqliteRow, column: &str) -> Result<T, CrmError>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(column)
        .map_err(|e| corrupt(format!("column {column}: {e}")))
}

fn time(row: &SqliteRow, column: &str) -> Result<OffsetDateTime, CrmError> {
    let ms: i64 = get(row, column)?;
    from_millis(ms).ok_or_else(|| corrupt(format!("column {column}: time {ms}")))
}

fn optional_time(row: &SqliteRow, column: &str) -> Result<Option<OffsetDateTime>, CrmError> {
    let ms: Option<i64> = get(row, column)?;
    ms.map(|ms| from_millis(ms).ok_or_else(|| corrupt(format!("column {column}: time {ms}"))))
        .transpose()
}

pub(super) fn profile(row: &SqliteRow) -> Result<CustomerProfile, CrmError> {
    let cents: Option<i64> = get(row, "lifetime_value_cents")?;
    let currency: Option<String> = get(row, "currency")?;
    Ok(CustomerProfile {
        name: get(row, "name")?,
        tier: get(row, "tier")?,
        language: get(row, "language")?,
        membership: get(row, "membership")?,
        consent: Consent {
            marketing_email: get(row, "marketing_email")?,
            marketing_sms: get(row, "marketing_sms")?,
        },
        lifetime_value: cents
            .zip(currency)
            .map(|(cents, currency)| Money { cents, currency }),
    })
}

/// An order row, with its items read separately.
pub(super) fn order(row: &SqliteRow, items: Vec<OrderItem>) -> Result<Order, CrmError> {
    let status: String = get(row, "status")?;
    let status: OrderStatus = status.parse().map_err(corrupt)?;
    let line1: Option<String> = get(row, "ship_line1")?;
    let delivery_address = match line1 {
        Some(line1) => Some(Address {
            name: get(row, "ship_name")?,
            line1,
            line2: get(row, "ship_line2")?,
            city: get::<Option<String>>(row, "ship_city")?.unwrap_or_default(),
            region: get(row, "ship_region")?,
            postal_code: get::<Option<String>>(row, "ship_postal_code")?.unwrap_or_default(),
            country: get::<Option<String>>(row, "ship_country")?.unwrap_or_default(),
        }),
        None => None,
    };
    let carrier: Option<String> = get(row, "tracking_carrier")?;
    let number: Option<String> = get(row, "tracking_number")?;
    let tracking = match carrier.zip(number) {
        Some((carrier, number)) => Some(Tracking {
            carrier,
            number,
            url: get(row, "tracking_url")?,
        }),
        None => None,
    };
    Ok(Order {
        number: get(row, "number")?,
        status,
        placed_at: time(row, "placed_at")?,
        delivered_at: optional_time(row, "delivered_at")?,
        items,
        total_cents: get(row, "total_cents")?,
        currency: get(row, "currency")?,
        delivery_address,
        tracking,
    })
}

pub(super) fn item(row: &SqliteRow) -> Result<OrderItem, CrmError> {
    let quantity: i64 = get(row, "quantity")?;
    Ok(OrderItem {
        sku: get(row, "sku")?,
        name: get(row, "name")?,
        quantity: u32::try_from(quantity).map_err(|_| corrupt(format!("quantity {quantity}")))?,
        price_cents: get(row, "price_cents")?,
        category: get(row, "category")?,
        final_sale: get(row, "final_sale")?,
    })
}

pub(super) fn case(row: &SqliteRow) -> Result<Case, CrmError> {
    Ok(Case {
        id: get(row, "id")?,
        subject: get(row, "subject")?,
        status: get(row, "status")?,
        opened_at: time(row, "opened_at")?,
    })
}
