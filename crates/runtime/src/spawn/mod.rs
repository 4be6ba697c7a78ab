//! Starting a container's process: the supervisor side, in two steps.
//!
//! 1. [`prepare`] clones a process into new namespaces that waits for its
//!    plan. It can be done before the container is even known: the shim of
//!    a v1 host keeps one prepared in a spare cgroup, so that starting a
//!    container costs no cgroup migration (an RCU grace period, ~10 ms).
//! 2. [`release`] wires it (cgroup limits, network) while it waits, sends it
//!    the container's plan and stdio, and returns once the payload has
//!    exec'd — or with the child's own error message.

pub(crate) mod capabilities;
mod cgroupfs;
pub(crate) mod channel;
pub(crate) mod child;
mod devnodes;
pub(crate) mod identity;
mod init;
mod loopback;
pub mod names;
pub(crate) mod rlimits;
pub mod rootfs;
pub mod sysctls;

use std::fs::{File, OpenOptions};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use berth_store::Root;
use nix::sched::CloneFlags;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

pub use child::lookup;
pub use names::{default_hosts, default_resolv_conf, hostname, write_name_files};

use crate::config::{ContainerConfig, NetworkMode};
use crate::error::{Result, RuntimeError};
use crate::records::{ContainerDir, Records};

/// A cloned container process waiting for its plan.
pub struct Prepared {
    pub pid: i32,
    /// It has a network namespace of its own.
    pub new_net: bool,
    channel: OwnedFd,
}

impl Prepared {
    /// Kills and reaps the waiting process.
    pub fn discard(self) {
        let _ = kill(Pid::from_raw(self.pid), Signal::SIGKILL);
        let _ = waitpid(Pid::from_raw(self.pid), None);
    }
}

/// What the child receives, with its descriptors: stdin, stdout, stderr and,
/// when `join_netns`, the network namespace to join.
#[derive(Debug, Serialize, Deserialize)]
pub struct Plan {
    pub config: ContainerConfig,
    pub dir: PathBuf,
    pub volumes: PathBuf,
    pub empty: PathBuf,
    pub join_netns: bool,
}

/// Whether a container in `network` needs a network namespace of its own.
pub fn wants_new_net(network: &NetworkMode) -> bool {
    matches!(network, NetworkMode::None | NetworkMode::Bridge(_))
}

/// Clones a process in new mount, pid, uts, ipc (and, with `new_net`,
/// network) namespaces that waits for [`release`]. With `cgroup` (a cgroup
/// v2 directory), it is born in that cgroup. Must be called from a
/// single-threaded process.
pub fn prepare(new_net: bool, cgroup: Option<&File>) -> Result<Prepared> {
    let mut flags = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC;
    if new_net {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    let (ours, theirs) =
        channel::pair().map_err(|e| RuntimeError::Other(format!("socketpair: {e}")))?;
    // SAFETY: the callers (shims) are single-threaded, and the child only
    // runs `child::run`, which execs or _exits.
    let pid = unsafe { channel::fork_with(flags, cgroup.map(|f| f.as_raw_fd())) }
        .map_err(|e| RuntimeError::Other(format!("clone: {e}")))?;
    if pid == 0 {
        drop(ours);
        child::run(theirs)
    }
    drop(theirs);
    Ok(Prepared {
        pid,
        new_net,
        channel: ours,
    })
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

/// `stdin_open`: a FIFO the container opens for reading and writing, so
/// its stdin never reaches end-of-file, whatever happens to berth.
fn open_stdin_fifo(dir: &ContainerDir) -> Result<File> {
    let p = dir.stdin_fifo();
    if !p.exists() {
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .map_err(|e| RuntimeError::io(&p, e.into()))?;
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(&p)
        .map_err(|e| RuntimeError::io(&p, e))
}

/// What the supervisor gets back.
pub struct Spawned {
    pub pid: i32,
    /// The pty master for `tty: true` containers.
    pub pty: Option<OwnedFd>,
}

/// The container's stdio: `[stdin, stdout, stderr]`. A `tty: true`
/// container opens its terminal itself, in its own devpts, and hands the
/// master back; its stdio here is only a placeholder.
fn stdio(config: &ContainerConfig, dir: &ContainerDir) -> Result<[File; 3]> {
    let null = || File::open("/dev/null").map_err(|e| RuntimeError::io("/dev/null", e));
    if config.process.tty {
        return Ok([null()?, null()?, null()?]);
    }
    let stdin = if config.process.stdin_open {
        open_stdin_fifo(dir)?
    } else {
        null()?
    };
    let on = config.logging.enabled();
    Ok([
        stdin,
        open_out(&dir.raw("stdout"), on)?,
        open_out(&dir.raw("stderr"), on)?,
    ])
}

/// The network namespace the child must join, if not its own.
fn netns_to_join(
    records: &Records,
    config: &ContainerConfig,
    new_net: bool,
) -> Result<Option<File>> {
    let path = match &config.network {
        NetworkMode::Container(other) => {
            let st = records.dir(other).read_state()?.observed();
            let pid = st.pid.filter(|_| st.status.is_active()).ok_or_else(|| {
                RuntimeError::container(
                    &config.name,
                    format!("cannot join the network of container {other}: it is not running"),
                )
            })?;
            format!("/proc/{}/ns/net", pid.pid)
        }
        // A process prepared with a namespace of its own goes back to ours.
        NetworkMode::Host if new_net => "/proc/self/ns/net".to_owned(),
        _ if !new_net && wants_new_net(&config.network) => {
            return Err(RuntimeError::container(
                &config.name,
                "the prepared process has no network namespace of its own",
            ));
        }
        _ => return Ok(None),
    };
    File::open(&path)
        .map(Some)
        .map_err(|e| RuntimeError::io(&path, e))
}

/// Starts `config`'s process in `prepared`. `wire` runs while it waits
/// (cgroup limits, network); an error there, or in the child, kills it.
pub fn release(
    root: &Root,
    prepared: Prepared,
    config: &ContainerConfig,
    wire: &mut dyn FnMut(i32) -> std::result::Result<(), String>,
) -> Result<Spawned> {
    let fail = |p: Prepared, msg: String| {
        p.discard();
        RuntimeError::container(&config.name, msg)
    };
    let records = Records::new(root);
    let dir = records.dir(&config.id);
    let setup = (|| -> Result<_> {
        write_name_files(config, &dir)?;
        let empty = root.containers().join(".empty");
        Root::ensure_dir(&empty)?;
        crate::volumes::create_host_paths(config)?;
        let files = stdio(config, &dir)?;
        let netns = netns_to_join(&records, config, prepared.new_net)?;
        Ok((empty, files, netns))
    })();
    let (empty, files, netns) = match setup {
        Ok(v) => v,
        Err(e) => {
            prepared.discard();
            return Err(e);
        }
    };
    if let Err(e) = wire(prepared.pid) {
        return Err(fail(prepared, e));
    }
    let plan = Plan {
        config: config.clone(),
        dir: dir.path.clone(),
        volumes: root.volumes(),
        empty,
        join_netns: netns.is_some(),
    };
    let data = match serde_json::to_vec(&plan) {
        Ok(d) => d,
        Err(e) => return Err(fail(prepared, format!("plan: {e}"))),
    };
    let mut fds: Vec<RawFd> = files.iter().map(|f| f.as_raw_fd()).collect();
    fds.extend(netns.as_ref().map(|f| f.as_raw_fd()));
    if channel::send(&prepared.channel, &data, &fds).is_err() {
        return Err(fail(
            prepared,
            "the container process died before it was released".into(),
        ));
    }
    drop(files);
    // An empty answer is the close-on-exec of the child's end: it exec'd.
    // Before that, a tty container hands over its terminal's master.
    let mut pty = None;
    loop {
        match channel::recv(&prepared.channel) {
            Ok((msg, _)) if msg.is_empty() => {
                return Ok(Spawned {
                    pid: prepared.pid,
                    pty,
                });
            }
            Ok((msg, mut fds)) if msg == b"pty" && fds.len() == 1 => pty = fds.pop(),
            Ok((msg, _)) => {
                let _ = waitpid(Pid::from_raw(prepared.pid), None);
                return Err(RuntimeError::container(
                    &config.name,
                    String::from_utf8_lossy(&msg).into_owned(),
                ));
            }
            Err(e) => return Err(fail(prepared, e)),
        }
    }
}
