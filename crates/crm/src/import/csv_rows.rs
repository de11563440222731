//! CSV files: one kind of record per file, told apart by the file name (`customers.csv`,
//! `orders.csv`, `cases.csv`, or any name ending so). Rows become the same raw records as
//! JSON; orders take one row per item, and rows with the same `number` make one order.

use super::records::{RawAddress, RawCase, RawCustomer, RawItem, RawOrder, RawTracking, Scalar};
use super::{ImportError, Place};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerRow {
    key: String,
    name: Option<String>,
    tier: Option<String>,
    language: Option<String>,
    membership: Option<String>,
    marketing_email: Option<String>,
    marketing_sms: Option<String>,
    lifetime_value: Option<String>,
    currency: Option<String>,
    /// `;`-separated lists
    emails: Option<String>,
    phones: Option<String>,
    external_ids: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderRow {
    number: String,
    customer: Option<String>,
    email: Option<String>,
    status: Option<String>,
    placed: Option<String>,
    delivered: Option<String>,
    currency: Option<String>,
    total: Option<String>,
    ship_name: Option<String>,
    ship_line1: Option<String>,
    ship_line2: Option<String>,
    ship_city: Option<String>,
    ship_region: Option<String>,
    ship_postal_code: Option<String>,
    ship_country: Option<String>,
    carrier: Option<String>,
    tracking_number: Option<String>,
    tracking_url: Option<String>,
    sku: String,
    item_name: String,
    quantity: Option<String>,
    price: String,
    category: Option<String>,
    final_sale: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseRow {
    id: String,
    customer: String,
    subject: String,
    status: Option<String>,
    opened: String,
}

/// Every row of a CSV file with the place it came from (`line N`, header = line 1).
fn rows<T: DeserializeOwned>(file: &Arc<str>, text: &str) -> Result<Vec<(Place, T)>, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| Place::line(file, 1).error(csv_message(&e)))?
        .clone();
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            Place::line(file, line).error(csv_message(&e))
        })?;
        let place = Place::line(file, record.position().map_or(0, |p| p.line()));
        let row = record
            .deserialize(Some(&headers))
            .map_err(|e| place.error(csv_message(&e)))?;
        out.push((place, row));
    }
    Ok(out)
}

fn csv_message(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Deserialize { err, .. } => match err.field() {
            Some(field) => format!("column {}: {}", field + 1, err.kind()),
            None => err.kind().to_string(),
        },
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} columns where the header has {expected_len}"),
        _ => e.to_string(),
    }
}

fn list(cell: Option<String>) -> Vec<String> {
    cell.unwrap_or_default()
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn scalar(cell: Option<String>) -> Option<Scalar> {
    cell.map(Scalar::Text)
}

pub(super) fn customers(
    file: &Arc<str>,
    text: &str,
) -> Result<Vec<(Place, RawCustomer)>, ImportError> {
    let rows: Vec<(Place, CustomerRow)> = rows(file, text)?;
    Ok(rows
        .into_iter()
        .map(|(place, r)| {
            let raw = RawCustomer {
                key: r.key,
                name: r.name,
                tier: r.tier,
                language: r.language,
                membership: r.membership,
                marketing_email: scalar(r.marketing_email),
                marketing_sms: scalar(r.marketing_sms),
                lifetime_value: scalar(r.lifetime_value),
                currency: r.currency,
                emails: list(r.emails),
                phones: list(r.phones),
                external_ids: list(r.external_ids),
            };
            (place, raw)
        })
        .collect())
}

pub(super) fn cases(file: &Arc<str>, text: &str) -> Result<Vec<(Place, RawCase)>, ImportError> {
    let rows: Vec<(Place, CaseRow)> = rows(file, text)?;
    Ok(rows
        .into_iter()
        .map(|(place, r)| {
            let raw = RawCase {
                id: r.id,
                customer: r.customer,
                subject: r.subject,
                status: r.status,
                opened: r.opened,
            };
            (place, raw)
        })
        .collect())
}

impl OrderRow {
    /// The order-level cells, by column name: on an order's later rows each is empty or the
    /// same as on its first row.
    fn order_cells(&self) -> [(&'static str, &Option<String>); 17] {
        [
            ("customer", &self.customer),
            ("email", &self.email),
            ("status", &self.status),
            ("placed", &self.placed),
            ("delivered", &self.delivered),
            ("currency", &self.currency),
            ("total", &self.total),
            ("ship_name", &self.ship_name),
            ("ship_line1", &self.ship_line1),
            ("ship_line2", &self.ship_line2),
            ("ship_city", &self.ship_city),
            ("ship_region", &self.ship_region),
            ("ship_postal_code", &self.ship_postal_code),
            ("ship_country", &self.ship_country),
            ("carrier", &self.carrier),
            ("tracking_number", &self.tracking_number),
            ("tracking_url", &self.tracking_url),
        ]
    }

    fn item(&self, place: &Place) -> RawItem {
        RawItem {
            sku: self.sku.clone(),
            name: self.item_name.clone(),
            quantity: scalar(self.quantity.clone()),
            price: Scalar::Text(self.price.clone()),
            category: self.category.clone(),
            final_sale: scalar(self.final_sale.clone()),
            place: Some(place.clone()),
        }
    }

    fn into_order(self) -> RawOrder {
        let present = |cell: &Option<String>| cell.as_ref().is_some_and(|c| !c.is_empty());
        let address = [&self.ship_line1, &self.ship_city, &self.ship_postal_code]
            .into_iter()
            .any(present)
            .then(|| RawAddress {
                name: self.ship_name.clone(),
                line1: self.ship_line1.clone().unwrap_or_default(),
                line2: self.ship_line2.clone(),
                city: self.ship_city.clone().unwrap_or_default(),
                region: self.ship_region.clone(),
                postal_code: self.ship_postal_code.clone().unwrap_or_default(),
                country: self.ship_country.clone().unwrap_or_default(),
            });
        let tracking = [&self.carrier, &self.tracking_number]
            .into_iter()
            .any(present)
            .then(|| RawTracking {
                carrier: self.carrier.clone().unwrap_or_default(),
                number: self.tracking_number.clone().unwrap_or_default(),
                url: self.tracking_url.clone(),
            });
        RawOrder {
            number: self.number,
            customer: self.customer,
            email: self.email,
            status: self.status.unwrap_or_default(),
            placed: self.placed.unwrap_or_default(),
            delivered: self.delivered,
            currency: self.currency.unwrap_or_default(),
            total: scalar(self.total),
            address,
            tracking,
            items: Vec::new(),
        }
    }
}

pub(super) fn orders(file: &Arc<str>, text: &str) -> Result<Vec<(Place, RawOrder)>, ImportError> {
    let rows: Vec<(Place, OrderRow)> = rows(file, text)?;
    // (first row's place, first row, items) per order number, in file order.
    let mut grouped: Vec<(Place, OrderRow, Vec<RawItem>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (place, row) in rows {
        let number = row.number.trim().to_uppercase();
        if number.is_empty() {
            return Err(place.error("`number` is required"));
        }
        let item = row.item(&place);
        match index.get(&number) {
            Some(&at) => {
                let (first_place, first, items) = &mut grouped[at];
                for ((column, cell), (_, first_cell)) in
                    row.order_cells().iter().zip(first.order_cells())
                {
                    let cell = cell.as_deref().unwrap_or_default();
                    if !cell.is_empty() && cell != first_cell.as_deref().unwrap_or_default() {
                        return Err(place.error(format!(
                            "`{column}` differs from the same order's {}",
                            first_place.at
                        )));
                    }
                }
                items.push(item);
            }
            None => {
                index.insert(number, grouped.len());
                grouped.push((place, row, vec![item]));
            }
        }
    }
    Ok(grouped
        .into_iter()
        .map(|(place, first, items)| {
            let mut order = first.into_order();
            order.items = items;
            (place, order)
        })
        .collect())
}
