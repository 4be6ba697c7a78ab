//! Snapshots of what a test could leave behind on the host (or in the network
//! namespace playing the host): links, addresses, routes (`ip -j link`,
//! `ip -j addr`, `ip -j route`, IPv4 and IPv6), iptables and ip6tables
//! rules, mounts and cgroups. A test takes one before and compares after.

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

/// Rules of `iptables-save` (and `ip6tables-save`, lines prefixed `ip6 `)
/// without packet counters (which change on their own). Table headers and
/// built-in chains with their default policy are left out: the kernel
/// starts listing a table once anything touched it, and that cannot be
/// undone.
fn iptables_rules() -> Vec<String> {
    let mut v = Vec::new();
    for (cmd, prefix) in [("iptables-save", ""), ("ip6tables-save", "ip6 ")] {
        v.extend(
            lines(cmd, &[])
                .into_iter()
                .filter(|l| !l.starts_with('#') && !l.starts_with('*') && l != "COMMIT")
                .map(|l| match l.strip_prefix(':') {
                    // ":CHAIN POLICY [packets:bytes]" → drop the counters
                    Some(rest) => format!(":{}", rest.split(" [").next().unwrap_or(rest)),
                    None => l,
                })
                .filter(|l| !BUILTIN.contains(&l.as_str()))
                .map(|l| format!("{prefix}{l}")),
        );
    }
    v.sort();
    v
}

/// `ip -j <args>` as one compact JSON line per object, without the fields
/// that change on their own (carrier state, address and route lifetimes).
fn ip_json(args: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new("ip").arg("-j").args(args).output();
    let text = out.map(|o| o.stdout).unwrap_or_default();
    let parsed: serde_json::Value = serde_json::from_slice(&text).unwrap_or_default();
    let mut items = match parsed {
        serde_json::Value::Array(a) => a,
        _ => Vec::new(),
    };
    for item in &mut items {
        strip_noise(item);
    }
    items
}

fn strip_noise(v: &mut serde_json::Value) {
    if let Some(o) = v.as_object_mut() {
        for k in [
            "operstate",
            "valid_life_time",
            "preferred_life_time",
            "expires",
            "linkmode",
        ] {
            o.remove(k);
        }
        if let Some(serde_json::Value::Array(flags)) = o.get_mut("flags") {
            // Carrier state, on links and (as `linkdown`) on their routes.
            flags.retain(|f| {
                !matches!(
                    f.as_str(),
                    Some("LOWER_UP" | "NO-CARRIER" | "M-DOWN" | "linkdown")
                )
            });
        }
        for (_, inner) in o.iter_mut() {
            if let serde_json::Value::Array(a) = inner {
                a.iter_mut().for_each(strip_noise);
            }
        }
    }
}

fn compact(items: Vec<serde_json::Value>) -> Vec<String> {
    let mut v: Vec<String> = items.iter().map(|i| i.to_string()).collect();
    v.sort();
    v
}

/// One line per address: the interface name with the address object.
fn addresses() -> Vec<String> {
    let mut out = Vec::new();
    for link in ip_json(&["addr", "show"]) {
        let name = link["ifname"].as_str().unwrap_or("").to_owned();
        for a in link["addr_info"].as_array().into_iter().flatten() {
            out.push(format!("{name} {a}"));
        }
    }
    out.sort();
    out
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
                if name.starts_with(prefix) && e.path().is_dir() && !only_spares(&e.path()) {
                    out.push(format!("{root}/{name}"));
                }
            }
        }
    }
    out.sort();
    out
}

/// A parent that holds nothing but `spare-*` cgroups belongs to a running
/// berth monitor (its spare shim's prepared process waits there) and goes
/// with it; it is not a container left behind.
fn only_spares(dir: &std::path::Path) -> bool {
    let mut children = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .peekable();
    children.peek().is_some()
        && children.all(|e| e.file_name().to_string_lossy().starts_with("spare-"))
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
            links: compact(ip_json(&["link", "show"])),
            addrs: addresses(),
            routes: {
                let mut r = ip_json(&["route", "show", "table", "all"]);
                r.extend(ip_json(&["-6", "route", "show", "table", "all"]));
                compact(r)
            },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_equals_itself() {
        let a = Snapshot::take();
        let b = Snapshot::take();
        assert!(a.diff(&b).is_empty(), "{:?}", a.diff(&b));
        assert!(!a.links.is_empty());
        assert!(
            a.links.iter().any(|l| l.contains("\"ifname\":\"lo\"")),
            "{:?}",
            a.links
        );
        assert!(
            a.addrs.iter().any(|l| l.starts_with("lo ")),
            "{:?}",
            a.addrs
        );
        assert!(!a.links.iter().any(|l| l.contains("operstate")));
    }
}
