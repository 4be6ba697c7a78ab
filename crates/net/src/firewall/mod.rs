//! berth's iptables rules. Everything berth adds lives in its own chains
//! (`BERTH-*`), reached by one jump from the top of a built-in chain, and
//! every rule carries a comment tag (`berth:…`) saying what it belongs to:
//! removing a network or a container's ports deletes exactly the rules with
//! its tag, as the kernel prints them, and nothing else — never a flush.
//! Rules are applied in one `iptables-restore --noflush` batch per change
//! and family, under a lock so two berth commands never interleave.
//!
//! [`rules`] builds the rules (pure); this module applies them.

pub mod nft;
pub mod rules;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Command, Stdio};

pub use rules::{
    BASE, Family, Published, Rule, base_rules, network_rules, network_tag, port_rules, ports_tag,
};

/// Errors of the firewall.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    #[error("running {cmd}: {source} (is Debian's iptables package installed?)")]
    Spawn {
        cmd: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{cmd} refused berth's rules: {message}")]
    Restore { cmd: &'static str, message: String },
    #[error("firewall lock {path}: {message}")]
    Lock { path: String, message: String },
}

/// The current rules, as `iptables-save` prints them (`*table` headers kept).
fn save(f: Family) -> Result<String, FirewallError> {
    let cmd = f.save_cmd();
    let out = Command::new(cmd)
        .stderr(Stdio::null())
        .output()
        .map_err(|source| FirewallError::Spawn { cmd, source })?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The tag of a saved rule line, if it has one.
fn tag_of(line: &str) -> Option<&str> {
    line.split("--comment ")
        .nth(1)
        .map(|r| r.split_whitespace().next().unwrap_or("").trim_matches('"'))
}

/// `-A` lines of `saved`, with their table, whose tag satisfies `pick`.
fn tagged(saved: &str, pick: &dyn Fn(&str) -> bool) -> Vec<(String, String)> {
    let mut table = String::new();
    let mut out = Vec::new();
    for l in saved.lines() {
        if let Some(t) = l.strip_prefix('*') {
            table = t.to_owned();
        } else if l.starts_with("-A ")
            && let Some(tag) = tag_of(l)
            && pick(tag)
        {
            out.push((table.clone(), l.to_owned()));
        }
    }
    out
}

/// (table, chain) of every chain in `saved`.
fn chains(saved: &str) -> BTreeSet<(String, String)> {
    let mut table = String::new();
    let mut out = BTreeSet::new();
    for l in saved.lines() {
        if let Some(t) = l.strip_prefix('*') {
            table = t.to_owned();
        } else if let Some(c) = l.strip_prefix(':') {
            out.insert((
                table.clone(),
                c.split_whitespace().next().unwrap_or("").to_owned(),
            ));
        }
    }
    out
}

/// Rules of `saved` in (table, chain) that do not satisfy `going`.
fn staying_in(saved: &str, table: &str, chain: &str, going: &dyn Fn(&str) -> bool) -> usize {
    let mut cur = String::new();
    let prefix = format!("-A {chain} ");
    saved
        .lines()
        .filter(|l| {
            if let Some(t) = l.strip_prefix('*') {
                cur = t.to_owned();
            }
            cur == table && l.starts_with(&prefix) && !going(l)
        })
        .count()
}

/// Runs `iptables-restore` on `batch`. The child inherits the firewall
/// lock (`held`): if berth is killed while the child runs, the child still
/// commits the batch it was given, and the next berth command must not read
/// the rules before it has (it would then delete rules already gone).
fn restore(f: Family, batch: &str, held: &berth_store::FileLock) -> Result<(), FirewallError> {
    let cmd = f.restore_cmd();
    let spawn = |source| FirewallError::Spawn { cmd, source };
    let mut command = Command::new(cmd);
    held.share_with(&mut command);
    let mut child = command
        .args(["--noflush", "--wait"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(batch.as_bytes()).map_err(spawn)?;
    }
    let out = child.wait_with_output().map_err(spawn)?;
    if !out.status.success() {
        return Err(FirewallError::Restore {
            cmd,
            message: format!("{}\n{batch}", String::from_utf8_lossy(&out.stderr).trim()),
        });
    }
    Ok(())
}

/// What [`plan`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Input of `iptables-restore --noflush` (empty: nothing to do).
    pub text: String,
    /// The last network of this family goes: chains and jumps too.
    pub removes_base: bool,
}

/// The batch that replaces the rules of `saved` whose tag satisfies
/// `replace` by `add` (all of one family), creating our chains and jumps
/// when network rules appear and removing them when the last go. Pure.
pub fn plan(family: Family, saved: &str, replace: &dyn Fn(&str) -> bool, add: &[Rule]) -> Batch {
    let add: Vec<&Rule> = add.iter().filter(|r| r.family == family).collect();
    let existing = chains(saved);
    let old = tagged(saved, replace);
    let is_net = |t: &str| t.starts_with(rules::NET_PREFIX);
    let remaining_networks = tagged(saved, &|t| is_net(t) && !replace(t)).len()
        + add
            .iter()
            .filter(|r| r.spec.contains(rules::NET_PREFIX))
            .count();
    let base_present = !tagged(saved, &|t| t == BASE).is_empty();
    let want_base = remaining_networks > 0;
    let mut by_table: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let delete = |by_table: &mut BTreeMap<String, Vec<String>>, table: &str, line: &str| {
        by_table
            .entry(table.to_owned())
            .or_default()
            .push(format!("-D {}", &line[3..]));
    };
    for (table, line) in &old {
        delete(&mut by_table, table, line);
    }
    if want_base && !base_present {
        for (t, c) in rules::chains(family) {
            if !existing.contains(&(t.to_string(), c.to_string())) {
                by_table
                    .entry(t.to_owned())
                    .or_default()
                    .insert(0, format!(":{c} - [0:0]"));
            }
        }
        for r in base_rules(family) {
            by_table
                .entry(r.table.to_owned())
                .or_default()
                .push(line(&r));
        }
    }
    for r in &add {
        by_table
            .entry(r.table.to_owned())
            .or_default()
            .push(line(r));
    }
    if !want_base && base_present {
        let base = tagged(saved, &|t| t == BASE);
        for (table, l) in &base {
            delete(&mut by_table, table, l);
        }
        // A chain is only removed when nothing but what goes now is in it
        // (someone may have added their own rule to it).
        let going = |l: &str| tag_of(l).is_some_and(|t| t == BASE || replace(t));
        for (t, c) in rules::chains(family) {
            if existing.contains(&(t.to_string(), c.to_string()))
                && staying_in(saved, t, c, &going) == 0
            {
                by_table
                    .entry(t.to_owned())
                    .or_default()
                    .push(format!("-X {c}"));
            }
        }
    }
    let mut batch = String::new();
    for (t, lines) in by_table {
        batch.push_str(&format!("*{t}\n"));
        for l in lines {
            batch.push_str(&l);
            batch.push('\n');
        }
        batch.push_str("COMMIT\n");
    }
    Batch {
        text: batch,
        removes_base: !want_base && base_present,
    }
}

/// Applies [`plan`] for each of `families` under the firewall lock.
pub fn update(
    families: &[Family],
    replace: &dyn Fn(&str) -> bool,
    add: &[Rule],
) -> Result<(), FirewallError> {
    let held = lock()?;
    for &f in families {
        let saved = save(f)?;
        let batch = plan(f, &saved, replace, add);
        if !batch.text.is_empty() {
            restore(f, &batch.text, &held)?;
        }
        if batch.removes_base {
            // No berth network of any root is left in this family here:
            // the ports table goes too.
            let _ = nft::delete_table(f);
            if f == Family::V6 {
                restore_ipv6_forwarding();
            }
        }
    }
    Ok(())
}

/// Appends `add` (or, with `delete`, removes exactly those rules) in one
/// `iptables-restore` per family, without reading the current rules first:
/// one process instead of two, for the per-container rules of published
/// ports, whose callers know what exists. Fails, changing nothing, when a
/// chain is missing or a rule to delete is not there; callers then fall
/// back to [`update`].
pub fn apply_exact(families: &[Family], rules: &[Rule], delete: bool) -> Result<(), FirewallError> {
    let held = lock()?;
    for &f in families {
        let mut by_table: BTreeMap<&str, String> = BTreeMap::new();
        for r in rules.iter().filter(|r| r.family == f) {
            let l = if delete {
                format!("-D {} {}\n", r.chain, r.spec)
            } else {
                line(r) + "\n"
            };
            by_table.entry(r.table).or_default().push_str(&l);
        }
        if by_table.is_empty() {
            continue;
        }
        let batch: String = by_table
            .into_iter()
            .map(|(t, lines)| format!("*{t}\n{lines}COMMIT\n"))
            .collect();
        restore(f, &batch, &held)?;
    }
    Ok(())
}

/// Serialises berth's firewall changes in this network namespace: each
/// change reads the rules, then writes a batch computed from them.
/// (iptables' own xtables lock only covers the write.)
pub(crate) fn lock() -> Result<berth_store::FileLock, FirewallError> {
    let path = state_file("lock");
    let fail = |message: String| FirewallError::Lock {
        path: path.display().to_string(),
        message,
    };
    std::fs::create_dir_all(STATE_DIR).map_err(|e| fail(e.to_string()))?;
    berth_store::FileLock::exclusive(&path).map_err(|e| fail(e.to_string()))
}

/// Where berth keeps what it knows about a network namespace's firewall
/// (shared by every berth root on the host).
const STATE_DIR: &str = "/run/berth";

/// `/run/berth/firewall-<netns inode>.<what>`.
fn state_file(what: &str) -> std::path::PathBuf {
    let ns = std::fs::read_link("/proc/thread-self/ns/net")
        .map(|l| {
            l.to_string_lossy()
                .chars()
                .filter(char::is_ascii_digit)
                .collect::<String>()
        })
        .unwrap_or_default();
    std::path::Path::new(STATE_DIR).join(format!("firewall-{ns}.{what}"))
}

const IPV6_FORWARDING: &str = "/proc/sys/net/ipv6/conf/all/forwarding";

/// Puts IPv6 forwarding back off if berth turned it on. Unlike IPv4's,
/// it changes what the host does (a forwarding host ignores router
/// advertisements, and gains anycast routes), so it does not outlive
/// berth's last IPv6 network.
fn restore_ipv6_forwarding() {
    let marker = state_file("ipv6-forwarding-was-off");
    if marker.exists() {
        let _ = std::fs::write(IPV6_FORWARDING, "0");
        let _ = std::fs::remove_file(marker);
    }
}

fn line(r: &Rule) -> String {
    if r.first {
        format!("-I {} 1 {}", r.chain, r.spec)
    } else {
        format!("-A {} {}", r.chain, r.spec)
    }
}

/// Turns on forwarding (needed for any container to reach out; IPv6 only
/// for networks with IPv6) and route_localnet on a bridge (so 127.0.0.1 can
/// be DNATed to containers). Internal networks forward nothing.
pub fn sysctls(bridge: &str, ipv6: bool) -> std::io::Result<()> {
    std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")?;
    std::fs::write(
        format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet"),
        "1",
    )?;
    if ipv6 {
        let conf = format!("/proc/sys/net/ipv6/conf/{bridge}");
        std::fs::write(format!("{conf}/disable_ipv6"), "0")?;
        // The bridge is a router for its containers: never take routes or
        // addresses from their router advertisements.
        std::fs::write(format!("{conf}/accept_ra"), "0")?;
        let was = std::fs::read_to_string(IPV6_FORWARDING).unwrap_or_default();
        if was.trim() == "0" {
            std::fs::create_dir_all(STATE_DIR)?;
            std::fs::write(state_file("ipv6-forwarding-was-off"), "")?;
            std::fs::write(IPV6_FORWARDING, "1")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKER: &str = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:DOCKER-USER - [0:0]\n-A FORWARD -j DOCKER-USER\n-A DOCKER-USER -j RETURN\nCOMMIT\n";

    fn saved_after(batch_rules: &[Rule]) -> String {
        // What iptables-save would print after the batch, enough for plan():
        // tables, chains, and the appended lines.
        let mut by: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        let mut chains: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (t, c) in rules::chains(Family::V4) {
            chains.entry(t).or_default().insert(c);
        }
        for r in batch_rules {
            by.entry(r.table)
                .or_default()
                .push(format!("-A {} {}", r.chain, r.spec));
        }
        let mut s = String::new();
        for (t, cs) in chains {
            s.push_str(&format!("*{t}\n"));
            for c in cs {
                s.push_str(&format!(":{c} - [0:0]\n"));
            }
            for l in by.get(t).into_iter().flatten() {
                s.push_str(l);
                s.push('\n');
            }
            s.push_str("COMMIT\n");
        }
        s
    }

    #[test]
    fn tags_are_found_in_saved_rules() {
        let saved = "*nat\n:BERTH-DNAT - [0:0]\n-A BERTH-DNAT -p tcp -m tcp --dport 80 -m comment --comment berth:ports:abc -j DNAT --to-destination 1.2.3.4:80\n-A OUTPUT -j DOCKER\nCOMMIT\n";
        let found = tagged(saved, &|t| t == "berth:ports:abc");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "nat");
        assert!(chains(saved).contains(&("nat".into(), "BERTH-DNAT".into())));
    }

    #[test]
    fn the_first_network_creates_chains_and_jumps_beside_dockers_rules() {
        let net = network_rules(Family::V4, "a", "brtha", "10.1.0.0/24", false);
        let b = plan(Family::V4, DOCKER, &|t| t == "berth:net:a", &net).text;
        assert!(b.contains(":BERTH-FORWARD - [0:0]\n"), "{b}");
        assert!(b.contains(":BERTH-PREROUTING - [0:0]\n"), "{b}");
        assert!(b.contains("-I FORWARD 1 -j BERTH-FORWARD"), "{b}");
        assert!(!b.contains("DOCKER"), "never touches others' rules: {b}");
        assert!(
            !b.lines()
                .any(|l| l.starts_with("-F") || l.starts_with("-P") || l.starts_with("-X")),
            "no flush, no policy: {b}"
        );
        // Chain declarations come before the rules using them.
        let filter = b.split("*filter\n").nth(1).unwrap();
        assert!(filter.find(":BERTH-ACCEPT").unwrap() < filter.find("-A BERTH-ACCEPT").unwrap());
    }

    #[test]
    fn the_last_network_removes_exactly_what_was_added() {
        let mut all = base_rules(Family::V4);
        all.extend(network_rules(
            Family::V4,
            "a",
            "brtha",
            "10.1.0.0/24",
            false,
        ));
        let saved = saved_after(&all);
        let batch = plan(Family::V4, &saved, &|t| t == "berth:net:a", &[]);
        assert!(batch.removes_base);
        let b = batch.text;
        let deletes = b.lines().filter(|l| l.starts_with("-D ")).count();
        assert_eq!(deletes, all.len(), "{b}");
        assert_eq!(
            b.lines().filter(|l| l.starts_with("-X ")).count(),
            rules::chains(Family::V4).len()
        );
        // With a second network left, only the first one's rules go.
        all.extend(network_rules(Family::V4, "b", "brthb", "10.2.0.0/24", true));
        let saved = saved_after(&all);
        let batch = plan(Family::V4, &saved, &|t| t == "berth:net:a", &[]);
        assert!(!batch.removes_base);
        let b = batch.text;
        assert!(
            b.lines()
                .filter(|l| l.starts_with("-D "))
                .all(|l| l.contains("berth:net:a")),
            "{b}"
        );
        assert!(!b.contains("-X"), "{b}");
    }

    #[test]
    fn a_foreign_rule_in_our_chain_keeps_the_chain() {
        let mut all = base_rules(Family::V4);
        all.extend(network_rules(
            Family::V4,
            "a",
            "brtha",
            "10.1.0.0/24",
            false,
        ));
        let mut saved = saved_after(&all);
        saved = saved.replacen(
            "-A BERTH-INPUT ",
            "-A BERTH-INPUT -s 10.9.9.9/32 -j ACCEPT\n-A BERTH-INPUT ",
            1,
        );
        let b = plan(Family::V4, &saved, &|t| t == "berth:net:a", &[]).text;
        assert!(!b.contains("-X BERTH-INPUT"), "{b}");
        assert!(b.contains("-X BERTH-EGRESS"), "{b}");
        assert!(!b.contains("10.9.9.9"), "{b}");
    }

    #[test]
    fn rules_of_the_other_family_are_left_to_its_own_batch() {
        let v6 = network_rules(Family::V6, "a", "brtha", "fd00::/64", false);
        assert_eq!(plan(Family::V4, "", &|_| false, &v6).text, "");
        assert!(
            plan(Family::V6, "", &|_| false, &v6)
                .text
                .contains("-I FORWARD 1 -j BERTH-FORWARD")
        );
    }
}
