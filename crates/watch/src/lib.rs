//! `develop.watch` for berth.
//!
//! - [`project_rules`] / [`rules`]: which changed path matters to which rule
//!   of which service (ignore, include, `.dockerignore`, `.git/`).
//! - [`notifier`] and [`debounce`]: kernel file events, bursts turned into
//!   one batch; [`session`] groups them into work per service.
//! - [`sync`]: copying a batch into every replica through [`container_fs`]
//!   (the container's root, resolved in the kernel so no symlink can lead
//!   out) from [`host_tree`] (never leaving the watched tree).
//! - [`sources`]: the project's own files, whose edits reload the project.
//!
//! Restarting, rebuilding and recreating need the engine and live with the
//! `watch` command of the CLI.

pub mod container_fs;
pub mod debounce;
pub mod error;
pub mod host_tree;
pub mod notifier;
pub mod project_rules;
pub mod rules;
pub mod session;
pub mod sources;
pub mod sync;
mod users;

pub use error::{Result, WatchError};
