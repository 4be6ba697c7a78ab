//! Cgroups for containers, on v1 (and hybrid) hosts and on pure v2 hosts:
//! one cgroup named after the container under a `berth` parent, limits
//! written to the controller files, device rules, freeze/thaw, listing and
//! killing every process, removal. What is written for each setting is
//! decided by pure functions ([`limits`], [`devices`], [`layout`]); this
//! module only does the file system work, on a root that tests can replace
//! with a temporary directory.

pub mod devices;
pub mod layout;
pub mod limits;

use std::fs;
use std::path::{Path, PathBuf};

pub use layout::{Layout, detect};
pub use limits::shares_to_weight;

use crate::config::Resources;

/// The parent cgroup of a root's containers: `berth` for the default root,
/// `berth-<hash>` for any other (tests, several roots on one host), so two
/// roots never share a parent.
pub fn parent_for(root: &berth_store::Root) -> String {
    if root.path() == Path::new(berth_store::Root::DEFAULT) {
        return "berth".into();
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in root.path().as_os_str().as_encoded_bytes() {
        h = (h ^ *b as u64).wrapping_mul(0x100_0000_01b3);
    }
    format!("berth-{:08x}", h as u32)
}

/// The cgroup(s) of one container.
#[derive(Debug, Clone)]
pub struct Cgroup {
    /// Every directory of this cgroup (one per v1 hierarchy, or one on v2).
    pub dirs: Vec<(String, PathBuf)>,
    pub v2: bool,
}

fn write(p: &Path, v: &str) -> Result<(), String> {
    fs::write(p, v).map_err(|e| format!("{}: {e}", p.display()))
}

impl Cgroup {
    /// The cgroup `name` under `parent`, without creating anything.
    pub fn open(layout: &Layout, parent: &str, name: &str) -> Cgroup {
        match layout {
            Layout::V2(root) => Cgroup {
                dirs: vec![("unified".into(), root.join(parent).join(name))],
                v2: true,
            },
            Layout::V1(ctrls) => Cgroup {
                dirs: ctrls
                    .iter()
                    .map(|(n, m)| (n.clone(), m.join(parent).join(name)))
                    .collect(),
                v2: false,
            },
        }
    }

    /// Creates the cgroup `name` under `parent` (idempotent). Devices are
    /// not restricted yet: see [`Cgroup::restrict_devices`].
    pub fn create(layout: &Layout, parent: &str, name: &str) -> Result<Cgroup, String> {
        match layout {
            Layout::V2(root) => {
                let parent = root.join(parent);
                fs::create_dir_all(&parent).map_err(|e| format!("{}: {e}", parent.display()))?;
                // Controllers must be enabled from the root down to our parent.
                let controllers =
                    fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
                let enable: Vec<String> = controllers
                    .split_whitespace()
                    .filter(|c| ["cpu", "cpuset", "memory", "pids", "io"].contains(c))
                    .map(|c| format!("+{c}"))
                    .collect();
                if !enable.is_empty() {
                    let _ = write(&root.join("cgroup.subtree_control"), &enable.join(" "));
                    let _ = write(&parent.join("cgroup.subtree_control"), &enable.join(" "));
                }
                let dir = parent.join(name);
                fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                Ok(Cgroup {
                    dirs: vec![("unified".into(), dir)],
                    v2: true,
                })
            }
            Layout::V1(ctrls) => {
                let mut dirs: Vec<(String, PathBuf)> = Vec::new();
                for (ctrl, mount) in ctrls {
                    let dir = mount.join(parent).join(name);
                    if dirs.iter().any(|(_, d)| *d == dir) {
                        dirs.push((ctrl.clone(), dir));
                        continue;
                    }
                    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                    if ctrl == "cpuset" {
                        // A new cpuset is empty until cpus and mems are set.
                        for f in ["cpuset.cpus", "cpuset.mems"] {
                            for d in [mount.join(parent), dir.clone()] {
                                let cur = fs::read_to_string(d.join(f)).unwrap_or_default();
                                if cur.trim().is_empty() {
                                    let v = fs::read_to_string(mount.join(f)).unwrap_or_default();
                                    let _ = write(&d.join(f), v.trim());
                                }
                            }
                        }
                    }
                    dirs.push((ctrl.clone(), dir));
                }
                Ok(Cgroup { dirs, v2: false })
            }
        }
    }

    /// Only Docker's default devices (everything, when `privileged`).
    pub fn restrict_devices(&self, privileged: bool) -> Result<(), String> {
        if self.v2 {
            if privileged {
                return Ok(());
            }
            let d = self.dir("unified").ok_or("no cgroup directory")?;
            return devices::attach_v2(d, devices::DEFAULT);
        }
        let Some(d) = self.dir("devices") else {
            return Ok(());
        };
        if privileged {
            return write(&d.join("devices.allow"), "a");
        }
        write(&d.join("devices.deny"), "a")?;
        for r in devices::DEFAULT {
            write(&d.join("devices.allow"), &devices::v1_line(r))?;
        }
        Ok(())
    }

    /// Lifts the device restrictions of a v1 cgroup (a prepared cgroup
    /// given to a privileged container).
    pub fn allow_all_devices(&self) -> Result<(), String> {
        match self.dir("devices").filter(|_| !self.v2) {
            Some(d) => write(&d.join("devices.allow"), "a"),
            None => Ok(()),
        }
    }

    /// Renames the cgroup (v1 only; the directories keep their processes).
    pub fn rename(&self, name: &str) -> Result<Cgroup, String> {
        if self.v2 {
            return Err("cgroup v2 directories cannot be renamed".into());
        }
        let mut dirs: Vec<(String, PathBuf)> = Vec::new();
        for (ctrl, d) in &self.dirs {
            let to = d.with_file_name(name);
            if !dirs.iter().any(|(_, x)| *x == to) {
                // The directory of an earlier run of the same container is
                // removed by that run's shim after it has killed what is
                // left in it. Taking the name before then would put this
                // run's process in the way of that kill (a restart), so wait
                // for the old shim; only a leftover of a crashed one is
                // still there after the wait, and it is empty.
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
                while to.exists() && std::time::Instant::now() < deadline {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                let _ = fs::remove_dir(&to);
                fs::rename(d, &to).map_err(|e| format!("rename {} to {name}: {e}", d.display()))?;
            }
            dirs.push((ctrl.clone(), to));
        }
        Ok(Cgroup { dirs, v2: false })
    }

    /// The directory of `controller` (the only one on v2).
    pub fn dir(&self, controller: &str) -> Option<&Path> {
        if self.v2 {
            return self.dirs.first().map(|(_, d)| d.as_path());
        }
        self.dirs
            .iter()
            .find(|(n, _)| n == controller)
            .map(|(_, d)| d.as_path())
    }

    fn unique_dirs(&self) -> Vec<&Path> {
        let mut seen: Vec<&Path> = Vec::new();
        for (_, d) in &self.dirs {
            if !seen.contains(&d.as_path()) {
                seen.push(d);
            }
        }
        seen
    }

    /// Moves process `pid` into the cgroup.
    pub fn add(&self, pid: i32) -> Result<(), String> {
        for d in self.unique_dirs() {
            write(&d.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// Writes the limits.
    pub fn apply(&self, r: &Resources) -> Result<(), String> {
        let has = |ctrl: &str, file: &str| self.dir(ctrl).is_some_and(|d| d.join(file).exists());
        let writes = if self.v2 {
            limits::v2(r, has("memory", "memory.swap.max"))
        } else {
            limits::v1(r, has("memory", "memory.memsw.limit_in_bytes"))
        };
        for w in writes {
            if let Some(d) = self.dir(w.controller) {
                write(&d.join(w.file), &w.value)?;
            }
        }
        Ok(())
    }

    /// Every pid in the cgroup.
    pub fn pids(&self) -> Vec<i32> {
        let d = self
            .dir("pids")
            .or_else(|| self.dirs.first().map(|(_, d)| d.as_path()));
        d.and_then(|d| fs::read_to_string(d.join("cgroup.procs")).ok())
            .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    }

    pub fn freeze(&self, frozen: bool) -> Result<(), String> {
        if self.v2 {
            return match self.dir("unified") {
                Some(d) => write(&d.join("cgroup.freeze"), if frozen { "1" } else { "0" }),
                None => Ok(()),
            };
        }
        match self.dir("freezer") {
            Some(d) => write(
                &d.join("freezer.state"),
                if frozen { "FROZEN" } else { "THAWED" },
            ),
            None => Err("no freezer cgroup on this host".into()),
        }
    }

    /// SIGKILLs every process of the cgroup, until it is empty.
    pub fn kill_all(&self) {
        if self.v2
            && let Some(d) = self.dir("unified")
            && d.join("cgroup.kill").exists()
        {
            let _ = write(&d.join("cgroup.kill"), "1");
            return;
        }
        // A frozen process does not die until thawed.
        let _ = self.freeze(false);
        for _ in 0..100 {
            let pids = self.pids();
            if pids.is_empty() {
                return;
            }
            for p in pids {
                // SAFETY: sending a signal.
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// Removes the (empty) cgroup directories.
    pub fn remove(&self) {
        for d in self.unique_dirs() {
            for _ in 0..50 {
                if fs::remove_dir(d).is_ok() || !d.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            // The shared parent goes with its last child (a busy one stays).
            if let Some(parent) = d.parent() {
                let _ = fs::remove_dir(parent);
            }
        }
    }
}

/// The `cgroup.procs` files of every cgroup process `pid` is in, opened for
/// writing: writing `0` to them moves the writer, even from inside the
/// container's namespaces where the host's cgroup tree is not visible.
pub fn procs_files_of(pid: i32) -> Result<Vec<fs::File>, String> {
    let p = format!("/proc/{pid}/cgroup");
    let text = fs::read_to_string(&p).map_err(|e| format!("{p}: {e}"))?;
    let mut paths: Vec<PathBuf> = Vec::new();
    for (mount, rel) in membership(&detect(), &text) {
        let f = mount.join(rel.trim_start_matches('/')).join("cgroup.procs");
        if !paths.contains(&f) {
            paths.push(f);
        }
    }
    paths
        .iter()
        .map(|f| {
            fs::OpenOptions::new()
                .write(true)
                .open(f)
                .map_err(|e| format!("{}: {e}", f.display()))
        })
        .collect()
}

/// (hierarchy mount point, cgroup path) pairs of a `/proc/<pid>/cgroup` text,
/// for the hierarchies berth uses.
pub fn membership(layout: &Layout, proc_cgroup: &str) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for l in proc_cgroup.lines() {
        let mut f = l.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        match layout {
            Layout::V2(m) if ctrls.is_empty() => out.push((m.clone(), path.to_owned())),
            Layout::V1(mounts) => {
                if let Some((_, m)) = mounts
                    .iter()
                    .find(|(c, _)| ctrls.split(',').any(|x| x == c))
                {
                    out.push((m.clone(), path.to_owned()));
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_files_are_written() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(
            tmp.path().join("cgroup.controllers"),
            "cpuset cpu io memory pids",
        )
        .unwrap();
        let cg = Cgroup::create(&Layout::V2(tmp.path().to_owned()), "berth", "abc").unwrap();
        let d = tmp.path().join("berth/abc");
        // Swap accounting shows as a file the kernel provides.
        fs::write(d.join("memory.swap.max"), "max").unwrap();
        let r = Resources {
            memory: Some(256 << 20),
            memory_swap: Some(512 << 20),
            cpus: Some(1.5),
            cpu_shares: Some(512),
            pids_limit: Some(64),
            cpuset: Some("0".into()),
            memory_reservation: None,
        };
        cg.apply(&r).unwrap();
        let read = |f: &str| fs::read_to_string(d.join(f)).unwrap();
        assert_eq!(read("memory.max"), (256 << 20).to_string());
        assert_eq!(read("memory.swap.max"), (256 << 20).to_string());
        assert_eq!(read("cpu.max"), "150000 100000");
        assert_eq!(read("cpu.weight"), shares_to_weight(512).to_string());
        assert_eq!(read("pids.max"), "64");
        assert_eq!(read("cpuset.cpus"), "0");
        assert_eq!(
            fs::read_to_string(tmp.path().join("berth/cgroup.subtree_control")).unwrap(),
            "+cpuset +cpu +io +memory +pids"
        );
        cg.freeze(true).unwrap();
        assert_eq!(read("cgroup.freeze"), "1");
        assert!(cg.rename("x").is_err(), "v2 cannot rename");
    }

    #[test]
    fn v1_directories_are_created_renamed_and_written() {
        let tmp = tempfile::tempdir().unwrap();
        let m = |c: &str| tmp.path().join(c);
        let layout = Layout::V1(vec![
            ("cpu".into(), m("cpu,cpuacct")),
            ("cpuacct".into(), m("cpu,cpuacct")),
            ("memory".into(), m("memory")),
            ("devices".into(), m("devices")),
        ]);
        let cg = Cgroup::create(&layout, "berth", "spare-1").unwrap();
        assert_eq!(cg.unique_dirs().len(), 3, "co-mounted controllers share");
        cg.restrict_devices(false).unwrap();
        let deny = fs::read_to_string(m("devices/berth/spare-1/devices.deny")).unwrap();
        assert_eq!(deny, "a");
        let cg = cg.rename("abc").unwrap();
        assert!(!m("memory/berth/spare-1").exists());
        assert!(m("memory/berth/abc").is_dir());
        cg.apply(&Resources {
            memory: Some(64 << 20),
            cpus: Some(0.5),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            fs::read_to_string(m("memory/berth/abc/memory.limit_in_bytes")).unwrap(),
            (64 << 20).to_string()
        );
        assert!(
            !m("memory/berth/abc/memory.memsw.limit_in_bytes").exists(),
            "no swap accounting on this host: no swap limit"
        );
        assert_eq!(
            fs::read_to_string(m("cpu,cpuacct/berth/abc/cpu.cfs_quota_us")).unwrap(),
            "50000"
        );
        cg.allow_all_devices().unwrap();
        assert_eq!(
            fs::read_to_string(m("devices/berth/abc/devices.allow")).unwrap(),
            "a"
        );
    }

    #[test]
    fn membership_maps_proc_cgroup_to_mounts() {
        let v1 = Layout::V1(vec![
            ("cpu".into(), PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")),
            (
                "cpuacct".into(),
                PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"),
            ),
            ("memory".into(), PathBuf::from("/sys/fs/cgroup/memory")),
        ]);
        let text = "12:name=systemd:/user.slice\n4:memory:/berth/abc\n3:cpu,cpuacct:/berth/abc\n0::/init.scope\n";
        assert_eq!(
            membership(&v1, text),
            [
                (PathBuf::from("/sys/fs/cgroup/memory"), "/berth/abc".into()),
                (
                    PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"),
                    "/berth/abc".into()
                ),
            ]
        );
        let v2 = Layout::V2(PathBuf::from("/sys/fs/cgroup"));
        assert_eq!(
            membership(&v2, "0::/berth/abc\n"),
            [(PathBuf::from("/sys/fs/cgroup"), "/berth/abc".into())]
        );
    }
}
