//! What the server answers, as a pure function of the records, who asks, and
//! the question. No sockets here, so every rule is unit-tested.
//!
//! Rules (those of Docker's embedded DNS and aardvark-dns):
//! - names are container names (on every network of the container) and
//!   aliases (on their network), matched case-insensitively;
//! - the requester is recognised by its source address; it sees the names of
//!   every network it is attached to, and a target's addresses on those
//!   networks only. An unknown source (the host itself, say) sees the
//!   network whose gateway it asked;
//! - several containers with one name (replicas) give all their addresses,
//!   rotated on each query for round robin;
//! - reverse (PTR) names of addresses on those networks give the container name;
//! - anything else goes upstream, except for a requester only on internal
//!   networks, which gets NXDOMAIN.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::dnsdb::{DnsNetwork, Endpoint};

use super::wire::{self, CLASS_IN, Question, Rdata, TYPE_A, TYPE_AAAA, TYPE_ANY, TYPE_PTR};

/// Everything the server knows, indexed for lookups; rebuilt on each change.
#[derive(Debug, Default)]
pub struct Records {
    networks: HashMap<String, DnsNetwork>,
    /// Sorted by container name then id, so answers come in a stable order.
    endpoints: Vec<Endpoint>,
    /// Source address → endpoints that own it.
    by_addr: HashMap<IpAddr, Vec<usize>>,
    /// (network, lower-case name) → endpoints with that name on that network.
    by_name: HashMap<(String, String), Vec<usize>>,
}

/// What to do with a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// NOERROR with these answers (empty: the name exists, not with this type).
    Answer(Vec<Rdata>),
    NxDomain,
    /// Not ours: relay upstream. The servers listed (the container's own `dns:`)
    /// come before the host's.
    Forward(Vec<IpAddr>),
    /// The question came to an address that is no network's gateway.
    Refused,
}

impl Records {
    pub fn new(networks: Vec<DnsNetwork>, mut endpoints: Vec<Endpoint>) -> Records {
        endpoints.sort_by(|a, b| {
            (&a.container_name, &a.container_id).cmp(&(&b.container_name, &b.container_id))
        });
        let mut by_addr: HashMap<IpAddr, Vec<usize>> = HashMap::new();
        let mut by_name: HashMap<(String, String), Vec<usize>> = HashMap::new();
        for (i, e) in endpoints.iter().enumerate() {
            for n in &e.networks {
                for a in &n.addresses {
                    push_unique(by_addr.entry(*a).or_default(), i);
                }
                let names = std::iter::once(&e.container_name).chain(&n.aliases);
                for name in names {
                    let key = (n.network.clone(), normalize(name));
                    push_unique(by_name.entry(key).or_default(), i);
                }
            }
        }
        Records {
            networks: networks.into_iter().map(|n| (n.name.clone(), n)).collect(),
            endpoints,
            by_addr,
            by_name,
        }
    }

    /// Every gateway address some network wants the server to listen on.
    pub fn listen_addresses(&self) -> Vec<IpAddr> {
        let mut v: Vec<IpAddr> = self
            .networks
            .values()
            .flat_map(|n| n.gateways.iter().copied())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// The networks whose names `from` sees, and the `dns:` servers of the
    /// requester; `to` is the gateway address the query arrived at.
    fn scope(&self, from: IpAddr, to: IpAddr) -> (Vec<&str>, Vec<IpAddr>) {
        let mut nets: Vec<&str> = Vec::new();
        let mut servers = Vec::new();
        for &i in self.by_addr.get(&from).map(Vec::as_slice).unwrap_or(&[]) {
            let e = &self.endpoints[i];
            for n in &e.networks {
                push_unique(&mut nets, n.network.as_str());
            }
            for s in &e.dns_servers {
                push_unique(&mut servers, *s);
            }
        }
        if nets.is_empty() {
            let mut by_gateway: Vec<&str> = self
                .networks
                .values()
                .filter(|n| n.gateways.contains(&to))
                .map(|n| n.name.as_str())
                .collect();
            by_gateway.sort();
            nets = by_gateway;
        }
        (nets, servers)
    }

    fn is_internal(&self, network: &str) -> bool {
        self.networks.get(network).is_some_and(|n| n.internal)
    }
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

/// Lower case, no trailing dot.
fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Decides the answer to `q` asked by `from` at the listener address `to`.
/// `rotation` (a counter the server bumps per query) rotates replicas.
pub fn resolve(
    records: &Records,
    from: IpAddr,
    to: IpAddr,
    q: &Question,
    rotation: usize,
) -> Outcome {
    let (nets, servers) = records.scope(from, to);
    if nets.is_empty() {
        return Outcome::Refused;
    }
    if q.qclass == CLASS_IN {
        let name = q.name.to_lowercase();
        let local = if q.qtype == TYPE_PTR {
            wire::ptr_address(&name).and_then(|ip| reverse(records, &nets, ip))
        } else {
            lookup(records, &nets, &name, q.qtype, rotation)
        };
        if let Some(answers) = local {
            return Outcome::Answer(answers);
        }
    }
    if nets.iter().all(|n| records.is_internal(n)) {
        Outcome::NxDomain
    } else {
        Outcome::Forward(servers)
    }
}

/// Addresses of `name` on the requester's networks; `None` if no container
/// there has that name.
fn lookup(
    records: &Records,
    nets: &[&str],
    name: &str,
    qtype: u16,
    rotation: usize,
) -> Option<Vec<Rdata>> {
    let mut found = false;
    let mut addrs: Vec<IpAddr> = Vec::new();
    for net in nets {
        let key = (net.to_string(), name.to_string());
        for &i in records.by_name.get(&key).map(Vec::as_slice).unwrap_or(&[]) {
            found = true;
            let e = &records.endpoints[i];
            for n in e.networks.iter().filter(|n| n.network == *net) {
                for a in &n.addresses {
                    push_unique(&mut addrs, *a);
                }
            }
        }
    }
    if !found {
        return None;
    }
    let mut answers: Vec<Rdata> = addrs
        .into_iter()
        .filter_map(|a| match (a, qtype) {
            (IpAddr::V4(v4), TYPE_A | TYPE_ANY) => Some(Rdata::A(v4)),
            (IpAddr::V6(v6), TYPE_AAAA | TYPE_ANY) => Some(Rdata::Aaaa(v6)),
            _ => None,
        })
        .collect();
    if !answers.is_empty() {
        let by = rotation % answers.len();
        answers.rotate_left(by);
    }
    Some(answers)
}

/// The container names owning `ip` on the requester's networks.
fn reverse(records: &Records, nets: &[&str], ip: IpAddr) -> Option<Vec<Rdata>> {
    let mut names = Vec::new();
    for &i in records.by_addr.get(&ip)? {
        let e = &records.endpoints[i];
        let shared = e
            .networks
            .iter()
            .any(|n| nets.contains(&n.network.as_str()) && n.addresses.contains(&ip));
        if shared {
            push_unique(&mut names, Rdata::Ptr(e.container_name.clone()));
        }
    }
    (!names.is_empty()).then_some(names)
}

#[cfg(test)]
#[path = "answer_tests.rs"]
mod tests;
