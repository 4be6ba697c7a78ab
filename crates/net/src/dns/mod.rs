//! berth's embedded DNS server: one process per root (`berth __internal dns`)
//! answers on the gateway address of every berth network.
//!
//! - [`wire`]: the message format, hand-written;
//! - [`answer`]: which answer a query gets (pure);
//! - [`upstream`]: the host's resolvers and relaying to them;
//! - [`server`]: sockets, reloads, the daemon's main loop;
//! - [`daemon`]: starting, finding and stopping the daemon of a root.

pub mod answer;
pub mod wire;

pub use answer::{Outcome, Records, resolve};
