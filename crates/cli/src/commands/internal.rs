//! Hidden entry points: berth re-executes itself to become one of its small
//! helper processes. Users never type these.

use crate::global::Global;

#[derive(clap::Subcommand, Debug)]
pub enum InternalCommand {
    /// The per-root monitor: subreaper and parent of every shim and daemon
    Monitor,
    /// The supervisor of one container
    Shim {
        /// Container id
        id: String,
    },
    /// The DNS server for every berth network of this root
    Dns,
    /// The minimal init run as pid 1 of a container with `init: true`
    Init {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

pub fn run(_g: &Global, cmd: InternalCommand) -> anyhow::Result<i32> {
    match cmd {
        InternalCommand::Monitor
        | InternalCommand::Shim { .. }
        | InternalCommand::Dns
        | InternalCommand::Init { .. } => anyhow::bail!("not built yet"),
    }
}
