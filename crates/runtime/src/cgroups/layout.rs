//! Which cgroup version this host runs, read from the mount table. A hybrid
//! host (v1 controllers plus an empty `unified` cgroup2 mount, like this
//! project's test machines) is driven as v1: its cgroup2 hierarchy carries no
//! controllers. A pure v2 host may still mount a named v1 hierarchy
//! (`name=systemd`); that does not make it v1.

use std::path::PathBuf;

/// The v1 controllers berth places containers in.
pub const V1_CONTROLLERS: &[&str] = &[
    "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "pids", "blkio",
];

/// Where the cgroup hierarchies are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// cgroup v2 mounted at this path.
    V2(PathBuf),
    /// cgroup v1: controller name → mount point (`cpu` and `cpuacct` may
    /// share one).
    V1(Vec<(String, PathBuf)>),
}

/// The layout described by a `/proc/self/mountinfo` text.
pub fn from_mountinfo(info: &str) -> Layout {
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
                    if V1_CONTROLLERS.contains(&o) {
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

/// Reads the layout of this host.
pub fn detect() -> Layout {
    from_mountinfo(&std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    const PURE_V2: &str = "\
22 1 0:21 / /proc rw,nosuid - proc proc rw
30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

    #[test]
    fn hybrid_hosts_are_driven_as_v1() {
        let Layout::V1(ctrls) = from_mountinfo(HYBRID) else {
            panic!("hybrid must be v1")
        };
        let names: Vec<&str> = ctrls.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["cpu", "cpuacct", "memory", "pids"]);
        assert_eq!(ctrls[0].1, PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(
            ctrls[1].1, ctrls[0].1,
            "co-mounted controllers share a path"
        );
    }

    #[test]
    fn pure_v2_is_v2_even_with_a_named_v1_hierarchy() {
        assert_eq!(
            from_mountinfo(PURE_V2),
            Layout::V2(PathBuf::from("/sys/fs/cgroup"))
        );
        let with_named = format!(
            "{PURE_V2}40 31 0:37 / /run/systemd/cgroup rw - cgroup cgroup rw,name=systemd\n"
        );
        assert_eq!(
            from_mountinfo(&with_named),
            Layout::V2(PathBuf::from("/sys/fs/cgroup"))
        );
    }

    #[test]
    fn nothing_mounted_defaults_to_v2_at_the_usual_place() {
        assert_eq!(
            from_mountinfo(""),
            Layout::V2(PathBuf::from("/sys/fs/cgroup"))
        );
    }
}
