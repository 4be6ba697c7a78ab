//! berth's container runtime (in progress).

pub mod config;
pub mod error;
pub mod records;
pub mod state;

pub use config::*;
pub use error::{Result, RuntimeError};
pub use records::{ContainerDir, Records};
pub use state::{State, Status};
