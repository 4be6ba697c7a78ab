//! Addresses of containers on networks. A lease is written (durably, under
//! the root's network lock) before the container that holds it exists, and
//! released after it is gone, so no address is ever handed out twice: not
//! to two containers at once, nor after a crash left a container running.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::attach::Attachment;
use crate::ipam;
use crate::ipam6;
use crate::network::{NetError, Network, Networks, err};

/// A container's addresses on one network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub ipv4: Ipv4Addr,
    /// Only on networks with `enable_ipv6`.
    pub ipv6: Option<Ipv6Addr>,
}

impl Networks {
    /// Gives `container_id` addresses on `network`: the requested ones
    /// (`ipv4_address`, `ipv6_address`) or the next free. The same
    /// container asking again gets the same lease.
    pub fn lease(
        &self,
        network: &str,
        container_id: &str,
        ipv4: Option<Ipv4Addr>,
        ipv6: Option<Ipv6Addr>,
    ) -> Result<Lease, NetError> {
        let mut one = self.lease_many(network, &[(container_id.to_owned(), ipv4, ipv6)])?;
        Ok(one.remove(0))
    }

    /// [`Networks::lease`] for IPv4 alone.
    pub fn allocate(
        &self,
        network: &str,
        container_id: &str,
        requested: Option<Ipv4Addr>,
    ) -> Result<Ipv4Addr, NetError> {
        Ok(self.lease(network, container_id, requested, None)?.ipv4)
    }

    /// Releases a container's leases (no error if it had none).
    pub fn release(&self, network: &str, container_id: &str) -> Result<(), NetError> {
        self.release_many(network, &[container_id.to_owned()])
    }

    /// [`Networks::lease`] for many containers at once, with one durable
    /// write: `up` leases for every container it is about to create
    /// together. Each request is (container id, ipv4, ipv6); the leases come
    /// back in the same order. All or nothing.
    pub fn lease_many(
        &self,
        network: &str,
        requests: &[(String, Option<Ipv4Addr>, Option<Ipv6Addr>)],
    ) -> Result<Vec<Lease>, NetError> {
        let _l = self.lock()?;
        let mut n = self
            .get(network)?
            .ok_or_else(|| NetError::NotFound(network.to_owned()))?;
        let mut out = Vec::with_capacity(requests.len());
        let mut changed = false;
        for (id, ipv4, ipv6) in requests {
            let v4 = match n.leases.get(id) {
                Some(ip) => *ip,
                None => pick_v4(&n, *ipv4)?,
            };
            let v6 = match &n.ipv6 {
                None if ipv6.is_some() => {
                    return Err(err(
                        network,
                        "ipv6_address is set, but the network has no IPv6 (enable_ipv6)",
                    ));
                }
                None => None,
                Some(s) => Some(match s.leases.get(id) {
                    Some(ip) => *ip,
                    None => pick_v6(&n, *ipv6)?,
                }),
            };
            changed |= n.leases.insert(id.clone(), v4) != Some(v4);
            if let (Some(s), Some(ip)) = (&mut n.ipv6, v6) {
                changed |= s.leases.insert(id.clone(), ip) != Some(ip);
            }
            out.push(Lease { ipv4: v4, ipv6: v6 });
        }
        if changed {
            self.save(&n)?;
        }
        Ok(out)
    }

    /// [`Networks::release`] for many containers at once, one write.
    pub fn release_many(&self, network: &str, container_ids: &[String]) -> Result<(), NetError> {
        let _l = self.lock()?;
        if let Some(mut n) = self.get(network)? {
            let mut changed = false;
            for id in container_ids {
                changed |= n.leases.remove(id).is_some();
                if let Some(s) = &mut n.ipv6 {
                    changed |= s.leases.remove(id).is_some();
                }
            }
            if changed {
                self.save(&n)?;
            }
        }
        Ok(())
    }

    /// Releases the leases of containers that no longer exist (`exists`
    /// says which do): what a crash between leasing and creating a
    /// container leaves behind. Returns (network, container id) released.
    pub fn reclaim(
        &self,
        exists: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<(String, String)>, NetError> {
        let _l = self.lock()?;
        let mut out = Vec::new();
        for mut n in self.list()? {
            let stale: Vec<String> = n.endpoints().into_iter().filter(|id| !exists(id)).collect();
            if stale.is_empty() {
                continue;
            }
            for id in stale {
                n.leases.remove(&id);
                if let Some(s) = &mut n.ipv6 {
                    s.leases.remove(&id);
                }
                out.push((n.name.clone(), id));
            }
            self.save(&n)?;
        }
        Ok(out)
    }

    /// The attachment of a container with `lease` on network `n` as its
    /// `position`-th interface (`eth<position>`).
    pub fn attachment_for(
        n: &Network,
        container_id: &str,
        position: usize,
        lease: &Lease,
        default_route: bool,
        mac: Option<String>,
    ) -> Attachment {
        let mut addresses = vec![(IpAddr::V4(lease.ipv4), n.subnet.prefix)];
        let mut gateways = vec![IpAddr::V4(n.gateway)];
        if let (Some(s), Some(ip)) = (&n.ipv6, lease.ipv6) {
            addresses.push((IpAddr::V6(ip), s.subnet.prefix));
            gateways.push(IpAddr::V6(s.gateway));
        }
        Attachment {
            network: n.name.clone(),
            bridge: n.bridge.clone(),
            host_ifname: format!(
                "vb{}{position}",
                &container_id[..10.min(container_id.len())]
            ),
            ifname: format!("eth{position}"),
            mac,
            mtu: n.mtu,
            addresses,
            gateways,
            default_route: default_route && !n.internal,
        }
    }

    /// [`Networks::attachment_for`] with an IPv4 address alone.
    pub fn attachment(
        n: &Network,
        container_id: &str,
        position: usize,
        ip: Ipv4Addr,
        default_route: bool,
        mac: Option<String>,
    ) -> Attachment {
        let lease = Lease {
            ipv4: ip,
            ipv6: None,
        };
        Self::attachment_for(n, container_id, position, &lease, default_route, mac)
    }
}

fn pick_v4(n: &Network, requested: Option<Ipv4Addr>) -> Result<Ipv4Addr, NetError> {
    let taken: Vec<Ipv4Addr> = n.leases.values().copied().collect();
    match requested {
        Some(ip) => {
            if !n.subnet.is_host(ip) || ip == n.gateway {
                return Err(err(
                    &n.name,
                    format!(
                        "ipv4_address {ip} is not usable in subnet {} (gateway {})",
                        n.subnet, n.gateway
                    ),
                ));
            }
            if taken.contains(&ip) {
                return Err(err(&n.name, format!("Address already in use: {ip}")));
            }
            Ok(ip)
        }
        None => {
            ipam::next_address(&n.subnet, n.ip_range.as_ref(), n.gateway, &taken).ok_or_else(|| {
                err(
                    &n.name,
                    format!("no IPv4 address left in {}", n.ip_range.unwrap_or(n.subnet)),
                )
            })
        }
    }
}

fn pick_v6(n: &Network, requested: Option<Ipv6Addr>) -> Result<Ipv6Addr, NetError> {
    let s = n.ipv6.as_ref().expect("caller checked");
    let taken: Vec<Ipv6Addr> = s.leases.values().copied().collect();
    match requested {
        Some(ip) => {
            if !s.subnet.is_host(ip) || ip == s.gateway {
                return Err(err(
                    &n.name,
                    format!(
                        "ipv6_address {ip} is not usable in subnet {} (gateway {})",
                        s.subnet, s.gateway
                    ),
                ));
            }
            if taken.contains(&ip) {
                return Err(err(&n.name, format!("Address already in use: {ip}")));
            }
            Ok(ip)
        }
        None => ipam6::next_address(&s.subnet, s.ip_range.as_ref(), s.gateway, &taken)
            .ok_or_else(|| err(&n.name, format!("no IPv6 address left in {}", s.subnet))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipam::Subnet;
    use crate::ipam6::Subnet6;
    use crate::network::Ipv6Net;
    use berth_store::Root;

    /// A network record written directly (no bridge: leases are pure
    /// bookkeeping, no root needed).
    fn record(nets: &Networks, name: &str, v6: bool) -> Network {
        let n = Network {
            id: "0123456789abcdef".into(),
            name: name.into(),
            bridge: "brthtest".into(),
            subnet: Subnet::parse("10.44.0.0/29").unwrap(),
            gateway: "10.44.0.1".parse().unwrap(),
            ip_range: None,
            internal: false,
            mtu: Some(1400),
            labels: Default::default(),
            created: String::new(),
            leases: Default::default(),
            ipv6: v6.then(|| Ipv6Net {
                subnet: Subnet6::parse("fd00:44::/64").unwrap(),
                gateway: "fd00:44::1".parse().unwrap(),
                ip_range: None,
                leases: Default::default(),
            }),
            driver_opts: Default::default(),
        };
        berth_store::Root::ensure_dir(&nets.root.networks()).unwrap();
        nets.save(&n).unwrap();
        n
    }

    #[test]
    fn leases_are_unique_persisted_and_released() {
        let tmp = tempfile::tempdir().unwrap();
        let nets = Networks::new(&Root::new(tmp.path()));
        record(&nets, "n", true);
        let a = nets.lease("n", "a", None, None).unwrap();
        assert_eq!(a.ipv4, "10.44.0.2".parse::<Ipv4Addr>().unwrap());
        assert_eq!(a.ipv6, Some("fd00:44::2".parse().unwrap()));
        assert_eq!(
            nets.lease("n", "a", None, None).unwrap(),
            a,
            "same container, same lease"
        );
        // A second handle (another berth command) sees the persisted leases.
        let other = Networks::new(&Root::new(tmp.path()));
        let b = other.lease("n", "b", None, None).unwrap();
        assert_ne!(b.ipv4, a.ipv4);
        assert_ne!(b.ipv6, a.ipv6);
        let e = other
            .lease("n", "c", Some(a.ipv4), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("Address already in use: 10.44.0.2"), "{e}");
        let e = other.lease("n", "c", None, a.ipv6).unwrap_err().to_string();
        assert!(e.contains("Address already in use: fd00:44::2"), "{e}");
        for bad in ["10.44.0.0", "10.44.0.1", "10.44.0.7", "10.45.0.2"] {
            let e = nets
                .lease("n", "c", Some(bad.parse().unwrap()), None)
                .unwrap_err();
            assert!(e.to_string().contains("is not usable"), "{bad}: {e}");
        }
        // The /29 holds 5 containers; the sixth is refused, nothing half-leased.
        for id in ["c", "d", "e"] {
            nets.lease("n", id, None, None).unwrap();
        }
        let e = nets.lease("n", "f", None, None).unwrap_err().to_string();
        assert!(e.contains("no IPv4 address left in 10.44.0.0/29"), "{e}");
        assert!(
            !nets
                .get("n")
                .unwrap()
                .unwrap()
                .endpoints()
                .contains(&"f".to_string())
        );
        nets.release("n", "a").unwrap();
        nets.release("n", "a").unwrap();
        let f = nets.lease("n", "f", None, None).unwrap();
        assert_eq!(f, a, "a released address is reused");
    }

    #[test]
    fn many_leases_in_one_write() {
        let tmp = tempfile::tempdir().unwrap();
        let nets = Networks::new(&Root::new(tmp.path()));
        record(&nets, "n", false);
        let first = nets.lease("n", "a", None, None).unwrap();
        let reqs: Vec<(String, Option<Ipv4Addr>, Option<Ipv6Addr>)> = vec![
            ("a".into(), None, None),
            ("b".into(), None, None),
            ("c".into(), Some("10.44.0.6".parse().unwrap()), None),
        ];
        let got = nets.lease_many("n", &reqs).unwrap();
        assert_eq!(got[0], first, "a keeps its lease");
        assert_eq!(got[1].ipv4, "10.44.0.3".parse::<Ipv4Addr>().unwrap());
        assert_eq!(got[2].ipv4, "10.44.0.6".parse::<Ipv4Addr>().unwrap());
        // All or nothing: one bad request leases none of the others.
        let bad = vec![
            ("d".to_string(), None, None),
            ("e".to_string(), Some("10.44.0.6".parse().unwrap()), None),
        ];
        assert!(nets.lease_many("n", &bad).is_err());
        let n = nets.get("n").unwrap().unwrap();
        assert!(!n.endpoints().contains(&"d".to_string()));
        nets.release_many("n", &["a".into(), "b".into(), "nope".into()])
            .unwrap();
        let n = nets.get("n").unwrap().unwrap();
        assert_eq!(n.endpoints(), vec!["c".to_string()]);
    }

    #[test]
    fn stale_leases_are_reclaimed_and_static_v6_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let nets = Networks::new(&Root::new(tmp.path()));
        record(&nets, "n", true);
        record(&nets, "v4only", false);
        nets.lease("n", "live", None, None).unwrap();
        nets.lease("n", "dead", None, Some("fd00:44::99".parse().unwrap()))
            .unwrap();
        nets.lease("v4only", "dead", None, None).unwrap();
        let e = nets
            .lease("v4only", "x", None, Some("fd00:44::5".parse().unwrap()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no IPv6"), "{e}");
        let got = nets.reclaim(&|id| id == "live").unwrap();
        assert_eq!(
            got,
            vec![
                ("n".to_string(), "dead".to_string()),
                ("v4only".to_string(), "dead".to_string())
            ]
        );
        assert_eq!(nets.get("n").unwrap().unwrap().endpoints(), vec!["live"]);
        assert!(nets.get("v4only").unwrap().unwrap().endpoints().is_empty());
    }

    #[test]
    fn attachments_carry_both_families_and_no_route_on_internal() {
        let tmp = tempfile::tempdir().unwrap();
        let nets = Networks::new(&Root::new(tmp.path()));
        let mut n = record(&nets, "n", true);
        let lease = Lease {
            ipv4: "10.44.0.2".parse().unwrap(),
            ipv6: Some("fd00:44::2".parse().unwrap()),
        };
        let a = Networks::attachment_for(&n, "abcdefghijklmnop", 1, &lease, true, None);
        assert_eq!(a.ifname, "eth1");
        assert_eq!(a.host_ifname, "vbabcdefghij1");
        assert!(a.host_ifname.len() <= 15);
        assert_eq!(a.mtu, Some(1400));
        assert_eq!(a.addresses.len(), 2);
        assert_eq!(
            a.gateways,
            vec![IpAddr::V4(n.gateway), "fd00:44::1".parse().unwrap()]
        );
        assert!(a.default_route);
        n.internal = true;
        assert!(!Networks::attachment_for(&n, "abc", 0, &lease, true, None).default_route);
    }
}
