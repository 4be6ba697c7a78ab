//! One module per command group. Each exposes its clap arguments and a `run`
//! that returns the process exit code.

pub mod compose;
pub mod config;
pub mod container;
pub mod image;
pub mod internal;
pub mod network;
pub mod volume;
