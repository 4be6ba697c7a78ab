//! Address management: which subnet a new network gets, and which address a
//! container gets in it. Pure functions over what is in use; the network
//! records hold the leases.

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

    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.first() <= other.last() && other.first() <= self.last()
    }

    /// The first host address, Docker's default gateway.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.first() + 1)
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

    #[test]
    fn subnets() {
        assert_eq!(s("10.1.2.3/24").to_string(), "10.1.2.0/24");
        assert!(s("10.0.0.0/8").overlaps(&s("10.1.0.0/16")));
        assert!(!s("10.0.0.0/16").overlaps(&s("10.1.0.0/16")));
        assert_eq!(s("172.18.0.0/16").gateway(), Ipv4Addr::new(172, 18, 0, 1));
        assert!(Subnet::parse("10.0.0.0/33").is_none());
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
    }
}
