//! The monitor's spare shim (see `shim::spare`): started ahead of need at a
//! low priority, told which container it is when one starts, dismissed
//! when the monitor leaves.

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use super::Monitor;

/// A shim started ahead of need (see `shim::spare`).
pub(super) struct SpareShim {
    pub(super) pid: i32,
    /// Where the container id is written; closing it dismisses the spare.
    pub(super) order: std::fs::File,
    pub(super) ready: std::fs::File,
}

impl Monitor {
    /// Starts a spare shim when there is none.
    pub(super) fn refill(&self) {
        if !self.spares {
            return;
        }
        let mut ch = self.children.lock().unwrap();
        if ch.spare.is_some() {
            return;
        }
        let pipes = (|| {
            let ready = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).ok()?;
            let order = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).ok()?;
            Some((ready, order))
        })();
        let Some(((ready_r, ready_w), (order_r, order_w))) = pipes else {
            return;
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
        if let Ok(child) = cmd.spawn() {
            ch.spare = Some(SpareShim {
                pid: child.id() as i32,
                order: order_w.into(),
                ready: ready_r.into(),
            });
        }
    }

    /// Dismisses the spare (it cleans up and exits) and waits until it is
    /// reaped, so that its cgroup is gone when the monitor is.
    pub(super) fn dismiss_spare(&self) {
        {
            let mut ch = self.children.lock().unwrap();
            if let Some(s) = ch.spare.take() {
                ch.leaving_spare = Some(s.pid);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && self.children.lock().unwrap().leaving_spare.is_some() {
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
