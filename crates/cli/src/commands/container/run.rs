//! `container run` / `container create`: an image plus Docker's flags become
//! a container config.

use std::collections::BTreeMap;

use anyhow::Context;
use berth_image::ImageStore;
use berth_runtime::{
    ContainerConfig, Mount, MountKind, NetworkMode, Process, Resources, RestartPolicy, Runtime,
    Security,
};

use super::flags;
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
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    env_file: Vec<String>,
    /// Bind mount a volume (SRC:DST[:ro]) or an anonymous volume (DST)
    #[arg(short, long = "volume")]
    volume: Vec<String>,
    /// Mount a tmpfs directory (PATH[:size=…,mode=…])
    #[arg(long)]
    tmpfs: Vec<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    user: Option<String>,
    /// Add additional groups to join
    #[arg(long = "group-add")]
    group_add: Vec<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    workdir: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    entrypoint: Option<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    init: bool,
    /// Network mode: none, host or container:<name|id>
    #[arg(long, default_value = "none")]
    network: String,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    tty: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    interactive: bool,
    /// Mount the container's root filesystem as read only
    #[arg(long)]
    read_only: bool,
    /// Container host name
    #[arg(long)]
    hostname: Option<String>,
    /// Container NIS domain name
    #[arg(long)]
    domainname: Option<String>,
    /// Add Linux capabilities
    #[arg(long = "cap-add")]
    cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop")]
    cap_drop: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    privileged: bool,
    /// Security options (no-new-privileges)
    #[arg(long = "security-opt")]
    security_opt: Vec<String>,
    /// Set meta data on a container
    #[arg(short, long = "label")]
    label: Vec<String>,
    /// Memory limit (e.g. 64m)
    #[arg(short, long)]
    memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    memory_reservation: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    cpus: Option<f64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    cpu_shares: Option<u64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    cpuset_cpus: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long, allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// Size of /dev/shm
    #[arg(long = "shm-size")]
    shm_size: Option<String>,
    /// Ulimit options (name=soft[:hard])
    #[arg(long)]
    ulimit: Vec<String>,
    /// Sysctl options (name=value)
    #[arg(long)]
    sysctl: Vec<String>,
    /// Restart policy (no, always, on-failure[:N], unless-stopped)
    #[arg(long, default_value = "no")]
    restart: String,
    /// Signal to stop the container
    #[arg(long = "stop-signal")]
    stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout")]
    stop_timeout: Option<u64>,
    /// Command to run to check health
    #[arg(long = "health-cmd")]
    health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h)
    #[arg(long = "health-interval")]
    health_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h)
    #[arg(long = "health-timeout")]
    health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long = "health-retries")]
    health_retries: Option<u32>,
    /// Start period for the container to initialize (ms|s|m|h)
    #[arg(long = "health-start-period")]
    health_start_period: Option<String>,
    /// Time between running the check during the start period (ms|s|m|h)
    #[arg(long = "health-start-interval")]
    health_start_interval: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    no_healthcheck: bool,
    /// Logging driver for the container (json-file, local, none)
    #[arg(long = "log-driver")]
    log_driver: Option<String>,
    /// Log driver options (max-size=10m, max-file=3)
    #[arg(long = "log-opt")]
    log_opt: Vec<String>,
    /// The image, then the command and its arguments: everything after the
    /// image is the command's, even what looks like a flag (`sh -c …`).
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "IMAGE [COMMAND] [ARG...]"
    )]
    image_and_command: Vec<String>,
}

impl RunArgs {
    fn image(&self) -> &str {
        &self.image_and_command[0]
    }

    fn command(&self) -> &[String] {
        &self.image_and_command[1..]
    }
}

fn network(rt: &Runtime, mode: &str) -> anyhow::Result<NetworkMode> {
    Ok(match mode {
        "none" => NetworkMode::None,
        "host" => NetworkMode::Host,
        other => match other.strip_prefix("container:") {
            Some(c) => NetworkMode::Container(rt.resolve(c)?),
            None => anyhow::bail!(
                "--network {other}: single containers can use none, host or container:<name> (Compose projects get bridge networks)"
            ),
        },
    })
}

fn config(rt: &Runtime, store: &ImageStore, a: &RunArgs) -> anyhow::Result<ContainerConfig> {
    let image = store.get(a.image())?;
    let lower_dirs = store.layer_dirs(&image)?;
    let ic = &image.config;
    let entrypoint = match &a.entrypoint {
        Some(e) if e.is_empty() => vec![],
        Some(e) => vec![e.clone()],
        None => ic.entrypoint.clone().unwrap_or_default(),
    };
    let cmd = if !a.command().is_empty() {
        a.command().to_vec()
    } else if a.entrypoint.is_some() {
        vec![]
    } else {
        ic.cmd.clone().unwrap_or_default()
    };
    // The image's variables, overridden by ours.
    let ours = flags::environment(&a.env, &a.env_file)?;
    let key = |kv: &str| kv.split('=').next().unwrap_or("").to_owned();
    let mut env: Vec<String> = ic
        .env
        .iter()
        .filter(|e| !ours.iter().any(|o| key(o) == key(e)))
        .cloned()
        .collect();
    env.extend(ours);
    let mut mounts = flags::volumes(&a.volume)?;
    mounts.extend(flags::tmpfs(&a.tmpfs)?);
    for v in ic.volumes.keys() {
        if !mounts
            .iter()
            .any(|m| m.target.trim_end_matches('/') == v.trim_end_matches('/'))
        {
            mounts.push(Mount {
                kind: MountKind::Volume,
                target: v.clone(),
                ..Default::default()
            });
        }
    }
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
    let health = flags::Health {
        cmd: a.health_cmd.as_deref(),
        interval: a.health_interval.as_deref(),
        timeout: a.health_timeout.as_deref(),
        retries: a.health_retries,
        start_period: a.health_start_period.as_deref(),
        start_interval: a.health_start_interval.as_deref(),
        none: a.no_healthcheck,
    };
    let stop_signal = a
        .stop_signal
        .clone()
        .or_else(|| (!ic.stop_signal.is_empty()).then(|| ic.stop_signal.clone()));
    Ok(ContainerConfig {
        id,
        name,
        labels,
        image: a.image().to_owned(),
        image_id: image.id.clone(),
        lower_dirs,
        process: Process {
            args: entrypoint.into_iter().chain(cmd).collect(),
            env,
            cwd: a.workdir.clone().unwrap_or_else(|| ic.working_dir.clone()),
            user: a.user.clone().unwrap_or_else(|| ic.user.clone()),
            group_add: a.group_add.clone(),
            tty: a.tty,
            stdin_open: a.interactive,
        },
        hostname: a.hostname.clone().unwrap_or_default(),
        domainname: a.domainname.clone(),
        mounts,
        security: Security {
            privileged: a.privileged,
            cap_add: a.cap_add.clone(),
            cap_drop: a.cap_drop.clone(),
            read_only: a.read_only,
            no_new_privileges: flags::no_new_privileges(&a.security_opt)?,
        },
        network: network(rt, &a.network)?,
        restart: RestartPolicy::parse(&a.restart).with_context(|| {
            format!(
                "--restart {:?}: expected no, always, unless-stopped or on-failure[:N]",
                a.restart
            )
        })?,
        stop_signal,
        stop_grace_period: a.stop_timeout.map(|s| s as f64),
        init: a.init,
        shm_size: flags::size("--shm-size", a.shm_size.as_deref())?.map(|s| s as u64),
        resources: Resources {
            memory: flags::size("--memory", a.memory.as_deref())?,
            memory_swap: flags::size("--memory-swap", a.memory_swap.as_deref())?,
            memory_reservation: flags::size(
                "--memory-reservation",
                a.memory_reservation.as_deref(),
            )?,
            cpus: a.cpus,
            cpu_shares: a.cpu_shares,
            cpuset: a.cpuset_cpus.clone(),
            pids_limit: a.pids_limit,
        },
        ulimits: flags::ulimits(&a.ulimit)?,
        sysctls: a
            .sysctl
            .iter()
            .map(|s| {
                s.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .with_context(|| format!("--sysctl {s:?}: expected name=value"))
            })
            .collect::<anyhow::Result<_>>()?,
        healthcheck: flags::healthcheck(&health, ic.healthcheck.as_ref())?,
        logging: flags::logging(a.log_driver.as_deref(), &a.log_opt)?,
        auto_remove: a.rm,
        ..Default::default()
    })
}

pub fn run(g: &Global, rt: &Runtime, a: RunArgs, start: bool) -> anyhow::Result<i32> {
    let store = ImageStore::open(&g.root())?;
    let c = rt.create(config(rt, &store, &a)?)?;
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
