//! Published ports: DNAT rules from the host's port to a container's, and a
//! record per container (`<root>/networks/ports/<id>.json`) that `port` and
//! `ps` read. A port already used on the host, or published by another
//! container, is refused with a message naming it and the service, before
//! anything is changed.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;

use berth_store::{FileLock, Root};

use crate::firewall::{self, Family, Published};
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

/// The variable that sets the host address of ports published without one.
pub const DEFAULT_HOST_IP_VAR: &str = "BERTH_DEFAULT_HOST_IP";

/// The host address used when a port names none: 0.0.0.0 as in Compose,
/// or `BERTH_DEFAULT_HOST_IP` (like Docker's daemon `ip` option).
pub fn default_host_ip() -> Result<IpAddr, String> {
    default_host_ip_from(std::env::var(DEFAULT_HOST_IP_VAR).ok().as_deref())
}

/// [`default_host_ip`] with the variable's value given.
pub fn default_host_ip_from(value: Option<&str>) -> Result<IpAddr, String> {
    match value.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        Some(v) => v
            .trim_matches(|c| c == '[' || c == ']')
            .parse()
            .map_err(|_| format!("{DEFAULT_HOST_IP_VAR}={v:?} is not an IP address")),
    }
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

/// Binds `ip:port` for a moment: the port chosen when `port` is 0, or why
/// the host cannot have it.
fn probe(ip: IpAddr, port: u16, proto: &str) -> io::Result<u16> {
    let addr = SocketAddr::new(ip, port);
    if proto == "udp" {
        UdpSocket::bind(addr)?.local_addr().map(|a| a.port())
    } else {
        TcpListener::bind(addr)?.local_addr().map(|a| a.port())
    }
}

fn family(ip: &IpAddr) -> Family {
    Family::of(ip)
}

/// Whether two host addresses of published ports collide.
fn clash(a: &str, b: &str) -> bool {
    let (Ok(x), Ok(y)) = (a.parse::<IpAddr>(), b.parse::<IpAddr>()) else {
        return a == b;
    };
    family(&x) == family(&y) && (x == y || x.is_unspecified() || y.is_unspecified())
}

/// The host addresses one request binds: its own, or the default (which,
/// for a container with IPv6, also means `::` as Docker does).
fn host_ips(r: &PortRequest, default: IpAddr, has_v6: bool) -> Result<Vec<IpAddr>, String> {
    let explicit = r
        .host_ip
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let ips = match explicit {
        Some(s) => vec![
            s.trim_matches(|c| c == '[' || c == ']')
                .parse::<IpAddr>()
                .map_err(|_| format!("host IP {s:?} is not an IP address"))?,
        ],
        None if default == IpAddr::V4(Ipv4Addr::UNSPECIFIED) && has_v6 => {
            vec![default, IpAddr::V6(Ipv6Addr::UNSPECIFIED)]
        }
        None => vec![default],
    };
    for ip in &ips {
        if ip.is_ipv6() && !has_v6 {
            return Err(format!(
                "cannot publish on {ip}: the container has no IPv6 address (set enable_ipv6 on its network)"
            ));
        }
        if ip.is_ipv6() && ip.is_loopback() {
            // The kernel cannot DNAT ::1 to another host (there is no
            // route_localnet for IPv6).
            return Err(format!(
                "cannot publish on {ip}: IPv6 loopback is not supported"
            ));
        }
    }
    Ok(ips)
}

/// How published ports are programmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nat {
    /// nf_tables map elements over netlink (no process to start), or
    /// iptables DNAT rules where nf_tables is not available or
    /// `BERTH_PORTS_NAT=iptables` says so.
    Auto,
    /// iptables DNAT rules in `BERTH-DNAT`.
    Iptables,
}

/// The variable that forces iptables DNAT rules for published ports.
pub const PORTS_NAT_VAR: &str = "BERTH_PORTS_NAT";

/// Publishes `requests` for a container at `ipv4` (and `ipv6`); `service`
/// names it in errors. Returns the ports chosen (ephemeral ones included).
/// Either every port is published or, on error, none.
pub fn publish_for(
    root: &Root,
    container_id: &str,
    service: &str,
    ipv4: Ipv4Addr,
    ipv6: Option<Ipv6Addr>,
    requests: &[PortRequest],
) -> Result<Vec<Published>, NetError> {
    publish_using(root, container_id, service, ipv4, ipv6, requests, Nat::Auto)
}

/// [`publish_for`], choosing how ports are programmed.
pub fn publish_using(
    root: &Root,
    container_id: &str,
    service: &str,
    ipv4: Ipv4Addr,
    ipv6: Option<Ipv6Addr>,
    requests: &[PortRequest],
    nat: Nat,
) -> Result<Vec<Published>, NetError> {
    if requests.is_empty() {
        return Ok(Vec::new());
    }
    let fail = |message: String| NetError::Ports {
        service: service.to_owned(),
        message,
    };
    let default = default_host_ip().map_err(fail)?;
    Root::ensure_dir(&dir(root))?;
    let _l = FileLock::exclusive(&dir(root).join(".lock"))?;
    let taken: Vec<Published> = all(root)?
        .into_iter()
        .filter(|(id, _)| id != container_id)
        .flat_map(|(_, p)| p)
        .collect();
    let conflict = |ip: &IpAddr, port: u16, proto: &str, chosen: &[Published]| {
        let ip = ip.to_string();
        taken
            .iter()
            .chain(chosen)
            .any(|p| p.host_port == port && p.protocol == proto && clash(&p.host_ip, &ip))
    };
    let mut chosen: Vec<Published> = Vec::new();
    for r in requests {
        if r.protocol != "tcp" && r.protocol != "udp" {
            return Err(fail(format!(
                "port {}/{}: only tcp and udp ports can be published",
                r.container_port, r.protocol
            )));
        }
        let ips = host_ips(r, default, ipv6.is_some()).map_err(fail)?;
        let shown = |ip: &IpAddr, port: String| match ip {
            IpAddr::V6(_) => format!("[{ip}]:{port}"),
            IpAddr::V4(_) => format!("{ip}:{port}"),
        };
        let busy = |ip: &IpAddr, port: String, e: Option<&io::Error>| {
            let why = match e.map(io::Error::kind) {
                Some(io::ErrorKind::AddrNotAvailable) => {
                    format!("{ip} is not an address of this host")
                }
                Some(k) if k != io::ErrorKind::AddrInUse => {
                    format!("{}", e.expect("matched"))
                }
                _ => "port is already allocated".to_string(),
            };
            fail(format!("Bind for {} failed: {why}", shown(ip, port)))
        };
        // Every address of the request gets the same host port.
        let usable = |port: u16, chosen: &[Published]| -> Result<bool, NetError> {
            for ip in &ips {
                if conflict(ip, port, &r.protocol, chosen) {
                    return Ok(false);
                }
                match probe(*ip, port, &r.protocol) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::AddrInUse => return Ok(false),
                    Err(e) => return Err(busy(ip, port.to_string(), Some(&e))),
                }
            }
            Ok(true)
        };
        let port = match r.host_ports {
            None => {
                let mut found = None;
                for _ in 0..64 {
                    let p = probe(ips[0], 0, &r.protocol)
                        .map_err(|e| busy(&ips[0], "0".into(), Some(&e)))?;
                    if usable(p, &chosen)? {
                        found = Some(p);
                        break;
                    }
                }
                found.ok_or_else(|| busy(&ips[0], "0".into(), None))?
            }
            Some((a, b)) => {
                let mut found = None;
                for p in a..=b {
                    if usable(p, &chosen)? {
                        found = Some(p);
                        break;
                    }
                }
                found.ok_or_else(|| {
                    let range = if a == b {
                        a.to_string()
                    } else {
                        format!("{a}-{b}")
                    };
                    busy(&ips[0], range, None)
                })?
            }
        };
        for ip in &ips {
            let container_ip = match ip {
                IpAddr::V4(_) => ipv4.to_string(),
                IpAddr::V6(_) => ipv6.expect("checked by host_ips").to_string(),
            };
            chosen.push(Published {
                protocol: r.protocol.clone(),
                host_ip: ip.to_string(),
                host_port: port,
                container_ip,
                container_port: r.container_port,
                via: String::new(),
            });
        }
    }
    let tag = firewall::ports_tag(container_id);
    let families = families(&chosen);
    let rules = firewall::port_rules(container_id, &chosen);
    let path = dir(root).join(format!("{container_id}.json"));
    // Ports left by an earlier start (a crash skipped unpublish) go first,
    // however they were programmed.
    if path.exists() {
        unpublish(root, container_id)?;
    }
    // The record is written before the rules: whatever rules carry this
    // container's tag, a record says so, and a crash in between leaves
    // nothing that unpublish would not find.
    let forced = std::env::var(PORTS_NAT_VAR).is_ok_and(|v| v == "iptables");
    if nat == Nat::Auto && !forced {
        for p in &mut chosen {
            p.via = "nft".into();
        }
        berth_store::write_json(&path, &chosen)?;
        if nft_ports(&chosen, false).is_ok() {
            return Ok(chosen);
        }
        // Some part of nf_tables is missing here: iptables rules instead.
        let _ = nft_ports(&chosen, true);
        for p in &mut chosen {
            p.via.clear();
        }
    }
    berth_store::write_json(&path, &chosen)?;
    // Without an earlier record no rule of this container exists: append
    // them without reading the tables first (the common, fast case).
    if firewall::apply_exact(&families, &rules, false).is_err()
        && let Err(e) = firewall::update(&Family::all(), &|t| t == tag, &rules)
    {
        let _ = firewall::update(&Family::all(), &|t| t == tag, &[]);
        let _ = std::fs::remove_file(&path);
        return Err(e.into());
    }
    Ok(chosen)
}

/// The ports of a container as elements of berth's nf_tables maps.
fn elements(ports: &[Published], f: Family) -> Vec<firewall::nft::PortElem> {
    ports
        .iter()
        .filter(|p| (f == Family::V6) == p.container_ip.contains(':'))
        .filter_map(|p| {
            Some(firewall::nft::PortElem {
                host_ip: (!firewall::rules::is_any(&p.host_ip))
                    .then(|| p.host_ip.parse().ok())
                    .flatten(),
                proto: if p.protocol == "udp" { 17 } else { 6 },
                host_port: p.host_port,
                to: p.container_ip.parse().ok()?,
                to_port: p.container_port,
            })
        })
        .collect()
}

/// Adds (or removes) a container's ports in berth's nf_tables maps, making
/// the table first if needed. Under the firewall lock, like every change.
fn nft_ports(ports: &[Published], delete: bool) -> io::Result<()> {
    let _lock = firewall::lock().map_err(io::Error::other)?;
    for f in families(ports) {
        let elems = elements(ports, f);
        if delete {
            firewall::nft::set_ports(f, &elems, true)?;
        } else {
            firewall::nft::ensure_table(f)?;
            firewall::nft::set_ports(f, &elems, false)?;
        }
    }
    Ok(())
}

/// [`publish_for`] for a container with an IPv4 address alone.
pub fn publish(
    root: &Root,
    container_id: &str,
    service: &str,
    container_ip: Ipv4Addr,
    requests: &[PortRequest],
) -> Result<Vec<Published>, NetError> {
    publish_for(root, container_id, service, container_ip, None, requests)
}

fn families(ports: &[Published]) -> Vec<Family> {
    let mut v: Vec<Family> = ports
        .iter()
        .map(|p| {
            if p.container_ip.contains(':') {
                Family::V6
            } else {
                Family::V4
            }
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Removes a container's published ports (rules and record).
pub fn unpublish(root: &Root, container_id: &str) -> Result<(), NetError> {
    let path = dir(root).join(format!("{container_id}.json"));
    let Some(ports) = berth_store::read_json_opt::<Vec<Published>>(&path)? else {
        return Ok(());
    };
    let tag = firewall::ports_tag(container_id);
    if !ports.is_empty() && ports.iter().all(|p| p.via == "nft") {
        // Elements already gone (the table went with the last network, or
        // a crash came between record and elements) are not an error.
        match nft_ports(&ports, true) {
            Err(e) if e.raw_os_error() != Some(libc::ENOENT) => {
                return Err(NetError::Ports {
                    service: container_id.to_owned(),
                    message: format!("removing published ports from nf_tables: {e}"),
                });
            }
            _ => {}
        }
        let _ = std::fs::remove_file(path);
        return Ok(());
    }
    // The rules of the record, removed exactly (one process); if any is
    // missing or doubled, every rule with the container's tag, found by
    // reading the tables.
    let rules = firewall::port_rules(container_id, &ports);
    if ports.is_empty() || firewall::apply_exact(&families(&ports), &rules, true).is_err() {
        firewall::update(&Family::all(), &|t| t == tag, &[])?;
    }
    let _ = std::fs::remove_file(path);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(host_ip: Option<&str>) -> PortRequest {
        PortRequest {
            host_ip: host_ip.map(Into::into),
            host_ports: Some((8080, 8080)),
            container_port: 80,
            protocol: "tcp".into(),
        }
    }

    #[test]
    fn default_host_ip_is_any_or_the_variable() {
        assert_eq!(
            default_host_ip_from(None),
            Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        );
        assert_eq!(
            default_host_ip_from(Some("")),
            Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        );
        assert_eq!(
            default_host_ip_from(Some("127.0.0.1")),
            Ok(IpAddr::V4(Ipv4Addr::LOCALHOST))
        );
        assert_eq!(
            default_host_ip_from(Some("[::]")),
            Ok(IpAddr::V6(Ipv6Addr::UNSPECIFIED))
        );
        assert_eq!(
            default_host_ip_from(Some("localhost")),
            Err("BERTH_DEFAULT_HOST_IP=\"localhost\" is not an IP address".into())
        );
    }

    #[test]
    fn host_addresses_of_a_request() {
        let any4 = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert_eq!(host_ips(&req(None), any4, false).unwrap(), vec![any4]);
        assert_eq!(
            host_ips(&req(None), any4, true).unwrap(),
            vec![any4, IpAddr::V6(Ipv6Addr::UNSPECIFIED)],
            "the default also publishes on :: for a container with IPv6"
        );
        assert_eq!(
            host_ips(&req(Some("0.0.0.0")), any4, true).unwrap(),
            vec![any4],
            "an explicit 0.0.0.0 is IPv4 only, as in Docker"
        );
        assert_eq!(host_ips(&req(None), lo, true).unwrap(), vec![lo]);
        assert!(
            host_ips(&req(Some("::")), any4, false)
                .unwrap_err()
                .contains("no IPv6 address")
        );
        assert!(
            host_ips(&req(Some("[::1]")), any4, true)
                .unwrap_err()
                .contains("IPv6 loopback")
        );
        assert!(
            host_ips(&req(Some("my-host")), any4, true)
                .unwrap_err()
                .contains("not an IP address")
        );
    }

    #[test]
    fn clashes_are_per_family() {
        assert!(clash("0.0.0.0", "127.0.0.1"));
        assert!(clash("127.0.0.1", "127.0.0.1"));
        assert!(!clash("127.0.0.1", "10.0.0.1"));
        assert!(!clash("0.0.0.0", "::"));
        assert!(clash("::", "fd00::1"));
    }

    #[test]
    fn families_of_ports() {
        let p = |ip: &str| Published {
            protocol: "tcp".into(),
            host_ip: "0.0.0.0".into(),
            host_port: 1,
            container_ip: ip.into(),
            container_port: 1,
            via: String::new(),
        };
        assert_eq!(
            families(&[p("fd00::2"), p("10.0.0.2"), p("10.0.0.3")]),
            vec![Family::V4, Family::V6]
        );
    }
}
