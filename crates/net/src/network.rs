//! Networks: a Linux bridge with a gateway address, a subnet from IPAM, the
//! firewall rules, and the leases of the containers attached to it, kept in
//! `<root>/networks/<name>.json` under one lock per root.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use berth_store::{FileLock, Root};
use serde::{Deserialize, Serialize};

use crate::attach::Attachment;
use crate::dnsdb;
use crate::firewall;
use crate::ipam::{self, Subnet};
use crate::netlink::{Netlink, index};

/// What the user asked for (Compose's network definition).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkSpec {
    pub name: String,
    pub driver: Option<String>,
    pub driver_opts: BTreeMap<String, String>,
    /// `ipam.config[].subnet`
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub ip_range: Option<String>,
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
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
}

fn err(name: &str, message: impl Into<String>) -> NetError {
    NetError::Network {
        name: name.to_owned(),
        message: message.into(),
    }
}

pub struct Networks {
    root: Root,
}

impl Networks {
    pub fn new(root: &Root) -> Networks {
        Networks { root: root.clone() }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.networks().join(format!("{name}.json"))
    }

    fn lock(&self) -> Result<FileLock, NetError> {
        Ok(FileLock::exclusive(&self.root.networks().join(".lock"))?)
    }

    pub fn get(&self, name: &str) -> Result<Option<Network>, NetError> {
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

    /// Creates the network if it does not exist (bridge, address, rules).
    pub fn ensure(&self, spec: &NetworkSpec) -> Result<Network, NetError> {
        let _l = self.lock()?;
        if let Some(n) = self.get(&spec.name)? {
            // The bridge may be gone (reboot, crash): recreate what is missing.
            if index(&n.bridge).is_err() {
                self.create_bridge(&n)?;
            }
            return Ok(n);
        }
        if let Some(d) = spec.driver.as_deref().filter(|d| *d != "bridge") {
            return Err(err(
                &spec.name,
                format!("driver {d:?} is not supported (berth networks are bridges)"),
            ));
        }
        let others: Vec<Network> = self.list()?;
        let subnet = match &spec.subnet {
            Some(s) => {
                let s = Subnet::parse(s)
                    .ok_or_else(|| err(&spec.name, format!("invalid subnet {s:?}")))?;
                if let Some(o) = others.iter().find(|o| o.subnet.overlaps(&s)) {
                    return Err(err(
                        &spec.name,
                        format!(
                            "Pool overlaps with other one on this address space: {s} overlaps {} of network {}",
                            o.subnet, o.name
                        ),
                    ));
                }
                if let Some(r) = ipam::host_routes().into_iter().find(|r| r.overlaps(&s)) {
                    return Err(err(
                        &spec.name,
                        format!(
                            "Pool overlaps with other one on this address space: {s} overlaps the host route {r}"
                        ),
                    ));
                }
                s
            }
            None => {
                let mut used: Vec<Subnet> = others.iter().map(|o| o.subnet).collect();
                used.extend(ipam::host_routes());
                ipam::pick_subnet(&ipam::default_pool(), &used)
                    .ok_or_else(|| err(&spec.name, "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network"))?
            }
        };
        let gateway = match &spec.gateway {
            Some(g) => g
                .parse()
                .map_err(|_| err(&spec.name, format!("invalid gateway {g:?}")))?,
            None => subnet.gateway(),
        };
        let ip_range = match &spec.ip_range {
            Some(r) => Some(
                Subnet::parse(r)
                    .ok_or_else(|| err(&spec.name, format!("invalid ip_range {r:?}")))?,
            ),
            None => None,
        };
        let mtu = spec
            .driver_opts
            .get("com.docker.network.driver.mtu")
            .and_then(|m| m.parse().ok());
        let id = berth_store::new_id();
        let n = Network {
            bridge: format!("brth{}", &id[..11]),
            id,
            name: spec.name.clone(),
            subnet,
            gateway,
            ip_range,
            internal: spec.internal,
            mtu,
            labels: spec.labels.clone(),
            created: now(),
            leases: BTreeMap::new(),
        };
        Root::ensure_dir(&self.root.networks())?;
        self.create_bridge(&n)?;
        if let Err(e) = berth_store::write_json(&self.path(&n.name), &n) {
            let _ = self.delete_bridge(&n);
            return Err(e.into());
        }
        dnsdb::put_network(
            &self.root,
            &dnsdb::DnsNetwork {
                name: n.name.clone(),
                gateways: vec![IpAddr::V4(n.gateway)],
                internal: n.internal,
            },
        )?;
        Ok(n)
    }

    fn create_bridge(&self, n: &Network) -> Result<(), NetError> {
        let io = |what: &str, e: std::io::Error| err(&n.name, format!("{what} {}: {e}", n.bridge));
        let mut nl = Netlink::open().map_err(|e| io("netlink for", e))?;
        match nl.create_bridge(&n.bridge, n.mtu) {
            Err(e) if e.raw_os_error() != Some(libc::EEXIST) => return Err(io("create bridge", e)),
            _ => {}
        }
        let idx = index(&n.bridge).map_err(|e| io("find bridge", e))?;
        let prefix = n.subnet.prefix;
        match nl.add_address(idx, IpAddr::V4(n.gateway), prefix) {
            Err(e) if e.raw_os_error() != Some(libc::EEXIST) => return Err(io("address of", e)),
            _ => {}
        }
        nl.set_up(idx).map_err(|e| io("set up", e))?;
        firewall::sysctls(&n.bridge).map_err(|e| io("sysctls of", e))?;
        let tag = firewall::network_tag(&n.name);
        firewall::update(
            &|t| t == tag,
            &firewall::network_rules(&n.name, &n.bridge, &n.subnet, n.internal),
        )?;
        Ok(())
    }

    fn delete_bridge(&self, n: &Network) -> Result<(), NetError> {
        let tag = firewall::network_tag(&n.name);
        firewall::update(&|t| t == tag, &[])?;
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

    /// Removes a network: its rules, its bridge, its record. Refused while
    /// containers hold addresses on it.
    pub fn remove(&self, name: &str) -> Result<(), NetError> {
        let _l = self.lock()?;
        let n = self
            .get(name)?
            .ok_or_else(|| NetError::NotFound(name.to_owned()))?;
        if !n.leases.is_empty() {
            return Err(err(
                name,
                format!(
                    "error while removing network: network {name} has active endpoints ({})",
                    n.leases.len()
                ),
            ));
        }
        self.delete_bridge(&n)?;
        dnsdb::remove_network(&self.root, name)?;
        std::fs::remove_file(self.path(name))
            .map_err(|e| berth_store::StoreError::io(self.path(name), e))?;
        Ok(())
    }

    /// Gives `container_id` an address on `network` (the requested one, or
    /// the next free); the same container asking again gets the same lease.
    pub fn allocate(
        &self,
        network: &str,
        container_id: &str,
        requested: Option<Ipv4Addr>,
    ) -> Result<Ipv4Addr, NetError> {
        let _l = self.lock()?;
        let mut n = self
            .get(network)?
            .ok_or_else(|| NetError::NotFound(network.to_owned()))?;
        if let Some(ip) = n.leases.get(container_id) {
            return Ok(*ip);
        }
        let taken: Vec<Ipv4Addr> = n.leases.values().copied().collect();
        let ip = match requested {
            Some(ip) => {
                if !n.subnet.contains(ip) || ip == n.gateway {
                    return Err(err(
                        network,
                        format!("address {ip} is not usable in subnet {}", n.subnet),
                    ));
                }
                if taken.contains(&ip) {
                    return Err(err(network, format!("Address already in use: {ip}")));
                }
                ip
            }
            None => ipam::next_address(&n.subnet, n.ip_range.as_ref(), n.gateway, &taken)
                .ok_or_else(|| err(network, format!("no address left in {}", n.subnet)))?,
        };
        n.leases.insert(container_id.to_owned(), ip);
        berth_store::write_json(&self.path(network), &n)?;
        Ok(ip)
    }

    /// Releases a container's lease (no error if it had none).
    pub fn release(&self, network: &str, container_id: &str) -> Result<(), NetError> {
        let _l = self.lock()?;
        if let Some(mut n) = self.get(network)?
            && n.leases.remove(container_id).is_some()
        {
            berth_store::write_json(&self.path(network), &n)?;
        }
        Ok(())
    }

    /// The attachment of a container with address `ip` on network `n` as its
    /// `position`-th interface.
    pub fn attachment(
        n: &Network,
        container_id: &str,
        position: usize,
        ip: Ipv4Addr,
        default_route: bool,
        mac: Option<String>,
    ) -> Attachment {
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
            addresses: vec![(IpAddr::V4(ip), n.subnet.prefix)],
            gateways: vec![IpAddr::V4(n.gateway)],
            default_route: default_route && !n.internal,
        }
    }
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
