//! Shared harness of the end-to-end tests: a temporary berth root with the
//! busybox test image loaded, the real `berth` binary, and cleanup that
//! leaves nothing behind even when a test fails.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Once;

pub mod upstream;

pub const IMAGE: &str = "busybox:latest";

static SUBREAPER: Once = Once::new();

/// Orphans of our berth processes (the monitor, its daemons) come back to
/// this test process, so they are reaped even where pid 1 does not reap.
fn become_subreaper() {
    SUBREAPER.call_once(|| {
        // SAFETY: prctl with constant arguments.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    });
}

/// Polls `f` until it holds; panics naming `what` after a generous deadline.
pub fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The state letter of a process (`R`, `S`, `Z`, …), `None` when gone.
pub fn process_state(pid: i32) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s[s.rfind(')')? + 2..].chars().next()
}

/// Reaps every exited child that nobody waits for.
pub fn reap_orphans() {
    loop {
        // SAFETY: non-blocking wait on any child.
        let r = unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) };
        if r <= 0 {
            break;
        }
    }
}

pub struct Env {
    pub root: tempfile::TempDir,
    /// Network namespace playing the host (when the test needs networks).
    pub netns: Option<berth_testkit::netns::FakeHost>,
    projects: Vec<PathBuf>,
}

impl Env {
    pub fn new() -> Env {
        become_subreaper();
        let root = tempfile::Builder::new()
            .prefix("berth-e2e-")
            .tempdir()
            .unwrap();
        let archive = root.path().join("busybox.tar");
        berth_testkit::oci::busybox_archive(&archive, IMAGE).unwrap();
        let store = berth_image::ImageStore::open(&berth_store::Root::new(root.path())).unwrap();
        store
            .load(
                std::fs::File::open(&archive).unwrap(),
                "busybox.tar",
                &Default::default(),
            )
            .unwrap();
        Env {
            root,
            netns: None,
            projects: Vec::new(),
        }
    }

    /// With a throwaway network namespace playing the host.
    pub fn with_network() -> Env {
        let mut e = Env::new();
        e.netns = Some(berth_testkit::netns::FakeHost::new());
        e
    }

    pub fn command(&self, dir: &Path, args: &[&str]) -> Command {
        let bin = env!("CARGO_BIN_EXE_berth");
        let mut c = match &self.netns {
            Some(n) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net={}", n.path())).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        c.args(args)
            .current_dir(dir)
            .env("BERTH_ROOT", self.root.path())
            .env("NO_COLOR", "1");
        c
    }

    /// Runs berth in `dir`; panics with its output when `ok` differs.
    pub fn berth(&self, dir: &Path, args: &[&str]) -> Output {
        self.command(dir, args).output().unwrap()
    }

    pub fn ok(&self, dir: &Path, args: &[&str]) -> String {
        let o = self.berth(dir, args);
        assert!(
            o.status.success(),
            "berth {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Like [`ok`](Self::ok), returning stdout and stderr (builds report on stderr).
    pub fn ok_out(&self, dir: &Path, args: &[&str]) -> (String, String) {
        let o = self.berth(dir, args);
        let (out, err) = (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        );
        assert!(o.status.success(), "berth {args:?} failed:\n{out}{err}");
        (out, err)
    }

    /// A project directory with this compose file; `down -v` runs for it at the end.
    pub fn project(&mut self, name: &str, compose: &str) -> PathBuf {
        let dir = self.root.path().join("projects").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("compose.yaml"), compose).unwrap();
        self.projects.push(dir.clone());
        dir
    }

    /// Runs `sh -c` in the host namespace of this env (the fake host if any).
    pub fn sh(&self, cmd: &str) -> Output {
        let mut c = match &self.netns {
            Some(n) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net={}", n.path())).args(["sh", "-c", cmd]);
                c
            }
            None => {
                let mut c = Command::new("sh");
                c.args(["-c", cmd]);
                c
            }
        };
        c.output().unwrap()
    }

    /// A snapshot of the host (or fake host) with this root's cgroups.
    pub fn snapshot(&self) -> berth_testkit::host::Snapshot {
        let prefix = berth_runtime::cgroups::parent_for(&berth_store::Root::new(self.root.path()));
        match &self.netns {
            Some(n) => n.run(|| berth_testkit::host::Snapshot::take_for(&prefix)),
            None => berth_testkit::host::Snapshot::take_for(&prefix),
        }
    }

    /// What the test left behind, empty when nothing: container records and
    /// volumes, then — after stopping the root's monitor, whose spare shim holds a
    /// cgroup while it lives — berth processes of this root, processes in
    /// its cgroups, and mounts and cgroups that are new since `before`.
    pub fn leftovers(&self, before: &berth_testkit::host::Snapshot) -> Vec<String> {
        let mut out: Vec<String> = self
            .container_ids_quiet()
            .into_iter()
            .map(|id| format!("container {id}"))
            .collect();
        let vols = self.berth(self.root.path(), &["volume", "ls", "-q"]);
        out.extend(
            String::from_utf8_lossy(&vols.stdout)
                .lines()
                .map(|v| format!("volume {v}")),
        );
        let o = self.berth(self.root.path(), &["__internal", "shutdown"]);
        if !o.status.success() {
            out.push(format!(
                "monitor: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ));
        }
        // Exiting processes take a moment to be gone and reaped.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            reap_orphans();
            let mut procs = self.processes();
            procs.extend(self.spare_cgroups());
            let diff = before.diff(&self.snapshot());
            if (procs.is_empty() && diff.is_empty()) || std::time::Instant::now() > deadline {
                out.extend(procs);
                out.extend(diff);
                return out;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Spare cgroups of this root's monitor (the snapshot does not count a
    /// parent that holds only those; once the monitor is gone there must be
    /// none).
    pub fn spare_cgroups(&self) -> Vec<String> {
        let parent = berth_runtime::cgroups::parent_for(&berth_store::Root::new(self.root.path()));
        let mut out = Vec::new();
        for h in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            for e in std::fs::read_dir(h.path().join(&parent))
                .into_iter()
                .flatten()
                .flatten()
            {
                if e.file_name().to_string_lossy().starts_with("spare-") {
                    out.push(format!("cgroup left: {}", e.path().display()));
                }
            }
        }
        out
    }

    /// Live processes of this root: berth processes that name it and
    /// anything in its cgroups.
    pub fn processes(&self) -> Vec<String> {
        let root = self.root.path().to_string_lossy().into_owned();
        let parent = berth_runtime::cgroups::parent_for(&berth_store::Root::new(self.root.path()));
        let in_cgroup = format!("/{parent}/");
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let read = |f: &str| std::fs::read(format!("/proc/{pid}/{f}")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&read("cmdline")).replace('\0', " ");
            let cgroup = String::from_utf8_lossy(&read("cgroup")).into_owned();
            if cmdline.contains(&root) || cgroup.contains(&in_cgroup) {
                out.push(format!("process {pid}: {}", cmdline.trim()));
            }
        }
        out
    }

    /// `container inspect NAME`, as JSON.
    pub fn inspect(&self, name: &str) -> serde_json::Value {
        let out = self.ok(self.root.path(), &["container", "inspect", name]);
        serde_json::from_str::<serde_json::Value>(&out).unwrap()[0].clone()
    }

    /// The container's `state.json` as the runtime wrote it.
    pub fn state_file(&self, name: &str) -> serde_json::Value {
        let id = self.inspect(name)["Id"].as_str().unwrap().to_owned();
        let p = self
            .root
            .path()
            .join("containers")
            .join(id)
            .join("state.json");
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    }

    /// Pids of every process in the container's cgroup, as the host sees them.
    pub fn container_pids(&self, name: &str) -> Vec<i32> {
        let id = self.inspect(name)["Id"].as_str().unwrap().to_owned();
        let parent = berth_runtime::cgroups::parent_for(&berth_store::Root::new(self.root.path()));
        berth_runtime::cgroups::Cgroup::open(&berth_runtime::cgroups::detect(), &parent, &id).pids()
    }

    /// Ids of the running containers of the root.
    pub fn container_ids(&self) -> Vec<String> {
        let out = self.ok(self.root.path(), &["container", "ls", "-aq"]);
        out.lines().map(str::to_owned).collect()
    }

    /// Names of the root's volumes (`volume ls -q`).
    pub fn volume_names(&self) -> Vec<String> {
        let out = self.ok(self.root.path(), &["volume", "ls", "-q"]);
        out.lines().map(str::to_owned).collect()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for p in std::mem::take(&mut self.projects) {
            let _ = self.berth(&p, &["down", "-v", "-t", "1"]);
        }
        let root = self.root.path().to_owned();
        for id in self.container_ids_quiet() {
            let _ = self.berth(&root, &["container", "rm", "-f", &id]);
        }
        let _ = self.berth(&root, &["__internal", "shutdown"]);
        std::thread::sleep(std::time::Duration::from_millis(50));
        reap_orphans();
    }
}

impl Env {
    fn container_ids_quiet(&self) -> Vec<String> {
        let o = self.berth(self.root.path(), &["container", "ls", "-aq"]);
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}
