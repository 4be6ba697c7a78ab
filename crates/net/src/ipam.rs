//! IPv4 address management: which subnet a new network gets, and which
//! address a container gets in it. Pure functions over what is in use; the
//! network records hold the leases. IPv6 is in [`crate::ipam6`].

use std::net::Ipv4Addr;

/// An IPv4 subnet (`172.18.0.0/16`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    pub fn parse(s: &str) -> Option<Subnet> {
        let (a, p) = s.split_once('/')?;
        let prefix: u8 = p.parse().ok().filter(|p| *p <= 32)?;
        let addr: Ipv4Addr = a.parse().ok()?;
        Some(Subnet {
            addr: Ipv4Addr::from(u32::from(addr) & mask(prefix)),
            prefix,
        })
    }

    pub fn first(&self) -> u32 {
        u32::from(self.addr)
    }

    pub fn last(&self) -> u32 {
        self.first() | !mask(self.prefix)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == self.first()
    }

    /// Whether `other` lies entirely inside this subnet.
    pub fn covers(&self, other: &Subnet) -> bool {
        self.first() <= other.first() && other.last() <= self.last()
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.first() <= other.last() && other.first() <= self.last()
    }

    /// The first host address, Docker's default gateway.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.first() + 1)
    }

    /// A host address of the subnet: inside it, neither the network nor the
    /// broadcast address.
    pub fn is_host(&self, ip: Ipv4Addr) -> bool {
        let n = u32::from(ip);
        self.contains(ip) && n != self.first() && n != self.last()
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    }
}

/// Docker's default address pools: 172.17–31.0.0/16, then 192.168.0.0/20
/// slices of 192.168.0.0/16.
pub fn default_pool() -> Vec<Subnet> {
    let mut v: Vec<Subnet> = (17..=31)
        .map(|b| Subnet {
            addr: Ipv4Addr::new(172, b, 0, 0),
            prefix: 16,
        })
        .collect();
    v.extend((0..16).map(|i| Subnet {
        addr: Ipv4Addr::new(192, 168, i * 16, 0),
        prefix: 20,
    }));
    v
}

/// The first subnet of `pool` overlapping nothing in `used`.
pub fn pick_subnet(pool: &[Subnet], used: &[Subnet]) -> Option<Subnet> {
    pool.iter()
        .copied()
        .find(|s| !used.iter().any(|u| u.overlaps(s)))
}

/// The lowest free address of `range` (within `subnet`), skipping the
/// network address, the gateway, the broadcast address and `taken`.
pub fn next_address(
    subnet: &Subnet,
    range: Option<&Subnet>,
    gateway: Ipv4Addr,
    taken: &[Ipv4Addr],
) -> Option<Ipv4Addr> {
    let r = range.unwrap_or(subnet);
    let lo = r.first().max(subnet.first() + 1);
    let hi = r.last().min(subnet.last().saturating_sub(1));
    (lo..=hi)
        .map(Ipv4Addr::from)
        .find(|ip| *ip != gateway && !taken.contains(ip))
}

/// What a network file asks for (`ipam.config[]` entry of one family).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolRequest {
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub ip_range: Option<String>,
}

/// The IPv4 addressing of a new network, decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan4 {
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    pub ip_range: Option<Subnet>,
}

/// Decides the subnet, gateway and range of a new network. `others` are the
/// subnets of the other berth networks with their names, `host` the host's
/// routes. A requested subnet that is taken is refused naming what it
/// overlaps (Docker's wording); without one, the first free default pool.
pub fn plan_v4(
    req: &PoolRequest,
    others: &[(String, Subnet)],
    host: &[Subnet],
) -> Result<Plan4, String> {
    let subnet = match &req.subnet {
        Some(s) => {
            let sub = Subnet::parse(s).ok_or_else(|| {
                format!("invalid subnet {s:?}: expected an IPv4 CIDR such as 172.28.0.0/16")
            })?;
            if sub.prefix > 30 {
                return Err(format!(
                    "subnet {sub} is too small: a network needs at least a /30"
                ));
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
            let mut used: Vec<Subnet> = others.iter().map(|(_, s)| *s).collect();
            used.extend_from_slice(host);
            pick_subnet(&default_pool(), &used).ok_or(
                "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network",
            )?
        }
    };
    let gateway = match &req.gateway {
        Some(g) => {
            let gw: Ipv4Addr = g
                .parse()
                .map_err(|_| format!("invalid gateway {g:?}: expected an IPv4 address"))?;
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
            let range = Subnet::parse(r)
                .ok_or_else(|| format!("invalid ip_range {r:?}: expected an IPv4 CIDR"))?;
            if !subnet.covers(&range) {
                return Err(format!("ip_range {range} is not inside subnet {subnet}"));
            }
            Some(range)
        }
        None => None,
    };
    Ok(Plan4 {
        subnet,
        gateway,
        ip_range,
    })
}

/// IPv4 routes of the host (from `/proc/net/route`), as subnets, without the
/// default route.
pub fn host_routes() -> Vec<Subnet> {
    let text = std::fs::read_to_string("/proc/thread-self/net/route").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dest = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let m = u32::from_str_radix(f.get(7)?, 16).ok()?;
            if m == 0 {
                return None;
            }
            let prefix = u32::from_be(m).count_ones() as u8;
            Some(Subnet {
                addr: Ipv4Addr::from(u32::from_be(dest)),
                prefix,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Subnet {
        Subnet::parse(x).unwrap()
    }

    fn req(subnet: Option<&str>, gateway: Option<&str>, range: Option<&str>) -> PoolRequest {
        PoolRequest {
            subnet: subnet.map(Into::into),
            gateway: gateway.map(Into::into),
            ip_range: range.map(Into::into),
        }
    }

    #[test]
    fn subnets() {
        assert_eq!(s("10.1.2.3/24").to_string(), "10.1.2.0/24");
        assert!(s("10.0.0.0/8").overlaps(&s("10.1.0.0/16")));
        assert!(s("10.1.0.0/16").overlaps(&s("10.0.0.0/8")));
        assert!(!s("10.0.0.0/16").overlaps(&s("10.1.0.0/16")));
        assert_eq!(s("172.18.0.0/16").gateway(), Ipv4Addr::new(172, 18, 0, 1));
        assert!(Subnet::parse("10.0.0.0/33").is_none());
        assert!(s("10.0.0.0/16").covers(&s("10.0.5.0/24")));
        assert!(!s("10.0.5.0/24").covers(&s("10.0.0.0/16")));
        let n = s("10.9.0.0/24");
        assert!(!n.is_host(Ipv4Addr::new(10, 9, 0, 0)));
        assert!(!n.is_host(Ipv4Addr::new(10, 9, 0, 255)));
        assert!(n.is_host(Ipv4Addr::new(10, 9, 0, 254)));
    }

    #[test]
    fn picks_a_free_subnet() {
        let used = [s("172.17.0.0/16"), s("172.18.5.0/24")];
        assert_eq!(
            pick_subnet(&default_pool(), &used),
            Some(s("172.19.0.0/16"))
        );
        let all = default_pool();
        assert_eq!(pick_subnet(&default_pool(), &all), None);
    }

    #[test]
    fn addresses_skip_gateway_and_taken() {
        let n = s("10.5.0.0/29");
        let gw = n.gateway();
        assert_eq!(
            next_address(&n, None, gw, &[]),
            Some(Ipv4Addr::new(10, 5, 0, 2))
        );
        let taken: Vec<Ipv4Addr> = (2..=6).map(|i| Ipv4Addr::new(10, 5, 0, i)).collect();
        assert_eq!(
            next_address(&n, None, gw, &taken),
            None,
            "broadcast is never handed out"
        );
        let range = s("10.5.0.4/30");
        assert_eq!(
            next_address(&n, Some(&range), gw, &[]),
            Some(Ipv4Addr::new(10, 5, 0, 4))
        );
        // A gateway placed inside the range is skipped too.
        assert_eq!(
            next_address(&n, Some(&range), Ipv4Addr::new(10, 5, 0, 4), &[]),
            Some(Ipv4Addr::new(10, 5, 0, 5))
        );
    }

    #[test]
    fn plan_avoids_host_routes_and_other_networks() {
        let others = vec![("a_default".to_string(), s("172.17.0.0/16"))];
        let host = vec![s("172.18.0.0/16"), s("192.0.2.0/24")];
        let p = plan_v4(&PoolRequest::default(), &others, &host).unwrap();
        assert_eq!(p.subnet, s("172.19.0.0/16"));
        assert_eq!(p.gateway, Ipv4Addr::new(172, 19, 0, 1));
        assert_eq!(p.ip_range, None);
    }

    #[test]
    fn a_taken_subnet_names_the_conflict() {
        let others = vec![("a_default".to_string(), s("10.7.0.0/16"))];
        let e = plan_v4(&req(Some("10.7.3.0/24"), None, None), &others, &[]).unwrap_err();
        assert_eq!(
            e,
            "Pool overlaps with other one on this address space: 10.7.3.0/24 overlaps 10.7.0.0/16 of network a_default"
        );
        let e = plan_v4(
            &req(Some("192.0.2.0/25"), None, None),
            &[],
            &[s("192.0.2.0/24")],
        )
        .unwrap_err();
        assert!(e.ends_with("overlaps the host route 192.0.2.0/24"), "{e}");
    }

    #[test]
    fn gateway_and_range_are_checked_against_the_subnet() {
        let p = plan_v4(
            &req(Some("10.8.0.0/16"), Some("10.8.0.254"), Some("10.8.5.0/24")),
            &[],
            &[],
        )
        .unwrap();
        assert_eq!(p.gateway, Ipv4Addr::new(10, 8, 0, 254));
        assert_eq!(p.ip_range, Some(s("10.8.5.0/24")));
        let bad = |g: Option<&str>, r: Option<&str>| {
            plan_v4(&req(Some("10.8.0.0/16"), g, r), &[], &[]).unwrap_err()
        };
        assert_eq!(
            bad(Some("10.9.0.1"), None),
            "gateway 10.9.0.1 is not a host address of subnet 10.8.0.0/16"
        );
        assert!(bad(Some("10.8.0.0"), None).contains("not a host address"));
        assert!(bad(Some("nope"), None).contains("invalid gateway \"nope\""));
        assert_eq!(
            bad(None, Some("10.9.0.0/24")),
            "ip_range 10.9.0.0/24 is not inside subnet 10.8.0.0/16"
        );
        assert!(
            plan_v4(&req(Some("10.8.0.0/31"), None, None), &[], &[])
                .unwrap_err()
                .contains("too small")
        );
        assert!(
            plan_v4(&req(None, Some("10.8.0.1"), None), &[], &[])
                .unwrap_err()
                .contains("need a subnet")
        );
        assert!(
            plan_v4(&req(Some("fd00::/64"), None, None), &[], &[])
                .unwrap_err()
                .contains("invalid subnet")
        );
    }
}
