//! `exec -t`: a pseudo-terminal of the container's own devpts, proxied to
//! the caller's terminal. The process in the container never holds the
//! caller's terminal, so it cannot push input into it (`TIOCSTI`) or keep it
//! after berth is gone.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::pty::{PtyMaster, grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};
use nix::unistd::{read, write};

pub struct Pty {
    master: PtyMaster,
    slave: CString,
}

impl Pty {
    /// Opens a new terminal pair through `/dev/ptmx` of the current mount
    /// namespace (call it after joining the container's).
    pub fn open() -> nix::Result<Pty> {
        let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)?;
        grantpt(&master)?;
        unlockpt(&master)?;
        let name = ptsname_r(&master)?;
        Ok(Pty {
            master,
            slave: CString::new(name).map_err(|_| nix::Error::EINVAL)?,
        })
    }

    pub fn master(&self) -> BorrowedFd<'_> {
        self.master.as_fd()
    }

    /// In the child: a session (new unless it leads one already) whose
    /// controlling terminal, stdin, stdout and stderr are the slave.
    pub fn become_controlling(self) -> Result<(), String> {
        drop(self.master);
        match nix::unistd::setsid() {
            Ok(_) | Err(nix::Error::EPERM) => {}
            Err(e) => return Err(format!("setsid: {e}")),
        }
        // SAFETY: plain open/ioctl/dup2 on descriptors we own.
        unsafe {
            let fd = libc::open(self.slave.as_ptr(), libc::O_RDWR);
            if fd < 0 {
                return Err(format!(
                    "open {}: {}",
                    self.slave.to_string_lossy(),
                    std::io::Error::last_os_error()
                ));
            }
            libc::ioctl(fd, libc::TIOCSCTTY, 0);
            for i in 0..3 {
                libc::dup2(fd, i);
            }
            if fd > 2 {
                libc::close(fd);
            }
        }
        Ok(())
    }

    /// In the parent: copies the caller's terminal to the pty and back until
    /// `child` has exited and its output is drained. The caller's terminal
    /// is in raw mode meanwhile, and its size follows the caller's.
    pub fn proxy(self, child: i32) {
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin).ok();
        if let Some(t) = &saved {
            let mut raw = t.clone();
            cfmakeraw(&mut raw);
            let _ = tcsetattr(&stdin, SetArg::TCSANOW, &raw);
        }
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGWINCH);
        let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None);
        let winch =
            SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC).ok();
        copy_size(self.master.as_fd());
        let mut stdin_open = true;
        let mut buf = [0u8; 8192];
        loop {
            // SAFETY: fd 0 stays open for the life of the process.
            let fd0 = unsafe { BorrowedFd::borrow_raw(0) };
            let mut fds = vec![PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
            if stdin_open {
                fds.push(PollFd::new(fd0, PollFlags::POLLIN));
            }
            if let Some(w) = &winch {
                fds.push(PollFd::new(w.as_fd(), PollFlags::POLLIN));
            }
            let _ = poll(&mut fds, PollTimeout::from(100u16));
            let ready = |i: usize| {
                fds.get(i)
                    .and_then(|f| f.revents())
                    .is_some_and(|r| !r.is_empty())
            };
            let (master_ready, stdin_ready) = (ready(0), stdin_open && ready(1));
            if master_ready {
                match read(&self.master, &mut buf) {
                    Ok(n) if n > 0 => write_all(1, &buf[..n]),
                    // EIO: every slave descriptor is closed.
                    _ => break,
                }
            }
            if stdin_ready {
                match read(fd0, &mut buf) {
                    Ok(n) if n > 0 => {
                        let _ = write(&self.master, &buf[..n]);
                    }
                    _ => stdin_open = false,
                }
            }
            if let Some(w) = &winch
                && w.read_signal().is_ok_and(|s| s.is_some())
            {
                copy_size(self.master.as_fd());
            }
            if !master_ready && exited(child) {
                // The child is gone and nothing is left to read.
                break;
            }
        }
        if let Some(t) = &saved {
            let _ = tcsetattr(&stdin, SetArg::TCSANOW, t);
        }
    }
}

fn write_all(fd: i32, mut data: &[u8]) {
    // SAFETY: fd 1 stays open for the life of the process.
    let out = unsafe { BorrowedFd::borrow_raw(fd) };
    while !data.is_empty() {
        match write(out, data) {
            Ok(n) if n > 0 => data = &data[n..],
            _ => return,
        }
    }
}

/// The caller's window size onto the pty.
fn copy_size(master: BorrowedFd) {
    // SAFETY: TIOCGWINSZ/TIOCSWINSZ with a valid winsize struct.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws);
        }
    }
}

/// Whether `child` has exited (left as a zombie for the caller to reap).
fn exited(child: i32) -> bool {
    // SAFETY: waitid fills `info`; WNOWAIT leaves the child unreaped.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let r = libc::waitid(
            libc::P_PID,
            child as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        r != 0 || info.si_pid() == child
    }
}
