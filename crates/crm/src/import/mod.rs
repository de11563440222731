//! Importing customers, orders and cases into the built-in CRM tables.
//!
//! [`import`] takes a `.json` file, a `.csv` file, or a folder of them. A JSON file holds
//! `{"customers": [...], "orders": [...], "cases": [...]}` (any of the three); a CSV file
//! holds one kind, named by the end of its file name (`customers.csv`, `orders.csv` with one
//! row per item, `cases.csv`). Times are RFC 3339, dates, or relative to the import
//! (`-10d`), so sample data stays true. The full layout is in `knowledge/README.md`.
//!
//! Everything is checked before anything is written, and errors name the file and the line
//! (CSV, JSON syntax) or the record (`orders[3] (JM-204518837)`). Writing is one transaction
//! (all or nothing) and upserts by the business's keys (customer `key`, order `number`, case
//! `id`): importing the same files twice leaves the same rows. Rows are never deleted.

mod csv_rows;
mod records;
mod write;

use records::{CaseRecord, CustomerRecord, OrderRecord, RawDocument};
use sqlx::SqlitePool;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use time::OffsetDateTime;

/// What an import wrote (inserted or updated).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// The files read, in the order they were read.
    pub files: Vec<PathBuf>,
    pub customers: usize,
    pub orders: usize,
    /// Order lines, over all orders.
    pub items: usize,
    pub cases: usize,
}

/// Why an import wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Not a `.json` or `.csv` file, a CSV file whose name says no kind, or an empty folder.
    #[error("{0}")]
    Unsupported(String),
    /// A record is wrong: `file` and `at` (a line or a record) say where.
    #[error("{file}: {at}: {message}")]
    Invalid {
        file: String,
        at: String,
        message: String,
    },
    #[error("cannot write the import to the database: {0}")]
    Database(#[source] sqlx::Error),
}

/// Where a record was written: a file and a line or a record path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Place {
    file: Arc<str>,
    at: String,
}

impl Place {
    fn line(file: &Arc<str>, line: u64) -> Self {
        Self {
            file: file.clone(),
            at: format!("line {line}"),
        }
    }

    fn record(file: &Arc<str>, list: &str, index: usize, key: &str) -> Self {
        let key = key.trim();
        let at = if key.is_empty() {
            format!("{list}[{index}]")
        } else {
            format!("{list}[{index}] ({key})")
        };
        Self {
            file: file.clone(),
            at,
        }
    }

    /// An order's item, for JSON (CSV items carry their own line).
    fn item(&self, index: usize) -> Self {
        Self {
            file: self.file.clone(),
            at: format!("{}, items[{index}]", self.at),
        }
    }

    fn error(&self, message: impl Into<String>) -> ImportError {
        ImportError::Invalid {
            file: self.file.to_string(),
            at: self.at.clone(),
            message: message.into(),
        }
    }
}

/// Imports a `.json`/`.csv` file, or every such file in a folder, into the CRM tables of the
/// store database behind `pool` (use the store's writer pool). All or nothing.
pub async fn import(pool: &SqlitePool, path: &Path) -> Result<ImportReport, ImportError> {
    let now = warmline_domain::conversation::now();
    let owned = path.to_owned();
    // Reading and checking files is blocking work: keep it off the async workers.
    let batch = tokio::task::spawn_blocking(move || load(&owned, now))
        .await
        .map_err(|e| ImportError::Read {
            path: path.to_owned(),
            source: std::io::Error::other(e),
        })??;
    let mut tx = pool.begin().await.map_err(ImportError::Database)?;
    let mut report =
        write::write_all(&mut tx, &batch.customers, &batch.orders, &batch.cases, now).await?;
    tx.commit().await.map_err(ImportError::Database)?;
    report.files = batch.files;
    tracing::debug!(
        customers = report.customers,
        orders = report.orders,
        cases = report.cases,
        "crm import done"
    );
    Ok(report)
}

#[derive(Default)]
struct Batch {
    files: Vec<PathBuf>,
    customers: Vec<CustomerRecord>,
    orders: Vec<OrderRecord>,
    cases: Vec<CaseRecord>,
}

fn load(path: &Path, now: OffsetDateTime) -> Result<Batch, ImportError> {
    let files = files(path)?;
    let mut batch = Batch::default();
    for file in &files {
        load_file(file, now, &mut batch)?;
    }
    batch.files = files;
    check_unique(&batch)?;
    Ok(batch)
}

fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_lowercase)
        .filter(|e| e == "json" || e == "csv")
}

fn files(path: &Path) -> Result<Vec<PathBuf>, ImportError> {
    let read_error = |source| ImportError::Read {
        path: path.to_owned(),
        source,
    };
    if !path.is_dir() {
        return match extension(path) {
            Some(_) => Ok(vec![path.to_owned()]),
            None => Err(ImportError::Unsupported(format!(
                "{}: not a .json or .csv file",
                path.display()
            ))),
        };
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(read_error)? {
        let file = entry.map_err(read_error)?.path();
        if file.is_file() && extension(&file).is_some() {
            files.push(file);
        }
    }
    if files.is_empty() {
        return Err(ImportError::Unsupported(format!(
            "{}: no .json or .csv files in this folder",
            path.display()
        )));
    }
    files.sort();
    Ok(files)
}

fn load_file(path: &Path, now: OffsetDateTime, batch: &mut Batch) -> Result<(), ImportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ImportError::Read {
        path: path.to_owned(),
        source,
    })?;
    let file: Arc<str> = path.display().to_string().into();
    if extension(path).as_deref() == Some("json") {
        let doc: RawDocument = serde_json::from_str(&text).map_err(|e| {
            let position = format!(" at line {} column {}", e.line(), e.column());
            let message = e.to_string();
            ImportError::Invalid {
                file: file.to_string(),
                at: format!("line {}", e.line()),
                message: message.trim_end_matches(&position).to_owned(),
            }
        })?;
        for (i, c) in doc.customers.into_iter().enumerate() {
            let place = Place::record(&file, "customers", i, &c.key);
            batch.customers.push(c.validate(place)?);
        }
        for (i, o) in doc.orders.into_iter().enumerate() {
            let place = Place::record(&file, "orders", i, &o.number);
            batch.orders.push(o.validate(place, now)?);
        }
        for (i, c) in doc.cases.into_iter().enumerate() {
            let place = Place::record(&file, "cases", i, &c.id);
            batch.cases.push(c.validate(place, now)?);
        }
        return Ok(());
    }
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .map(str::to_lowercase)
        .unwrap_or_default();
    if stem.ends_with("customers") {
        for (place, raw) in csv_rows::customers(&file, &text)? {
            batch.customers.push(raw.validate(place)?);
        }
    } else if stem.ends_with("orders") {
        for (place, raw) in csv_rows::orders(&file, &text)? {
            batch.orders.push(raw.validate(place, now)?);
        }
    } else if stem.ends_with("cases") {
        for (place, raw) in csv_rows::cases(&file, &text)? {
            batch.cases.push(raw.validate(place, now)?);
        }
    } else {
        return Err(ImportError::Unsupported(format!(
            "{file}: a CSV file's name must end with customers, orders or cases \
             (customers.csv, orders.csv, cases.csv)"
        )));
    }
    Ok(())
}

/// Keys must be unique over the whole import, and an identity can belong to one customer.
fn check_unique(batch: &Batch) -> Result<(), ImportError> {
    fn unique<'a>(
        what: &str,
        items: impl Iterator<Item = (String, &'a Place)>,
    ) -> Result<(), ImportError> {
        let mut seen: HashMap<String, &Place> = HashMap::new();
        for (key, place) in items {
            if let Some(first) = seen.insert(key, place) {
                return Err(place.error(format!(
                    "{what} already given at {}, {}",
                    first.file, first.at
                )));
            }
        }
        Ok(())
    }
    let customers = batch.customers.iter();
    unique(
        "this customer key is",
        customers.map(|c| (c.key.clone(), &c.place)),
    )?;
    let identities = batch.customers.iter().flat_map(|c| {
        c.identities
            .iter()
            .map(move |(channel, id)| (format!("{channel}:{id}"), &c.place))
    });
    unique(
        "an email, phone or external id of this customer is",
        identities,
    )?;
    let orders = batch.orders.iter();
    unique(
        "this order number is",
        orders.map(|o| (o.number.clone(), &o.place)),
    )?;
    let cases = batch.cases.iter();
    unique("this case id is", cases.map(|c| (c.id.clone(), &c.place)))
}
