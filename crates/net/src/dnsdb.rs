//! The records the DNS server answers from, shared between the code that
//! attaches containers (which writes them) and the DNS daemon (which reads
//! them and watches the directory for changes, so it never needs a restart).
//!
//! ```text
//! <root>/networks/dns/networks/<network name>.json   one per berth network
//! <root>/networks/dns/endpoints/<container id>.json  one per attached container
//! ```
//! Writes are atomic (temp + rename), so the daemon never reads half a file.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use berth_store::{Root, StoreError};
use serde::{Deserialize, Serialize};

/// A network the DNS server listens on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsNetwork {
    pub name: String,
    /// Gateway addresses of the network's bridge: where the server listens.
    pub gateways: Vec<IpAddr>,
    /// Internal networks get no forwarding of outside names.
    pub internal: bool,
}

/// A container's names and addresses on its networks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub container_id: String,
    /// Container name (`app-web-1`); answered on every network of the container.
    pub container_name: String,
    pub networks: Vec<EndpointNetwork>,
    /// `dns:` servers of the container, tried before the host's for outside names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_servers: Vec<IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointNetwork {
    pub network: String,
    pub addresses: Vec<IpAddr>,
    /// Extra names on this network: the service name, `aliases`, the hostname.
    pub aliases: Vec<String>,
}

fn dir(root: &Root, kind: &str) -> PathBuf {
    root.networks().join("dns").join(kind)
}

/// Directory the daemon watches (both kinds of records live below it).
pub fn watch_dir(root: &Root) -> PathBuf {
    root.networks().join("dns")
}

fn write<T: Serialize>(dir: PathBuf, name: &str, value: &T) -> Result<(), StoreError> {
    Root::ensure_dir(&dir)?;
    berth_store::write_json(&dir.join(format!("{name}.json")), value)
}

fn remove(path: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StoreError::io(path, e)),
        _ => Ok(()),
    }
}

fn read_all<T: for<'de> Deserialize<'de>>(dir: &Path) -> Result<Vec<T>, StoreError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io(dir, e)),
    };
    let mut out = Vec::new();
    for e in rd {
        let p = e.map_err(|e| StoreError::io(dir, e))?.path();
        if p.extension().is_some_and(|x| x == "json") {
            // A record removed between listing and reading is simply gone.
            if let Some(v) = berth_store::read_json_opt(&p)? {
                out.push(v);
            }
        }
    }
    Ok(out)
}

pub fn put_network(root: &Root, n: &DnsNetwork) -> Result<(), StoreError> {
    write(dir(root, "networks"), &n.name, n)
}

pub fn remove_network(root: &Root, name: &str) -> Result<(), StoreError> {
    remove(&dir(root, "networks").join(format!("{name}.json")))
}

pub fn networks(root: &Root) -> Result<Vec<DnsNetwork>, StoreError> {
    read_all(&dir(root, "networks"))
}

pub fn put_endpoint(root: &Root, e: &Endpoint) -> Result<(), StoreError> {
    write(dir(root, "endpoints"), &e.container_id, e)
}

pub fn remove_endpoint(root: &Root, container_id: &str) -> Result<(), StoreError> {
    remove(&dir(root, "endpoints").join(format!("{container_id}.json")))
}

pub fn endpoints(root: &Root) -> Result<Vec<Endpoint>, StoreError> {
    read_all(&dir(root, "endpoints"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path());
        let n = DnsNetwork {
            name: "app_default".into(),
            gateways: vec!["10.89.0.1".parse().unwrap()],
            internal: false,
        };
        put_network(&root, &n).unwrap();
        let e = Endpoint {
            container_id: "abc".into(),
            container_name: "app-web-1".into(),
            networks: vec![EndpointNetwork {
                network: "app_default".into(),
                addresses: vec!["10.89.0.2".parse().unwrap()],
                aliases: vec!["web".into()],
            }],
            dns_servers: vec![],
        };
        put_endpoint(&root, &e).unwrap();
        assert_eq!(networks(&root).unwrap(), vec![n]);
        assert_eq!(endpoints(&root).unwrap(), vec![e]);
        remove_endpoint(&root, "abc").unwrap();
        remove_endpoint(&root, "abc").unwrap();
        remove_network(&root, "app_default").unwrap();
        assert!(endpoints(&root).unwrap().is_empty() && networks(&root).unwrap().is_empty());
    }
}
