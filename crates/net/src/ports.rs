//! Published ports: DNAT rules from the host's port to a container's, and a
//! record per container (`<root>/networks/ports/<id>.json`) that `port` and
//! `ps` read. A port already used on the host, or published by another
//! container, is refused with a message naming it and the service, before
//! anything is changed.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};
use std::path::PathBuf;

use berth_store::{FileLock, Root};

use crate::firewall::{self, Published};
use crate::network::NetError;

/// One `ports:` entry of a service, as Compose normalises it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRequest {
    /// Host address; `None` = the default (0.0.0.0, or `BERTH_DEFAULT_HOST_IP`).
    pub host_ip: Option<String>,
    /// Host port range (`start == end` for one port); `None` = ephemeral.
    pub host_ports: Option<(u16, u16)>,
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
}

/// The host address used when a port names none: 0.0.0.0 as in Compose,
/// or `BERTH_DEFAULT_HOST_IP` (like Docker's daemon `ip` option).
pub fn default_host_ip() -> String {
    std::env::var("BERTH_DEFAULT_HOST_IP")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "0.0.0.0".into())
}

fn dir(root: &Root) -> PathBuf {
    root.networks().join("ports")
}

/// Every published port of every container of this root.
pub fn all(root: &Root) -> Result<Vec<(String, Vec<Published>)>, NetError> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir(root)) {
        for e in rd.flatten() {
            let file = e.file_name().to_string_lossy().into_owned();
            let Some(name) = file.strip_suffix(".json").map(str::to_owned) else {
                continue;
            };
            if let Some(p) = berth_store::read_json_opt::<Vec<Published>>(&e.path())? {
                out.push((name, p));
            }
        }
    }
    Ok(out)
}

/// The ports published for a container.
pub fn published(root: &Root, container_id: &str) -> Result<Vec<Published>, NetError> {
    Ok(
        berth_store::read_json_opt(&dir(root).join(format!("{container_id}.json")))?
            .unwrap_or_default(),
    )
}

fn free(ip: &str, port: u16, proto: &str) -> Option<u16> {
    let ip: Ipv4Addr = ip.parse().ok()?;
    let addr = SocketAddrV4::new(ip, port);
    if proto == "udp" {
        UdpSocket::bind(addr)
            .ok()?
            .local_addr()
            .ok()
            .map(|a| a.port())
    } else {
        TcpListener::bind(addr)
            .ok()?
            .local_addr()
            .ok()
            .map(|a| a.port())
    }
}

/// Publishes `requests` for a container at `container_ip`; `service` names
/// it in errors. Returns the ports chosen (ephemeral ones included).
pub fn publish(
    root: &Root,
    container_id: &str,
    service: &str,
    container_ip: Ipv4Addr,
    requests: &[PortRequest],
) -> Result<Vec<Published>, NetError> {
    if requests.is_empty() {
        return Ok(Vec::new());
    }
    Root::ensure_dir(&dir(root))?;
    let _l = FileLock::exclusive(&dir(root).join(".lock"))?;
    let taken: Vec<Published> = all(root)?
        .into_iter()
        .filter(|(id, _)| id != container_id)
        .flat_map(|(_, p)| p)
        .collect();
    let conflict = |ip: &str, port: u16, proto: &str, chosen: &[Published]| {
        taken.iter().chain(chosen).any(|p| {
            p.host_port == port
                && p.protocol == proto
                && (p.host_ip == ip || p.host_ip == "0.0.0.0" || ip == "0.0.0.0")
        })
    };
    let mut chosen: Vec<Published> = Vec::new();
    for r in requests {
        let ip = r
            .host_ip
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(default_host_ip);
        let fail = |port: String| NetError::Network {
            name: service.to_owned(),
            message: format!(
                "Bind for {ip}:{port} failed: port is already allocated (service {service})"
            ),
        };
        let port = match r.host_ports {
            None => loop {
                let p = free(&ip, 0, &r.protocol).ok_or_else(|| fail("0".into()))?;
                if !conflict(&ip, p, &r.protocol, &chosen) {
                    break p;
                }
            },
            Some((a, b)) => (a..=b)
                .find(|p| {
                    !conflict(&ip, *p, &r.protocol, &chosen) && free(&ip, *p, &r.protocol).is_some()
                })
                .ok_or_else(|| {
                    fail(if a == b {
                        a.to_string()
                    } else {
                        format!("{a}-{b}")
                    })
                })?,
        };
        chosen.push(Published {
            protocol: r.protocol.clone(),
            host_ip: ip,
            host_port: port,
            container_ip: container_ip.to_string(),
            container_port: r.container_port,
        });
    }
    let tag = firewall::ports_tag(container_id);
    firewall::update(&|t| t == tag, &firewall::port_rules(container_id, &chosen))?;
    berth_store::write_json(&dir(root).join(format!("{container_id}.json")), &chosen)?;
    Ok(chosen)
}

/// Removes a container's published ports (rules and record).
pub fn unpublish(root: &Root, container_id: &str) -> Result<(), NetError> {
    let path = dir(root).join(format!("{container_id}.json"));
    if !path.exists() {
        return Ok(());
    }
    let tag = firewall::ports_tag(container_id);
    firewall::update(&|t| t == tag, &[])?;
    let _ = std::fs::remove_file(path);
    Ok(())
}
