//! The monitor's spare shim (see `shim::spare`): started ahead of need at a
//! low priority, told which container it is when one starts, dismissed
//! when the monitor leaves.

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use super::Monitor;

/// How many spares a monitor keeps. Two: starting one takes longer than a
/// container's whole run (a v1 cgroup migration waits for an RCU grace
/// period), so with one, back-to-back starts (`run --rm` in a loop, a
/// compose `up`) often find the spare still getting ready and wait for it.
/// `BERTH_NO_SPARE=1` keeps none (for comparisons).
pub(super) fn wanted() -> usize {
    match std::env::var_os("BERTH_NO_SPARE") {
        Some(v) if !v.is_empty() && v != "0" => 0,
        _ => 2,
    }
}

impl super::Children {
    /// Drops the spare `pid` (it died or was reaped after dismissal); true
    /// when it was one.
    pub(super) fn forget_spare(&mut self, pid: i32) -> bool {
        if let Some(i) = self.spares.iter().position(|s| s.pid == pid) {
            self.spares.remove(i);
            return true;
        }
        let before = self.leaving_spares.len();
        self.leaving_spares.retain(|p| *p != pid);
        self.leaving_spares.len() != before
    }
}

/// A shim started ahead of need (see `shim::spare`).
pub(super) struct SpareShim {
    pub(super) pid: i32,
    /// Where the container id is written; closing it dismisses the spare.
    pub(super) order: std::fs::File,
    pub(super) ready: std::fs::File,
}

impl Monitor {
    /// Starts spare shims until there are as many as wanted.
    pub(super) fn refill(&self) {
        while self.children.lock().unwrap().spares.len() < self.spare_count {
            if !self.add_spare() {
                return;
            }
        }
    }

    fn add_spare(&self) -> bool {
        let mut ch = self.children.lock().unwrap();
        let pipes = (|| {
            let ready = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).ok()?;
            let order = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).ok()?;
            Some((ready, order))
        })();
        let Some(((ready_r, ready_w), (order_r, order_w))) = pipes else {
            return false;
        };
        let mut cmd = self.command(&["__internal", "shim", "--ready-fd", "3", "--order-fd", "4"]);
        let (rw, or) = (ready_w.as_raw_fd(), order_r.as_raw_fd());
        // SAFETY: dup2 is async-signal-safe; it runs between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(rw, 3) < 0 || libc::dup2(or, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::setpriority(libc::PRIO_PROCESS, 0, crate::shim::spare::PREPARE_NICE);
                Ok(())
            });
        }
        match cmd.spawn() {
            Ok(child) => {
                ch.spares.push_back(SpareShim {
                    pid: child.id() as i32,
                    order: order_w.into(),
                    ready: ready_r.into(),
                });
                true
            }
            Err(_) => false,
        }
    }

    /// Dismisses the spares (each cleans up and exits: closing its order
    /// pipe tells it) and waits until they are reaped, so that their cgroups
    /// are gone when the monitor is.
    pub(super) fn dismiss_spare(&self) {
        {
            let mut ch = self.children.lock().unwrap();
            let pids: Vec<i32> = ch.spares.drain(..).map(|s| s.pid).collect();
            ch.leaving_spares.extend(pids);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && !self.children.lock().unwrap().leaving_spares.is_empty()
        {
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Cgroups of spares of an earlier monitor that was killed.
    pub(super) fn remove_stale_spare_cgroups(&self) {
        let parent = crate::cgroups::parent_for(&self.root);
        if let crate::cgroups::Layout::V1(ctrls) = crate::cgroups::detect() {
            for (_, mount) in ctrls {
                let Ok(rd) = std::fs::read_dir(mount.join(&parent)) else {
                    continue;
                };
                for e in rd.flatten() {
                    if e.file_name().to_string_lossy().starts_with("spare-") {
                        let _ = std::fs::remove_dir(e.path());
                    }
                }
            }
        }
    }
}
