//! The supervisor of one container (`berth __internal shim <id>`): a small,
//! single-threaded process, child of the root's monitor. It clones the
//! container, turns its output into logs, applies the restart policy, runs
//! healthchecks, and records every transition in `state.json`. If it is
//! killed, the container keeps running; the monitor adopts the container and
//! starts a new shim with `--adopt`.

mod health;
mod logpump;
mod restart;

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use berth_store::{ProcessIdentity, Root};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};

pub use logpump::LogPump;

use crate::config::{ContainerConfig, NetworkMode};
use crate::error::{Result, RuntimeError};
use crate::records::{ContainerDir, Records};
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
}

/// Runs the shim of container `id`; returns the process exit code.
pub fn main(root: Root, id: &str, adopt: bool, mut ready: Ready) -> i32 {
    match run(root, id, adopt, &mut ready) {
        Ok(()) => 0,
        Err(e) => {
            ready.send(&format!("err {e}"));
            1
        }
    }
}

fn run(root: Root, id: &str, adopt: bool, ready: &mut Ready) -> Result<()> {
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
    let dir = Records::new(&root).dir(id);
    let config = dir.read_config()?;
    let state = dir.read_state()?;
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
    };
    shim.state.shim = Some(ProcessIdentity::current());
    if adopt {
        shim.adopt()?;
    } else if let Err(e) = shim.start() {
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

impl Shim {
    fn save(&self) {
        let _ = self.dir.write_state(&self.state);
    }

    fn start(&mut self) -> Result<()> {
        let _ = std::fs::remove_file(self.dir.orphan_exit());
        let config = self.config.clone();
        let layout = crate::cgroups::detect();
        let cg = crate::cgroups::Cgroup::create(
            &layout,
            &crate::cgroups::parent_for(&self.root),
            &config.id,
        )
        .map_err(|e| RuntimeError::container(&config.name, format!("cgroup: {e}")))?;
        let cg2 = cg.clone();
        let mut wire = |pid: i32| -> std::result::Result<(), String> {
            cg2.add(pid).map_err(|e| format!("cgroup: {e}"))?;
            cg2.apply(&config.resources)
                .map_err(|e| format!("resource limits: {e}"))?;
            if let NetworkMode::Bridge(atts) = &config.network
                && !atts.is_empty()
            {
                berth_net::attach::attach(pid, atts).map_err(|e| format!("network: {e}"))?;
            }
            Ok(())
        };
        let spawned = match crate::spawn::spawn(&self.root, &self.config, &mut wire) {
            Ok(s) => s,
            Err(e) => {
                cg.remove();
                return Err(e);
            }
        };
        self.pid = Some(spawned.pid);
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
                } else if let Err(e) = self.start() {
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
            }
            None => self.finish(),
        }
    }

    fn finish(&mut self) {
        let cg = crate::cgroups::Cgroup::open(
            &crate::cgroups::detect(),
            &crate::cgroups::parent_for(&self.root),
            &self.config.id,
        );
        cg.kill_all();
        cg.remove();
        let _ = std::fs::remove_file(self.dir.paused_marker());
        self.state.status = Status::Exited;
        self.state.shim = None;
        self.save();
    }
}
