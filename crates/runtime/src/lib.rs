//! berth's container runtime (in progress).

pub mod cgroups;
pub mod config;
pub mod copy;
pub mod cp;
pub mod error;
pub mod exec;
pub mod monitor;
pub mod paths;
pub mod records;
mod runtime;
pub mod shim;
pub mod spawn;
pub mod state;
mod tty;
pub mod validate;
pub mod volumes;

pub use config::*;
pub use error::{Result, RuntimeError};
pub use records::{ContainerDir, Records};
pub use runtime::{Container, Runtime, parse_signal};
pub use state::{State, Status};
