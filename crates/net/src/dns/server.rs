//! The daemon itself (`berth __internal dns`): one thread polls the inotify
//! watch on the records and one UDP socket and one TCP listener per gateway
//! address; local answers are sent from that thread (microseconds), while
//! each forwarded query and each TCP connection gets a short-lived thread so
//! a slow upstream never holds up local names.

use std::collections::BTreeMap;
use std::io::{self, ErrorKind};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use berth_store::{FileLock, ProcessIdentity, Root};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::socket::{self as sock, AddressFamily, SockFlag, SockType, SockaddrStorage, sockopt};

use super::DnsError;
use super::answer::{Outcome, Records, resolve};
use super::daemon::{self, DaemonState};
use super::upstream::{self, HostResolvers};
use super::wire::{self, Rcode, WireError};
use crate::dnsdb;

/// How the daemon runs; the defaults are what `berth __internal dns` uses.
#[derive(Debug, Clone)]
pub struct Options {
    /// The host's resolver configuration (tests point it at a fake upstream).
    pub resolv_conf: PathBuf,
    /// How long one upstream server gets to answer.
    pub forward_timeout: Duration,
    pub port: u16,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            resolv_conf: crate::files::host_resolv_conf_override()
                .unwrap_or_else(|| "/etc/resolv.conf".into()),
            forward_timeout: Duration::from_secs(2),
            port: 53,
        }
    }
}

/// Records change in bursts (temp file, rename, several containers at once):
/// reload once the burst has lasted this long.
const DEBOUNCE: Duration = Duration::from_millis(5);
/// How often an address that could not be bound is tried again.
const RETRY_BIND: Duration = Duration::from_secs(1);
/// Limits on concurrent helper threads, so a flood cannot exhaust the host.
const MAX_FORWARDS: usize = 256;
const MAX_TCP: usize = 64;
/// A TCP client that sends nothing for this long is dropped.
const TCP_IDLE: Duration = Duration::from_secs(5);
/// Datagrams read from one socket before looking at the others again.
const UDP_BATCH: usize = 64;

struct Shared {
    records: RwLock<Arc<Records>>,
    upstreams: Mutex<HostResolvers>,
    rotation: AtomicUsize,
    forwards: AtomicUsize,
    tcp_conns: AtomicUsize,
    timeout: Duration,
}

struct Listener {
    addr: IpAddr,
    udp: Arc<UdpSocket>,
    tcp: TcpListener,
}

/// Runs the DNS server of `root` until no berth network remains. Returns at
/// once when another daemon already serves this root.
pub fn run(root: &Root, opts: &Options) -> Result<(), DnsError> {
    let lock_path = daemon::lock_file(root);
    let Some(lock) = FileLock::try_exclusive(&lock_path)? else {
        return Ok(());
    };
    let mut lock = Some(lock);
    let watch = watch(root)?;
    let shared = Arc::new(Shared {
        records: RwLock::new(Arc::new(Records::default())),
        upstreams: Mutex::new(HostResolvers::new(&opts.resolv_conf)),
        rotation: AtomicUsize::new(0),
        forwards: AtomicUsize::new(0),
        tcp_conns: AtomicUsize::new(0),
        timeout: opts.forward_timeout,
    });
    let mut listeners: BTreeMap<IpAddr, Listener> = BTreeMap::new();
    let mut published: Option<Vec<IpAddr>> = None;
    loop {
        let records = Arc::new(load(root));
        let wanted = records.listen_addresses();
        *shared.records.write().unwrap() = records;
        if wanted.is_empty() {
            listeners.clear();
            remove_pid_file(root);
            drop(lock.take());
            // A network may have been added after our last read by someone who
            // saw us running and so did not start another daemon.
            if load(root).listen_addresses().is_empty() {
                return Ok(());
            }
            match FileLock::try_exclusive(&lock_path)? {
                Some(l) => {
                    lock = Some(l);
                    published = None;
                    continue;
                }
                None => return Ok(()),
            }
        }
        let missing = sync_listeners(&mut listeners, &wanted, opts.port);
        let listening: Vec<IpAddr> = listeners.keys().copied().collect();
        if published.as_ref() != Some(&listening) {
            let state = DaemonState {
                process: ProcessIdentity::current(),
                listening: listening.clone(),
            };
            berth_store::write_json(&daemon::pid_file(root), &state)?;
            published = Some(listening);
        }
        serve_until_change(&shared, &listeners, &watch, !missing)?;
    }
}

/// Reads every record. Unlike [`dnsdb::networks`], one unreadable file is
/// logged and skipped, so it cannot take the names of every other
/// container (or the whole daemon) down with it.
fn load(root: &Root) -> Records {
    let dir = dnsdb::watch_dir(root);
    Records::new(
        read_records(&dir.join("networks")),
        read_records(&dir.join("endpoints")),
    )
}

fn read_records<T: serde::de::DeserializeOwned>(dir: &std::path::Path) -> Vec<T> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        match berth_store::read_json_opt(&path) {
            Ok(Some(v)) => out.push(v),
            Ok(None) => {} // removed meanwhile
            Err(err) => berth_store::errln!("berth dns: skipping record: {err}"),
        }
    }
    out
}

fn remove_pid_file(root: &Root) {
    let _ = std::fs::remove_file(daemon::pid_file(root));
}

/// Watches the record directories (inotify is not recursive, so each one).
fn watch(root: &Root) -> Result<Inotify, DnsError> {
    let base = dnsdb::watch_dir(root);
    let ino = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
        .map_err(|e| DnsError::io("inotify", e))?;
    let mask = AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_DELETE_SELF
        | AddWatchFlags::IN_MOVE_SELF;
    for dir in [base.join("networks"), base.join("endpoints"), base] {
        Root::ensure_dir(&dir)?;
        ino.add_watch(&dir, mask)
            .map_err(|e| DnsError::io(format!("watching {}", dir.display()), e))?;
    }
    Ok(ino)
}

/// Opens listeners for new gateways, closes those of removed ones. Returns
/// whether some address could not be bound (it is retried later).
fn sync_listeners(
    listeners: &mut BTreeMap<IpAddr, Listener>,
    wanted: &[IpAddr],
    port: u16,
) -> bool {
    listeners.retain(|addr, _| wanted.contains(addr));
    let mut missing = false;
    for &addr in wanted {
        if listeners.contains_key(&addr) {
            continue;
        }
        match Listener::bind(SocketAddr::new(addr, port)) {
            Ok(l) => {
                listeners.insert(addr, l);
            }
            Err(e) => {
                berth_store::errln!(
                    "berth dns: listening on {}: {e}",
                    SocketAddr::new(addr, port)
                );
                missing = true;
            }
        }
    }
    missing
}

impl Listener {
    fn bind(sa: SocketAddr) -> io::Result<Listener> {
        let udp = UdpSocket::from(bound_socket(sa, SockType::Datagram)?);
        let tcp_fd = bound_socket(sa, SockType::Stream)?;
        sock::listen(&tcp_fd, sock::Backlog::new(128).map_err(io::Error::from)?)?;
        Ok(Listener {
            addr: sa.ip(),
            udp: Arc::new(udp),
            tcp: TcpListener::from(tcp_fd),
        })
    }
}

/// A non-blocking socket bound to `sa`. IP_FREEBIND lets it bind a gateway
/// address before the bridge carrying it is up (or while IPv6 DAD runs).
fn bound_socket(sa: SocketAddr, ty: SockType) -> io::Result<OwnedFd> {
    let family = match sa {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let fd = sock::socket(
        family,
        ty,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    sock::setsockopt(&fd, sockopt::IpFreebind, &true)?;
    sock::setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    if family == AddressFamily::Inet6 {
        sock::setsockopt(&fd, sockopt::Ipv6V6Only, &true)?;
    }
    sock::bind(fd.as_raw_fd(), &SockaddrStorage::from(sa))?;
    Ok(fd)
}

/// Serves queries until the records change (debounced) or, when some
/// address is still unbound, until it is time to try binding it again.
fn serve_until_change(
    shared: &Arc<Shared>,
    listeners: &BTreeMap<IpAddr, Listener>,
    watch: &Inotify,
    retry_bind: bool,
) -> Result<(), DnsError> {
    let ls: Vec<&Listener> = listeners.values().collect();
    let mut buf = vec![0u8; 65535];
    let mut reload_at: Option<Instant> = None;
    let retry_at = retry_bind.then(|| Instant::now() + RETRY_BIND);
    loop {
        let deadline = match (reload_at, retry_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(());
                }
                // Round up so a sub-millisecond wait does not spin.
                PollTimeout::try_from(left + Duration::from_micros(999)).unwrap_or(PollTimeout::MAX)
            }
        };
        let mut fds = Vec::with_capacity(1 + 2 * ls.len());
        fds.push(PollFd::new(watch.as_fd(), PollFlags::POLLIN));
        for l in &ls {
            fds.push(PollFd::new(l.udp.as_fd(), PollFlags::POLLIN));
            fds.push(PollFd::new(l.tcp.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(DnsError::io("poll", e)),
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if ready[0] {
            // Drain; the content of the events does not matter, only that
            // something changed.
            while matches!(watch.read_events(), Ok(ev) if !ev.is_empty()) {}
            reload_at.get_or_insert(Instant::now() + DEBOUNCE);
        }
        for (i, l) in ls.iter().enumerate() {
            if ready[1 + 2 * i] {
                serve_udp(shared, l, &mut buf);
            }
            if ready[2 + 2 * i] {
                accept_tcp(shared, l);
            }
        }
    }
}

/// What to do with one message.
enum Reply {
    Now(Vec<u8>),
    Forward(Vec<SocketAddr>, wire::Query),
    Drop,
}

fn handle(shared: &Shared, msg: &[u8], from: IpAddr, to: IpAddr, udp: bool) -> Reply {
    let q = match wire::parse_query(msg) {
        Ok(q) => q,
        // Nothing sensible to answer (and never answer a response: loops).
        Err(WireError::ShortHeader | WireError::NotAQuery) => return Reply::Drop,
        Err(_) => {
            let id = wire::message_id(msg).unwrap_or(0);
            return Reply::Now(wire::error_response(id, Rcode::FormErr));
        }
    };
    let limit = if udp {
        q.udp_limit()
    } else {
        usize::from(u16::MAX)
    };
    let reply =
        |rcode, answers: &[wire::Rdata]| Reply::Now(wire::response(&q, rcode, answers, 0, limit));
    if q.opcode != 0 {
        return reply(Rcode::NotImp, &[]);
    }
    let records = shared.records.read().unwrap().clone();
    let rotation = shared.rotation.load(Ordering::Relaxed);
    match resolve(&records, from, to, &q.question, rotation) {
        Outcome::Answer(a) => {
            if a.len() > 1 {
                shared.rotation.fetch_add(1, Ordering::Relaxed);
            }
            reply(Rcode::NoError, &a)
        }
        Outcome::NxDomain => reply(Rcode::NxDomain, &[]),
        Outcome::Refused => reply(Rcode::Refused, &[]),
        Outcome::Forward(theirs) => {
            let host = shared.upstreams.lock().unwrap().servers();
            let servers = upstream::choose(&theirs, &host, &records.listen_addresses());
            if servers.is_empty() {
                reply(Rcode::ServFail, &[])
            } else {
                Reply::Forward(servers, q)
            }
        }
    }
}

fn servfail(q: &wire::Query, limit: usize) -> Vec<u8> {
    wire::response(q, Rcode::ServFail, &[], 0, limit)
}

fn serve_udp(shared: &Arc<Shared>, l: &Listener, buf: &mut [u8]) {
    for _ in 0..UDP_BATCH {
        let (n, from) = match l.udp.recv_from(buf) {
            Ok(x) => x,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(_) => continue,
        };
        match handle(shared, &buf[..n], from.ip(), l.addr, true) {
            Reply::Now(resp) => {
                let _ = l.udp.send_to(&resp, from);
            }
            Reply::Drop => {}
            Reply::Forward(servers, q) => {
                forward_udp(shared, l, buf[..n].to_vec(), from, servers, q)
            }
        }
    }
}

fn forward_udp(
    shared: &Arc<Shared>,
    l: &Listener,
    msg: Vec<u8>,
    client: SocketAddr,
    servers: Vec<SocketAddr>,
    q: wire::Query,
) {
    let limit = q.udp_limit();
    if shared.forwards.fetch_add(1, Ordering::Relaxed) >= MAX_FORWARDS {
        shared.forwards.fetch_sub(1, Ordering::Relaxed);
        let _ = l.udp.send_to(&servfail(&q, limit), client);
        return;
    }
    let sock = l.udp.clone();
    let sh = shared.clone();
    let spawned = std::thread::Builder::new()
        .name("dns-forward".into())
        .spawn(move || {
            let resp = upstream::relay_udp(&msg, &servers, sh.timeout)
                .unwrap_or_else(|| servfail(&q, limit));
            let _ = sock.send_to(&resp, client);
            sh.forwards.fetch_sub(1, Ordering::Relaxed);
        });
    if spawned.is_err() {
        shared.forwards.fetch_sub(1, Ordering::Relaxed);
    }
}

fn accept_tcp(shared: &Arc<Shared>, l: &Listener) {
    loop {
        let (stream, _) = match l.tcp.accept() {
            Ok(x) => x,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(_) => return,
        };
        if shared.tcp_conns.fetch_add(1, Ordering::Relaxed) >= MAX_TCP {
            shared.tcp_conns.fetch_sub(1, Ordering::Relaxed);
            continue; // dropped: the client retries
        }
        let sh = shared.clone();
        let to = l.addr;
        let spawned = std::thread::Builder::new()
            .name("dns-tcp".into())
            .spawn(move || {
                let _ = serve_tcp(&sh, stream, to);
                sh.tcp_conns.fetch_sub(1, Ordering::Relaxed);
            });
        if spawned.is_err() {
            shared.tcp_conns.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// One TCP client: any number of length-prefixed queries until it closes or idles.
fn serve_tcp(shared: &Shared, mut s: TcpStream, to: IpAddr) -> io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(TCP_IDLE))?;
    s.set_write_timeout(Some(TCP_IDLE))?;
    let from = s.peer_addr()?.ip();
    loop {
        let msg = upstream::read_framed(&mut s)?;
        let resp = match handle(shared, &msg, from, to, false) {
            Reply::Now(r) => r,
            Reply::Drop => return Ok(()),
            // UDP first (cheap, and every resolver speaks it); TCP only when
            // the answer did not fit.
            Reply::Forward(servers, q) => upstream::relay_udp(&msg, &servers, shared.timeout)
                .filter(|r| r[2] & 0x02 == 0)
                .or_else(|| upstream::relay_tcp(&msg, &servers, shared.timeout))
                .unwrap_or_else(|| servfail(&q, usize::from(u16::MAX))),
        };
        upstream::write_framed(&mut s, &resp)?;
    }
}
