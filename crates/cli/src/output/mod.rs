//! How berth prints: progress views, log prefixes, colours, tables.

pub mod human;
pub mod logprint;
pub mod progress;
pub mod style;
pub mod table;
pub mod template;
