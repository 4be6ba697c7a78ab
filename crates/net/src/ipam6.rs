//! IPv6 address management for networks with `enable_ipv6`: a /64 from the
//! file, or from a unique local prefix (fdXX:XXXX:XXXX::/48, RFC 4193)
//! derived from the machine id so that it stays the same on one host and
//! differs between hosts; addresses handed out in order, as Docker does.

use std::net::Ipv6Addr;

use crate::ipam::PoolRequest;

/// An IPv6 subnet (`fd00:1::/64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Subnet6 {
    pub addr: Ipv6Addr,
    pub prefix: u8,
}

fn mask(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    }
}

impl Subnet6 {
    pub fn parse(s: &str) -> Option<Subnet6> {
        let (a, p) = s.split_once('/')?;
        let prefix: u8 = p.parse().ok().filter(|p| *p <= 128)?;
        let addr: Ipv6Addr = a.parse().ok()?;
        Some(Subnet6 {
            addr: Ipv6Addr::from(u128::from(addr) & mask(prefix)),
            prefix,
        })
    }

    pub fn first(&self) -> u128 {
        u128::from(self.addr)
    }

    pub fn last(&self) -> u128 {
        self.first() | !mask(self.prefix)
    }

    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        u128::from(ip) & mask(self.prefix) == self.first()
    }

    pub fn covers(&self, other: &Subnet6) -> bool {
        self.first() <= other.first() && other.last() <= self.last()
    }

    pub fn overlaps(&self, other: &Subnet6) -> bool {
        self.first() <= other.last() && other.first() <= self.last()
    }

    /// `::1` of the subnet, Docker's default gateway.
    pub fn gateway(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.first() + 1)
    }

    /// Inside the subnet and not the subnet-router anycast address (`::`).
    pub fn is_host(&self, ip: Ipv6Addr) -> bool {
        self.contains(ip) && u128::from(ip) != self.first()
    }
}

impl std::fmt::Display for Subnet6 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// The unique local /48 of this host: `fd` + 40 bits of a hash of `seed`
/// (the machine id).
pub fn ula_prefix(seed: &str) -> Subnet6 {
    // FNV-1a: stable across releases (unlike std's hasher), and the prefix
    // only needs to be spread, not secret.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.trim().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let global_id = u128::from(h & 0xff_ffff_ffff);
    Subnet6 {
        addr: Ipv6Addr::from((0xfd_u128 << 120) | (global_id << 80)),
        prefix: 48,
    }
}

/// The machine's ULA /48 (from `/etc/machine-id`, else the host name).
pub fn host_ula_prefix() -> Subnet6 {
    let seed = std::fs::read_to_string("/etc/machine-id")
        .or_else(|_| std::fs::read_to_string("/proc/sys/kernel/hostname"))
        .unwrap_or_else(|_| "berth".into());
    ula_prefix(&seed)
}

/// The first /64 of `base` overlapping nothing in `used`.
pub fn pick_subnet(base: &Subnet6, used: &[Subnet6]) -> Option<Subnet6> {
    let count: u128 = 1 << (64 - base.prefix.min(64));
    (0..count.min(1 << 16))
        .map(|i| Subnet6 {
            addr: Ipv6Addr::from(base.first() | (i << 64)),
            prefix: 64,
        })
        .find(|s| !used.iter().any(|u| u.overlaps(s)))
}

/// The lowest free address of `range` (within `subnet`), skipping `::`, the
/// gateway and `taken`.
pub fn next_address(
    subnet: &Subnet6,
    range: Option<&Subnet6>,
    gateway: Ipv6Addr,
    taken: &[Ipv6Addr],
) -> Option<Ipv6Addr> {
    let r = range.unwrap_or(subnet);
    let lo = r.first().max(subnet.first() + 1);
    let hi = r.last().min(subnet.last());
    // Bounded: a container count never comes near this.
    let hi = hi.min(lo.saturating_add(1 << 20));
    (lo..=hi)
        .map(Ipv6Addr::from)
        .find(|ip| *ip != gateway && !taken.contains(ip))
}

/// The IPv6 addressing of a new network, decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan6 {
    pub subnet: Subnet6,
    pub gateway: Ipv6Addr,
    pub ip_range: Option<Subnet6>,
}

/// As [`crate::ipam::plan_v4`], for IPv6: `base` is the /48 to carve from
/// when the file names no subnet.
pub fn plan_v6(
    req: &PoolRequest,
    others: &[(String, Subnet6)],
    host: &[Subnet6],
    base: &Subnet6,
) -> Result<Plan6, String> {
    let subnet = match &req.subnet {
        Some(s) => {
            let sub = Subnet6::parse(s).ok_or_else(|| {
                format!("invalid subnet {s:?}: expected an IPv6 CIDR such as fd00:db8:1::/64")
            })?;
            if sub.prefix > 124 {
                return Err(format!("subnet {sub} is too small for a network"));
            }
            if let Some((name, o)) = others.iter().find(|(_, o)| o.overlaps(&sub)) {
                return Err(format!(
                    "Pool overlaps with other one on this address space: {sub} overlaps {o} of network {name}"
                ));
            }
            if let Some(r) = host.iter().find(|r| r.overlaps(&sub)) {
                return Err(format!(
                    "Pool overlaps with other one on this address space: {sub} overlaps the host route {r}"
                ));
            }
            sub
        }
        None => {
            if req.gateway.is_some() || req.ip_range.is_some() {
                return Err("gateway and ip_range need a subnet in the same ipam config".into());
            }
            let mut used: Vec<Subnet6> = others.iter().map(|(_, s)| *s).collect();
            used.extend_from_slice(host);
            pick_subnet(base, &used).ok_or_else(|| {
                format!("could not find an available IPv6 /64 in {base} to assign to the network")
            })?
        }
    };
    let gateway = match &req.gateway {
        Some(g) => {
            let gw: Ipv6Addr = g
                .parse()
                .map_err(|_| format!("invalid gateway {g:?}: expected an IPv6 address"))?;
            if !subnet.is_host(gw) {
                return Err(format!(
                    "gateway {gw} is not a host address of subnet {subnet}"
                ));
            }
            gw
        }
        None => subnet.gateway(),
    };
    let ip_range = match &req.ip_range {
        Some(r) => {
            let range = Subnet6::parse(r)
                .ok_or_else(|| format!("invalid ip_range {r:?}: expected an IPv6 CIDR"))?;
            if !subnet.covers(&range) {
                return Err(format!("ip_range {range} is not inside subnet {subnet}"));
            }
            Some(range)
        }
        None => None,
    };
    Ok(Plan6 {
        subnet,
        gateway,
        ip_range,
    })
}

/// IPv6 routes of the host's main table (`/proc/net/ipv6_route`) that could
/// clash with a network: no default route, no link-local or multicast.
pub fn host_routes() -> Vec<Subnet6> {
    let text = std::fs::read_to_string("/proc/thread-self/net/ipv6_route").unwrap_or_default();
    parse_ipv6_route(&text)
}

fn parse_ipv6_route(text: &str) -> Vec<Subnet6> {
    let mut out = Vec::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        let (Some(dest), Some(prefix)) = (f.first(), f.get(1)) else {
            continue;
        };
        let (Ok(dest), Ok(prefix)) = (
            u128::from_str_radix(dest, 16),
            u8::from_str_radix(prefix, 16),
        ) else {
            continue;
        };
        let s = Subnet6 {
            addr: Ipv6Addr::from(dest),
            prefix,
        };
        let special = prefix == 0
            || s.addr.is_loopback()
            || s.addr.is_multicast()
            || (s.addr.segments()[0] & 0xffc0) == 0xfe80;
        if !special && !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Subnet6 {
        Subnet6::parse(x).unwrap()
    }

    #[test]
    fn subnets() {
        assert_eq!(s("fd00:1:2:3::9/64").to_string(), "fd00:1:2:3::/64");
        assert!(s("fd00::/8").overlaps(&s("fd00:1::/64")));
        assert!(!s("fd00:1::/64").overlaps(&s("fd00:2::/64")));
        assert_eq!(
            s("fd00:1::/64").gateway(),
            "fd00:1::1".parse::<Ipv6Addr>().unwrap()
        );
        assert!(Subnet6::parse("fd00::/129").is_none());
        assert!(Subnet6::parse("10.0.0.0/8").is_none());
    }

    #[test]
    fn ula_prefix_is_stable_and_local() {
        let a = ula_prefix("0123456789abcdef0123456789abcdef\n");
        assert_eq!(a, ula_prefix("0123456789abcdef0123456789abcdef"));
        assert_ne!(a, ula_prefix("another machine"));
        assert_eq!(a.prefix, 48);
        assert_eq!(a.addr.segments()[0] >> 8, 0xfd);
        assert_eq!(a.addr.segments()[3..], [0, 0, 0, 0, 0]);
    }

    #[test]
    fn picks_free_slices_of_the_prefix() {
        let base = s("fd12:3456:789a::/48");
        assert_eq!(pick_subnet(&base, &[]), Some(s("fd12:3456:789a::/64")));
        let used = [s("fd12:3456:789a::/64"), s("fd12:3456:789a:1::/80")];
        assert_eq!(pick_subnet(&base, &used), Some(s("fd12:3456:789a:2::/64")));
    }

    #[test]
    fn plans_and_addresses() {
        let base = s("fd12:3456:789a::/48");
        let others = vec![("x".to_string(), s("fd12:3456:789a::/64"))];
        let p = plan_v6(&PoolRequest::default(), &others, &[], &base).unwrap();
        assert_eq!(p.subnet, s("fd12:3456:789a:1::/64"));
        let req = PoolRequest {
            subnet: Some("fd12:3456:789a::/80".into()),
            ..Default::default()
        };
        let e = plan_v6(&req, &others, &[], &base).unwrap_err();
        assert!(
            e.contains("overlaps fd12:3456:789a::/64 of network x"),
            "{e}"
        );
        let req = PoolRequest {
            subnet: Some("fd00:aa::/64".into()),
            gateway: Some("fd00:bb::1".into()),
            ip_range: None,
        };
        assert!(
            plan_v6(&req, &[], &[], &base)
                .unwrap_err()
                .contains("not a host address")
        );
        let n = s("fd00:aa::/64");
        let gw = n.gateway();
        assert_eq!(
            next_address(&n, None, gw, &[]),
            Some("fd00:aa::2".parse().unwrap())
        );
        assert_eq!(
            next_address(&n, None, gw, &["fd00:aa::2".parse().unwrap()]),
            Some("fd00:aa::3".parse().unwrap())
        );
        let range = s("fd00:aa::100/120");
        assert_eq!(
            next_address(&n, Some(&range), gw, &[]),
            Some("fd00:aa::100".parse().unwrap())
        );
    }

    #[test]
    fn host_routes_skip_link_local_multicast_and_default() {
        let text = "\
fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000001 00000000 00000003     eth0
00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000003 00000000 80200001       lo
ff000000000000000000000000000000 08 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
";
        assert_eq!(parse_ipv6_route(text), vec![s("fd00::/64")]);
    }
}
