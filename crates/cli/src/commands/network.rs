//! `berth network ls|inspect|rm|prune|create`, as Docker's.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use berth_net::ipam::PoolRequest;
use berth_net::network::{Network, NetworkSpec, Networks};
use berth_runtime::Runtime;
use serde_json::json;

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
    Inspect {
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Create a network
    Create {
        /// Driver to manage the network (berth has "bridge")
        #[arg(short, long, default_value = "bridge")]
        driver: String,
        /// Subnet in CIDR format (one IPv4 and one IPv6 at most)
        #[arg(long)]
        subnet: Vec<String>,
        /// Gateway for the subnet given in the same position
        #[arg(long)]
        gateway: Vec<String>,
        /// Allocate container addresses from a sub-range
        #[arg(long)]
        ip_range: Vec<String>,
        /// Enable IPv6 networking
        #[arg(long)]
        ipv6: bool,
        /// Restrict external access to the network
        #[arg(long)]
        internal: bool,
        /// Driver specific options (com.docker.network.driver.mtu=1400)
        #[arg(short, long = "opt")]
        opt: Vec<String>,
        #[arg(long = "label")]
        label: Vec<String>,
        name: String,
    },
    /// Remove one or more networks
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Remove all unused networks
    Prune {
        /// Do not prompt for confirmation
        #[arg(short, long)]
        force: bool,
    },
}

fn key_values(items: &[String]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .unwrap_or((l.clone(), String::new()))
        })
        .collect()
}

/// Releases leases whose container is gone (left by a crash), so that a
/// network nobody uses can be removed.
fn reclaim(g: &Global, nets: &Networks) -> anyhow::Result<()> {
    let rt = Runtime::open(&g.root());
    let dir = g.root().containers();
    nets.reclaim(&|id| rt.inspect(id).is_ok() || dir.join(id).exists())?;
    Ok(())
}

fn inspect_json(n: &Network, rt: &Runtime) -> serde_json::Value {
    let mut config =
        vec![json!({"Subnet": n.subnet.to_string(), "Gateway": n.gateway.to_string()})];
    if let Some(r) = n.ip_range {
        config[0]["IPRange"] = json!(r.to_string());
    }
    if let Some(v6) = &n.ipv6 {
        let mut c = json!({"Subnet": v6.subnet.to_string(), "Gateway": v6.gateway.to_string()});
        if let Some(r) = v6.ip_range {
            c["IPRange"] = json!(r.to_string());
        }
        config.push(c);
    }
    let containers: BTreeMap<String, serde_json::Value> = n
        .endpoints()
        .into_iter()
        .map(|id| {
            let name = rt.inspect(&id).map(|c| c.config.name).unwrap_or_default();
            let v4 = n
                .leases
                .get(&id)
                .map(|ip| format!("{ip}/{}", n.subnet.prefix))
                .unwrap_or_default();
            let v6 = n
                .ipv6
                .as_ref()
                .and_then(|s| {
                    s.leases
                        .get(&id)
                        .map(|ip| format!("{ip}/{}", s.subnet.prefix))
                })
                .unwrap_or_default();
            let c = json!({"Name": name, "IPv4Address": v4, "IPv6Address": v6});
            (id, c)
        })
        .collect();
    let mut options: BTreeMap<String, String> = n.driver_opts.clone();
    options.insert("com.docker.network.bridge.name".into(), n.bridge.clone());
    json!({
        "Name": n.name, "Id": n.id, "Created": n.created, "Scope": "local", "Driver": "bridge",
        "EnableIPv6": n.ipv6.is_some(),
        "IPAM": {"Driver": "default", "Options": {}, "Config": config},
        "Internal": n.internal, "Attachable": false, "Ingress": false,
        "Containers": containers, "Options": options, "Labels": n.labels,
    })
}

pub fn run(g: &Global, cmd: NetworkCommand) -> anyhow::Result<i32> {
    let nets = Networks::new(&g.root());
    match cmd {
        NetworkCommand::Ls { quiet, format } => {
            let list = nets.list()?;
            if quiet {
                for n in list {
                    println!("{}", &n.id[..12]);
                }
            } else if format == "json" {
                for n in list {
                    println!(
                        "{}",
                        json!({"ID": &n.id[..12], "Name": n.name, "Driver": "bridge", "Scope": "local",
                            "IPv6": n.ipv6.is_some(), "Internal": n.internal, "Labels": n.labels, "CreatedAt": n.created})
                    );
                }
            } else if format == "table" {
                println!("{:<15}{:<30}{:<10}SCOPE", "NETWORK ID", "NAME", "DRIVER");
                for n in list {
                    println!("{:<15}{:<30}{:<10}local", &n.id[..12], n.name, "bridge");
                }
            } else {
                anyhow::bail!("--format: expected table or json, got {format:?}");
            }
        }
        NetworkCommand::Inspect { networks } => {
            let rt = Runtime::open(&g.root());
            let mut out = Vec::new();
            let mut code = 0;
            for name in networks {
                match find(&nets, &name)? {
                    Some(n) => out.push(inspect_json(&n, &rt)),
                    None => {
                        errln!("Error response from daemon: network {name} not found");
                        code = 1;
                    }
                }
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
            return Ok(code);
        }
        NetworkCommand::Create {
            driver,
            subnet,
            gateway,
            ip_range,
            ipv6,
            internal,
            opt,
            label,
            name,
        } => {
            if gateway.len() > subnet.len() || ip_range.len() > subnet.len() {
                anyhow::bail!(
                    "every --gateway and --ip-range needs a --subnet in the same position"
                );
            }
            let pools = subnet
                .iter()
                .enumerate()
                .map(|(i, s)| PoolRequest {
                    subnet: Some(s.clone()),
                    gateway: gateway.get(i).cloned(),
                    ip_range: ip_range.get(i).cloned(),
                })
                .collect();
            if nets.get(&name)?.is_some() {
                anyhow::bail!(
                    "Error response from daemon: network with name {name} already exists"
                );
            }
            let n = nets.ensure(&NetworkSpec {
                name,
                driver: Some(driver),
                driver_opts: key_values(&opt),
                pools,
                enable_ipv6: ipv6,
                internal,
                labels: key_values(&label),
            })?;
            println!("{}", n.id);
        }
        NetworkCommand::Rm { networks } => {
            reclaim(g, &nets)?;
            let mut code = 0;
            for key in networks {
                let removed = match find(&nets, &key)? {
                    Some(n) => nets.remove(&n.name).map_err(anyhow::Error::from),
                    None => Err(anyhow::anyhow!("network {key} not found")),
                };
                match removed {
                    Ok(()) => println!("{key}"),
                    Err(e) => {
                        errln!("Error response from daemon: {e}");
                        code = 1;
                    }
                }
            }
            return Ok(code);
        }
        NetworkCommand::Prune { force } => {
            if !force {
                println!(
                    "WARNING! This will remove all custom networks not used by at least one container."
                );
                print!("Are you sure you want to continue? [y/N] ");
                std::io::stdout().flush()?;
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                if !matches!(line.trim(), "y" | "Y" | "yes" | "Yes" | "YES") {
                    return Ok(0);
                }
            }
            reclaim(g, &nets)?;
            let mut removed = Vec::new();
            for n in nets.list()? {
                if n.endpoints().is_empty() {
                    match nets.remove(&n.name) {
                        Ok(()) => removed.push(n.name),
                        Err(e) => errln!("{e}"),
                    }
                }
            }
            if !removed.is_empty() {
                println!("Deleted Networks:");
                for n in removed {
                    println!("{n}");
                }
            }
        }
    }
    Ok(0)
}

/// A network by name, or by id or a unique id prefix (as Docker finds them).
fn find(nets: &Networks, key: &str) -> anyhow::Result<Option<Network>> {
    if let Some(n) = nets.get(key)? {
        return Ok(Some(n));
    }
    let hits: Vec<Network> = nets
        .list()?
        .into_iter()
        .filter(|n| !key.is_empty() && n.id.starts_with(key))
        .collect();
    match hits.len() {
        0 => Ok(None),
        1 => Ok(hits.into_iter().next()),
        _ => anyhow::bail!("network {key} is ambiguous ({} matches)", hits.len()),
    }
}
