//! The runtime's public face: containers by id or name, created, started
//! (through the monitor and a shim), stopped, killed, renamed, removed.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use berth_store::{ProcessIdentity, Root};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::config::{ContainerConfig, MountKind};
use crate::error::{Result, RuntimeError};
use crate::monitor::{self, Request};
use crate::records::{ContainerDir, Records, remove_tree};
use crate::state::{State, Status};
use crate::volumes::Volumes;

/// A container as reported: its config and its observed state.
#[derive(Debug, Clone)]
pub struct Container {
    pub config: ContainerConfig,
    pub state: State,
}

#[derive(Debug, Clone)]
pub struct Runtime {
    root: Root,
    records: Records,
    volumes: Volumes,
}

/// The state as reported: checked against the kernel, paused when frozen.
fn observed(d: &ContainerDir, s: State) -> State {
    let mut s = s.observed();
    if s.status == Status::Running && d.paused_marker().exists() {
        s.status = Status::Paused;
    }
    s
}

/// Parses a signal name (`SIGTERM`, `TERM`, `15`).
pub fn parse_signal(s: &str) -> Result<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n)
            .map_err(|_| RuntimeError::Other(format!("invalid signal: {s}")));
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    name.parse::<Signal>()
        .map_err(|_| RuntimeError::Other(format!("invalid signal: {s}")))
}

impl Runtime {
    pub fn open(root: &Root) -> Runtime {
        Runtime {
            root: root.clone(),
            records: Records::new(root),
            volumes: Volumes::new(root),
        }
    }

    pub fn root(&self) -> &Root {
        &self.root
    }

    pub fn volumes(&self) -> &Volumes {
        &self.volumes
    }

    pub fn records(&self) -> &Records {
        &self.records
    }

    pub fn dir(&self, id: &str) -> ContainerDir {
        self.records.dir(id)
    }

    /// Creates a container (not started). Anonymous volumes get their names
    /// here; named volumes are created if missing, as Docker does.
    pub fn create(&self, mut config: ContainerConfig) -> Result<ContainerConfig> {
        crate::validate::validate(&config).map_err(|e| RuntimeError::container(&config.name, e))?;
        for m in config
            .mounts
            .iter_mut()
            .filter(|m| m.kind == MountKind::Volume)
        {
            match &m.source {
                Some(name) => {
                    self.volumes.ensure(name, BTreeMap::new(), false)?;
                }
                None => m.source = Some(self.volumes.anonymous()?.name),
            }
        }
        self.records.create(config)
    }

    /// Id of the container named or identified by `key`.
    pub fn resolve(&self, key: &str) -> Result<String> {
        self.records.get(key)
    }

    pub fn inspect(&self, key: &str) -> Result<Container> {
        let id = self.resolve(key)?;
        let d = self.records.dir(&id);
        Ok(Container {
            config: d.read_config()?,
            state: observed(&d, d.read_state()?),
        })
    }

    fn cgroup(&self, id: &str) -> crate::cgroups::Cgroup {
        crate::cgroups::Cgroup::open(
            &crate::cgroups::detect(),
            &crate::cgroups::parent_for(&self.root),
            id,
        )
    }

    /// Freezes every process of a running container (cgroup freezer).
    pub fn pause(&self, key: &str) -> Result<()> {
        let c = self.inspect(key)?;
        if c.state.status != Status::Running {
            return Err(RuntimeError::Other(format!(
                "Container {} is not running",
                c.config.name
            )));
        }
        self.cgroup(&c.config.id)
            .freeze(true)
            .map_err(|e| RuntimeError::container(&c.config.name, e))?;
        berth_store::atomic_write(&self.records.dir(&c.config.id).paused_marker(), b"")?;
        Ok(())
    }

    pub fn unpause(&self, key: &str) -> Result<()> {
        let c = self.inspect(key)?;
        if c.state.status != Status::Paused {
            return Err(RuntimeError::Other(format!(
                "Container {} is not paused",
                c.config.name
            )));
        }
        self.cgroup(&c.config.id)
            .freeze(false)
            .map_err(|e| RuntimeError::container(&c.config.name, e))?;
        let _ = std::fs::remove_file(self.records.dir(&c.config.id).paused_marker());
        Ok(())
    }

    /// Pids of the processes of a container, as the host sees them.
    pub fn pids(&self, key: &str) -> Result<Vec<i32>> {
        let c = self.inspect(key)?;
        Ok(self.cgroup(&c.config.id).pids())
    }

    pub fn list(&self) -> Result<Vec<Container>> {
        let mut out = Vec::new();
        for id in self.records.ids()? {
            let d = self.records.dir(&id);
            // A record being removed at this very moment is skipped.
            if let (Ok(config), Ok(state)) = (d.read_config(), d.read_state()) {
                out.push(Container {
                    config,
                    state: observed(&d, state),
                });
            }
        }
        Ok(out)
    }

    /// Starts a created or exited container; returns once its payload runs.
    pub fn start(&self, key: &str) -> Result<()> {
        let id = self.resolve(key)?;
        let d = self.records.dir(&id);
        let st = d.read_state()?.observed();
        if st.status.is_active() {
            return Ok(());
        }
        let _ = std::fs::remove_file(d.stop_marker());
        let exe = std::env::current_exe().ok();
        let reply = monitor::request(
            &self.root,
            &Request::Start {
                id: id.clone(),
                exe,
            },
        )?;
        if !reply.ok {
            return Err(RuntimeError::Other(reply.message));
        }
        Ok(())
    }

    fn wait_for_exit(&self, pid: ProcessIdentity, timeout: Duration) -> bool {
        // SAFETY: pidfd_open has no memory-safety preconditions.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.pid, 0) };
        if fd < 0 {
            return !pid.is_running();
        }
        // SAFETY: a new descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let deadline = Instant::now() + timeout;
        loop {
            if !pid.is_running() {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
            let ms = PollTimeout::from(left.as_millis().min(60_000) as u16);
            let _ = poll(&mut fds, ms);
        }
    }

    /// Waits (up to `timeout`) for the shim to record that the container is
    /// no longer running. The shim does so right after reaping it, so short
    /// sleeps find it at once. (Not inotify: closing an inotify instance
    /// waits for an SRCU grace period, milliseconds on a busy host.)
    fn wait_recorded(&self, d: &ContainerDir, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_micros(200);
        loop {
            match d.read_state() {
                Ok(s) if !s.status.is_active() && s.shim.is_none() => return,
                Ok(s) if s.shim.is_some_and(|sh| !sh.is_running()) => return,
                Ok(s) if s.shim.is_none() && !s.observed().status.is_active() => return,
                Err(_) => return,
                _ => {}
            }
            if Instant::now() >= deadline {
                return;
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    /// Stops a container: its stop signal, then SIGKILL after `timeout`
    /// (default: its stop_grace_period, else 10 s). No restart follows.
    pub fn stop(&self, key: &str, timeout: Option<Duration>) -> Result<()> {
        let id = self.resolve(key)?;
        let d = self.records.dir(&id);
        let config = d.read_config()?;
        berth_store::atomic_write(&d.stop_marker(), b"")?;
        if d.paused_marker().exists() {
            // A frozen process cannot handle its stop signal.
            let _ = self.cgroup(&id).freeze(false);
            let _ = std::fs::remove_file(d.paused_marker());
        }
        let st = d.read_state()?.observed();
        if let Some(pid) = st.pid.filter(|p| st.status.is_active() && p.is_running()) {
            let sig = parse_signal(config.stop_signal.as_deref().unwrap_or("SIGTERM"))?;
            let grace = timeout.unwrap_or_else(|| {
                Duration::from_secs_f64(config.stop_grace_period.unwrap_or(10.0))
            });
            let _ = kill(Pid::from_raw(pid.pid), sig);
            if !self.wait_for_exit(pid, grace) {
                // Everything in the cgroup, exec'd processes included.
                self.cgroup(&id).kill_all();
                let _ = kill(Pid::from_raw(pid.pid), Signal::SIGKILL);
                self.wait_for_exit(pid, Duration::from_secs(10));
            }
        }
        self.wait_recorded(&d, Duration::from_secs(5));
        Ok(())
    }

    /// Sends `signal` to the container's pid 1.
    pub fn kill(&self, key: &str, signal: &str) -> Result<()> {
        let id = self.resolve(key)?;
        let d = self.records.dir(&id);
        let config = d.read_config()?;
        let st = d.read_state()?.observed();
        let pid = st
            .pid
            .filter(|p| st.status.is_active() && p.is_running())
            .ok_or_else(|| {
                RuntimeError::Other(format!(
                    "cannot kill container: {}: container {} is not running",
                    config.name,
                    &id[..12]
                ))
            })?;
        let sig = parse_signal(signal)?;
        kill(Pid::from_raw(pid.pid), sig)
            .map_err(|e| RuntimeError::Other(format!("kill {}: {e}", config.name)))?;
        Ok(())
    }

    /// Right after the container's process ended: waits (at most `timeout`)
    /// for its shim to record what follows. True when the container is done,
    /// false when it is being restarted.
    pub fn wait_until_recorded(&self, key: &str, timeout: Duration) -> Result<bool> {
        let id = self.resolve(key)?;
        let d = self.records.dir(&id);
        let first = d.read_state()?.pid;
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_micros(200);
        loop {
            let s = d.read_state()?;
            if !s.status.is_active() && s.shim.is_none() {
                return Ok(true);
            }
            if s.status == Status::Restarting || s.pid != first {
                return Ok(false);
            }
            let shim_gone = s.shim.is_none_or(|sh| !sh.is_running());
            if shim_gone || Instant::now() >= deadline {
                return Ok(!s.observed().status.is_active());
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    /// Waits until the container is not running; returns its exit code.
    pub fn wait(&self, key: &str) -> Result<i32> {
        let id = self.resolve(key)?;
        let d = self.records.dir(&id);
        loop {
            let st = d.read_state()?.observed();
            if !st.status.is_active() {
                self.wait_recorded(&d, Duration::from_secs(2));
                let st = d.read_state()?.observed();
                return Ok(st.exit_code.unwrap_or(0));
            }
            match st.pid {
                Some(pid) if st.status == Status::Running && pid.is_running() => {
                    self.wait_for_exit(pid, Duration::from_secs(1));
                    // The shim records the exit (or a restart) next.
                    self.wait_recorded(&d, Duration::from_millis(200));
                }
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    pub fn rename(&self, key: &str, name: &str) -> Result<()> {
        let id = self.resolve(key)?;
        self.records.rename(&id, name)
    }

    /// Removes a container; `force` kills it first, `volumes` also removes
    /// its anonymous volumes.
    pub fn remove(&self, key: &str, force: bool, volumes: bool) -> Result<()> {
        let id = self.resolve(key)?;
        let d = self.records.dir(&id);
        let config = d.read_config()?;
        let st = d.read_state()?.observed();
        if st.status.is_active() {
            if !force {
                return Err(RuntimeError::Other(format!(
                    "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                    config.name
                )));
            }
            berth_store::atomic_write(&d.stop_marker(), b"")?;
            let _ = self.cgroup(&id).freeze(false);
            if let Some(pid) = st.pid {
                let _ = kill(Pid::from_raw(pid.pid), Signal::SIGKILL);
                self.wait_for_exit(pid, Duration::from_secs(10));
            }
        }
        self.wait_recorded(&d, Duration::from_secs(5));
        // A shim that recorded the end removes the cgroup itself (and the
        // monitor does if that shim dies); one killed before it could, as
        // its record still names it, never will. Not removing it here
        // otherwise keeps `rm` clear of the global cgroup lock, which a
        // spare's migration holds for a grace period.
        if d.read_state().is_ok_and(|s| s.shim.is_some()) {
            let cg = self.cgroup(&id);
            cg.kill_all();
            cg.remove();
        }
        self.records.delete(&id)?;
        if volumes {
            for m in config.mounts.iter().filter(|m| m.kind == MountKind::Volume) {
                if let Some(name) = &m.source
                    && self.volumes.get(name)?.is_some_and(|v| v.anonymous)
                {
                    remove_tree(&self.root.volumes().join(name))?;
                }
            }
        }
        Ok(())
    }

    /// Names of containers that mount volume `name`.
    pub fn volume_users(&self, name: &str) -> Result<Vec<String>> {
        Ok(self
            .list()?
            .into_iter()
            .filter(|c| {
                c.config
                    .mounts
                    .iter()
                    .any(|m| m.kind == MountKind::Volume && m.source.as_deref() == Some(name))
            })
            .map(|c| c.config.name)
            .collect())
    }
}
