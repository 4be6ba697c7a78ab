//! `container run` / `container create`: an image plus Docker's flags become
//! a container config.

use std::collections::BTreeMap;

use berth_image::ImageStore;
use berth_runtime::{ContainerConfig, Mount, MountKind, NetworkMode, Process, Runtime};

use crate::global::Global;

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Assign a name to the container
    #[arg(long)]
    name: Option<String>,
    /// Automatically remove the container when it exits
    #[arg(long)]
    rm: bool,
    /// Run the container in the background and print its id
    #[arg(short, long)]
    detach: bool,
    /// Set environment variables
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Bind mount a volume (SRC:DST[:ro]) or an anonymous volume (DST)
    #[arg(short, long = "volume")]
    volume: Vec<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    workdir: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    entrypoint: Option<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    init: bool,
    /// Network mode: none or host
    #[arg(long, default_value = "none")]
    network: String,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    tty: bool,
    /// Mount the container's root filesystem as read only
    #[arg(long)]
    read_only: bool,
    /// Container host name
    #[arg(long)]
    hostname: Option<String>,
    #[arg(long = "cap-add")]
    cap_add: Vec<String>,
    #[arg(long = "cap-drop")]
    cap_drop: Vec<String>,
    #[arg(long)]
    privileged: bool,
    /// Set meta data on a container
    #[arg(short, long = "label")]
    label: Vec<String>,
    /// Memory limit (e.g. 64m)
    #[arg(short, long)]
    memory: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    cpus: Option<f64>,
    /// Tune container pids limit
    #[arg(long)]
    pids_limit: Option<i64>,
    /// Ulimit options (name=soft[:hard])
    #[arg(long)]
    ulimit: Vec<String>,
    /// Sysctl options (name=value)
    #[arg(long)]
    sysctl: Vec<String>,
    /// Restart policy (no, always, on-failure[:N], unless-stopped)
    #[arg(long, default_value = "no")]
    restart: String,
    image: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

fn mounts(specs: &[String]) -> anyhow::Result<Vec<Mount>> {
    specs
        .iter()
        .map(|s| {
            let parts: Vec<&str> = s.split(':').collect();
            let (src, target, ro) = match parts.as_slice() {
                [t] => (None, *t, false),
                [s, t] => (Some(*s), *t, false),
                [s, t, m] => (Some(*s), *t, m.split(',').any(|o| o == "ro")),
                _ => anyhow::bail!("invalid volume specification: {s:?}"),
            };
            let kind = match src {
                Some(p) if p.starts_with('/') || p.starts_with('.') => MountKind::Bind,
                _ => MountKind::Volume,
            };
            let source = src.map(|p| {
                if kind == MountKind::Bind {
                    std::path::absolute(p)
                        .map(|a| a.display().to_string())
                        .unwrap_or(p.to_owned())
                } else {
                    p.to_owned()
                }
            });
            Ok(Mount {
                kind,
                source,
                target: target.to_owned(),
                read_only: ro,
                create_host_path: true,
                ..Default::default()
            })
        })
        .collect()
}

pub fn run(g: &Global, rt: &Runtime, a: RunArgs, start: bool) -> anyhow::Result<i32> {
    let store = ImageStore::open(&g.root())?;
    let image = store.get(&a.image)?;
    let lower_dirs = store.layer_dirs(&image)?;
    let ic = &image.config;
    let entrypoint = match &a.entrypoint {
        Some(e) if e.is_empty() => vec![],
        Some(e) => vec![e.clone()],
        None => ic.entrypoint.clone().unwrap_or_default(),
    };
    let cmd = if !a.command.is_empty() {
        a.command.clone()
    } else if a.entrypoint.is_some() {
        vec![]
    } else {
        ic.cmd.clone().unwrap_or_default()
    };
    let mut env = ic.env.clone();
    env.extend(a.env.iter().cloned());
    let mut mounts = mounts(&a.volume)?;
    for v in ic.volumes.keys() {
        if !mounts.iter().any(|m| &m.target == v) {
            mounts.push(Mount {
                kind: MountKind::Volume,
                target: v.clone(),
                ..Default::default()
            });
        }
    }
    let network = match a.network.as_str() {
        "none" => NetworkMode::None,
        "host" => NetworkMode::Host,
        other => anyhow::bail!(
            "--network {other}: only none and host are available to single containers (Compose projects get bridge networks)"
        ),
    };
    let labels: BTreeMap<String, String> = a
        .label
        .iter()
        .map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .unwrap_or((l.clone(), String::new()))
        })
        .collect();
    let id = berth_store::new_id();
    let name = a
        .name
        .clone()
        .unwrap_or_else(|| format!("berth-{}", &id[..12]));
    let config = ContainerConfig {
        id,
        name,
        labels,
        image: a.image.clone(),
        image_id: image.id.clone(),
        lower_dirs,
        process: Process {
            args: entrypoint.into_iter().chain(cmd).collect(),
            env,
            cwd: a.workdir.clone().unwrap_or_else(|| ic.working_dir.clone()),
            user: a.user.clone().unwrap_or_else(|| ic.user.clone()),
            tty: a.tty,
            ..Default::default()
        },
        hostname: a.hostname.clone().unwrap_or_default(),
        mounts,
        security: berth_runtime::Security {
            privileged: a.privileged,
            cap_add: a.cap_add.clone(),
            cap_drop: a.cap_drop.clone(),
            read_only: a.read_only,
            no_new_privileges: false,
        },
        network,
        restart: berth_runtime::RestartPolicy::parse(&a.restart)
            .ok_or_else(|| anyhow::anyhow!("invalid restart policy {:?}", a.restart))?,
        stop_signal: (!ic.stop_signal.is_empty()).then(|| ic.stop_signal.clone()),
        init: a.init,
        resources: berth_runtime::Resources {
            memory: a
                .memory
                .as_deref()
                .map(|m| {
                    berth_spec::Bytes::parse(m)
                        .map(|b| b.0)
                        .ok_or_else(|| anyhow::anyhow!("--memory {m:?}: expected a size like 64m"))
                })
                .transpose()?,
            cpus: a.cpus,
            pids_limit: a.pids_limit,
            ..Default::default()
        },
        ulimits: a
            .ulimit
            .iter()
            .map(|u| {
                let (name, v) = u
                    .split_once('=')
                    .ok_or_else(|| anyhow::anyhow!("--ulimit {u:?}: expected name=soft[:hard]"))?;
                let (soft, hard) = v.split_once(':').unwrap_or((v, v));
                Ok(berth_runtime::Ulimit {
                    name: name.to_owned(),
                    soft: soft.parse()?,
                    hard: hard.parse()?,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?,
        sysctls: a
            .sysctl
            .iter()
            .filter_map(|s| s.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        ..Default::default()
    };
    let c = rt.create(config)?;
    if !start {
        println!("{}", c.id);
        return Ok(0);
    }
    if let Err(e) = rt.start(&c.id) {
        if a.rm {
            let _ = rt.remove(&c.id, true, true);
        }
        return Err(e.into());
    }
    if a.detach {
        println!("{}", c.id);
        return Ok(0);
    }
    let code = super::show::follow_until_exit(rt, &c.id)?;
    if a.rm {
        rt.remove(&c.id, true, true)?;
    }
    Ok(code)
}
