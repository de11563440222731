//! Warmline's CRM connectors: implementations of [`warmline_domain::CrmConnector`].
//!
//! - [`BuiltinCrm`]: the embedded default, profiles, orders and cases in the store's own
//!   SQLite database (store migration 0002), filled by [`import::import`] from JSON or CSV.
//! - [`HttpCrm`]: any HTTP/REST CRM, configured declaratively ([`HttpCrmConfig`], a TOML
//!   file): URL and body templates, an auth header from an environment variable, JSON-pointer
//!   field mapping, with a built-in preset for HubSpot. Timeouts, retries with backoff and
//!   jitter, a circuit breaker and a short cache keep an outage cheap.
//! - [`ReturnRules`]: whether an item can be returned (Juniper Market's policy by default),
//!   shared by both connectors.
//!
//! Callers see only the trait: an outage is `CrmError::Unavailable`, and the conversation
//! goes on without the customer's record.

mod builtin;
mod changes;
pub mod http;
pub mod import;
mod returns;
mod values;

pub use builtin::BuiltinCrm;
pub use http::{HttpConfigError, HttpCrm, HttpCrmConfig};
pub use returns::{HolidayExtension, ReturnRules};
