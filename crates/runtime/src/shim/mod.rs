//! The supervisor of one container (`berth __internal shim <id>`): a small,
//! single-threaded process, child of the root's monitor. It clones the
//! container, turns its output into logs, applies the restart policy, runs
//! healthchecks, and records every transition in `state.json`. If it is
//! killed, the container keeps running; the monitor adopts the container and
//! starts a new shim with `--adopt`.

mod health;
mod logpump;
mod restart;
pub mod spare;

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use berth_store::{ProcessIdentity, Root};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};

pub use logpump::LogPump;

use crate::cgroups::{Cgroup, detect, parent_for};
use crate::config::{ContainerConfig, NetworkMode};
use crate::error::{Result, RuntimeError};
use crate::records::{ContainerDir, Records};
use crate::spawn::{self, Prepared};
use crate::state::{State, Status, now_rfc3339};

/// Where the shim reports whether the container started (`ok` or `err …`).
pub struct Ready(Option<OwnedFd>);

impl Ready {
    /// # Safety
    /// `fd` must be an open descriptor owned by nobody else.
    pub unsafe fn from_raw(fd: Option<i32>) -> Ready {
        // SAFETY: guaranteed by the caller.
        Ready(fd.map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    fn send(&mut self, msg: &str) {
        if let Some(fd) = self.0.take() {
            let _ = nix::unistd::write(&fd, format!("{msg}\n").as_bytes());
        }
    }
}

struct Shim {
    root: Root,
    dir: ContainerDir,
    config: ContainerConfig,
    state: State,
    pump: LogPump,
    /// The running container process, if any.
    pid: Option<i32>,
    /// Adopted container (not our child): we learn of its end through a pidfd.
    pidfd: Option<OwnedFd>,
    pty: Option<OwnedFd>,
    started: Instant,
    restart_at: Option<Instant>,
    health: Option<health::Checker>,
    /// The container's mount namespace, held while it runs. When its last
    /// process exits the kernel tears the namespace down (unmounting
    /// everything waits for RCU grace periods, ~5 ms) before the exit is
    /// visible to anyone; holding a reference moves that work here, after
    /// the exit is recorded, out of the way of whoever waits for it.
    mnt_ns: Option<std::fs::File>,
}

/// What the monitor asks of a shim.
pub enum Role {
    /// Start container `id`.
    Start(String),
    /// Supervise container `id`, which already runs (its shim died).
    Adopt(String),
    /// Prepare, then wait on this pipe for the id of the container to start.
    Spare(OwnedFd),
}

/// Runs a shim; returns the process exit code.
pub fn main(root: Root, role: Role, mut ready: Ready) -> i32 {
    match run(root, role, &mut ready) {
        Ok(()) => 0,
        Err(e) => {
            ready.send(&format!("err {e}"));
            1
        }
    }
}

fn run(root: Root, role: Role, ready: &mut Ready) -> Result<()> {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None)
        .map_err(|e| RuntimeError::Other(format!("sigprocmask: {e}")))?;
    // The shim must outlive terminals and stray signals aimed at its session.
    for s in [
        Signal::SIGHUP,
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGPIPE,
    ] {
        // SAFETY: ignoring a signal has no preconditions.
        unsafe { nix::sys::signal::signal(s, nix::sys::signal::SigHandler::SigIgn) }.ok();
    }
    let sfd = SignalFd::with_flags(
        &mask,
        nix::sys::signalfd::SfdFlags::SFD_NONBLOCK | nix::sys::signalfd::SfdFlags::SFD_CLOEXEC,
    )
    .map_err(|e| RuntimeError::Other(format!("signalfd: {e}")))?;
    let (id, adopt, spare) = match role {
        Role::Start(id) => (id, false, None),
        Role::Adopt(id) => (id, true, None),
        Role::Spare(order) => {
            let spare = spare::Spare::make(&root);
            match spare::wait_for_order(order) {
                Some(id) => {
                    spare::restore_priority(spare.as_ref());
                    (id, false, spare)
                }
                None => {
                    if let Some(s) = spare {
                        s.discard();
                    }
                    return Ok(());
                }
            }
        }
    };
    let dir = Records::new(&root).dir(&id);
    let loaded = dir.read_config().and_then(|c| Ok((c, dir.read_state()?)));
    let (config, state) = match loaded {
        Ok(v) => v,
        Err(e) => {
            if let Some(s) = spare {
                s.discard();
            }
            return Err(e);
        }
    };
    let pump = LogPump::new(&dir, &config.logging);
    let mut shim = Shim {
        root,
        dir,
        config,
        state,
        pump,
        pid: None,
        pidfd: None,
        pty: None,
        started: Instant::now(),
        restart_at: None,
        health: None,
        mnt_ns: None,
    };
    shim.state.shim = Some(ProcessIdentity::current());
    if adopt {
        shim.adopt()?;
    } else if let Err(e) = shim.start(spare) {
        shim.state.status = Status::Exited;
        shim.state.exit_code = Some(127);
        shim.state.error = Some(e.to_string());
        shim.state.finished_at = Some(now_rfc3339());
        shim.state.shim = None;
        shim.save();
        return Err(e);
    }
    ready.send("ok");
    shim.event_loop(&sfd)
}

/// A container process in `cg`: born there on v2, moved there on v1.
fn place(cg: &Cgroup, new_net: bool) -> Result<Prepared> {
    if cg.v2
        && let Some(dir) = cg.dir("unified")
        && let Ok(f) = std::fs::File::open(dir)
        && let Ok(p) = spawn::prepare(new_net, Some(&f))
    {
        return Ok(p);
    }
    let p = spawn::prepare(new_net, None)?;
    if let Err(e) = cg.add(p.pid) {
        p.discard();
        return Err(RuntimeError::Other(format!("cgroup: {e}")));
    }
    Ok(p)
}

impl Shim {
    fn save(&self) {
        let _ = self.dir.write_state(&self.state);
    }

    /// Starts the container, in the process `spare` prepared if any.
    fn start(&mut self, spare: Option<spare::Spare>) -> Result<()> {
        let _ = std::fs::remove_file(self.dir.orphan_exit());
        let config = self.config.clone();
        let privileged = config.security.privileged;
        let err = |e: String| RuntimeError::container(&config.name, format!("cgroup: {e}"));
        let (cg, prepared) = match spare {
            Some(s) => match s.cgroup.rename(&config.id) {
                Ok(cg) => {
                    if privileged && let Err(e) = cg.allow_all_devices() {
                        s.prepared.discard();
                        cg.remove();
                        return Err(err(e));
                    }
                    (cg, s.prepared)
                }
                Err(e) => {
                    s.discard();
                    return Err(err(e));
                }
            },
            None => {
                let cg =
                    Cgroup::create(&detect(), &parent_for(&self.root), &config.id).map_err(err)?;
                let placed = cg
                    .restrict_devices(privileged)
                    .map_err(err)
                    .and_then(|_| place(&cg, spawn::wants_new_net(&config.network)));
                match placed {
                    Ok(p) => (cg, p),
                    Err(e) => {
                        cg.remove();
                        return Err(e);
                    }
                }
            }
        };
        let cg2 = cg.clone();
        let mut mnt_ns = None;
        let mut wire = |pid: i32| -> std::result::Result<(), String> {
            // Taken while the process waits for us (it was born in its
            // mount namespace): a short-lived one may be gone by the time
            // `release` returns.
            mnt_ns = std::fs::File::open(format!("/proc/{pid}/ns/mnt")).ok();
            cg2.apply(&config.resources)
                .map_err(|e| format!("resource limits: {e}"))?;
            if let NetworkMode::Bridge(atts) = &config.network
                && !atts.is_empty()
            {
                berth_net::attach::attach(pid, atts).map_err(|e| format!("network: {e}"))?;
            }
            Ok(())
        };
        let spawned = match spawn::release(&self.root, prepared, &self.config, &mut wire) {
            Ok(s) => s,
            Err(e) => {
                cg.remove();
                return Err(e);
            }
        };
        self.pid = Some(spawned.pid);
        self.mnt_ns = mnt_ns;
        self.pty = spawned.pty;
        self.started = Instant::now();
        self.state.status = Status::Running;
        self.state.pid = ProcessIdentity::of(spawned.pid);
        self.state.started_at = Some(now_rfc3339());
        self.state.exit_code = None;
        self.state.error = None;
        self.start_health();
        self.save();
        Ok(())
    }

    fn start_health(&mut self) {
        self.health = self.config.healthcheck.as_ref().map(health::Checker::new);
        if self.health.is_some() {
            self.state.health = Some(crate::state::Health {
                status: "starting".into(),
                ..Default::default()
            });
        }
    }

    fn adopt(&mut self) -> Result<()> {
        let pid = self.state.pid.filter(|p| p.is_running()).ok_or_else(|| {
            RuntimeError::container(
                &self.config.name,
                "nothing to adopt: the container is not running",
            )
        })?;
        // SAFETY: pidfd_open has no memory-safety preconditions.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.pid, 0) };
        if fd < 0 {
            return Err(RuntimeError::container(
                &self.config.name,
                format!("pidfd_open: {}", std::io::Error::last_os_error()),
            ));
        }
        // SAFETY: a new descriptor we own.
        self.pidfd = Some(unsafe { OwnedFd::from_raw_fd(fd as i32) });
        self.pid = Some(pid.pid);
        if self.config.healthcheck.is_some() {
            let kept = self.state.health.clone();
            self.start_health();
            if kept.is_some() {
                self.state.health = kept;
            }
        }
        self.save();
        Ok(())
    }

    fn event_loop(&mut self, sfd: &SignalFd) -> Result<()> {
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).ok();
        if let Some(i) = &inotify {
            let _ = i.add_watch(&self.dir.path, AddWatchFlags::IN_MODIFY);
        }
        loop {
            self.pump.pump();
            if self.pid.is_none() && self.restart_at.is_none() {
                self.pump.flush_partial();
                return Ok(());
            }
            let mut timeout = match self.restart_at {
                Some(at) => at
                    .saturating_duration_since(Instant::now())
                    .min(Duration::from_secs(1)),
                None => Duration::from_secs(1),
            };
            if let Some(h) = &self.health {
                let at = if h.probe.is_some() {
                    Instant::now() + Duration::from_millis(50)
                } else {
                    h.next
                };
                timeout = timeout.min(at.saturating_duration_since(Instant::now()));
            }
            let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
            if let Some(i) = &inotify {
                fds.push(PollFd::new(i.as_fd(), PollFlags::POLLIN));
            }
            // SAFETY: descriptors borrowed for the duration of poll only.
            let probe_fd = self
                .health
                .as_ref()
                .and_then(|h| h.probe.as_ref())
                .map(|p| &p.output);
            let extra: Vec<BorrowedFd> = [self.pidfd.as_ref(), self.pty.as_ref(), probe_fd]
                .into_iter()
                .flatten()
                .map(|f| unsafe { BorrowedFd::borrow_raw(f.as_raw_fd()) })
                .collect();
            for f in &extra {
                fds.push(PollFd::new(*f, PollFlags::POLLIN));
            }
            let ms = PollTimeout::from(timeout.as_millis().min(1000) as u16);
            let _ = poll(&mut fds, ms);
            if let Some(i) = &inotify {
                while i.read_events().is_ok_and(|e| !e.is_empty()) {}
            }
            let _ = sfd.read_signal();
            self.read_pty();
            self.reap();
            self.check_adopted();
            self.tick_health();
            if let Some(at) = self.restart_at
                && Instant::now() >= at
            {
                self.restart_at = None;
                if self.dir.stop_marker().exists() {
                    self.finish();
                } else if let Err(e) = self.start(None) {
                    self.state.error = Some(e.to_string());
                    self.after_exit(127);
                }
            }
        }
    }

    fn read_pty(&mut self) {
        if let Some(p) = &self.pty {
            let mut buf = [0u8; 8192];
            // Non-blocking by poll: only read when readable.
            let mut fds = [PollFd::new(p.as_fd(), PollFlags::POLLIN)];
            while poll(&mut fds, PollTimeout::ZERO).is_ok_and(|n| n > 0) {
                match nix::unistd::read(p, &mut buf) {
                    Ok(n) if n > 0 => self.pump.write_tty(&buf[..n]),
                    _ => break,
                }
            }
        }
    }

    fn tick_health(&mut self) {
        let Some(h) = self.health.as_mut() else {
            return;
        };
        h.drain();
        h.check_timeout();
        if h.probe.is_none()
            && Instant::now() >= h.next
            && self.state.status == Status::Running
            && let Some(pid) = self.pid
        {
            h.start(pid, &self.config);
        }
    }

    fn reap(&mut self) {
        loop {
            let (pid, code) = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid.as_raw(), code),
                Ok(WaitStatus::Signaled(pid, s, _)) => (pid.as_raw(), 128 + s as i32),
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(_) => continue,
            };
            if Some(pid) == self.pid {
                self.after_exit(code);
            } else if let Some(h) = self.health.as_mut() {
                let mut health = self.state.health.clone().unwrap_or_default();
                if h.finish(pid, code, &mut health) {
                    let changed = self.state.health.as_ref() != Some(&health);
                    self.state.health = Some(health);
                    if changed {
                        self.save();
                    }
                }
            }
        }
    }

    /// An adopted container ended: the monitor reaped it and wrote its status.
    fn check_adopted(&mut self) {
        let Some(fd) = &self.pidfd else { return };
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        if !poll(&mut fds, PollTimeout::ZERO).is_ok_and(|n| n > 0) {
            return;
        }
        self.pidfd = None;
        let deadline = Instant::now() + Duration::from_secs(2);
        let code = loop {
            if let Ok(Some(v)) =
                berth_store::read_json_opt::<serde_json::Value>(&self.dir.orphan_exit())
            {
                break v["exit_code"].as_i64().unwrap_or(255) as i32;
            }
            if Instant::now() > deadline {
                break 255;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        self.after_exit(code);
    }

    fn after_exit(&mut self, code: i32) {
        if let Some(p) = self.health.take().and_then(|h| h.probe) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p.pid), Signal::SIGKILL);
        }
        self.pid = None;
        self.pty = None;
        self.pump.pump();
        self.state.exit_code = Some(code);
        self.state.finished_at = Some(now_rfc3339());
        let stopped = self.dir.stop_marker().exists();
        let ran = self.started.elapsed();
        match restart::decide(
            self.config.restart,
            code,
            self.state.restart_count,
            stopped,
            ran,
        ) {
            Some(delay) => {
                self.state.status = Status::Restarting;
                self.state.restart_count += 1;
                self.restart_at = Some(Instant::now() + delay);
                self.save();
                self.mnt_ns = None;
            }
            None => self.finish(),
        }
    }

    fn finish(&mut self) {
        self.pump.flush_partial();
        let cg = Cgroup::open(&detect(), &parent_for(&self.root), &self.config.id);
        cg.kill_all();
        let _ = std::fs::remove_file(self.dir.paused_marker());
        self.state.status = Status::Exited;
        self.state.shim = None;
        // Recorded first: whoever waits for the container (`run`, `wait`)
        // need not wait for the cgroup directories too; `rm` removes them
        // as well if it comes first.
        self.save();
        self.mnt_ns = None;
        cg.remove();
    }
}
