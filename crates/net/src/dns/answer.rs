//! Who gets which answer: names are scoped to the networks the asking
//! container shares with the target (aardvark-dns's rule), replicas of a
//! service all answer (rotated for round robin), unknown names go upstream
//! unless the asker is only on internal networks.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::dnsdb::{DnsNetwork, Endpoint};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Addresses(Vec<IpAddr>),
    Names(Vec<String>),
    NxDomain,
    Forward,
}

/// Everything the server answers from.
#[derive(Debug, Clone, Default)]
pub struct Records {
    pub networks: Vec<DnsNetwork>,
    pub endpoints: Vec<Endpoint>,
}

impl Records {
    /// The networks of the container that has address `src`; if none does,
    /// the network whose gateway `listener` was asked.
    pub fn networks_of(&self, src: IpAddr, listener: IpAddr) -> BTreeSet<&str> {
        let mut nets: BTreeSet<&str> = BTreeSet::new();
        for e in &self.endpoints {
            if e.networks.iter().any(|n| n.addresses.contains(&src)) {
                nets.extend(e.networks.iter().map(|n| n.network.as_str()));
            }
        }
        if nets.is_empty() {
            nets.extend(
                self.networks
                    .iter()
                    .filter(|n| n.gateways.contains(&listener))
                    .map(|n| n.name.as_str()),
            );
        }
        nets
    }

    /// The answer for `name` (`qptr`: a reverse lookup) asked by `src`.
    pub fn lookup(
        &self,
        name: &str,
        ptr: Option<IpAddr>,
        src: IpAddr,
        listener: IpAddr,
        rotate: usize,
    ) -> Reply {
        let nets = self.networks_of(src, listener);
        if let Some(ip) = ptr {
            let names: Vec<String> = self
                .endpoints
                .iter()
                .flat_map(|e| {
                    e.networks
                        .iter()
                        .filter(|n| nets.contains(n.network.as_str()) && n.addresses.contains(&ip))
                        .map(move |_| e.container_name.clone())
                })
                .collect();
            return if names.is_empty() {
                self.miss(&nets)
            } else {
                Reply::Names(names)
            };
        }
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let mut ips: Vec<IpAddr> = Vec::new();
        for e in &self.endpoints {
            for n in e
                .networks
                .iter()
                .filter(|n| nets.contains(n.network.as_str()))
            {
                let hit = e.container_name.eq_ignore_ascii_case(&name)
                    || n.aliases.iter().any(|a| a.eq_ignore_ascii_case(&name));
                if hit {
                    ips.extend(n.addresses.iter().copied());
                }
            }
        }
        ips.sort();
        ips.dedup();
        if ips.is_empty() {
            return self.miss(&nets);
        }
        let k = rotate % ips.len();
        ips.rotate_left(k);
        Reply::Addresses(ips)
    }

    fn miss(&self, nets: &BTreeSet<&str>) -> Reply {
        let only_internal = !nets.is_empty()
            && self
                .networks
                .iter()
                .filter(|n| nets.contains(n.name.as_str()))
                .all(|n| n.internal);
        if only_internal {
            Reply::NxDomain
        } else {
            Reply::Forward
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dnsdb::EndpointNetwork;

    fn ep(name: &str, net: &str, ip: &str, aliases: &[&str]) -> Endpoint {
        Endpoint {
            container_id: name.into(),
            container_name: name.into(),
            networks: vec![EndpointNetwork {
                network: net.into(),
                addresses: vec![ip.parse().unwrap()],
                aliases: aliases.iter().map(|a| a.to_string()).collect(),
            }],
            dns_servers: vec![],
        }
    }

    fn records() -> Records {
        Records {
            networks: vec![
                DnsNetwork {
                    name: "front".into(),
                    gateways: vec!["10.1.0.1".parse().unwrap()],
                    internal: false,
                },
                DnsNetwork {
                    name: "back".into(),
                    gateways: vec!["10.2.0.1".parse().unwrap()],
                    internal: true,
                },
            ],
            endpoints: vec![
                ep("app-web-1", "front", "10.1.0.2", &["web"]),
                ep("app-web-2", "front", "10.1.0.3", &["web"]),
                ep("app-db-1", "back", "10.2.0.2", &["db", "database"]),
            ],
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn names_aliases_and_replicas() {
        let r = records();
        let src = ip("10.1.0.2");
        let gw = ip("10.1.0.1");
        assert_eq!(
            r.lookup("app-web-2", None, src, gw, 0),
            Reply::Addresses(vec![ip("10.1.0.3")])
        );
        assert_eq!(
            r.lookup("WEB.", None, src, gw, 0),
            Reply::Addresses(vec![ip("10.1.0.2"), ip("10.1.0.3")])
        );
        assert_eq!(
            r.lookup("web", None, src, gw, 1),
            Reply::Addresses(vec![ip("10.1.0.3"), ip("10.1.0.2")]),
            "round robin"
        );
        assert_eq!(
            r.lookup("app-web-1", Some(ip("10.1.0.2")), src, gw, 0),
            Reply::Names(vec!["app-web-1".into()])
        );
    }

    #[test]
    fn scoped_to_shared_networks() {
        let r = records();
        assert_eq!(
            r.lookup("db", None, ip("10.1.0.2"), ip("10.1.0.1"), 0),
            Reply::Forward,
            "db is on another network"
        );
        assert_eq!(
            r.lookup("database", None, ip("10.2.0.2"), ip("10.2.0.1"), 0),
            Reply::Addresses(vec![ip("10.2.0.2")])
        );
        assert_eq!(
            r.lookup("example.com", None, ip("10.2.0.2"), ip("10.2.0.1"), 0),
            Reply::NxDomain,
            "internal networks do not forward"
        );
        assert_eq!(
            r.lookup("web", None, ip("10.1.0.99"), ip("10.1.0.1"), 0),
            Reply::Addresses(vec![ip("10.1.0.2"), ip("10.1.0.3")]),
            "unknown source: the listener's network"
        );
    }
}
