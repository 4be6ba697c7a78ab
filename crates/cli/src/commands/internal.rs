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
    Dns {
        /// Read upstream resolvers from this file instead of /etc/resolv.conf
        #[arg(long, hide = true, value_name = "FILE")]
        resolv_conf: Option<std::path::PathBuf>,
    },
    /// The minimal init run as pid 1 of a container with `init: true`
    Init {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

pub fn run(g: &Global, cmd: InternalCommand) -> anyhow::Result<i32> {
    match cmd {
        InternalCommand::Dns { resolv_conf } => {
            let mut opts = berth_net::dns::server::Options::default();
            if let Some(p) = resolv_conf {
                opts.resolv_conf = p;
            }
            berth_net::dns::server::run(&g.root(), &opts)?;
            Ok(0)
        }
        InternalCommand::Monitor | InternalCommand::Shim { .. } | InternalCommand::Init { .. } => {
            anyhow::bail!("not built yet")
        }
    }
}
