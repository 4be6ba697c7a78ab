//! The container's first process, from its birth in new namespaces to the
//! `exec` of the payload. It runs in a clone of the single-threaded shim, so
//! it may allocate, but it must never return into the shim's code: it either
//! execs or reports an error through the error pipe and `_exit`s.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::sched::{CloneFlags, setns, unshare};
use nix::unistd::{execve, sethostname, setsid, write};

use super::Plan;
use super::init;
use super::rootfs::{self, ChildResult};
use crate::config::{ContainerConfig, NetworkMode};
use crate::records::ContainerDir;

/// Entry point of the cloned child: waits for its plan, then builds the
/// container and execs the payload. Never returns.
pub fn run(channel: OwnedFd) -> ! {
    let err = match receive(&channel) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let _ = write(&channel, err.as_bytes());
    // SAFETY: _exit is always safe; the child must not run the shim's code.
    unsafe { libc::_exit(127) }
}

/// The plan and its descriptors, in the order they were sent.
struct Received {
    plan: Plan,
    stdio: [OwnedFd; 3],
    netns: Option<OwnedFd>,
}

fn receive(channel: &OwnedFd) -> ChildResult<Never> {
    let (data, fds) = super::channel::recv(channel)?;
    if data.is_empty() {
        // The supervisor went away (a spare that was never used): nothing to say.
        // SAFETY: leaving the process.
        unsafe { libc::_exit(0) }
    }
    let plan: Plan = serde_json::from_slice(&data).map_err(|e| format!("bad plan: {e}"))?;
    let mut fds = fds.into_iter();
    let mut next = || fds.next().ok_or("the plan came without its descriptors");
    let stdio = [next()?, next()?, next()?];
    let netns = if plan.join_netns { Some(next()?) } else { None };
    setup(Received { plan, stdio, netns }, channel)
}

pub enum Never {}

/// The shim blocks SIGCHLD and ignores a few signals; blocked masks and
/// ignored dispositions survive exec, so the payload gets defaults back.
pub(crate) fn reset_signals() {
    for s in nix::sys::signal::Signal::iterator() {
        if matches!(
            s,
            nix::sys::signal::Signal::SIGKILL | nix::sys::signal::Signal::SIGSTOP
        ) {
            continue;
        }
        // SAFETY: restoring the default disposition has no preconditions.
        let _ = unsafe { nix::sys::signal::signal(s, nix::sys::signal::SigHandler::SigDfl) };
    }
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&nix::sys::signal::SigSet::empty()),
        None,
    );
}

fn setup(r: Received, channel: &OwnedFd) -> ChildResult<Never> {
    // Our cgroups as the host names them, for the container's view of
    // them (inside the namespace they all read "/").
    let host_cgroups = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    // Only now: the shim has placed us in the container's cgroup, which
    // becomes the root of our cgroup namespace.
    unshare(CloneFlags::CLONE_NEWCGROUP).map_err(|e| format!("cgroup namespace: {e}"))?;
    if let Some(ns) = &r.netns {
        setns(ns, CloneFlags::CLONE_NEWNET).map_err(|e| format!("join network namespace: {e}"))?;
    }
    drop(r.netns);
    setsid().map_err(|e| format!("setsid: {e}"))?;
    let c = &r.plan.config;
    if !matches!(c.network, NetworkMode::Host) {
        sethostname(super::hostname(c)).map_err(|e| format!("sethostname: {e}"))?;
        if let Some(d) = &c.domainname {
            let cs = CString::new(d.as_str())
                .map_err(|_| "domainname contains a NUL byte".to_string())?;
            // SAFETY: valid C string and length.
            if unsafe { libc::setdomainname(cs.as_ptr(), d.len()) } != 0 {
                return Err(format!(
                    "setdomainname: {}",
                    std::io::Error::last_os_error()
                ));
            }
        }
    }
    if super::wants_new_net(&c.network) {
        super::loopback::up().map_err(|e| format!("bring lo up: {e}"))?;
    }
    let dir = ContainerDir {
        path: r.plan.dir.clone(),
    };
    rootfs::build(c, &dir, &r.plan.volumes, &r.plan.empty, &host_cgroups)?;
    super::sysctls::write(&c.sysctls)?;
    rootfs::harden(c)?;
    super::rlimits::apply(&c.ulimits)?;
    let user = super::identity::apply(c)?;
    let cwd = if c.process.cwd.is_empty() {
        "/"
    } else {
        c.process.cwd.as_str()
    };
    nix::unistd::chdir(cwd).map_err(|e| format!("chdir {cwd}: {e}"))?;
    let env = environment(c, &user.home);
    let argv0 = c
        .process
        .args
        .first()
        .ok_or("no command given: the image has no Cmd or Entrypoint and none was set")?;
    let path = lookup(argv0, &env)
        .ok_or_else(|| format!("exec: \"{argv0}\": executable file not found in $PATH"))?;
    if c.process.tty {
        // A terminal of the container's own devpts (so `tty` can name it);
        // the shim keeps its master.
        let pty = crate::tty::Pty::open().map_err(|e| format!("open a terminal: {e}"))?;
        super::channel::send(channel, b"pty", &[pty.master().as_raw_fd()])
            .map_err(|e| format!("hand the terminal to the shim: {e}"))?;
        pty.become_controlling()?;
    } else {
        stdio(&r.stdio)?;
    }
    drop(r.stdio);
    mark_cloexec(channel.as_raw_fd());
    reset_signals();
    if c.init {
        init::run(channel, &path, &c.process.args, &env);
    }
    exec(&path, &c.process.args, &env)
}

/// The payload's environment, with HOME added when the image does not set it.
fn environment(c: &ContainerConfig, home: &str) -> Vec<String> {
    let mut env = c.process.env.clone();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.push("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    }
    if !env.iter().any(|e| e.starts_with("HOSTNAME=")) {
        env.push(format!(
            "HOSTNAME={}",
            nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={home}"));
    }
    if c.process.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    env
}

/// `execvp`'s search, but in the container's `PATH`.
pub fn lookup(cmd: &str, env: &[String]) -> Option<String> {
    if cmd.contains('/') {
        return Some(cmd.to_owned());
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/bin:/bin");
    path.split(':')
        .map(|d| format!("{}/{cmd}", if d.is_empty() { "." } else { d }))
        .find(|p| {
            let c = CString::new(p.as_str()).unwrap_or_default();
            // SAFETY: valid C string.
            unsafe { libc::access(c.as_ptr(), libc::X_OK) == 0 }
        })
}

fn stdio(fds: &[OwnedFd; 3]) -> ChildResult {
    for (i, fd) in fds.iter().enumerate() {
        let fd = fd.as_raw_fd();
        if fd != i as RawFd {
            // SAFETY: both descriptors are open in this process.
            if unsafe { libc::dup2(fd, i as RawFd) } < 0 {
                return Err(format!("dup2: {}", std::io::Error::last_os_error()));
            }
        }
    }
    Ok(())
}

/// Every descriptor above stderr is closed when the payload starts: nothing
/// of the host (an open directory, a socket) may leak in (CVE-2024-21626).
fn mark_cloexec(keep: RawFd) {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if r != 0 {
        for fd in 3..1024 {
            if fd != keep {
                // SAFETY: F_SETFD on a possibly closed fd is harmless.
                unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
            }
        }
    }
}

pub fn cstrings(v: &[String]) -> ChildResult<Vec<CString>> {
    v.iter()
        .map(|s| CString::new(s.as_str()).map_err(|_| format!("{s:?} contains a NUL byte")))
        .collect()
}

pub fn exec(path: &str, args: &[String], env: &[String]) -> ChildResult<Never> {
    let p = CString::new(path).map_err(|_| "command contains a NUL byte".to_string())?;
    let argv = cstrings(args)?;
    let envp = cstrings(env)?;
    match execve(&p, &argv, &envp) {
        Err(e) => Err(format!("exec {path}: {e}")),
        Ok(never) => match never {},
    }
}
