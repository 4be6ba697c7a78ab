//! Cgroups for containers, on v1 (and hybrid) hosts and on pure v2 hosts:
//! one cgroup named after the container under a `berth` parent, limits
//! written to the controller files, freeze/thaw, listing and killing every
//! process, removal. The layout is found from `/proc/self/mountinfo`; a root
//! other than `/sys/fs/cgroup` can be injected (tests of the v2 writers use
//! a temporary directory).

use std::fs;
use std::path::{Path, PathBuf};

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

/// Where the cgroup hierarchies are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// cgroup v2 mounted at this path.
    V2(PathBuf),
    /// cgroup v1: controller name → mount point (`cpu` and `cpuacct` may
    /// share one).
    V1(Vec<(String, PathBuf)>),
}

/// Reads the layout of this host.
pub fn detect() -> Layout {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut v1 = Vec::new();
    let mut v2 = None;
    for l in info.lines() {
        let Some((left, right)) = l.split_once(" - ") else {
            continue;
        };
        let mount_point = left.split(' ').nth(4).unwrap_or("");
        let mut r = right.split(' ');
        let fstype = r.next().unwrap_or("");
        let opts = r.nth(1).unwrap_or("");
        match fstype {
            "cgroup2" => v2 = v2.or(Some(PathBuf::from(mount_point))),
            "cgroup" => {
                for o in opts.split(',') {
                    if [
                        "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "pids", "blkio",
                    ]
                    .contains(&o)
                    {
                        v1.push((o.to_owned(), PathBuf::from(mount_point)));
                    }
                }
            }
            _ => {}
        }
    }
    if !v1.is_empty() {
        Layout::V1(v1)
    } else {
        Layout::V2(v2.unwrap_or_else(|| PathBuf::from("/sys/fs/cgroup")))
    }
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

/// Docker's devices allowed to a container (everything else, including
/// creating host device nodes, is refused).
const ALLOWED_DEVICES: &[&str] = &[
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
    "c 10:200 rwm",
];

/// v2 `cpu.weight` from v1 `cpu.shares` (the formula runc and Docker use).
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        100
    } else {
        1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142
    }
}

impl Cgroup {
    /// The cgroup of container `id`, without creating anything.
    pub fn open(layout: &Layout, parent: &str, id: &str) -> Cgroup {
        match layout {
            Layout::V2(root) => Cgroup {
                dirs: vec![("unified".into(), root.join(parent).join(id))],
                v2: true,
            },
            Layout::V1(ctrls) => Cgroup {
                dirs: ctrls
                    .iter()
                    .map(|(n, m)| (n.clone(), m.join(parent).join(id)))
                    .collect(),
                v2: false,
            },
        }
    }

    /// Creates the cgroup of container `id` (idempotent).
    pub fn create(layout: &Layout, parent: &str, id: &str) -> Result<Cgroup, String> {
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
                let dir = parent.join(id);
                fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                Ok(Cgroup {
                    dirs: vec![("unified".into(), dir)],
                    v2: true,
                })
            }
            Layout::V1(ctrls) => {
                let mut dirs: Vec<(String, PathBuf)> = Vec::new();
                for (name, mount) in ctrls {
                    let dir = mount.join(parent).join(id);
                    if dirs.iter().any(|(_, d)| *d == dir) {
                        dirs.push((name.clone(), dir));
                        continue;
                    }
                    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                    if name == "cpuset" {
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
                    dirs.push((name.clone(), dir));
                }
                let cg = Cgroup { dirs, v2: false };
                if let Some(d) = cg.dir("devices") {
                    write(&d.join("devices.deny"), "a")?;
                    for dev in ALLOWED_DEVICES {
                        write(&d.join("devices.allow"), dev)?;
                    }
                }
                Ok(cg)
            }
        }
    }

    fn dir(&self, controller: &str) -> Option<&Path> {
        if self.v2 {
            return self.dirs.first().map(|(_, d)| d.as_path());
        }
        self.dirs
            .iter()
            .find(|(n, _)| n == controller)
            .map(|(_, d)| d.as_path())
    }

    /// Moves process `pid` into the cgroup.
    pub fn add(&self, pid: i32) -> Result<(), String> {
        let mut seen = Vec::new();
        for (_, d) in &self.dirs {
            if !seen.contains(d) {
                write(&d.join("cgroup.procs"), &pid.to_string())?;
                seen.push(d.clone());
            }
        }
        Ok(())
    }

    /// Writes the limits.
    pub fn apply(&self, r: &Resources) -> Result<(), String> {
        let set = |ctrl: &str, file: &str, v: String| -> Result<(), String> {
            match self.dir(ctrl) {
                Some(d) => write(&d.join(file), &v),
                None => Ok(()),
            }
        };
        if self.v2 {
            if let Some(m) = r.memory {
                set("memory", "memory.max", m.to_string())?;
                if let Some(s) = r.memory_swap {
                    set(
                        "memory",
                        "memory.swap.max",
                        if s < 0 {
                            "max".into()
                        } else {
                            (s - m).max(0).to_string()
                        },
                    )?;
                }
            }
            if let Some(m) = r.memory_reservation {
                set("memory", "memory.low", m.to_string())?;
            }
            if let Some(c) = r.cpus {
                set(
                    "cpu",
                    "cpu.max",
                    format!("{} 100000", (c * 100_000.0) as u64),
                )?;
            }
            if let Some(s) = r.cpu_shares {
                set("cpu", "cpu.weight", shares_to_weight(s).to_string())?;
            }
            if let Some(c) = &r.cpuset {
                set("cpuset", "cpuset.cpus", c.clone())?;
            }
            if let Some(p) = r.pids_limit.filter(|p| *p > 0) {
                set("pids", "pids.max", p.to_string())?;
            }
            return Ok(());
        }
        if let Some(m) = r.memory {
            set("memory", "memory.limit_in_bytes", m.to_string())?;
            if let Some(s) = r.memory_swap
                && self
                    .dir("memory")
                    .is_some_and(|d| d.join("memory.memsw.limit_in_bytes").exists())
            {
                set("memory", "memory.memsw.limit_in_bytes", s.to_string())?;
            }
        }
        if let Some(m) = r.memory_reservation {
            set("memory", "memory.soft_limit_in_bytes", m.to_string())?;
        }
        if let Some(c) = r.cpus {
            set("cpu", "cpu.cfs_period_us", "100000".into())?;
            set(
                "cpu",
                "cpu.cfs_quota_us",
                ((c * 100_000.0) as u64).to_string(),
            )?;
        }
        if let Some(s) = r.cpu_shares {
            set("cpu", "cpu.shares", s.to_string())?;
        }
        if let Some(c) = &r.cpuset {
            set("cpuset", "cpuset.cpus", c.clone())?;
        }
        if let Some(p) = r.pids_limit.filter(|p| *p > 0) {
            set("pids", "pids.max", p.to_string())?;
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
        let mut seen = Vec::new();
        for (_, d) in &self.dirs {
            if seen.contains(d) {
                continue;
            }
            seen.push(d.clone());
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
        let d = tmp.path().join("berth/abc");
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
    }

    #[test]
    fn shares_convert_like_runc() {
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
    }
}
