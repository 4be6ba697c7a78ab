//! `berth volume create|ls|inspect|rm|prune`, as Docker's.

use std::collections::BTreeMap;

use berth_runtime::Runtime;

use crate::global::Global;

#[derive(clap::Subcommand, Debug)]
pub enum VolumeCommand {
    /// Create a volume
    Create {
        /// Set metadata for a volume
        #[arg(short, long = "label")]
        label: Vec<String>,
        name: Option<String>,
    },
    /// List volumes
    #[command(alias = "list")]
    Ls {
        /// Only display volume names
        #[arg(short, long)]
        quiet: bool,
        /// Format output: table or json
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// Display detailed information on one or more volumes
    Inspect { volumes: Vec<String> },
    /// Remove one or more volumes
    #[command(alias = "remove")]
    Rm {
        /// Force the removal of one or more volumes
        #[arg(short, long)]
        force: bool,
        volumes: Vec<String>,
    },
    /// Remove unused anonymous (or, with -a, all unused) volumes
    Prune {
        /// Remove all unused volumes, not just anonymous ones
        #[arg(short, long)]
        all: bool,
        /// Do not prompt for confirmation
        #[arg(short, long)]
        force: bool,
    },
}

pub fn run(g: &Global, cmd: VolumeCommand) -> anyhow::Result<i32> {
    let rt = Runtime::open(&g.root());
    let vols = rt.volumes();
    match cmd {
        VolumeCommand::Create { label, name } => {
            let labels: BTreeMap<String, String> = label
                .iter()
                .map(|l| {
                    l.split_once('=')
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .unwrap_or((l.clone(), String::new()))
                })
                .collect();
            let v = match name {
                Some(n) => vols.ensure(&n, labels, false)?,
                None => vols.anonymous()?,
            };
            println!("{}", v.name);
        }
        VolumeCommand::Ls { quiet, format } => {
            let list = vols.list()?;
            if quiet {
                for v in list {
                    println!("{}", v.name);
                }
            } else if format == "json" {
                for v in list {
                    println!(
                        "{}",
                        serde_json::json!({"Driver": "local", "Name": v.name, "Labels": v.labels, "Mountpoint": vols.data(&v.name)})
                    );
                }
            } else {
                println!("DRIVER    VOLUME NAME");
                for v in list {
                    println!("local     {}", v.name);
                }
            }
        }
        VolumeCommand::Inspect { volumes } => {
            let mut out = Vec::new();
            for n in volumes {
                let v = vols
                    .get(&n)?
                    .ok_or_else(|| anyhow::anyhow!("get {n}: no such volume"))?;
                out.push(serde_json::json!({"CreatedAt": v.created_at, "Driver": "local", "Labels": v.labels, "Mountpoint": vols.data(&v.name), "Name": v.name, "Scope": "local"}));
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        VolumeCommand::Rm { force, volumes } => {
            let mut code = 0;
            for n in volumes {
                let users = rt.volume_users(&n)?;
                match vols.remove(&n, &users) {
                    Ok(()) => println!("{n}"),
                    Err(_) if force && vols.get(&n)?.is_none() => {}
                    Err(e) => {
                        errln!("Error response from daemon: {e}");
                        code = 1;
                    }
                }
            }
            return Ok(code);
        }
        VolumeCommand::Prune { all, force } => {
            if !force {
                errln!(
                    "WARNING! This will remove {} volumes not used by at least one container.",
                    if all { "all" } else { "anonymous local" }
                );
            }
            let mut freed = Vec::new();
            for v in vols.list()? {
                if (all || v.anonymous) && rt.volume_users(&v.name)?.is_empty() {
                    vols.remove(&v.name, &[])?;
                    freed.push(v.name);
                }
            }
            println!("Deleted Volumes:");
            for n in freed {
                println!("{n}");
            }
        }
    }
    Ok(0)
}
