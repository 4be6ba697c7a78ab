//! How berth prints: progress views, log prefixes, colours, tables.

pub mod logprint;
pub mod progress;
pub mod style;
