//! The DNS daemon of a berth root (`berth __internal dns`): one UDP socket per
//! network gateway, records reloaded whenever the files under
//! `<root>/networks/dns` change, other names relayed to the host's resolvers.
//! It exits when the last network is gone.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use berth_store::{FileLock, Root};

use super::answer::{Records, Reply};
use super::wire;
use crate::dnsdb;

struct Shared {
    records: RwLock<Records>,
    upstreams: RwLock<Vec<SocketAddr>>,
    rotate: AtomicUsize,
}

/// Nameservers of the host's resolv.conf (or `BERTH_DNS_RESOLV_CONF`, for tests).
pub fn upstreams() -> Vec<SocketAddr> {
    let path = std::env::var("BERTH_DNS_RESOLV_CONF").unwrap_or_else(|_| "/etc/resolv.conf".into());
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|ip| {
            let ip = ip.trim();
            let (ip, port) = match ip.rsplit_once('#') {
                Some((a, p)) => (a, p.parse().unwrap_or(53)),
                None => (ip, 53),
            };
            ip.parse::<IpAddr>().ok().map(|a| SocketAddr::new(a, port))
        })
        .take(3)
        .collect()
}

fn load(root: &Root) -> Records {
    Records {
        networks: dnsdb::networks(root).unwrap_or_default(),
        endpoints: dnsdb::endpoints(root).unwrap_or_default(),
    }
}

fn bind(addr: IpAddr) -> std::io::Result<UdpSocket> {
    // The bridge address may appear a moment after the network record.
    for _ in 0..50 {
        match UdpSocket::bind(SocketAddr::new(addr, 53)) {
            Ok(s) => return Ok(s),
            Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => return Err(e),
        }
    }
    UdpSocket::bind(SocketAddr::new(addr, 53))
}

fn forward(query: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for up in upstreams {
        let local: SocketAddr = if up.is_ipv4() {
            "0.0.0.0:0".parse().ok()?
        } else {
            "[::]:0".parse().ok()?
        };
        let s = UdpSocket::bind(local).ok()?;
        s.set_read_timeout(Some(Duration::from_millis(2000))).ok()?;
        if s.send_to(query, up).is_err() {
            continue;
        }
        let mut buf = [0u8; 4096];
        if let Ok((n, _)) = s.recv_from(&mut buf) {
            return Some(buf[..n].to_vec());
        }
    }
    None
}

fn serve(sock: UdpSocket, listener: IpAddr, shared: Arc<Shared>, stop: Arc<AtomicBool>) {
    let mut buf = [0u8; 1500];
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let query = buf[..n].to_vec();
        let Some(q) = wire::parse_query(&query) else {
            continue;
        };
        let ptr = if q.qtype == wire::TYPE_PTR {
            wire::reverse_ip(&q.name)
        } else {
            None
        };
        let rotate = shared.rotate.fetch_add(1, Ordering::Relaxed);
        let reply =
            shared
                .records
                .read()
                .unwrap()
                .lookup(&q.name, ptr, from.ip(), listener, rotate);
        let answer = match reply {
            Reply::Addresses(ips) => Some(wire::answer_addresses(&q, &ips)),
            Reply::Names(names) => Some(wire::answer_ptr(&q, &names)),
            Reply::NxDomain => Some(wire::answer_error(&q, wire::RCODE_NXDOMAIN)),
            Reply::Forward => {
                // Relaying blocks on the upstream: do it off the listener.
                let ups = shared.upstreams.read().unwrap().clone();
                if let Ok(s) = sock.try_clone() {
                    std::thread::spawn(move || {
                        let a = forward(&query, &ups)
                            .unwrap_or_else(|| wire::answer_error(&q, wire::RCODE_SERVFAIL));
                        let _ = s.send_to(&a, from);
                    });
                }
                None
            }
        };
        if let Some(a) = answer {
            let _ = sock.send_to(&a, from);
        }
    }
}

/// Runs the daemon; returns the exit code.
pub fn main(root: Root) -> i32 {
    let _ = Root::ensure_dir(&root.run());
    let Ok(Some(_lock)) = FileLock::try_exclusive(&root.run().join("dns.lock")) else {
        return 0; // one daemon per root
    };
    let _ = std::fs::write(root.run().join("dns.pid"), std::process::id().to_string());
    let shared = Arc::new(Shared {
        records: RwLock::new(load(&root)),
        upstreams: RwLock::new(upstreams()),
        rotate: AtomicUsize::new(0),
    });
    let mut listeners: HashMap<IpAddr, (Arc<AtomicBool>, UdpSocket)> = HashMap::new();
    let watch_dir = dnsdb::watch_dir(&root);
    let _ = Root::ensure_dir(&watch_dir);
    let inotify = nix::sys::inotify::Inotify::init(nix::sys::inotify::InitFlags::IN_CLOEXEC).ok();
    if let Some(i) = &inotify {
        use nix::sys::inotify::AddWatchFlags as F;
        for sub in ["networks", "endpoints"] {
            let d = watch_dir.join(sub);
            let _ = Root::ensure_dir(&d);
            let _ = i.add_watch(&d, F::IN_MOVED_TO | F::IN_DELETE | F::IN_CLOSE_WRITE);
        }
    }
    let mut idle_rounds = 0;
    loop {
        let records = load(&root);
        let wanted: Vec<IpAddr> = records
            .networks
            .iter()
            .flat_map(|n| n.gateways.iter().copied())
            .collect();
        *shared.records.write().unwrap() = records;
        *shared.upstreams.write().unwrap() = upstreams();
        listeners.retain(|ip, (stop, sock)| {
            let keep = wanted.contains(ip);
            if !keep {
                stop.store(true, Ordering::Relaxed);
                // Wake the listener so it sees the stop flag.
                let _ =
                    UdpSocket::bind("0.0.0.0:0").and_then(|s| s.send_to(&[0], sock.local_addr()?));
            }
            keep
        });
        for ip in &wanted {
            if listeners.contains_key(ip) {
                continue;
            }
            match bind(*ip) {
                Ok(sock) => {
                    let stop = Arc::new(AtomicBool::new(false));
                    let (s2, st2, sh2, ip2) = (
                        sock.try_clone().expect("clone socket"),
                        stop.clone(),
                        shared.clone(),
                        *ip,
                    );
                    std::thread::spawn(move || serve(s2, ip2, sh2, st2));
                    listeners.insert(*ip, (stop, sock));
                }
                Err(e) => eprintln!("berth dns: listen on {ip}:53: {e}"),
            }
        }
        if wanted.is_empty() {
            idle_rounds += 1;
            if idle_rounds > 3 {
                let _ = std::fs::remove_file(root.run().join("dns.pid"));
                return 0;
            }
        } else {
            idle_rounds = 0;
        }
        // Wait for a change (or a second, to notice resolv.conf changes).
        match &inotify {
            Some(i) => {
                let mut fds = [nix::poll::PollFd::new(
                    std::os::fd::AsFd::as_fd(i),
                    nix::poll::PollFlags::POLLIN,
                )];
                let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(1000u16));
                if fds[0].revents().is_some_and(|r| !r.is_empty()) {
                    let _ = i.read_events();
                    std::thread::sleep(Duration::from_millis(5)); // let a burst settle
                }
            }
            None => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}
