//! Reconciling a Compose project with what exists.
//!
//! - [`plan`]: a pure function of (desired project, observed state, options)
//!   that returns a DAG of operations, tested with golden text.
//! - [`executor`]: runs a plan's operations concurrently along the DAG against
//!   a [`executor::Backend`], with a parallelism cap.

pub mod desired;
pub mod engine;
pub mod executor;
pub mod plan;
