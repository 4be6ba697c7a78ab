//! Content of a container's `/etc/hosts` and `/etc/resolv.conf`.

use std::net::IpAddr;

/// `/etc/hosts`: localhost lines, the container's own addresses with its
/// hostname (and name), and `extra_hosts` (`host-gateway` already replaced
/// by the caller with the host's address on the first network).
pub fn hosts(
    hostname: &str,
    aliases: &[&str],
    own: &[IpAddr],
    extra: &[(String, String)],
) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for (host, ip) in extra {
        s.push_str(&format!("{ip}\t{host}\n"));
    }
    let mut names = vec![hostname];
    names.extend(aliases.iter().filter(|a| **a != hostname));
    for ip in own {
        s.push_str(&format!("{ip}\t{}\n", names.join(" ")));
    }
    if own.is_empty() {
        s.push_str(&format!("127.0.1.1\t{}\n", names.join(" ")));
    }
    s
}

/// `/etc/resolv.conf` of a container on berth networks: berth's DNS server on
/// the gateway (or the `dns` servers given), `dns_search`, `dns_opt`.
pub fn resolv_conf(
    gateway: Option<IpAddr>,
    dns: &[String],
    search: &[String],
    options: &[String],
) -> String {
    let mut s = String::new();
    if !search.is_empty() {
        s.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !dns.is_empty() {
        for d in dns {
            s.push_str(&format!("nameserver {d}\n"));
        }
    } else if let Some(gw) = gateway {
        s.push_str(&format!("nameserver {gw}\n"));
    }
    if !options.is_empty() {
        s.push_str(&format!("options {}\n", options.join(" ")));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_resolv() {
        let h = hosts(
            "web",
            &["app-web-1"],
            &["10.0.0.2".parse().unwrap()],
            &[("host.docker.internal".into(), "10.0.0.1".into())],
        );
        assert!(h.contains("127.0.0.1\tlocalhost\n"));
        assert!(h.contains("10.0.0.1\thost.docker.internal\n"));
        assert!(h.ends_with("10.0.0.2\tweb app-web-1\n"));
        let r = resolv_conf(
            Some("10.0.0.1".parse().unwrap()),
            &[],
            &["example.org".into()],
            &["ndots:2".into()],
        );
        assert_eq!(
            r,
            "search example.org\nnameserver 10.0.0.1\noptions ndots:2\n"
        );
        assert_eq!(
            resolv_conf(None, &["1.1.1.1".into()], &[], &[]),
            "nameserver 1.1.1.1\n"
        );
    }
}
