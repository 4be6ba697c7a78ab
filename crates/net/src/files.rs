//! Content of a container's `/etc/hosts` and `/etc/resolv.conf`, as Docker
//! writes them for containers on user-defined networks (which is what every
//! Compose service gets). Pure functions: the runtime writes the strings.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Bad `extra_hosts` input, named as the user wrote it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilesError {
    #[error("extra_hosts entry {entry:?}: expected HOST:IP or HOST=IP")]
    ExtraHostSyntax { entry: String },
    #[error("extra_hosts entry for {host:?}: {value:?} is not an IP address or host-gateway")]
    ExtraHostAddress { host: String, value: String },
    #[error("extra_hosts entry for {host:?} uses host-gateway, but no host address is known")]
    NoHostGateway { host: String },
}

/// What `/etc/hosts` is made of.
#[derive(Debug, Clone, Default)]
pub struct HostsInput<'a> {
    pub hostname: &'a str,
    /// `domainname:`; the own line then starts with the full name.
    pub domainname: Option<&'a str>,
    pub container_name: &'a str,
    /// The container's own addresses on its networks.
    pub addresses: &'a [IpAddr],
    /// `extra_hosts` as (host, address-or-`host-gateway`) pairs, in file order.
    pub extra_hosts: &'a [(String, String)],
    /// What `host-gateway` stands for (the host's address seen from the container).
    pub host_gateway: Option<IpAddr>,
}

/// The special value of `extra_hosts` that means "the host".
pub const HOST_GATEWAY: &str = "host-gateway";

/// Splits a list-form `extra_hosts` entry: `host=ip` or `host:ip` (an IPv6
/// address may follow the colon, bracketed or not; a host name never holds
/// a colon, so the first one separates).
pub fn parse_extra_host(entry: &str) -> Result<(String, String), FilesError> {
    let (host, value) = entry
        .split_once('=')
        .or_else(|| entry.split_once(':'))
        .ok_or_else(|| FilesError::ExtraHostSyntax {
            entry: entry.into(),
        })?;
    let (host, value) = (host.trim(), value.trim());
    if host.is_empty() || value.is_empty() {
        return Err(FilesError::ExtraHostSyntax {
            entry: entry.into(),
        });
    }
    Ok((host.to_string(), value.to_string()))
}

fn extra_host_address(
    host: &str,
    value: &str,
    gateway: Option<IpAddr>,
) -> Result<IpAddr, FilesError> {
    if value == HOST_GATEWAY {
        return gateway.ok_or_else(|| FilesError::NoHostGateway { host: host.into() });
    }
    let bare = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(value);
    bare.parse().map_err(|_| FilesError::ExtraHostAddress {
        host: host.into(),
        value: value.into(),
    })
}

/// `/etc/hosts`: loopback names, `extra_hosts`, then the container's own
/// addresses with its hostname and name.
pub fn hosts(h: &HostsInput) -> Result<String, FilesError> {
    let mut out = String::from(
        "127.0.0.1\tlocalhost\n\
         ::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\n\
         ff00::0\tip6-mcastprefix\n\
         ff02::1\tip6-allnodes\n\
         ff02::2\tip6-allrouters\n",
    );
    for (host, value) in h.extra_hosts {
        let ip = extra_host_address(host, value, h.host_gateway)?;
        out.push_str(&format!("{ip}\t{host}\n"));
    }
    let mut names: Vec<String> = Vec::new();
    if let Some(domain) = h.domainname.filter(|d| !d.is_empty()) {
        names.push(format!("{}.{domain}", h.hostname));
    }
    for n in [h.hostname, h.container_name] {
        if !n.is_empty() && !names.iter().any(|x| x == n) {
            names.push(n.to_string());
        }
    }
    if !names.is_empty() {
        for ip in h.addresses {
            out.push_str(&format!("{ip}\t{}\n", names.join(" ")));
        }
    }
    Ok(out)
}

/// What `/etc/resolv.conf` is made of.
#[derive(Debug, Clone, Default)]
pub struct ResolvInput<'a> {
    /// Gateway of the container's first bridge network: berth's DNS server.
    /// `None` for containers without bridge networks (`network_mode: host`,
    /// `none`).
    pub gateway: Option<IpAddr>,
    /// `dns:`. With a gateway they are not written here: berth's server
    /// forwards outside names to them (record them in the container's
    /// [`crate::dnsdb::Endpoint::dns_servers`]), so service names still
    /// resolve, as with Docker's embedded DNS.
    pub dns: &'a [IpAddr],
    /// `dns_search:`; `["."]` means none. Empty: the host's.
    pub dns_search: &'a [String],
    /// `dns_opt:` (`ndots:2`, `timeout:1`, …). Empty: the host's.
    pub dns_opt: &'a [String],
    /// Content of the host's resolv.conf (see [`host_resolv_conf_path`]).
    pub host: &'a str,
    /// `network_mode: host`: the host's loopback resolvers are reachable.
    pub host_network: bool,
}

/// `/etc/resolv.conf` of a container.
pub fn resolv_conf(r: &ResolvInput) -> String {
    let host = HostConf::parse(r.host);
    let servers: Vec<IpAddr> = if let Some(gw) = r.gateway {
        vec![gw]
    } else if !r.dns.is_empty() {
        r.dns.to_vec()
    } else {
        host.servers
            .iter()
            .copied()
            .filter(|ip| r.host_network || !ip.is_loopback())
            .collect()
    };
    let search: Vec<String> = if r.dns_search.is_empty() {
        host.search
    } else {
        r.dns_search.iter().filter(|s| *s != ".").cloned().collect()
    };
    let options: Vec<String> = if r.dns_opt.is_empty() {
        host.options
    } else {
        r.dns_opt.to_vec()
    };
    let mut out = String::from("# Generated by berth\n");
    if servers.is_empty() {
        out.push_str("# the host has no name server a container can reach\n");
    }
    for s in servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

#[derive(Default)]
struct HostConf {
    servers: Vec<IpAddr>,
    search: Vec<String>,
    options: Vec<String>,
}

impl HostConf {
    fn parse(content: &str) -> HostConf {
        let mut c = HostConf::default();
        for line in content.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                // Zoned IPv6 servers (`fe80::1%eth0`) do not parse: a container
                // cannot use the host's interface anyway.
                Some("nameserver") => c
                    .servers
                    .extend(words.next().and_then(|w| w.parse::<IpAddr>().ok())),
                // The last `search` or `domain` line wins, as in glibc.
                Some("search") | Some("domain") => c.search = words.map(String::from).collect(),
                Some("options") => c.options.extend(words.map(String::from)),
                _ => {}
            }
        }
        c
    }
}

/// The variable naming the file berth reads as the host's resolver
/// configuration, instead of `/etc/resolv.conf` (for hosts that keep it
/// elsewhere, and for tests that run a fake upstream server).
pub const HOST_RESOLV_CONF_VAR: &str = "BERTH_HOST_RESOLV_CONF";

/// The file named by [`HOST_RESOLV_CONF_VAR`], if set.
pub fn host_resolv_conf_override() -> Option<PathBuf> {
    std::env::var_os(HOST_RESOLV_CONF_VAR)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The host file to base containers' resolv.conf on: `/etc/resolv.conf`,
/// unless it names only loopback servers (systemd-resolved's stub) and the
/// resolver's real upstream list exists, as Docker does.
pub fn host_resolv_conf_path() -> PathBuf {
    if let Some(p) = host_resolv_conf_override() {
        return p;
    }
    choose_host_resolv_conf(
        Path::new("/etc/resolv.conf"),
        Path::new("/run/systemd/resolve/resolv.conf"),
    )
}

fn choose_host_resolv_conf(etc: &Path, resolved: &Path) -> PathBuf {
    let only_loopback = std::fs::read_to_string(etc)
        .map(|c| {
            let h = HostConf::parse(&c);
            !h.servers.is_empty() && h.servers.iter().all(|s| s.is_loopback())
        })
        .unwrap_or(false);
    if only_loopback && resolved.exists() {
        resolved.to_owned()
    } else {
        etc.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn hosts_has_loopback_extra_hosts_and_own_names() {
        let extra = vec![
            parse_extra_host("somehost:162.242.195.82").unwrap(),
            parse_extra_host("v6host=[::1]").unwrap(),
            parse_extra_host("v6bare:fd00::5").unwrap(),
            ("host.docker.internal".to_string(), HOST_GATEWAY.to_string()),
        ];
        let got = hosts(&HostsInput {
            hostname: "a1b2c3d4e5f6",
            domainname: None,
            container_name: "app-web-1",
            addresses: &[ip("10.89.0.2"), ip("10.90.0.7")],
            extra_hosts: &extra,
            host_gateway: Some(ip("10.89.0.1")),
        })
        .unwrap();
        assert_eq!(
            got,
            "127.0.0.1\tlocalhost\n\
             ::1\tlocalhost ip6-localhost ip6-loopback\n\
             fe00::0\tip6-localnet\n\
             ff00::0\tip6-mcastprefix\n\
             ff02::1\tip6-allnodes\n\
             ff02::2\tip6-allrouters\n\
             162.242.195.82\tsomehost\n\
             ::1\tv6host\n\
             fd00::5\tv6bare\n\
             10.89.0.1\thost.docker.internal\n\
             10.89.0.2\ta1b2c3d4e5f6 app-web-1\n\
             10.90.0.7\ta1b2c3d4e5f6 app-web-1\n"
        );
    }

    #[test]
    fn hosts_with_domain_and_same_names() {
        let got = hosts(&HostsInput {
            hostname: "web",
            domainname: Some("example.org"),
            container_name: "web",
            addresses: &[ip("10.89.0.2")],
            ..Default::default()
        })
        .unwrap();
        assert!(got.ends_with("\n10.89.0.2\tweb.example.org web\n"), "{got}");
        // No network (network_mode: none): only the fixed lines.
        let none = hosts(&HostsInput {
            hostname: "x",
            container_name: "app-x-1",
            ..Default::default()
        })
        .unwrap();
        assert_eq!(none.lines().count(), 6);
    }

    #[test]
    fn bad_extra_hosts_are_named() {
        assert_eq!(
            parse_extra_host("nohost"),
            Err(FilesError::ExtraHostSyntax {
                entry: "nohost".into()
            })
        );
        assert!(parse_extra_host("=1.2.3.4").is_err());
        let bad = vec![("db".to_string(), "1.2.3".to_string())];
        let err = hosts(&HostsInput {
            extra_hosts: &bad,
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "extra_hosts entry for \"db\": \"1.2.3\" is not an IP address or host-gateway"
        );
        let gw = vec![("h".to_string(), HOST_GATEWAY.to_string())];
        let err = hosts(&HostsInput {
            extra_hosts: &gw,
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(err, FilesError::NoHostGateway { host: "h".into() });
    }

    const HOST: &str = "# host\nnameserver 127.0.0.53\nnameserver 192.0.2.53\n\
                        nameserver fe80::1%eth0\nsearch corp.example lab.example\n\
                        options edns0 trust-ad\n";

    #[test]
    fn resolv_conf_points_at_the_gateway() {
        let got = resolv_conf(&ResolvInput {
            gateway: Some(ip("10.89.0.1")),
            dns: &[ip("9.9.9.9")],
            host: HOST,
            ..Default::default()
        });
        assert_eq!(
            got,
            "# Generated by berth\nnameserver 10.89.0.1\n\
             search corp.example lab.example\noptions edns0 trust-ad\n"
        );
    }

    #[test]
    fn resolv_conf_search_and_options_override_the_hosts() {
        let search = vec!["svc.local".to_string()];
        let opts = vec!["ndots:2".to_string(), "timeout:1".to_string()];
        let got = resolv_conf(&ResolvInput {
            gateway: Some(ip("10.89.0.1")),
            dns_search: &search,
            dns_opt: &opts,
            host: HOST,
            ..Default::default()
        });
        assert_eq!(
            got,
            "# Generated by berth\nnameserver 10.89.0.1\nsearch svc.local\noptions ndots:2 timeout:1\n"
        );
        let dot = vec![".".to_string()];
        let got = resolv_conf(&ResolvInput {
            gateway: Some(ip("10.89.0.1")),
            dns_search: &dot,
            host: HOST,
            ..Default::default()
        });
        assert!(!got.contains("search"), "{got}");
    }

    #[test]
    fn resolv_conf_without_bridge_networks() {
        // network_mode: none / service: the host's servers minus loopback.
        let got = resolv_conf(&ResolvInput {
            host: HOST,
            ..Default::default()
        });
        assert!(got.contains("nameserver 192.0.2.53\n"), "{got}");
        assert!(
            !got.contains("127.0.0.53") && !got.contains("fe80"),
            "{got}"
        );
        // network_mode: host shares the host's loopback.
        let got = resolv_conf(&ResolvInput {
            host: HOST,
            host_network: true,
            ..Default::default()
        });
        assert!(
            got.contains("nameserver 127.0.0.53\nnameserver 192.0.2.53\n"),
            "{got}"
        );
        // dns: given and no gateway: used directly.
        let got = resolv_conf(&ResolvInput {
            dns: &[ip("9.9.9.9"), ip("2001:db8::53")],
            host: HOST,
            ..Default::default()
        });
        assert!(
            got.contains("nameserver 9.9.9.9\nnameserver 2001:db8::53\n"),
            "{got}"
        );
        let got = resolv_conf(&ResolvInput {
            host: "nameserver 127.0.0.53\n",
            ..Default::default()
        });
        assert!(!got.contains("nameserver"), "{got}");
    }

    #[test]
    fn stub_only_host_uses_the_resolvers_upstream_list() {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc-resolv.conf");
        let resolved = dir.path().join("resolved.conf");
        std::fs::write(&etc, "nameserver 127.0.0.53\n").unwrap();
        assert_eq!(choose_host_resolv_conf(&etc, &resolved), etc);
        std::fs::write(&resolved, "nameserver 192.0.2.1\n").unwrap();
        assert_eq!(choose_host_resolv_conf(&etc, &resolved), resolved);
        std::fs::write(&etc, "nameserver 192.0.2.9\n").unwrap();
        assert_eq!(choose_host_resolv_conf(&etc, &resolved), etc);
    }
}
