//! Running a process inside a running container (`exec`, healthchecks):
//! join its namespaces, then fork so the new process is inside its pid
//! namespace too, switch user, exec. Must be called from a single-threaded
//! process whose executable is berth's read-only copy (the shim, or the exec
//! helper started from the monitor's namespace), never from the host binary.

use std::fs::File;

use nix::sched::{CloneFlags, setns};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork};
use serde::{Deserialize, Serialize};

use crate::config::ContainerConfig;
use crate::spawn::child::{exec as execve_path, lookup};
use crate::spawn::identity::apply_user;
use crate::tty;

/// A pidfd for `pid` (readable once it has exited), `None` if it is gone.
pub fn pidfd(pid: i32) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open has no memory-safety preconditions.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: a new descriptor we own.
    (fd >= 0).then(|| unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}

/// What to run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExecSpec {
    pub args: Vec<String>,
    /// Extra `KEY=value` on top of the container's environment.
    #[serde(default)]
    pub env: Vec<String>,
    /// User (default: the container's).
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub cwd: Option<String>,
    #[serde(default)]
    pub tty: bool,
}

fn fail(msg: String) -> ! {
    berth_store::errln!("berth exec: {msg}");
    // SAFETY: leaving the process.
    unsafe { libc::_exit(126) }
}

/// Joins the namespaces of the container whose init is `pid`, runs `spec` in
/// it and exits with its status (127 when the command is not found).
/// How a process enters a container besides its [`ExecSpec`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Entry {
    /// Every capability, whatever the container has (`exec --privileged`).
    pub privileged: bool,
    /// The process dies with the one that waits for it (a healthcheck probe
    /// killed at its timeout must not leave its command running).
    pub die_with_parent: bool,
}

pub fn enter_and_exec(pid: i32, config: &ContainerConfig, spec: &ExecSpec, entry: Entry) -> ! {
    // Open every namespace and cgroup first: after joining the mount
    // namespace, the host's /proc and cgroup tree are gone.
    let cgroups = crate::cgroups::procs_files_of(pid)
        .unwrap_or_else(|e| fail(format!("container {}: cgroup: {e}", config.name)));
    let mut nss = Vec::new();
    for (name, flag) in [
        ("cgroup", CloneFlags::CLONE_NEWCGROUP),
        ("ipc", CloneFlags::CLONE_NEWIPC),
        ("uts", CloneFlags::CLONE_NEWUTS),
        ("net", CloneFlags::CLONE_NEWNET),
        ("pid", CloneFlags::CLONE_NEWPID),
        ("mnt", CloneFlags::CLONE_NEWNS),
    ] {
        match File::open(format!("/proc/{pid}/ns/{name}")) {
            Ok(f) => nss.push((f, flag, name)),
            Err(e) => fail(format!("container {}: namespace {name}: {e}", config.name)),
        }
    }
    for (f, flag, name) in &nss {
        if let Err(e) = setns(f, *flag) {
            fail(format!(
                "container {}: join {name} namespace: {e}",
                config.name
            ));
        }
    }
    drop(nss);
    // A terminal of the container's own devpts: the caller's terminal is
    // never handed to the container (TIOCSTI could type into it).
    let pty = spec
        .tty
        .then(|| tty::Pty::open().unwrap_or_else(|e| fail(format!("pty: {e}"))));
    // SAFETY: the process is single-threaded (see the module comment).
    match unsafe { fork() } {
        Ok(ForkResult::Parent { child }) => {
            drop(cgroups);
            if let Some(p) = pty {
                p.proxy(child.as_raw())
            }
            let code = match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, c)) => c,
                Ok(WaitStatus::Signaled(_, s, _)) => 128 + s as i32,
                _ => 126,
            };
            // SAFETY: leaving the process.
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Child) => {}
        Err(e) => fail(format!("fork: {e}")),
    }
    // Now inside the container's pid namespace; into its cgroup too ("0"
    // is the writer), so its limits apply and stop kills us with it.
    for mut f in cgroups {
        use std::io::Write;
        if let Err(e) = f.write_all(b"0") {
            fail(format!("join the container's cgroup: {e}"));
        }
    }
    if let Some(p) = pty {
        p.become_controlling()
            .unwrap_or_else(|e| fail(format!("pty: {e}")));
    }
    let user = spec.user.as_deref().unwrap_or(&config.process.user);
    let security = crate::config::Security {
        privileged: config.security.privileged || entry.privileged,
        ..config.security.clone()
    };
    // The container's limits, as Docker gives exec'd processes; set while
    // still privileged (raising a hard limit needs CAP_SYS_RESOURCE).
    crate::spawn::rlimits::apply(&config.ulimits).unwrap_or_else(|e| fail(e));
    let set = crate::spawn::capabilities::effective(&security).unwrap_or_else(|e| fail(e));
    let u = apply_user(
        user,
        &config.process.group_add,
        config.security.no_new_privileges,
        &set,
    )
    .unwrap_or_else(|e| fail(e));
    let cwd = spec
        .cwd
        .clone()
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| {
            if config.process.cwd.is_empty() {
                "/".into()
            } else {
                config.process.cwd.clone()
            }
        });
    if let Err(e) = nix::unistd::chdir(cwd.as_str()) {
        fail(format!("chdir {cwd}: {e}"));
    }
    let mut env = config.process.env.clone();
    for e in &spec.env {
        let key = e.split('=').next().unwrap_or("");
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", u.home));
    }
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.push("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    }
    let Some(argv0) = spec.args.first() else {
        fail("no command given".into())
    };
    let Some(path) = lookup(argv0, &env) else {
        berth_store::errln!(
            "OCI runtime exec failed: exec failed: unable to start container process: exec: \"{argv0}\": executable file not found in $PATH"
        );
        // SAFETY: leaving the process.
        unsafe { libc::_exit(127) }
    };
    // Nothing of ours may leak into the container (CVE-2024-21626).
    // SAFETY: only sets close-on-exec flags.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    crate::spawn::child::reset_signals();
    if entry.die_with_parent {
        // After the user switch, which clears it.
        // SAFETY: prctl with constant arguments.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
    }
    match execve_path(&path, &spec.args, &env) {
        Err(e) => fail(e),
        Ok(never) => match never {},
    }
}

/// `berth exec`: becomes the exec helper started from the monitor's read-only
/// copy of berth (never from the host binary a container could overwrite),
/// keeping our stdio, so the exit code is the command's. Returns only on
/// error. The calling process must be single-threaded (setns of a mount
/// namespace requires it).
pub fn reexec_helper(
    root: &berth_store::Root,
    id: &str,
    spec: &ExecSpec,
) -> crate::error::Result<std::convert::Infallible> {
    reexec_helper_with(root, id, spec, false)
}

/// [`reexec_helper`], with every capability for the command when
/// `privileged` (`exec --privileged`).
pub fn reexec_helper_with(
    root: &berth_store::Root,
    id: &str,
    spec: &ExecSpec,
    privileged: bool,
) -> crate::error::Result<std::convert::Infallible> {
    use crate::error::RuntimeError;
    let reply = crate::monitor::request(root, &crate::monitor::Request::Ping)?;
    let pid: i32 = reply
        .message
        .trim()
        .parse()
        .map_err(|_| RuntimeError::Other("the monitor did not say its pid".into()))?;
    let ns = File::open(format!("/proc/{pid}/ns/mnt"))
        .map_err(|e| RuntimeError::io(format!("/proc/{pid}/ns/mnt"), e))?;
    setns(&ns, CloneFlags::CLONE_NEWNS)
        .map_err(|e| RuntimeError::Other(format!("join the monitor's mount namespace: {e}")))?;
    let exe = root.run().join("berth-exe");
    let json = serde_json::to_string(spec).map_err(|e| RuntimeError::Other(e.to_string()))?;
    let mut args = vec![
        "berth".to_owned(),
        "--root".into(),
        root.path().display().to_string(),
        "__internal".into(),
        "exec".into(),
        id.to_owned(),
        "--spec".into(),
        json,
    ];
    if privileged {
        args.push("--privileged".into());
    }
    let cargs = crate::spawn::child::cstrings(&args).map_err(RuntimeError::Other)?;
    let path = std::ffi::CString::new(exe.display().to_string())
        .map_err(|e| RuntimeError::Other(e.to_string()))?;
    match nix::unistd::execv(&path, &cargs) {
        Err(e) => Err(RuntimeError::io(&exe, e.into())),
        Ok(never) => match never {},
    }
}

/// The helper's side: `berth __internal exec <id> --spec JSON [--privileged]`.
pub fn helper_main(root: &berth_store::Root, id: &str, spec_json: &str, privileged: bool) -> i32 {
    let rt = crate::Runtime::open(root);
    let spec: ExecSpec = match serde_json::from_str(spec_json) {
        Ok(s) => s,
        Err(e) => {
            berth_store::errln!("berth exec: bad request: {e}");
            return 126;
        }
    };
    let c = match rt.inspect(id) {
        Ok(c) => c,
        Err(e) => {
            berth_store::errln!("Error response from daemon: {e}");
            return 1;
        }
    };
    let Some(pid) = c
        .state
        .pid
        .filter(|p| c.state.status.is_active() && p.is_running())
    else {
        berth_store::errln!(
            "Error response from daemon: container {} is not running",
            c.config.name
        );
        return 1;
    };
    enter_and_exec(
        pid.pid,
        &c.config,
        &spec,
        Entry {
            privileged,
            die_with_parent: false,
        },
    )
}
