//! berth's rules as data: pure functions from a network or a container's
//! ports to the rules it needs. [`super::apply`] turns them into one
//! `iptables-restore` batch.
//!
//! Layout (per address family; the `raw` table is IPv4 only):
//!
//! ```text
//! filter FORWARD     -I 1  -j BERTH-FORWARD
//! filter BERTH-FORWARD     -j BERTH-ACCEPT      accept first, whatever net:
//!                          -j BERTH-ISOLATION   then drop between berth nets,
//!                          -j BERTH-EGRESS      then accept the way out
//! filter INPUT       -I 1  -j BERTH-INPUT       DNS to the gateways
//! nat    PREROUTING  -I 1  -m addrtype --dst-type LOCAL -j BERTH-DNAT
//! nat    OUTPUT      -I 1  -m addrtype --dst-type LOCAL -j BERTH-DNAT
//! nat    POSTROUTING -I 1  -j BERTH-POSTROUTING  MASQUERADE
//! raw    PREROUTING  -I 1  -j BERTH-PREROUTING   no spoofed 127.0.0.0/8
//! ```
//!
//! The three stages of `BERTH-FORWARD` make the result independent of the
//! order networks were created in: a published port is reachable from every
//! network, and isolation still holds for everything else. Every rule berth
//! jumps to from a built-in chain is at its top, so Docker's `FORWARD`
//! policy DROP (and the jumps Docker puts there) never see berth's traffic
//! first.

use std::net::IpAddr;

/// IPv4 (`iptables`) or IPv6 (`ip6tables`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(ip: &IpAddr) -> Family {
        if ip.is_ipv4() { Family::V4 } else { Family::V6 }
    }

    pub fn save_cmd(self) -> &'static str {
        match self {
            Family::V4 => "iptables-save",
            Family::V6 => "ip6tables-save",
        }
    }

    pub fn restore_cmd(self) -> &'static str {
        match self {
            Family::V4 => "iptables-restore",
            Family::V6 => "ip6tables-restore",
        }
    }

    pub fn all() -> [Family; 2] {
        [Family::V4, Family::V6]
    }
}

/// One rule: family, table, chain, and the match/target part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub family: Family,
    pub table: &'static str,
    pub chain: &'static str,
    pub spec: String,
    /// Insert at the top of the chain instead of appending.
    pub first: bool,
}

fn rule(family: Family, table: &'static str, chain: &'static str, tag: &str, spec: &str) -> Rule {
    Rule {
        family,
        table,
        chain,
        spec: format!("{spec} -m comment --comment {tag}"),
        first: false,
    }
}

fn top(r: Rule) -> Rule {
    Rule { first: true, ..r }
}

/// Our chains, per family.
pub fn chains(family: Family) -> Vec<(&'static str, &'static str)> {
    let mut v = vec![
        ("filter", "BERTH-FORWARD"),
        ("filter", "BERTH-ACCEPT"),
        ("filter", "BERTH-ISOLATION"),
        ("filter", "BERTH-EGRESS"),
        ("filter", "BERTH-INPUT"),
        ("nat", "BERTH-POSTROUTING"),
        ("nat", "BERTH-DNAT"),
    ];
    if family == Family::V4 {
        v.push(("raw", "BERTH-PREROUTING"));
    }
    v
}

/// Tag of the rules not tied to one network.
pub const BASE: &str = "berth:base";
/// Prefix of the tags of networks' rules.
pub const NET_PREFIX: &str = "berth:net:";

/// The jumps into our chains and the rules not tied to one network.
pub fn base_rules(f: Family) -> Vec<Rule> {
    let b = BASE;
    let mut v = vec![
        top(rule(f, "filter", "FORWARD", b, "-j BERTH-FORWARD")),
        rule(f, "filter", "BERTH-FORWARD", b, "-j BERTH-ACCEPT"),
        rule(f, "filter", "BERTH-FORWARD", b, "-j BERTH-ISOLATION"),
        rule(f, "filter", "BERTH-FORWARD", b, "-j BERTH-EGRESS"),
        top(rule(f, "filter", "INPUT", b, "-j BERTH-INPUT")),
        top(rule(f, "nat", "POSTROUTING", b, "-j BERTH-POSTROUTING")),
        top(rule(
            f,
            "nat",
            "PREROUTING",
            b,
            "-m addrtype --dst-type LOCAL -j BERTH-DNAT",
        )),
        top(rule(
            f,
            "nat",
            "OUTPUT",
            b,
            "-m addrtype --dst-type LOCAL -j BERTH-DNAT",
        )),
    ];
    if f == Family::V4 {
        v.push(top(rule(f, "raw", "PREROUTING", b, "-j BERTH-PREROUTING")));
        // A packet for 127.0.0.0/8 that did not come from this host's
        // loopback is spoofed: with route_localnet on, DNAT would otherwise
        // forward it to a port published on 127.0.0.1 (moby#45610).
        v.push(rule(
            f,
            "raw",
            "BERTH-PREROUTING",
            b,
            "-d 127.0.0.0/8 ! -i lo -m addrtype ! --src-type LOCAL -j DROP",
        ));
    }
    v
}

/// Tag of a network's rules.
pub fn network_tag(name: &str) -> String {
    format!("{NET_PREFIX}{name}")
}

/// Tag of a container's published ports.
pub fn ports_tag(container_id: &str) -> String {
    format!(
        "berth:ports:{}",
        &container_id[..12.min(container_id.len())]
    )
}

/// The rules of one network on bridge `br`, for one family with `subnet`
/// (a CIDR of that family).
pub fn network_rules(f: Family, name: &str, br: &str, subnet: &str, internal: bool) -> Vec<Rule> {
    let t = network_tag(name);
    let fw = |chain, spec: String| rule(f, "filter", chain, &t, &spec);
    let mut v = vec![
        // Between containers of the same network (bridged; seen here when
        // br_netfilter is loaded, as Docker loads it).
        fw("BERTH-ACCEPT", format!("-i {br} -o {br} -j ACCEPT")),
        // DNS to the gateway, where berth's DNS server listens.
        fw(
            "BERTH-INPUT",
            format!("-i {br} -p udp -m udp --dport 53 -j ACCEPT"),
        ),
        fw(
            "BERTH-INPUT",
            format!("-i {br} -p tcp -m tcp --dport 53 -j ACCEPT"),
        ),
    ];
    if internal {
        v.push(fw("BERTH-ISOLATION", format!("-i {br} -j DROP")));
        v.push(fw("BERTH-ISOLATION", format!("-o {br} -j DROP")));
        return v;
    }
    v.extend([
        // Replies, and published ports (DNAT), from wherever they come.
        fw(
            "BERTH-ACCEPT",
            format!("-o {br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
        ),
        fw(
            "BERTH-ACCEPT",
            format!("-o {br} -m conntrack --ctstate DNAT -j ACCEPT"),
        ),
        // Nothing else between berth networks.
        fw("BERTH-ISOLATION", format!("-i {br} -o brth+ -j DROP")),
        // Out to the world.
        fw("BERTH-EGRESS", format!("-i {br} -j ACCEPT")),
    ]);
    let nat = |spec: String| rule(f, "nat", "BERTH-POSTROUTING", &t, &spec);
    v.push(nat(format!("-s {subnet} ! -o {br} -j MASQUERADE")));
    // Hairpin: a container reaching a published port through a host
    // address, DNATed back into the same bridge, must see replies come
    // through conntrack, so its source is rewritten too.
    v.push(nat(format!(
        "-s {subnet} -o {br} -m conntrack --ctstate DNAT -j MASQUERADE"
    )));
    if f == Family::V4 {
        // Ports published on 127.0.0.1 and reached from the host: a
        // loopback source cannot leave on the bridge as it is.
        v.push(nat(format!("-s 127.0.0.0/8 -o {br} -j MASQUERADE")));
    }
    v
}

/// A published port.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Published {
    /// `tcp` or `udp`.
    pub protocol: String,
    /// `0.0.0.0` or `::` (any), or an address of the host.
    pub host_ip: String,
    pub host_port: u16,
    pub container_ip: String,
    pub container_port: u16,
    /// How the port is published: `nft` (an element of berth's nf_tables
    /// map), or empty for iptables DNAT rules.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub via: String,
}

impl Published {
    fn family(&self) -> Family {
        if self.container_ip.contains(':') {
            Family::V6
        } else {
            Family::V4
        }
    }
}

/// Whether `ip` means every address of its family.
pub fn is_any(ip: &str) -> bool {
    ip.is_empty() || ip == "0.0.0.0" || ip == "::"
}

/// DNAT rules of a container's published ports (in the family of each
/// port's container address).
pub fn port_rules(container_id: &str, ports: &[Published]) -> Vec<Rule> {
    let t = ports_tag(container_id);
    ports
        .iter()
        .map(|p| {
            let f = p.family();
            let (dst, to) = match f {
                Family::V4 => ("/32", format!("{}:{}", p.container_ip, p.container_port)),
                Family::V6 => ("/128", format!("[{}]:{}", p.container_ip, p.container_port)),
            };
            let dst = if is_any(&p.host_ip) {
                String::new()
            } else {
                format!("-d {}{dst} ", p.host_ip)
            };
            rule(
                f,
                "nat",
                "BERTH-DNAT",
                &t,
                &format!(
                    "{dst}-p {0} -m {0} --dport {1} -j DNAT --to-destination {to}",
                    p.protocol, p.host_port
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_rules_are_tagged_and_scoped_to_the_bridge() {
        let r = network_rules(
            Family::V4,
            "app_default",
            "brth0123456789a",
            "172.20.0.0/16",
            false,
        );
        assert!(r.iter().all(|r| {
            r.spec
                .ends_with("-m comment --comment berth:net:app_default")
                && r.spec.contains("brth0123456789a")
                && !r.first
        }));
        let specs: Vec<(&str, &str)> = r
            .iter()
            .map(|r| (r.chain, r.spec.split(" -m comment").next().unwrap()))
            .collect();
        for want in [
            (
                "BERTH-ACCEPT",
                "-i brth0123456789a -o brth0123456789a -j ACCEPT",
            ),
            (
                "BERTH-ACCEPT",
                "-o brth0123456789a -m conntrack --ctstate DNAT -j ACCEPT",
            ),
            ("BERTH-ISOLATION", "-i brth0123456789a -o brth+ -j DROP"),
            ("BERTH-EGRESS", "-i brth0123456789a -j ACCEPT"),
            (
                "BERTH-POSTROUTING",
                "-s 172.20.0.0/16 ! -o brth0123456789a -j MASQUERADE",
            ),
            (
                "BERTH-POSTROUTING",
                "-s 127.0.0.0/8 -o brth0123456789a -j MASQUERADE",
            ),
        ] {
            assert!(specs.contains(&want), "{want:?} missing from {specs:#?}");
        }
    }

    #[test]
    fn internal_networks_neither_leave_nor_are_entered() {
        let r = network_rules(Family::V4, "app_int", "brthx", "10.0.0.0/24", true);
        assert!(
            !r.iter().any(|r| r.spec.contains("MASQUERADE")
                || r.chain == "BERTH-EGRESS"
                || r.spec.contains("ctstate")),
            "internal networks do not reach out: {r:#?}"
        );
        let drops: Vec<&str> = r
            .iter()
            .filter(|r| r.chain == "BERTH-ISOLATION")
            .map(|r| r.spec.as_str())
            .collect();
        assert_eq!(drops.len(), 2);
        assert!(drops[0].starts_with("-i brthx -j DROP"));
        assert!(drops[1].starts_with("-o brthx -j DROP"));
    }

    #[test]
    fn ipv6_rules_have_no_loopback_masquerade_or_raw_table() {
        let r = network_rules(Family::V6, "n", "brthy", "fd00:1::/64", false);
        assert!(r.iter().all(|r| r.family == Family::V6));
        assert!(r.iter().any(|r| {
            r.spec
                .starts_with("-s fd00:1::/64 ! -o brthy -j MASQUERADE")
        }));
        assert!(!r.iter().any(|r| r.spec.contains("127.0.0.0/8")));
        assert!(!base_rules(Family::V6).iter().any(|r| r.table == "raw"));
        assert!(!chains(Family::V6).contains(&("raw", "BERTH-PREROUTING")));
    }

    #[test]
    fn base_rules_jump_from_the_top_in_stage_order() {
        let b = base_rules(Family::V4);
        let jumps: Vec<&Rule> = b.iter().filter(|r| r.first).collect();
        assert!(
            jumps
                .iter()
                .all(|r| r.chain.chars().all(|c| c.is_ascii_uppercase()))
        );
        assert_eq!(
            jumps.len(),
            6,
            "FORWARD INPUT POSTROUTING PREROUTING OUTPUT raw"
        );
        let stages: Vec<&str> = b
            .iter()
            .filter(|r| r.chain == "BERTH-FORWARD")
            .map(|r| r.spec.split(" -m comment").next().unwrap())
            .collect();
        assert_eq!(
            stages,
            ["-j BERTH-ACCEPT", "-j BERTH-ISOLATION", "-j BERTH-EGRESS"]
        );
        assert!(b.iter().any(|r| r.table == "raw"
            && r.spec.starts_with("-d 127.0.0.0/8 ! -i lo")
            && r.spec.contains("-j DROP")));
    }

    #[test]
    fn port_rules_dnat_to_the_container() {
        let p = Published {
            protocol: "tcp".into(),
            host_ip: "127.0.0.1".into(),
            host_port: 8080,
            container_ip: "172.20.0.2".into(),
            container_port: 80,
            via: String::new(),
        };
        let udp_any = Published {
            protocol: "udp".into(),
            host_ip: "0.0.0.0".into(),
            host_port: 5353,
            container_ip: "172.20.0.2".into(),
            container_port: 53,
            via: String::new(),
        };
        let v6 = Published {
            protocol: "tcp".into(),
            host_ip: "::".into(),
            host_port: 8080,
            container_ip: "fd00:1::2".into(),
            container_port: 80,
            via: String::new(),
        };
        let r = port_rules("0123456789abcdef", &[p, udp_any, v6]);
        assert_eq!(
            r[0].spec,
            "-d 127.0.0.1/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.20.0.2:80 -m comment --comment berth:ports:0123456789ab"
        );
        assert!(
            r[1].spec
                .starts_with("-p udp -m udp --dport 5353 -j DNAT --to-destination 172.20.0.2:53 ")
        );
        assert_eq!(r[2].family, Family::V6);
        assert!(
            r[2].spec
                .starts_with("-p tcp -m tcp --dport 8080 -j DNAT --to-destination [fd00:1::2]:80 ")
        );
        assert!(
            r.iter()
                .all(|r| r.table == "nat" && r.chain == "BERTH-DNAT")
        );
    }
}
