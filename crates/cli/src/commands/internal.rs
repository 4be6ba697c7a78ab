//! Hidden entry points: berth re-executes itself to become one of its small
//! helper processes. Users never type these.

use crate::global::Global;

#[derive(clap::Subcommand, Debug)]
pub enum InternalCommand {
    /// The per-root monitor: subreaper and parent of every shim and daemon
    Monitor,
    /// The supervisor of one container
    Shim {
        /// Container id (read from --order-fd for a spare)
        id: Option<String>,
        /// Descriptor on which to report whether the container started
        #[arg(long)]
        ready_fd: Option<i32>,
        /// Supervise a container that already runs (its shim died)
        #[arg(long)]
        adopt: bool,
        /// A spare: prepare, then read the container id from this descriptor
        #[arg(long, conflicts_with_all = ["id", "adopt"])]
        order_fd: Option<i32>,
    },
    /// Stop this root's monitor if nothing is running
    Shutdown,
    /// Write a path of a running container as a tar on stdout (`cp`)
    CpOut { id: String, path: String },
    /// Unpack a tar from stdin into a directory of a running container
    CpIn {
        id: String,
        dest: String,
        /// Paths to delete first
        #[arg(long)]
        delete: Vec<String>,
        /// `cp` semantics: into DEST if it is a directory, else as DEST
        #[arg(long)]
        auto: bool,
    },
    /// Run a command inside a running container (started by `exec`)
    Exec {
        id: String,
        #[arg(long)]
        spec: String,
        /// Every capability for the command
        #[arg(long)]
        privileged: bool,
    },
    /// The DNS server for every berth network of this root
    Dns {
        /// Read upstream resolvers from this file instead of /etc/resolv.conf
        #[arg(long, hide = true, value_name = "FILE")]
        resolv_conf: Option<std::path::PathBuf>,
    },
}

pub fn run(g: &Global, cmd: InternalCommand) -> anyhow::Result<i32> {
    match cmd {
        InternalCommand::Monitor => Ok(berth_runtime::monitor::main(g.root())),
        InternalCommand::Shim {
            id,
            ready_fd,
            adopt,
            order_fd,
        } => {
            use berth_runtime::shim::Role;
            let role = match (order_fd, id) {
                (Some(fd), _) => {
                    // SAFETY: the monitor hands us this descriptor; nobody else uses it.
                    Role::Spare(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
                }
                (None, Some(id)) if adopt => Role::Adopt(id),
                (None, Some(id)) => Role::Start(id),
                (None, None) => anyhow::bail!("shim: a container id or --order-fd is required"),
            };
            // SAFETY: the monitor hands us this descriptor and nobody else uses it.
            let ready = unsafe { berth_runtime::shim::Ready::from_raw(ready_fd) };
            Ok(berth_runtime::shim::main(g.root(), role, ready))
        }
        InternalCommand::Exec {
            id,
            spec,
            privileged,
        } => Ok(berth_runtime::exec::helper_main(
            &g.root(),
            &id,
            &spec,
            privileged,
        )),
        InternalCommand::CpOut { id, path } => {
            let pid = running_pid(g, &id)?;
            berth_runtime::cp::tar_out(pid, &path, std::io::stdout().lock())?;
            Ok(0)
        }
        InternalCommand::CpIn {
            id,
            dest,
            delete,
            auto,
        } => {
            let pid = running_pid(g, &id)?;
            if auto {
                berth_runtime::cp::tar_in_auto(pid, &dest, std::io::stdin().lock())?;
            } else {
                berth_runtime::cp::tar_in(pid, &dest, &delete, std::io::stdin().lock())?;
            }
            Ok(0)
        }
        InternalCommand::Shutdown => {
            let reply = berth_runtime::monitor::shutdown(&g.root())?;
            if !reply.ok {
                anyhow::bail!("{}", reply.message);
            }
            Ok(0)
        }
        InternalCommand::Dns { resolv_conf } => {
            let mut opts = berth_net::dns::server::Options::default();
            if let Some(p) = resolv_conf {
                opts.resolv_conf = p;
            }
            berth_net::dns::server::run(&g.root(), &opts)?;
            Ok(0)
        }
    }
}

fn running_pid(g: &Global, id: &str) -> anyhow::Result<i32> {
    let c = berth_runtime::Runtime::open(&g.root()).inspect(id)?;
    match c.state.pid {
        Some(p) if c.state.status.is_active() && p.is_running() => Ok(p.pid),
        _ => anyhow::bail!("container {} is not running", c.config.name),
    }
}
