//! Networks: a Linux bridge with gateway addresses, subnets from IPAM, the
//! firewall rules, and the leases of the containers attached to it, kept in
//! `<root>/networks/<name>.json` under one lock per root. Leases are in
//! [`crate::leases`].

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use berth_store::{FileLock, Root};
use serde::{Deserialize, Serialize};

use crate::dnsdb;
use crate::firewall::{self, Family};
use crate::ipam::{self, PoolRequest, Subnet};
use crate::ipam6::{self, Subnet6};
use crate::netlink::{Netlink, index};

/// Docker's driver option for the MTU of a bridge network.
pub const MTU_OPTION: &str = "com.docker.network.driver.mtu";

/// What the user asked for (Compose's network definition).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkSpec {
    pub name: String,
    pub driver: Option<String>,
    pub driver_opts: BTreeMap<String, String>,
    /// `ipam.config[]`: at most one IPv4 and one IPv6 entry, told apart by
    /// their subnet (or gateway).
    pub pools: Vec<PoolRequest>,
    /// `enable_ipv6`
    pub enable_ipv6: bool,
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
}

/// The IPv6 side of a network with `enable_ipv6`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ipv6Net {
    pub subnet: Subnet6,
    pub gateway: Ipv6Addr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<Subnet6>,
    /// container id → address
    #[serde(default)]
    pub leases: BTreeMap<String, Ipv6Addr>,
}

/// A network as it exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub id: String,
    pub name: String,
    pub bridge: String,
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    #[serde(default)]
    pub ip_range: Option<Subnet>,
    pub internal: bool,
    pub mtu: Option<u32>,
    pub labels: BTreeMap<String, String>,
    pub created: String,
    /// container id → address
    #[serde(default)]
    pub leases: BTreeMap<String, Ipv4Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<Ipv6Net>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
}

impl Network {
    /// The gateway addresses on the bridge (IPv4, then IPv6).
    pub fn gateways(&self) -> Vec<IpAddr> {
        let mut v = vec![IpAddr::V4(self.gateway)];
        v.extend(self.ipv6.as_ref().map(|s| IpAddr::V6(s.gateway)));
        v
    }

    /// Families the network has rules in.
    pub fn families(&self) -> Vec<Family> {
        let mut v = vec![Family::V4];
        if self.ipv6.is_some() {
            v.push(Family::V6);
        }
        v
    }

    /// Ids of the containers holding an address on this network.
    pub fn endpoints(&self) -> Vec<String> {
        let mut v: Vec<String> = self.leases.keys().cloned().collect();
        for id in self.ipv6.iter().flat_map(|s| s.leases.keys()) {
            if !v.contains(id) {
                v.push(id.clone());
            }
        }
        v
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error(transparent)]
    Store(#[from] berth_store::StoreError),
    #[error("network {name}: {message}")]
    Network { name: String, message: String },
    #[error(transparent)]
    Firewall(#[from] firewall::FirewallError),
    #[error("network {0} not found")]
    NotFound(String),
    #[error("service {service}: {message}")]
    Ports { service: String, message: String },
}

pub(crate) fn err(name: &str, message: impl Into<String>) -> NetError {
    NetError::Network {
        name: name.to_owned(),
        message: message.into(),
    }
}

/// Splits `ipam.config` entries into the IPv4 one and the IPv6 one.
fn split_pools(spec: &NetworkSpec) -> Result<(PoolRequest, Option<PoolRequest>), NetError> {
    let mut v4: Option<PoolRequest> = None;
    let mut v6: Option<PoolRequest> = None;
    for p in &spec.pools {
        let probe = p.subnet.as_deref().or(p.gateway.as_deref()).unwrap_or("");
        let slot = if probe.contains(':') {
            &mut v6
        } else {
            &mut v4
        };
        if slot.is_some() {
            return Err(err(
                &spec.name,
                format!(
                    "ipam config lists more than one IPv{} pool; berth supports one per address family",
                    if probe.contains(':') { 6 } else { 4 }
                ),
            ));
        }
        *slot = Some(p.clone());
    }
    if let (Some(p), false) = (&v6, spec.enable_ipv6) {
        return Err(err(
            &spec.name,
            format!(
                "ipam config has the IPv6 pool {} but enable_ipv6 is not set",
                p.subnet.as_deref().unwrap_or("(no subnet)")
            ),
        ));
    }
    let v6 = spec.enable_ipv6.then(|| v6.unwrap_or_default());
    Ok((v4.unwrap_or_default(), v6))
}

/// The MTU from `driver_opts`, checked.
fn mtu(spec: &NetworkSpec) -> Result<Option<u32>, NetError> {
    let Some(m) = spec.driver_opts.get(MTU_OPTION) else {
        return Ok(None);
    };
    match m.trim().parse::<u32>() {
        Ok(v) if (68..=65535).contains(&v) => Ok(Some(v)),
        _ => Err(err(
            &spec.name,
            format!("driver_opts {MTU_OPTION}: {m:?} is not an MTU (a number from 68 to 65535)"),
        )),
    }
}

pub struct Networks {
    pub(crate) root: Root,
}

impl Networks {
    pub fn new(root: &Root) -> Networks {
        Networks { root: root.clone() }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.root.networks().join(format!("{name}.json"))
    }

    pub(crate) fn lock(&self) -> Result<FileLock, NetError> {
        Root::ensure_dir(&self.root.networks())?;
        Ok(FileLock::exclusive(&self.root.networks().join(".lock"))?)
    }

    /// Writes a record durably: a lease must not be lost by a power cut
    /// while the container that holds it keeps its address in its config.
    pub(crate) fn save(&self, n: &Network) -> Result<(), NetError> {
        let path = self.path(&n.name);
        let data =
            serde_json::to_vec_pretty(n).map_err(|source| berth_store::StoreError::Json {
                path: path.clone(),
                source,
            })?;
        Ok(berth_store::atomic_write_durable(&path, &data)?)
    }

    pub fn get(&self, name: &str) -> Result<Option<Network>, NetError> {
        if valid_name(name).is_err() {
            return Ok(None);
        }
        Ok(berth_store::read_json_opt(&self.path(name))?)
    }

    pub fn list(&self) -> Result<Vec<Network>, NetError> {
        let dir = self.root.networks();
        let mut out = Vec::new();
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "json")
                    && let Some(n) = berth_store::read_json_opt::<Network>(&p)?
                {
                    out.push(n);
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Creates the network if it does not exist (bridge, addresses, rules).
    /// For one that exists, puts back what is missing (the bridge after a
    /// reboot, rules after a firewall reload), without changing it.
    pub fn ensure(&self, spec: &NetworkSpec) -> Result<Network, NetError> {
        valid_name(&spec.name).map_err(|m| err(&spec.name, m))?;
        let _l = self.lock()?;
        if let Some(n) = self.get(&spec.name)? {
            // Every step is idempotent: this completes a network whose
            // creation was killed half-way, recreates the bridge after a
            // reboot, and puts back rules a firewall reload flushed.
            self.create_bridge(&n)?;
            return Ok(n);
        }
        if let Some(d) = spec.driver.as_deref().filter(|d| *d != "bridge") {
            return Err(err(
                &spec.name,
                format!("driver {d:?} is not supported (berth networks are bridges)"),
            ));
        }
        let (pool4, pool6) = split_pools(spec)?;
        let mtu = mtu(spec)?;
        let others = self.list()?;
        let used4: Vec<(String, Subnet)> =
            others.iter().map(|o| (o.name.clone(), o.subnet)).collect();
        let p4 =
            ipam::plan_v4(&pool4, &used4, &ipam::host_routes()).map_err(|m| err(&spec.name, m))?;
        let ipv6 = match pool6 {
            None => None,
            Some(pool6) => {
                let used6: Vec<(String, Subnet6)> = others
                    .iter()
                    .filter_map(|o| o.ipv6.as_ref().map(|s| (o.name.clone(), s.subnet)))
                    .collect();
                let p6 = ipam6::plan_v6(
                    &pool6,
                    &used6,
                    &ipam6::host_routes(),
                    &ipam6::host_ula_prefix(),
                )
                .map_err(|m| err(&spec.name, m))?;
                Some(Ipv6Net {
                    subnet: p6.subnet,
                    gateway: p6.gateway,
                    ip_range: p6.ip_range,
                    leases: BTreeMap::new(),
                })
            }
        };
        let id = berth_store::new_id();
        let n = Network {
            bridge: format!("brth{}", &id[..11]),
            id,
            name: spec.name.clone(),
            subnet: p4.subnet,
            gateway: p4.gateway,
            ip_range: p4.ip_range,
            internal: spec.internal,
            mtu,
            labels: spec.labels.clone(),
            created: now(),
            leases: BTreeMap::new(),
            ipv6,
            driver_opts: spec.driver_opts.clone(),
        };
        // The record first: a process killed while the bridge is being set
        // up leaves a record that the next `ensure` completes (or `remove`
        // cleans up), never a bridge that no record knows.
        let made = self
            .save(&n)
            .and_then(|()| {
                Ok(dnsdb::put_network(
                    &self.root,
                    &dnsdb::DnsNetwork {
                        name: n.name.clone(),
                        gateways: n.gateways(),
                        internal: n.internal,
                    },
                )?)
            })
            .and_then(|()| self.create_bridge(&n));
        if let Err(e) = made {
            let _ = self.delete_bridge(&n);
            let _ = dnsdb::remove_network(&self.root, &n.name);
            let _ = std::fs::remove_file(self.path(&n.name));
            return Err(e);
        }
        Ok(n)
    }

    fn apply_rules(&self, n: &Network) -> Result<(), NetError> {
        let tag = firewall::network_tag(&n.name);
        let mut rules = firewall::network_rules(
            Family::V4,
            &n.name,
            &n.bridge,
            &n.subnet.to_string(),
            n.internal,
        );
        if let Some(v6) = &n.ipv6 {
            rules.extend(firewall::network_rules(
                Family::V6,
                &n.name,
                &n.bridge,
                &v6.subnet.to_string(),
                n.internal,
            ));
        }
        firewall::update(&n.families(), &|t| t == tag, &rules)?;
        Ok(())
    }

    fn create_bridge(&self, n: &Network) -> Result<(), NetError> {
        let io = |what: &str, e: std::io::Error| err(&n.name, format!("{what} {}: {e}", n.bridge));
        let mut nl = Netlink::open().map_err(|e| io("netlink for", e))?;
        match nl.create_bridge(&n.bridge, n.mtu, Some(bridge_mac(&n.id))) {
            Err(e) if e.raw_os_error() != Some(libc::EEXIST) => return Err(io("create bridge", e)),
            _ => {}
        }
        let idx = index(&n.bridge).map_err(|e| io("find bridge", e))?;
        // Before any address: IPv6 must be on, and must not autoconfigure.
        firewall::sysctls(&n.bridge, n.ipv6.is_some()).map_err(|e| io("sysctls of", e))?;
        let mut addrs = vec![(IpAddr::V4(n.gateway), n.subnet.prefix)];
        if let Some(v6) = &n.ipv6 {
            addrs.push((IpAddr::V6(v6.gateway), v6.subnet.prefix));
        }
        for (ip, prefix) in addrs {
            match nl.add_address(idx, ip, prefix) {
                Err(e) if e.raw_os_error() != Some(libc::EEXIST) => {
                    return Err(io(&format!("address {ip}/{prefix} of"), e));
                }
                _ => {}
            }
        }
        nl.set_up(idx).map_err(|e| io("set up", e))?;
        self.apply_rules(n)
    }

    fn delete_bridge(&self, n: &Network) -> Result<(), NetError> {
        // Rules first, bridge last: no moment where rules point at nothing
        // that could be recreated under the same name by someone else.
        let tag = firewall::network_tag(&n.name);
        firewall::update(&n.families(), &|t| t == tag, &[])?;
        if let Ok(mut nl) = Netlink::open() {
            match nl.delete_link(&n.bridge) {
                Err(e) if e.raw_os_error() != Some(libc::ENODEV) => {
                    return Err(err(&n.name, format!("delete bridge {}: {e}", n.bridge)));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Removes a network: its rules, its bridge, its records. Refused while
    /// containers hold addresses on it.
    pub fn remove(&self, name: &str) -> Result<(), NetError> {
        let _l = self.lock()?;
        let n = self
            .get(name)?
            .ok_or_else(|| NetError::NotFound(name.to_owned()))?;
        let endpoints = n.endpoints();
        if !endpoints.is_empty() {
            return Err(err(
                name,
                format!(
                    "error while removing network: network {name} id {} has active endpoints ({})",
                    n.id,
                    endpoints.len()
                ),
            ));
        }
        self.delete_bridge(&n)?;
        dnsdb::remove_network(&self.root, name)?;
        std::fs::remove_file(self.path(name))
            .map_err(|e| berth_store::StoreError::io(self.path(name), e))?;
        Ok(())
    }
}

/// Docker's rule for network names; it also keeps them usable as file
/// names and iptables comments.
fn valid_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && name.len() <= 200;
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid network name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        ))
    }
}

/// A fixed, locally administered MAC for a bridge. Without one the bridge
/// takes the lowest MAC of its ports, which changes as containers come and
/// go and leaves the others with stale ARP entries for a while.
fn bridge_mac(id: &str) -> [u8; 6] {
    let mut mac = [0x02, 0, 0, 0, 0, 0];
    for (i, b) in mac.iter_mut().enumerate().skip(1) {
        *b = id
            .get(2 * i - 2..2 * i)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(i as u8);
    }
    mac
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(pools: Vec<PoolRequest>, v6: bool) -> NetworkSpec {
        NetworkSpec {
            name: "n".into(),
            pools,
            enable_ipv6: v6,
            ..Default::default()
        }
    }

    fn pool(subnet: &str) -> PoolRequest {
        PoolRequest {
            subnet: Some(subnet.into()),
            ..Default::default()
        }
    }

    #[test]
    fn pools_are_told_apart_by_family() {
        let (v4, v6) =
            split_pools(&spec(vec![pool("fd00:1::/64"), pool("10.1.0.0/24")], true)).unwrap();
        assert_eq!(v4.subnet.as_deref(), Some("10.1.0.0/24"));
        assert_eq!(v6.unwrap().subnet.as_deref(), Some("fd00:1::/64"));
        let (v4, v6) = split_pools(&spec(vec![], true)).unwrap();
        assert_eq!(
            (v4, v6),
            (PoolRequest::default(), Some(PoolRequest::default()))
        );
        assert_eq!(split_pools(&spec(vec![], false)).unwrap().1, None);
        let e = split_pools(&spec(vec![pool("fd00:1::/64")], false))
            .unwrap_err()
            .to_string();
        assert!(e.contains("enable_ipv6 is not set"), "{e}");
        let e = split_pools(&spec(vec![pool("10.1.0.0/24"), pool("10.2.0.0/24")], false))
            .unwrap_err()
            .to_string();
        assert!(e.contains("more than one IPv4 pool"), "{e}");
    }

    #[test]
    fn mtu_option_is_checked() {
        let with = |v: &str| NetworkSpec {
            name: "n".into(),
            driver_opts: [(MTU_OPTION.to_string(), v.to_string())].into(),
            ..Default::default()
        };
        assert_eq!(mtu(&with("1400")).unwrap(), Some(1400));
        assert_eq!(mtu(&NetworkSpec::default()).unwrap(), None);
        let e = mtu(&with("big")).unwrap_err().to_string();
        assert!(e.contains(MTU_OPTION) && e.contains("\"big\""), "{e}");
        assert!(mtu(&with("20")).is_err());
    }

    #[test]
    fn network_names_are_checked() {
        assert!(valid_name("myapp_default").is_ok());
        assert!(valid_name("a.b-c_1").is_ok());
        for bad in ["", "_x", "../etc", "a b", "a/b", "a\"b"] {
            assert!(valid_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bridge_macs_are_local_unicast_and_stable() {
        let m = bridge_mac("a1b2c3d4e5f60718");
        assert_eq!(m, [0x02, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5]);
        assert_eq!(m[0] & 0x03, 0x02, "locally administered, unicast");
    }

    #[test]
    fn old_records_without_ipv6_still_load() {
        let old = r#"{"id":"x","name":"n","bridge":"brthx","subnet":{"addr":"10.1.0.0","prefix":24},
            "gateway":"10.1.0.1","internal":false,"mtu":null,"labels":{},"created":"","leases":{}}"#;
        let n: Network = serde_json::from_str(old).unwrap();
        assert!(n.ipv6.is_none());
        assert_eq!(n.families(), vec![Family::V4]);
    }
}
