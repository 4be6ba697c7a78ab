//! berth's embedded DNS server: one process per root (`berth __internal dns`)
//! answers on the gateway address of every berth network.
//!
//! - [`wire`]: the message format, hand-written;
//! - [`answer`]: which answer a query gets (pure);
//! - [`upstream`]: the host's resolvers and relaying to them;
//! - [`server`]: sockets, reloads, the daemon's main loop;
//! - [`daemon`]: starting, finding and stopping the daemon of a root.

pub mod answer;
pub mod daemon;
pub mod server;
pub mod upstream;
pub mod wire;

pub use answer::{Outcome, Records, resolve};
pub use daemon::{ensure_running, running, stop};

use std::path::PathBuf;

/// Errors of the DNS daemon and of starting or stopping it.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error(transparent)]
    Store(#[from] berth_store::StoreError),
    #[error("DNS server: {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("starting the DNS server of {root}: {source}")]
    Spawn {
        root: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the DNS server of {root} is not answering on {missing} after {waited_ms} ms")]
    NotReady {
        root: PathBuf,
        missing: String,
        waited_ms: u64,
    },
}

impl DnsError {
    pub(crate) fn io(what: impl Into<String>, source: impl Into<std::io::Error>) -> Self {
        DnsError::Io {
            what: what.into(),
            source: source.into(),
        }
    }
}
