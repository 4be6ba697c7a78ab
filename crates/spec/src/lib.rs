//! The Compose project model (in progress).
pub mod convert;
pub mod error;
pub mod model;
pub mod serialize;
pub mod units;
pub mod yaml;
