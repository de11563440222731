//! stub
mod returns;
mod values;
pub use returns::{HolidayExtension, ReturnRules};
