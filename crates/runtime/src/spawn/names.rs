//! The per-container name files: `/etc/hosts`, `/etc/resolv.conf` and
//! `/etc/hostname`, written next to the container's record and bind-mounted
//! into it (the network fills them in; until then localhost and the host's
//! resolvers).

use crate::config::{ContainerConfig, NetworkMode};
use crate::error::Result;
use crate::records::ContainerDir;

/// Default `/etc/hosts` when the caller gives none.
pub fn default_hosts(hostname: &str) -> String {
    format!(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n127.0.1.1\t{hostname}\n"
    )
}

/// Default `/etc/resolv.conf`: the host's, without loopback resolvers (which
/// a container cannot reach), falling back to public resolvers like Docker.
pub fn default_resolv_conf() -> String {
    resolv_conf_from(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default())
}

/// [`default_resolv_conf`] of the host's file `host`.
pub fn resolv_conf_from(host: &str) -> String {
    let mut servers = 0;
    let mut out = String::new();
    for l in host.lines() {
        let t = l.trim();
        if let Some(ip) = t.strip_prefix("nameserver") {
            let ip = ip.trim();
            if ip.starts_with("127.") || ip == "::1" {
                continue;
            }
            servers += 1;
        }
        out.push_str(l);
        out.push('\n');
    }
    if servers == 0 {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    out
}

/// The container's hostname (its short id unless set).
pub fn hostname(config: &ContainerConfig) -> String {
    if config.hostname.is_empty() {
        config.id[..12.min(config.id.len())].to_owned()
    } else {
        config.hostname.clone()
    }
}

/// Writes `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname` of the container.
pub fn write_name_files(config: &ContainerConfig, dir: &ContainerDir) -> Result<()> {
    let host = hostname(config);
    let hosts = config.hosts.clone().unwrap_or_else(|| default_hosts(&host));
    let resolv = match (&config.resolv_conf, &config.network) {
        (Some(r), _) => r.clone(),
        (None, NetworkMode::Host) => {
            std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default()
        }
        (None, _) => default_resolv_conf(),
    };
    // Swapped in (see `records::replace`): a restart rewrites them.
    crate::records::replace(&dir.hosts(), hosts.as_bytes())?;
    crate::records::replace(&dir.resolv_conf(), resolv.as_bytes())?;
    crate::records::replace(&dir.hostname(), format!("{host}\n").as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolvers_are_the_hosts_without_loopback() {
        let host =
            "# by dhcp\nnameserver 127.0.0.53\nnameserver 10.1.2.3\nsearch lan\nnameserver ::1\n";
        assert_eq!(
            resolv_conf_from(host),
            "# by dhcp\nnameserver 10.1.2.3\nsearch lan\n"
        );
        assert_eq!(
            resolv_conf_from("nameserver 127.0.0.1\noptions ndots:2\n"),
            "options ndots:2\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n",
            "only loopback resolvers: Docker's public fallback"
        );
    }

    #[test]
    fn hosts_name_localhost_and_the_container() {
        let h = default_hosts("web");
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"), "{h}");
        assert!(h.ends_with("127.0.1.1\tweb\n"), "{h}");
    }
}
