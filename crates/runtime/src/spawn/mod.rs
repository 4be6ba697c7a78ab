//! Starting a container's process: the supervisor side. `spawn` clones the
//! child into new namespaces, lets the caller wire it (cgroup, network) while
//! the child waits, releases it, and returns once the payload has exec'd —
//! or with the child's own error message.

pub(crate) mod capabilities;
pub(crate) mod child;
pub(crate) mod identity;
mod init;
mod loopback;
mod rlimits;
pub mod rootfs;

use std::fs::{File, OpenOptions};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use berth_store::Root;
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::waitpid;
use nix::unistd::{Pid, pipe2, read, write};

pub use child::lookup;

use crate::config::{ContainerConfig, NetworkMode};
use crate::error::{Result, RuntimeError};
use crate::records::{ContainerDir, Records};

/// Default `/etc/hosts` when the caller gives none.
pub fn default_hosts(hostname: &str) -> String {
    format!(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n127.0.1.1\t{hostname}\n"
    )
}

/// Default `/etc/resolv.conf`: the host's, without loopback resolvers (which
/// a container cannot reach), falling back to public resolvers like Docker.
pub fn default_resolv_conf() -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut servers = 0;
    let mut out = String::new();
    for l in host.lines() {
        let t = l.trim();
        if let Some(ip) = t.strip_prefix("nameserver") {
            let ip = ip.trim();
            if ip.starts_with("127.") || ip == "::1" {
                continue;
            }
            servers += 1;
        }
        out.push_str(l);
        out.push('\n');
    }
    if servers == 0 {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    out
}

/// The container's hostname (its short id unless set).
pub fn hostname(config: &ContainerConfig) -> String {
    if config.hostname.is_empty() {
        config.id[..12.min(config.id.len())].to_owned()
    } else {
        config.hostname.clone()
    }
}

/// Writes `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname` of the container.
pub fn write_name_files(config: &ContainerConfig, dir: &ContainerDir) -> Result<()> {
    let host = hostname(config);
    let hosts = config.hosts.clone().unwrap_or_else(|| default_hosts(&host));
    let resolv = match (&config.resolv_conf, &config.network) {
        (Some(r), _) => r.clone(),
        (None, NetworkMode::Host) => {
            std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default()
        }
        (None, _) => default_resolv_conf(),
    };
    berth_store::atomic_write(&dir.hosts(), hosts.as_bytes())?;
    berth_store::atomic_write(&dir.resolv_conf(), resolv.as_bytes())?;
    berth_store::atomic_write(&dir.hostname(), format!("{host}\n").as_bytes())?;
    Ok(())
}

fn open_out(p: &Path, enabled: bool) -> Result<File> {
    let target = if enabled { p } else { Path::new("/dev/null") };
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .custom_flags(libc::O_CLOEXEC)
        .open(target)
        .map_err(|e| RuntimeError::io(target, e))
}

/// What the supervisor gets back.
pub struct Spawned {
    pub pid: i32,
    /// The pty master for `tty: true` containers.
    pub pty: Option<OwnedFd>,
}

/// Starts `config`'s process. `wire` runs while the child waits in its new
/// namespaces (join its cgroup, attach its network); an error there kills it.
pub fn spawn(
    root: &Root,
    config: &ContainerConfig,
    wire: &mut dyn FnMut(i32) -> std::result::Result<(), String>,
) -> Result<Spawned> {
    let records = Records::new(root);
    let dir = records.dir(&config.id);
    write_name_files(config, &dir)?;
    let empty = root.containers().join(".empty");
    Root::ensure_dir(&empty)?;
    let volumes = root.volumes();
    let stdin = File::open("/dev/null").map_err(|e| RuntimeError::io("/dev/null", e))?;
    let (stdout, stderr, pty) = if config.process.tty {
        let p = nix::pty::openpty(None, None)
            .map_err(|e| RuntimeError::container(&config.name, format!("openpty: {e}")))?;
        let slave: File = p.slave.into();
        (
            slave.try_clone().map_err(|e| RuntimeError::io("pty", e))?,
            slave,
            Some(p.master),
        )
    } else {
        let on = config.logging.enabled();
        (
            open_out(&dir.raw("stdout"), on)?,
            open_out(&dir.raw("stderr"), on)?,
            None,
        )
    };
    let stdin_fd = if config.process.tty {
        stdout.as_raw_fd()
    } else {
        stdin.as_raw_fd()
    };
    let join_netns = match &config.network {
        NetworkMode::Container(other) => {
            let st = records.dir(other).read_state()?.observed();
            let pid = st.pid.filter(|_| st.status.is_active()).ok_or_else(|| {
                RuntimeError::container(
                    &config.name,
                    format!("cannot join the network of container {other}: it is not running"),
                )
            })?;
            let p = format!("/proc/{}/ns/net", pid.pid);
            Some(OwnedFd::from(
                File::open(&p).map_err(|e| RuntimeError::io(&p, e))?,
            ))
        }
        _ => None,
    };
    let (sync_r, sync_w) = pipe2(OFlag::O_CLOEXEC)
        .map_err(|e| RuntimeError::container(&config.name, format!("pipe: {e}")))?;
    let (err_r, err_w) = pipe2(OFlag::O_CLOEXEC)
        .map_err(|e| RuntimeError::container(&config.name, format!("pipe: {e}")))?;
    let mut flags = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC;
    if matches!(config.network, NetworkMode::None | NetworkMode::Bridge(_)) {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    let args = child::ChildArgs {
        config,
        dir: &dir,
        volumes: &volumes,
        empty: &empty,
        sync: &sync_r,
        errors: &err_w,
        stdio: [stdin_fd, stdout.as_raw_fd(), stderr.as_raw_fd()],
        join_netns: join_netns.as_ref(),
        tty: config.process.tty,
    };
    let mut stack = vec![0u8; 1 << 20];
    // SAFETY: the shim is single-threaded; the child runs `child::run`, which
    // execs or _exits and never returns into our code.
    let pid = unsafe {
        nix::sched::clone(
            Box::new(|| child::run(&args)),
            &mut stack,
            flags,
            Some(Signal::SIGCHLD as i32),
        )
    }
    .map_err(|e| RuntimeError::container(&config.name, format!("clone: {e}")))?;
    drop(sync_r);
    drop(err_w);
    drop((stdout, stderr, stdin));
    let fail = |msg: String| {
        let _ = kill(pid, Signal::SIGKILL);
        let _ = waitpid(pid, None);
        RuntimeError::container(&config.name, msg)
    };
    if let Err(e) = wire(pid.as_raw()) {
        return Err(fail(e));
    }
    if write(&sync_w, &[1]).is_err() {
        return Err(fail(
            "the container process died before it was released".into(),
        ));
    }
    drop(sync_w);
    let mut msg = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = read(&err_r, &mut buf) {
        if n == 0 {
            break;
        }
        msg.extend_from_slice(&buf[..n]);
    }
    if !msg.is_empty() {
        let _ = waitpid(pid, None);
        return Err(RuntimeError::container(
            &config.name,
            String::from_utf8_lossy(&msg).into_owned(),
        ));
    }
    Ok(Spawned {
        pid: pid.as_raw(),
        pty,
    })
}

/// Pid helper for callers.
pub fn pid(p: i32) -> Pid {
    Pid::from_raw(p)
}
