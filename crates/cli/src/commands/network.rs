//! `berth network ls|inspect|rm|prune|create`, as Docker's.

use std::collections::BTreeMap;

use berth_net::network::{NetworkSpec, Networks};

use crate::global::Global;

#[derive(clap::Subcommand, Debug)]
pub enum NetworkCommand {
    /// List networks
    #[command(alias = "list")]
    Ls {
        /// Only display network names
        #[arg(short, long)]
        quiet: bool,
        /// Format output: table or json
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// Display detailed information on one or more networks
    Inspect { networks: Vec<String> },
    /// Create a network
    Create {
        #[arg(long)]
        subnet: Option<String>,
        #[arg(long)]
        gateway: Option<String>,
        #[arg(long)]
        ip_range: Option<String>,
        /// Restrict external access to the network
        #[arg(long)]
        internal: bool,
        #[arg(short, long = "label")]
        label: Vec<String>,
        name: String,
    },
    /// Remove one or more networks
    #[command(alias = "remove")]
    Rm { networks: Vec<String> },
    /// Remove all unused networks
    Prune {
        #[arg(short, long)]
        force: bool,
    },
}

pub fn run(g: &Global, cmd: NetworkCommand) -> anyhow::Result<i32> {
    let nets = Networks::new(&g.root());
    match cmd {
        NetworkCommand::Ls { quiet, format } => {
            let list = nets.list()?;
            if quiet {
                for n in list {
                    println!("{}", n.name);
                }
            } else if format == "json" {
                for n in list {
                    println!(
                        "{}",
                        serde_json::json!({"ID": &n.id[..12], "Name": n.name, "Driver": "bridge", "Scope": "local", "Labels": n.labels, "Internal": n.internal})
                    );
                }
            } else {
                println!("{:<15}{:<30}{:<10}SCOPE", "NETWORK ID", "NAME", "DRIVER");
                for n in list {
                    println!("{:<15}{:<30}{:<10}local", &n.id[..12], n.name, "bridge");
                }
            }
        }
        NetworkCommand::Inspect { networks } => {
            let mut out = Vec::new();
            for name in networks {
                let n = nets
                    .get(&name)?
                    .ok_or_else(|| anyhow::anyhow!("network {name} not found"))?;
                out.push(serde_json::json!({
                    "Name": n.name, "Id": n.id, "Created": n.created, "Scope": "local", "Driver": "bridge",
                    "IPAM": {"Driver": "default", "Config": [{"Subnet": n.subnet.to_string(), "Gateway": n.gateway.to_string()}]},
                    "Internal": n.internal, "Options": {"com.docker.network.bridge.name": n.bridge},
                    "Labels": n.labels, "Containers": n.leases.iter().map(|(id, ip)| (id.clone(), serde_json::json!({"IPv4Address": format!("{ip}/{}", n.subnet.prefix)}))).collect::<BTreeMap<_, _>>(),
                }));
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        NetworkCommand::Create {
            subnet,
            gateway,
            ip_range,
            internal,
            label,
            name,
        } => {
            let labels = label
                .iter()
                .map(|l| {
                    l.split_once('=')
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .unwrap_or((l.clone(), String::new()))
                })
                .collect();
            let n = nets.ensure(&NetworkSpec {
                name,
                subnet,
                gateway,
                ip_range,
                internal,
                labels,
                ..Default::default()
            })?;
            println!("{}", n.id);
        }
        NetworkCommand::Rm { networks } => {
            let mut code = 0;
            for n in networks {
                match nets.remove(&n) {
                    Ok(()) => println!("{n}"),
                    Err(e) => {
                        eprintln!("Error response from daemon: {e}");
                        code = 1;
                    }
                }
            }
            return Ok(code);
        }
        NetworkCommand::Prune { force } => {
            if !force {
                eprintln!(
                    "WARNING! This will remove all custom networks not used by at least one container."
                );
            }
            println!("Deleted Networks:");
            for n in nets.list()? {
                if n.leases.is_empty() && nets.remove(&n.name).is_ok() {
                    println!("{}", n.name);
                }
            }
        }
    }
    Ok(0)
}
