//! The host's resolvers, and relaying a query to them unchanged.
//!
//! The daemon runs in the host's network namespace, so a stub resolver on
//! loopback (systemd-resolved's 127.0.0.53) is reachable and is used as is.
//! What must never be used is one of the daemon's own listening addresses: a
//! host whose resolv.conf names a berth gateway would loop forever.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// At most this many servers are tried per query, as the libc resolver does.
pub const MAX_SERVERS: usize = 3;

/// `nameserver` lines of a resolv.conf, in order. IPv6 link-local servers
/// with a zone (`fe80::1%eth0`) keep their interface as the scope id.
pub fn parse_resolv_conf(content: &str) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for line in content.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            continue;
        }
        let Some(addr) = words.next() else { continue };
        let (ip, zone) = match addr.split_once('%') {
            Some((ip, zone)) => (ip, Some(zone)),
            None => (addr, None),
        };
        let sa = match ip.parse::<IpAddr>() {
            Ok(IpAddr::V4(v4)) => SocketAddr::from((v4, 53)),
            Ok(IpAddr::V6(v6)) => {
                let scope = zone.map(scope_id).unwrap_or(0);
                SocketAddr::V6(std::net::SocketAddrV6::new(v6, 53, 0, scope))
            }
            Err(_) => continue,
        };
        if !out.contains(&sa) {
            out.push(sa);
        }
    }
    out
}

fn scope_id(zone: &str) -> u32 {
    zone.parse()
        .ok()
        .or_else(|| nix::net::if_::if_nametoindex(zone).ok())
        .unwrap_or(0)
}

/// The servers to try for one query: the container's own first, then the
/// host's, never one of the daemon's listening addresses, at most
/// [`MAX_SERVERS`].
pub fn choose(container: &[IpAddr], host: &[SocketAddr], own: &[IpAddr]) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = Vec::new();
    let candidates = container
        .iter()
        .map(|ip| SocketAddr::new(*ip, 53))
        .chain(host.iter().copied());
    for sa in candidates {
        if own.contains(&sa.ip()) || sa.ip().is_unspecified() || out.contains(&sa) {
            continue;
        }
        out.push(sa);
        if out.len() == MAX_SERVERS {
            break;
        }
    }
    out
}

/// The host's resolv.conf, re-read whenever the file (or the file its
/// symlink points to) changes. A stat per forwarded query is far cheaper than
/// the query itself and catches every way of replacing the file.
#[derive(Debug)]
pub struct HostResolvers {
    path: PathBuf,
    seen: Option<(u64, u64, i64, i64, u64)>,
    servers: Vec<SocketAddr>,
}

impl HostResolvers {
    pub fn new(path: impl Into<PathBuf>) -> HostResolvers {
        HostResolvers {
            path: path.into(),
            seen: None,
            servers: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Current servers; an unreadable file means none (queries then fail
    /// with SERVFAIL rather than going somewhere unexpected).
    pub fn servers(&mut self) -> Vec<SocketAddr> {
        let key = std::fs::metadata(&self.path)
            .ok()
            .map(|m| (m.dev(), m.ino(), m.mtime(), m.mtime_nsec(), m.len()));
        if key != self.seen || key.is_none() {
            self.servers = std::fs::read_to_string(&self.path)
                .map(|c| parse_resolv_conf(&c))
                .unwrap_or_default();
            self.seen = key;
        }
        self.servers.clone()
    }
}

/// Whether `resp` is the answer to `query` (same id, QR set).
fn answers(query: &[u8], resp: &[u8]) -> bool {
    resp.len() >= 12 && query.len() >= 2 && resp[..2] == query[..2] && resp[2] & 0x80 != 0
}

fn any_addr(of: &SocketAddr) -> SocketAddr {
    match of {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    }
}

/// Sends `query` over UDP to each server in turn, each given `timeout`, and
/// returns the first answer (a truncated one too: the client then retries
/// over TCP). A fresh socket per query means a reply can only come from the
/// server asked, for this query.
pub fn relay_udp(query: &[u8], servers: &[SocketAddr], timeout: Duration) -> Option<Vec<u8>> {
    servers.iter().find_map(|server| {
        let attempt = || -> io::Result<Option<Vec<u8>>> {
            let sock = UdpSocket::bind(any_addr(server))?;
            sock.connect(server)?;
            sock.send(query)?;
            let deadline = Instant::now() + timeout;
            let mut buf = vec![0u8; 65535];
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(None);
                }
                sock.set_read_timeout(Some(left))?;
                let n = sock.recv(&mut buf)?;
                if answers(query, &buf[..n]) {
                    buf.truncate(n);
                    return Ok(Some(buf));
                }
            }
        };
        attempt().ok().flatten()
    })
}

/// Same over TCP (two-byte length prefix), for clients that came over TCP.
pub fn relay_tcp(query: &[u8], servers: &[SocketAddr], timeout: Duration) -> Option<Vec<u8>> {
    servers.iter().find_map(|server| {
        let attempt = || -> io::Result<Vec<u8>> {
            let mut s = TcpStream::connect_timeout(server, timeout)?;
            s.set_read_timeout(Some(timeout))?;
            s.set_write_timeout(Some(timeout))?;
            write_framed(&mut s, query)?;
            read_framed(&mut s)
        };
        attempt().ok().filter(|r| answers(query, r))
    })
}

/// Writes one length-prefixed DNS message (TCP framing, RFC 1035 §4.2.2).
pub fn write_framed(w: &mut impl Write, msg: &[u8]) -> io::Result<()> {
    let len = u16::try_from(msg.len()).map_err(|_| io::Error::other("DNS message over 64 KiB"))?;
    let mut out = Vec::with_capacity(2 + msg.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(msg);
    w.write_all(&out)
}

/// Reads one length-prefixed DNS message.
pub fn read_framed(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    r.read_exact(&mut len)?;
    let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
    r.read_exact(&mut msg)?;
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn reads_nameservers_in_order() {
        let conf = "# generated\nsearch corp.example\nnameserver 127.0.0.53\n\
                    nameserver  10.0.0.2 # second\nnameserver fd00::53\nnameserver bogus\n\
                    nameserver 127.0.0.53\noptions edns0\nnameserver fe80::1%1\n";
        let got = parse_resolv_conf(conf);
        assert_eq!(
            got,
            vec![
                sa("127.0.0.53:53"),
                sa("10.0.0.2:53"),
                sa("[fd00::53]:53"),
                SocketAddr::V6(std::net::SocketAddrV6::new(
                    "fe80::1".parse().unwrap(),
                    53,
                    0,
                    1
                )),
            ]
        );
    }

    #[test]
    fn choose_skips_own_addresses_and_caps() {
        let host = parse_resolv_conf(
            "nameserver 10.89.0.1\nnameserver 127.0.0.53\nnameserver 1.1.1.1\nnameserver 9.9.9.9\n",
        );
        let own: Vec<IpAddr> = vec!["10.89.0.1".parse().unwrap()];
        assert_eq!(
            choose(&[], &host, &own),
            vec![sa("127.0.0.53:53"), sa("1.1.1.1:53"), sa("9.9.9.9:53")]
        );
        let mine: Vec<IpAddr> = vec!["192.0.2.1".parse().unwrap(), "1.1.1.1".parse().unwrap()];
        assert_eq!(
            choose(&mine, &host, &own),
            vec![sa("192.0.2.1:53"), sa("1.1.1.1:53"), sa("127.0.0.53:53")]
        );
        assert!(choose(&[], &[], &own).is_empty());
    }

    #[test]
    fn host_resolvers_follow_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("resolv.conf");
        let mut h = HostResolvers::new(&p);
        assert!(h.servers().is_empty());
        std::fs::write(&p, "nameserver 10.0.0.1\n").unwrap();
        assert_eq!(h.servers(), vec![sa("10.0.0.1:53")]);
        // Replaced by rename, as resolvconf and systemd-resolved do.
        let tmp = dir.path().join("new");
        std::fs::write(&tmp, "nameserver 10.0.0.2\n").unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        assert_eq!(h.servers(), vec![sa("10.0.0.2:53")]);
    }

    #[test]
    fn relays_to_a_loopback_server_and_skips_a_dead_one() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            let (n, from) = server.recv_from(&mut buf).unwrap();
            let mut resp = buf[..n].to_vec();
            resp[2] |= 0x80;
            server.send_to(&resp, from).unwrap();
        });
        // A port nobody listens on: refused at once (ICMP), then the live one.
        let dead = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let query = [0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1];
        let got = relay_udp(&query, &[dead, addr], Duration::from_secs(2)).unwrap();
        assert_eq!(&got[..2], &[0x12, 0x34]);
        assert_eq!(got[2] & 0x80, 0x80);
        t.join().unwrap();
        assert_eq!(relay_udp(&query, &[], Duration::from_millis(10)), None);
    }

    #[test]
    fn framing_round_trips() {
        let mut buf = Vec::new();
        write_framed(&mut buf, b"hello").unwrap();
        assert_eq!(&buf[..2], &[0, 5]);
        assert_eq!(read_framed(&mut &buf[..]).unwrap(), b"hello");
    }
}
