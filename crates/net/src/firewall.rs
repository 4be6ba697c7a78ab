//! berth's iptables rules. Everything berth adds lives in its own chains
//! (`BERTH-*`), reached by one jump from the top of a built-in chain, and
//! every rule carries a comment tag (`berth:…`) saying what it belongs to:
//! removing a network or a container's ports deletes exactly the rules with
//! its tag, as the kernel prints them, and nothing else. Rules are applied
//! in one `iptables-restore --noflush` batch per change.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};

use crate::ipam::Subnet;

/// One rule: table, chain, and the match/target part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub table: &'static str,
    pub chain: &'static str,
    pub spec: String,
    /// Insert at the top of the chain instead of appending.
    pub first: bool,
}

fn rule(table: &'static str, chain: &'static str, tag: &str, spec: &str) -> Rule {
    Rule {
        table,
        chain,
        spec: format!("{spec} -m comment --comment {tag}"),
        first: false,
    }
}

/// Our chains and where they are jumped to from.
pub const CHAINS: &[(&str, &str)] = &[
    ("filter", "BERTH-FORWARD"),
    ("filter", "BERTH-INPUT"),
    ("nat", "BERTH-POSTROUTING"),
    ("nat", "BERTH-DNAT"),
    ("raw", "BERTH-PREROUTING"),
];

const BASE: &str = "berth:base";

/// The jumps into our chains (at the top of the built-in chains, so Docker's
/// `FORWARD` policy DROP and its own jumps never see berth's traffic first),
/// and the rules that are not tied to one network.
pub fn base_rules() -> Vec<Rule> {
    let mut v = vec![
        Rule {
            first: true,
            ..rule("filter", "FORWARD", BASE, "-j BERTH-FORWARD")
        },
        Rule {
            first: true,
            ..rule("filter", "INPUT", BASE, "-j BERTH-INPUT")
        },
        Rule {
            first: true,
            ..rule("nat", "POSTROUTING", BASE, "-j BERTH-POSTROUTING")
        },
        Rule {
            first: true,
            ..rule(
                "nat",
                "PREROUTING",
                BASE,
                "-m addrtype --dst-type LOCAL -j BERTH-DNAT",
            )
        },
        Rule {
            first: true,
            ..rule(
                "nat",
                "OUTPUT",
                BASE,
                "-m addrtype --dst-type LOCAL -j BERTH-DNAT",
            )
        },
        Rule {
            first: true,
            ..rule("raw", "PREROUTING", BASE, "-j BERTH-PREROUTING")
        },
    ];
    // A packet for 127.0.0.0/8 that did not come from this host's loopback is
    // spoofed: with route_localnet on, it could otherwise reach a port
    // published on 127.0.0.1 from the LAN (moby#45610).
    v.push(rule(
        "raw",
        "BERTH-PREROUTING",
        BASE,
        "-d 127.0.0.0/8 ! -i lo -m addrtype ! --src-type LOCAL -j DROP",
    ));
    v
}

/// Tag of a network's rules.
pub fn network_tag(name: &str) -> String {
    format!("berth:net:{name}")
}

/// Tag of a container's published ports.
pub fn ports_tag(container_id: &str) -> String {
    format!(
        "berth:ports:{}",
        &container_id[..12.min(container_id.len())]
    )
}

/// The rules of one network on bridge `br`.
pub fn network_rules(name: &str, br: &str, subnet: &Subnet, internal: bool) -> Vec<Rule> {
    let t = network_tag(name);
    let mut v = vec![
        // Between containers of the same network.
        rule(
            "filter",
            "BERTH-FORWARD",
            &t,
            &format!("-i {br} -o {br} -j ACCEPT"),
        ),
        // DNS to the gateway, where berth's DNS server listens.
        rule(
            "filter",
            "BERTH-INPUT",
            &t,
            &format!("-i {br} -p udp -m udp --dport 53 -j ACCEPT"),
        ),
        rule(
            "filter",
            "BERTH-INPUT",
            &t,
            &format!("-i {br} -p tcp -m tcp --dport 53 -j ACCEPT"),
        ),
    ];
    if internal {
        v.push(rule(
            "filter",
            "BERTH-FORWARD",
            &t,
            &format!("-i {br} -j DROP"),
        ));
        v.push(rule(
            "filter",
            "BERTH-FORWARD",
            &t,
            &format!("-o {br} -j DROP"),
        ));
        return v;
    }
    v.extend([
        // Isolation from other berth networks.
        rule(
            "filter",
            "BERTH-FORWARD",
            &t,
            &format!("-i {br} -o brth+ -j DROP"),
        ),
        // Out to the world, and what comes back; published ports (DNAT).
        rule("filter", "BERTH-FORWARD", &t, &format!("-i {br} -j ACCEPT")),
        rule(
            "filter",
            "BERTH-FORWARD",
            &t,
            &format!("-o {br} -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT"),
        ),
        rule(
            "nat",
            "BERTH-POSTROUTING",
            &t,
            &format!("-s {subnet} ! -o {br} -j MASQUERADE"),
        ),
        // Published ports reached from the host itself (127.0.0.1, its own
        // addresses) and hairpin from the same bridge: rewrite the source so
        // replies come back through conntrack.
        rule(
            "nat",
            "BERTH-POSTROUTING",
            &t,
            &format!("-o {br} -m addrtype --src-type LOCAL -j MASQUERADE"),
        ),
        rule(
            "nat",
            "BERTH-POSTROUTING",
            &t,
            &format!("-s {subnet} -o {br} -m conntrack --ctstate DNAT -j MASQUERADE"),
        ),
    ]);
    v
}

/// A published port.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Published {
    /// `tcp` or `udp`.
    pub protocol: String,
    /// `0.0.0.0` (any), or an address of the host.
    pub host_ip: String,
    pub host_port: u16,
    pub container_ip: String,
    pub container_port: u16,
}

/// DNAT rules of a container's published ports.
pub fn port_rules(container_id: &str, ports: &[Published]) -> Vec<Rule> {
    let t = ports_tag(container_id);
    ports
        .iter()
        .map(|p| {
            let dst = if p.host_ip == "0.0.0.0" || p.host_ip.is_empty() {
                String::new()
            } else {
                format!("-d {}/32 ", p.host_ip)
            };
            rule(
                "nat",
                "BERTH-DNAT",
                &t,
                &format!(
                    "{dst}-p {0} -m {0} --dport {1} -j DNAT --to-destination {2}:{3}",
                    p.protocol, p.host_port, p.container_ip, p.container_port
                ),
            )
        })
        .collect()
}

/// Errors of the firewall.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    #[error("running {cmd}: {source} (is Debian's iptables package installed?)")]
    Spawn {
        cmd: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("iptables-restore refused berth's rules: {0}")]
    Restore(String),
}

/// The current rules, as `iptables-save` prints them (`*table` headers kept).
fn save() -> Result<String, FirewallError> {
    let out = Command::new("iptables-save")
        .stderr(Stdio::null())
        .output()
        .map_err(|source| FirewallError::Spawn {
            cmd: "iptables-save",
            source,
        })?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Lines of `saved` (per table) that carry a tag for which `drop` is true.
fn tagged(saved: &str, drop: &dyn Fn(&str) -> bool) -> Vec<(String, String)> {
    let mut table = String::new();
    let mut out = Vec::new();
    for l in saved.lines() {
        if let Some(t) = l.strip_prefix('*') {
            table = t.to_owned();
        } else if l.starts_with("-A ")
            && let Some(tag) = l
                .split("--comment ")
                .nth(1)
                .map(|r| r.split_whitespace().next().unwrap_or("").trim_matches('"'))
            && drop(tag)
        {
            out.push((table.clone(), l.to_owned()));
        }
    }
    out
}

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

fn restore(batch: &str) -> Result<(), FirewallError> {
    let mut child = Command::new("iptables-restore")
        .args(["--noflush", "--wait"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| FirewallError::Spawn {
            cmd: "iptables-restore",
            source,
        })?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(batch.as_bytes())
        .map_err(|source| FirewallError::Spawn {
            cmd: "iptables-restore",
            source,
        })?;
    let out = child
        .wait_with_output()
        .map_err(|source| FirewallError::Spawn {
            cmd: "iptables-restore",
            source,
        })?;
    if !out.status.success() {
        return Err(FirewallError::Restore(format!(
            "{}\n{batch}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Replaces the rules whose tag satisfies `replace` by `add`, creating our
/// chains and jumps when `add` is not empty. Also removes our chains and
/// jumps when, afterwards, no network rules remain. One batch, atomic.
pub fn update(replace: &dyn Fn(&str) -> bool, add: &[Rule]) -> Result<(), FirewallError> {
    let saved = save()?;
    let existing = chains(&saved);
    let old = tagged(&saved, replace);
    let remaining_networks = tagged(&saved, &|t| t.starts_with("berth:net:") && !replace(t)).len()
        + add.iter().filter(|r| r.spec.contains("berth:net:")).count();
    let base_present = !tagged(&saved, &|t| t == BASE).is_empty();
    let mut by_table: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for (table, line) in &old {
        let t: &str = ["filter", "nat", "raw"]
            .into_iter()
            .find(|x| x == table)
            .unwrap_or("filter");
        by_table
            .entry(t)
            .or_default()
            .push(format!("-D {}", &line[3..]));
    }
    let want_base = remaining_networks > 0;
    if want_base && !base_present {
        for (t, c) in CHAINS {
            if !existing.contains(&(t.to_string(), c.to_string())) {
                by_table
                    .entry(t)
                    .or_default()
                    .insert(0, format!(":{c} - [0:0]"));
            }
        }
        for r in base_rules() {
            by_table.entry(r.table).or_default().push(line(&r));
        }
    }
    for r in add {
        by_table.entry(r.table).or_default().push(line(r));
    }
    if !want_base && base_present {
        for (table, l) in tagged(&saved, &|t| t == BASE) {
            let t: &str = ["filter", "nat", "raw"]
                .into_iter()
                .find(|x| *x == table)
                .unwrap_or("filter");
            by_table
                .entry(t)
                .or_default()
                .push(format!("-D {}", &l[3..]));
        }
        for (t, c) in CHAINS {
            if existing.contains(&(t.to_string(), c.to_string())) {
                by_table.entry(t).or_default().push(format!("-X {c}"));
            }
        }
    }
    if by_table.is_empty() {
        return Ok(());
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
    restore(&batch)
}

fn line(r: &Rule) -> String {
    if r.first {
        format!("-I {} 1 {}", r.chain, r.spec)
    } else {
        format!("-A {} {}", r.chain, r.spec)
    }
}

/// Turns on IPv4 forwarding (needed for any container to reach out) and
/// route_localnet on a bridge (so 127.0.0.1 can be DNATed to containers).
pub fn sysctls(bridge: &str) -> std::io::Result<()> {
    std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")?;
    std::fs::write(
        format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet"),
        "1",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_rules_are_tagged_and_scoped_to_the_bridge() {
        let s = Subnet::parse("172.20.0.0/16").unwrap();
        let r = network_rules("app_default", "brth0123456789a", &s, false);
        assert!(r.iter().all(|r| {
            r.spec
                .ends_with("-m comment --comment berth:net:app_default")
        }));
        assert!(r.iter().any(|r| {
            r.table == "nat"
                && r.spec
                    .starts_with("-s 172.20.0.0/16 ! -o brth0123456789a -j MASQUERADE")
        }));
        let internal = network_rules("app_int", "brthx", &s, true);
        assert!(
            !internal.iter().any(|r| r.spec.contains("MASQUERADE")),
            "internal networks do not reach out"
        );
    }

    #[test]
    fn port_rules_dnat_to_the_container() {
        let p = Published {
            protocol: "tcp".into(),
            host_ip: "127.0.0.1".into(),
            host_port: 8080,
            container_ip: "172.20.0.2".into(),
            container_port: 80,
        };
        let r = port_rules("0123456789abcdef", &[p]);
        assert_eq!(
            r[0].spec,
            "-d 127.0.0.1/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.20.0.2:80 -m comment --comment berth:ports:0123456789ab"
        );
    }

    #[test]
    fn tags_are_found_in_saved_rules() {
        let saved = "*nat\n:BERTH-DNAT - [0:0]\n-A BERTH-DNAT -p tcp -m tcp --dport 80 -m comment --comment berth:ports:abc -j DNAT --to-destination 1.2.3.4:80\n-A OUTPUT -j DOCKER\nCOMMIT\n";
        let found = tagged(saved, &|t| t == "berth:ports:abc");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "nat");
        assert!(chains(saved).contains(&("nat".into(), "BERTH-DNAT".into())));
    }
}
