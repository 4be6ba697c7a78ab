//! Snapshots of what a test could leave behind on the host (or in the network
//! namespace playing the host): links, addresses, routes, iptables rules,
//! mounts and cgroups. A test takes one before and compares after.

use std::process::Command;

/// What the kernel shows, as text lines, sorted where order is meaningless.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub links: Vec<String>,
    pub addrs: Vec<String>,
    pub routes: Vec<String>,
    pub iptables: Vec<String>,
    pub mounts: Vec<String>,
    pub cgroups: Vec<String>,
}

fn lines(cmd: &str, args: &[&str]) -> Vec<String> {
    let out = Command::new(cmd).args(args).output();
    let text = out
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    text.lines().map(str::to_owned).collect()
}

const BUILTIN: &[&str] = &[
    ":PREROUTING ACCEPT",
    ":INPUT ACCEPT",
    ":FORWARD ACCEPT",
    ":OUTPUT ACCEPT",
    ":POSTROUTING ACCEPT",
];

/// Rules without packet counters (which change on their own). Table headers
/// and built-in chains with their default policy are left out: the kernel
/// starts listing a table once anything touched it, and that cannot be undone.
fn iptables_rules() -> Vec<String> {
    let mut v: Vec<String> = lines("iptables-save", &[])
        .into_iter()
        .filter(|l| !l.starts_with('#') && !l.starts_with('*') && l != "COMMIT")
        .map(|l| match l.strip_prefix(':') {
            // ":CHAIN POLICY [packets:bytes]" → drop the counters
            Some(rest) => format!(":{}", rest.split(" [").next().unwrap_or(rest)),
            None => l,
        })
        .filter(|l| !BUILTIN.contains(&l.as_str()))
        .collect();
    v.sort();
    v
}

fn cgroup_dirs(prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    for root in [
        "/sys/fs/cgroup",
        "/sys/fs/cgroup/unified",
        "/sys/fs/cgroup/memory",
        "/sys/fs/cgroup/pids",
        "/sys/fs/cgroup/cpu",
    ] {
        if let Ok(rd) = std::fs::read_dir(root) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(prefix) && e.path().is_dir() {
                    out.push(format!("{root}/{name}"));
                }
            }
        }
    }
    out.sort();
    out
}

impl Snapshot {
    /// Takes a snapshot of the current network namespace and mount table.
    /// Cgroups are those whose name starts with `berth`; see [`Snapshot::take_for`].
    pub fn take() -> Snapshot {
        Self::take_for("berth")
    }

    /// Like [`take`](Self::take), with only cgroups named `cgroup_prefix…`
    /// (a test's own berth root has its own cgroup parent; other tests may
    /// create theirs meanwhile).
    pub fn take_for(cgroup_prefix: &str) -> Snapshot {
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        Snapshot {
            links: sorted(
                lines("ip", &["-o", "link", "show"])
                    .into_iter()
                    .map(|l| strip_link_noise(&l))
                    .collect(),
            ),
            addrs: sorted(lines("ip", &["-o", "addr", "show"])),
            routes: sorted(lines("ip", &["route", "show", "table", "all"])),
            iptables: iptables_rules(),
            mounts: sorted(
                std::fs::read_to_string("/proc/self/mountinfo")
                    .unwrap_or_default()
                    .lines()
                    .filter_map(|l| l.split(' ').nth(4).map(str::to_owned))
                    // Other tests create and remove their namespaces meanwhile.
                    .filter(|m| !m.starts_with("/run/netns"))
                    .collect(),
            ),
            cgroups: cgroup_dirs(cgroup_prefix),
        }
    }

    /// Human-readable differences, empty when nothing changed.
    pub fn diff(&self, after: &Snapshot) -> Vec<String> {
        let mut d = Vec::new();
        let mut cmp = |what: &str, a: &[String], b: &[String]| {
            for l in b.iter().filter(|l| !a.contains(l)) {
                d.push(format!("{what} added: {l}"));
            }
            for l in a.iter().filter(|l| !b.contains(l)) {
                d.push(format!("{what} removed: {l}"));
            }
        };
        cmp("link", &self.links, &after.links);
        cmp("addr", &self.addrs, &after.addrs);
        cmp("route", &self.routes, &after.routes);
        cmp("iptables", &self.iptables, &after.iptables);
        cmp("mount", &self.mounts, &after.mounts);
        cmp("cgroup", &self.cgroups, &after.cgroups);
        d
    }
}

/// `ip -o link` lines carry the link's state, which flips on its own; keep
/// index, name and flags-independent fields.
fn strip_link_noise(l: &str) -> String {
    l.split(" state ").next().unwrap_or(l).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_equals_itself() {
        let a = Snapshot::take();
        let b = Snapshot::take();
        assert!(a.diff(&b).is_empty(), "{:?}", a.diff(&b));
        assert!(!a.links.is_empty());
    }
}
