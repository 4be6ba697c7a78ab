//! `init: true`: the container's pid 1 stays berth code (the clone of the
//! shim), forks the payload, forwards every signal to it and reaps every
//! zombie, then exits with the payload's status. No separate init binary is
//! mounted into the container.

use std::os::fd::OwnedFd;

use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, write};

pub fn run(errors: &OwnedFd, path: &str, args: &[String], env: &[String]) -> ! {
    let all = SigSet::all();
    let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&all), None);
    // SAFETY: the process is single-threaded.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let _ = sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&all), None);
            let err = match super::child::exec(path, args, env) {
                Err(e) => e,
                Ok(never) => match never {},
            };
            let _ = write(errors, err.as_bytes());
            // SAFETY: leaving the forked child.
            unsafe { libc::_exit(127) }
        }
        Ok(ForkResult::Parent { child }) => supervise(child),
        Err(e) => {
            let _ = write(errors, format!("init: fork: {e}").as_bytes());
            // SAFETY: leaving the process.
            unsafe { libc::_exit(127) }
        }
    }
}

fn supervise(payload: Pid) -> ! {
    // Our copy of the error pipe must not keep it open: the supervisor learns
    // that exec worked when the payload's copy closes.
    for fd in 3..1024 {
        // SAFETY: closing descriptors we do not use.
        unsafe { libc::close(fd) };
    }
    let all = SigSet::all();
    loop {
        let sig = all.wait().unwrap_or(Signal::SIGCHLD);
        if sig != Signal::SIGCHLD {
            let _ = kill(payload, sig);
            continue;
        }
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == payload => exit(code),
                Ok(WaitStatus::Signaled(pid, s, _)) if pid == payload => exit(128 + s as i32),
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    }
}

fn exit(code: i32) -> ! {
    // SAFETY: leaving the process.
    unsafe { libc::_exit(code) }
}
