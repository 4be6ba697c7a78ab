//! The per-root monitor (`berth __internal monitor`): the parent of every shim
//! and helper daemon, and the subreaper of their orphans.
//!
//! - It runs in a private mount namespace where the berth binary is bind-
//!   mounted read-only, and starts shims from that path: a container can then
//!   never open the host's berth binary for writing through `/proc/<pid>/exe`
//!   (CVE-2019-5736), at no cost per container.
//! - If a shim dies, its container is re-parented here; the monitor starts a
//!   new shim that adopts it, and when the container ends it records the exit
//!   status the adopting shim cannot see.
//! - It exits once it has had nothing to look after for a while.
//!
//! Requests are one JSON line on `<root>/run/monitor.sock`; the answer is one
//! JSON line.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_store::{FileLock, ProcessIdentity, Root};
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use serde::{Deserialize, Serialize};

mod client;
mod spares;

pub use client::{request, shutdown};
use spares::SpareShim;

use crate::error::{Result, RuntimeError};
use crate::records::Records;
use crate::state::Status;

/// How long the monitor stays without anything to look after.
const IDLE_EXIT: Duration = Duration::from_secs(10);

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    Ping,
    /// Start a shim for container `id` and wait until the container runs.
    Start {
        id: String,
        /// The requesting berth binary, so an upgraded binary is used.
        #[serde(default)]
        exe: Option<PathBuf>,
    },
    /// Start a helper daemon (`args` after the berth binary), e.g. DNS.
    Daemon {
        name: String,
        args: Vec<String>,
    },
    /// Exit if nothing is running.
    Shutdown,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    #[serde(default)]
    pub message: String,
}

pub fn socket_path(root: &Root) -> PathBuf {
    root.run().join("monitor.sock")
}

pub fn lock_path(root: &Root) -> PathBuf {
    root.run().join("monitor.lock")
}

#[derive(Default)]
struct Children {
    /// shim pid → container id
    shims: HashMap<i32, String>,
    /// daemon pid → name
    daemons: HashMap<i32, String>,
    /// Spares ready (or getting ready) to run the next containers, oldest
    /// first.
    spares: std::collections::VecDeque<SpareShim>,
    /// Pids of dismissed spares not reaped yet.
    leaving_spares: Vec<i32>,
    /// Containers being started right now.
    starting: std::collections::HashSet<String>,
    last_busy: Option<Instant>,
}

struct Monitor {
    root: Root,
    exe: PathBuf,
    children: Mutex<Children>,
    /// How many spare shims to keep (`BERTH_NO_SPARE=1`: none, for
    /// comparisons).
    spare_count: usize,
}

/// Runs the monitor of `root`; returns the exit code.
pub fn main(root: Root) -> i32 {
    let _ = Root::ensure_dir(&root.run());
    // A monitor that is shutting down still holds the lock for a moment
    // after removing its socket; one that serves keeps its socket.
    let deadline = Instant::now() + Duration::from_secs(10);
    let lock = loop {
        match FileLock::try_exclusive(&lock_path(&root)) {
            Ok(Some(l)) => break l,
            Ok(None) if socket_path(&root).exists() || Instant::now() > deadline => return 0,
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                berth_store::errln!("berth monitor: {e}");
                return 1;
            }
        }
    };
    let exe = match private_readonly_exe(&root) {
        Ok(p) => p,
        Err(e) => {
            berth_store::errln!("berth monitor: {e}");
            return 1;
        }
    };
    // SAFETY: prctl with constant arguments.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let _ = std::fs::write(
        root.run().join("monitor.pid"),
        std::process::id().to_string(),
    );
    let sock = socket_path(&root);
    let _ = std::fs::remove_file(&sock);
    let listener = match UnixListener::bind(&sock) {
        Ok(l) => l,
        Err(e) => {
            berth_store::errln!("berth monitor: {}: {e}", sock.display());
            return 1;
        }
    };
    let m = Arc::new(Monitor {
        root,
        exe,
        children: Mutex::new(Children {
            last_busy: Some(Instant::now()),
            ..Default::default()
        }),
        spare_count: spares::wanted(),
    });
    m.remove_stale_spare_cgroups();
    {
        let m = Arc::clone(&m);
        std::thread::spawn(move || m.reap_loop());
    }
    {
        let m = Arc::clone(&m);
        std::thread::spawn(move || m.idle_loop());
    }
    for conn in listener.incoming().flatten() {
        let m = Arc::clone(&m);
        std::thread::spawn(move || m.serve(conn));
    }
    drop(lock);
    0
}

/// Enters a private mount namespace and bind-mounts our own executable
/// read-only at `<root>/run/berth-exe`; returns that path.
fn private_readonly_exe(root: &Root) -> Result<PathBuf> {
    let err = |what: &str, e: nix::Error| RuntimeError::Other(format!("monitor: {what}: {e}"));
    unshare(CloneFlags::CLONE_NEWNS).map_err(|e| err("unshare mount namespace", e))?;
    // See host mounts appearing later (volumes, binds), never leak ours out.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .map_err(|e| err("make / rslave", e))?;
    let target = root.run().join("berth-exe");
    if !target.exists() {
        std::fs::File::create(&target).map_err(|e| RuntimeError::io(&target, e))?;
    }
    let me =
        std::fs::read_link("/proc/self/exe").map_err(|e| RuntimeError::io("/proc/self/exe", e))?;
    mount(
        Some(&me),
        &target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| err("bind the berth binary", e))?;
    let ro = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    mount(None::<&str>, &target, None::<&str>, ro, None::<&str>)
        .map_err(|e| err("make the berth binary read-only", e))?;
    Ok(target)
}

impl Monitor {
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.exe);
        c.arg("--root").arg(self.root.path()).args(args);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.root.run().join("monitor.log"));
        c.stdin(Stdio::null()).stdout(Stdio::null());
        match log {
            Ok(f) => c.stderr(f),
            Err(_) => c.stderr(Stdio::null()),
        };
        c
    }

    fn serve(&self, conn: UnixStream) {
        let mut line = String::new();
        let mut r = BufReader::new(&conn);
        if r.read_line(&mut line).is_err() {
            return;
        }
        let reply = match serde_json::from_str::<Request>(&line) {
            Ok(Request::Ping) => Reply {
                ok: true,
                message: std::process::id().to_string(),
            },
            Ok(Request::Start { id, exe }) => {
                if let Some(exe) = exe {
                    self.follow_upgrade(&exe);
                }
                let reply = self.start(&id);
                // Answer first: the next spare is not this request's business.
                let mut w = &conn;
                let _ = writeln!(w, "{}", serde_json::to_string(&reply).unwrap_or_default());
                drop(conn);
                self.refill();
                return;
            }
            Ok(Request::Daemon { name, args }) => self.daemon(&name, &args),
            Ok(Request::Shutdown) => {
                let reply = self.can_shut_down();
                if reply.ok {
                    let mut w = &conn;
                    let _ = writeln!(w, "{}", serde_json::to_string(&reply).unwrap_or_default());
                    self.exit();
                }
                reply
            }
            Err(e) => Reply {
                ok: false,
                message: format!("bad request: {e}"),
            },
        };
        let mut w = &conn;
        let _ = writeln!(w, "{}", serde_json::to_string(&reply).unwrap_or_default());
    }

    /// New shims run the berth binary the user runs now: after an upgrade,
    /// the new binary is bound (read-only) over the old one.
    fn follow_upgrade(&self, exe: &Path) {
        use std::os::unix::fs::MetadataExt;
        let (Ok(new), Ok(cur)) = (std::fs::metadata(exe), std::fs::metadata(&self.exe)) else {
            return;
        };
        if (new.dev(), new.ino()) == (cur.dev(), cur.ino()) {
            return;
        }
        let ro = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        if mount(
            Some(exe),
            &self.exe,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .is_ok()
        {
            let _ = mount(None::<&str>, &self.exe, None::<&str>, ro, None::<&str>);
        }
    }

    /// Starts container `id` in the spare shim if there is one, else in a
    /// new shim; then makes sure a spare waits for the next one.
    fn start(&self, id: &str) -> Reply {
        // One start per container: a second request (its first requester
        // was killed, and it is asked again) waits for the first's outcome,
        // never starts a second process in the same cgroup.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut ch = self.children.lock().unwrap();
            let busy = ch.starting.contains(id) || ch.shims.values().any(|v| v == id);
            if !busy {
                ch.starting.insert(id.to_owned());
                break;
            }
            drop(ch);
            let st = Records::new(&self.root).dir(id).read_state();
            if st.is_ok_and(|s| s.status.is_active() && s.pid.is_some_and(|p| p.is_running())) {
                return Reply {
                    ok: true,
                    message: String::new(),
                };
            }
            if Instant::now() > deadline {
                return Reply {
                    ok: false,
                    message: format!("container {id} is still being started"),
                };
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let reply = self.start_one(id);
        self.children.lock().unwrap().starting.remove(id);
        reply
    }

    fn start_one(&self, id: &str) -> Reply {
        let spare = {
            let mut ch = self.children.lock().unwrap();
            let s = ch.spares.pop_front();
            if let Some(s) = &s {
                // Registered before it is told, so that its end is never
                // mistaken for an orphan's.
                ch.shims.insert(s.pid, id.to_owned());
                ch.last_busy = Some(Instant::now());
            }
            s
        };
        match spare {
            Some(mut s) => {
                // Still preparing at a low priority, maybe: it is needed now.
                // SAFETY: getpriority/setpriority have no memory-safety preconditions.
                unsafe {
                    let ours = libc::getpriority(libc::PRIO_PROCESS, 0);
                    libc::setpriority(libc::PRIO_PROCESS, s.pid as libc::id_t, ours);
                }
                if writeln!(s.order, "{id}").is_ok() {
                    drop(s.order);
                    read_ready(s.ready)
                } else {
                    self.children.lock().unwrap().shims.remove(&s.pid);
                    self.spawn_shim(id, false)
                }
            }
            None => self.spawn_shim(id, false),
        }
    }

    /// Starts a shim; with `adopt`, for a container that already runs.
    fn spawn_shim(&self, id: &str, adopt: bool) -> Reply {
        let (r, w) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
            Ok(p) => p,
            Err(e) => {
                return Reply {
                    ok: false,
                    message: format!("pipe: {e}"),
                };
            }
        };
        let mut args = vec!["__internal", "shim", id, "--ready-fd", "3"];
        if adopt {
            args.push("--adopt");
        }
        let mut cmd = self.command(&args);
        let wfd = w.as_raw_fd();
        // SAFETY: dup2 is async-signal-safe; it runs between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(wfd, 3) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        {
            let mut ch = self.children.lock().unwrap();
            match cmd.spawn() {
                Ok(child) => {
                    ch.shims.insert(child.id() as i32, id.to_owned());
                    ch.last_busy = Some(Instant::now());
                }
                Err(e) => {
                    return Reply {
                        ok: false,
                        message: format!("start the shim: {e}"),
                    };
                }
            }
        }
        drop(w);
        read_ready(r.into())
    }

    fn daemon(&self, name: &str, args: &[String]) -> Reply {
        let mut ch = self.children.lock().unwrap();
        if ch.daemons.values().any(|n| n == name) {
            return Reply {
                ok: true,
                message: "already running".into(),
            };
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        match self.command(&refs).spawn() {
            Ok(c) => {
                ch.daemons.insert(c.id() as i32, name.to_owned());
                Reply {
                    ok: true,
                    message: String::new(),
                }
            }
            Err(e) => Reply {
                ok: false,
                message: format!("start {name}: {e}"),
            },
        }
    }

    fn can_shut_down(&self) -> Reply {
        // Shims of containers that just exited are about to exit too.
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline && !self.children.lock().unwrap().shims.is_empty() {
            std::thread::sleep(Duration::from_millis(5));
        }
        let ch = self.children.lock().unwrap();
        if !ch.shims.is_empty() {
            return Reply {
                ok: false,
                message: format!("{} container(s) still supervised", ch.shims.len()),
            };
        }
        Reply {
            ok: true,
            message: String::new(),
        }
    }

    /// Stops the daemons and the spare, waits until they are reaped, and exits.
    fn exit(&self) -> ! {
        self.dismiss_spare();
        let ch = self.children.lock().unwrap();
        for pid in ch.daemons.keys() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(*pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let _ = std::fs::remove_file(socket_path(&self.root));
        // Reap the daemons we just stopped before leaving.
        let deadline = Instant::now() + Duration::from_secs(5);
        drop(ch);
        while Instant::now() < deadline && !self.children.lock().unwrap().daemons.is_empty() {
            std::thread::sleep(Duration::from_millis(10));
        }
        Records::new(&self.root).collect_trash();
        std::process::exit(0);
    }

    fn idle_loop(&self) {
        // This thread also deletes removed records: at the lowest priority,
        // so that it never slows a container down.
        // SAFETY: setpriority on our own thread.
        unsafe {
            libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 19);
        }
        loop {
            Records::new(&self.root).collect_trash();
            std::thread::sleep(Duration::from_secs(1));
            let idle = |ch: &Children| {
                ch.shims.is_empty()
                    && ch.daemons.is_empty()
                    && ch.last_busy.is_some_and(|t| t.elapsed() > IDLE_EXIT)
            };
            if idle(&self.children.lock().unwrap()) {
                let _ = std::fs::remove_file(socket_path(&self.root));
                self.dismiss_spare();
                if idle(&self.children.lock().unwrap()) {
                    Records::new(&self.root).collect_trash();
                    std::process::exit(0);
                }
            }
        }
    }

    /// Reaps every child and orphan. A dead shim whose container still runs
    /// gets a successor; an orphaned container's exit status is recorded.
    fn reap_loop(&self) {
        loop {
            // Peek first (WNOWAIT): the zombie's start time identifies it.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            // SAFETY: waitid fills `info`.
            let r =
                unsafe { libc::waitid(libc::P_ALL, 0, &mut info, libc::WEXITED | libc::WNOWAIT) };
            if r != 0 {
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
            // SAFETY: filled by a successful waitid.
            let (pid, code, status) = unsafe { (info.si_pid(), info.si_code, info.si_status()) };
            let exit_code = if code == libc::CLD_EXITED {
                status
            } else {
                128 + status
            };
            let identity = ProcessIdentity::of(pid);
            let spare_gone = self.children.lock().unwrap().forget_spare(pid);
            if spare_gone {
                // A spare that died without cleaning up leaves its cgroup.
                crate::cgroups::Cgroup::open(
                    &crate::cgroups::detect(),
                    &crate::cgroups::parent_for(&self.root),
                    &crate::shim::spare::cgroup_name(pid as u32),
                )
                .remove();
                // SAFETY: reaping the child we just inspected.
                unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
                continue;
            }
            let (shim_of, daemon) = {
                let mut ch = self.children.lock().unwrap();
                let s = ch.shims.remove(&pid);
                let d = ch.daemons.remove(&pid);
                if s.is_some() || d.is_some() {
                    ch.last_busy = Some(Instant::now());
                }
                (s, d)
            };
            if shim_of.is_none() && daemon.is_none() {
                self.record_orphan_exit(identity, pid, exit_code);
            }
            // SAFETY: reaping the child we just inspected.
            unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
            if let Some(id) = shim_of {
                self.after_shim(&id);
            }
        }
    }

    fn after_shim(&self, id: &str) {
        let dir = Records::new(&self.root).dir(id);
        let Ok(state) = dir.read_state() else { return };
        let container_alive = state.status.is_active() && state.pid.is_some_and(|p| p.is_running());
        if container_alive {
            let reply = self.spawn_shim(id, true);
            if !reply.ok {
                berth_store::errln!("berth monitor: adopting {id}: {}", reply.message);
            }
        } else {
            // A shim that died before removing its container's cgroup.
            let cg = crate::cgroups::Cgroup::open(
                &crate::cgroups::detect(),
                &crate::cgroups::parent_for(&self.root),
                id,
            );
            cg.kill_all();
            cg.remove();
        }
    }

    fn record_orphan_exit(&self, who: Option<ProcessIdentity>, pid: i32, exit_code: i32) {
        let records = Records::new(&self.root);
        let Ok(ids) = records.ids() else { return };
        for id in ids {
            let dir = records.dir(&id);
            let Ok(st) = dir.read_state() else { continue };
            let same = st
                .pid
                .is_some_and(|p| p.pid == pid && who.is_none_or(|w| w.start_time == p.start_time));
            if same && st.status != Status::Exited {
                let v = serde_json::json!({"pid": pid, "exit_code": exit_code});
                let _ = berth_store::write_json(&dir.orphan_exit(), &v);
                return;
            }
        }
    }
}

/// What a shim says on its ready pipe: `ok`, or `err <message>`.
fn read_ready(f: std::fs::File) -> Reply {
    let mut line = String::new();
    let _ = BufReader::new(f).read_line(&mut line);
    let line = line.trim();
    match line.strip_prefix("err ") {
        Some(msg) => Reply {
            ok: false,
            message: msg.to_owned(),
        },
        None if line == "ok" => Reply {
            ok: true,
            message: String::new(),
        },
        None => Reply {
            ok: false,
            message: "the shim exited before the container started (see <root>/run/monitor.log)"
                .into(),
        },
    }
}
