//! The DNS daemon for real (root): each test builds a throwaway network
//! namespace that plays the host, with bridges carrying the gateway
//! addresses, "containers" as further namespaces linked by veth pairs, and a
//! fake upstream DNS server on the fake host's loopback. Queries come from
//! busybox `nslookup` inside the containers, and from a raw client written
//! here (independent of the crate's own wire code) where exact order or TCP
//! matters.
//!
//! The daemon is this test binary re-executed (`daemon_entry`, ignored in
//! normal runs) inside the fake host, started through
//! `dns::daemon::ensure_running` as the runtime starts it.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use berth_net::dns::{daemon, server};
use berth_net::dnsdb::{self, DnsNetwork, Endpoint, EndpointNetwork};
use berth_store::Root;
use berth_testkit::{require_root, unique_name};
use nix::sched::{CloneFlags, setns};

const ENV_ROOT: &str = "BERTH_DNS_TEST_ROOT";
const ENV_RESOLV: &str = "BERTH_DNS_TEST_RESOLV_CONF";

/// The daemon process of the other tests (see the module comment).
#[test]
#[ignore = "entry point of the DNS daemon, re-executed by the other tests in their fake host"]
fn daemon_entry() {
    let Some(root) = std::env::var_os(ENV_ROOT) else {
        return;
    };
    let opts = server::Options {
        resolv_conf: std::env::var_os(ENV_RESOLV).expect(ENV_RESOLV).into(),
        forward_timeout: Duration::from_secs(1),
        ..Default::default()
    };
    server::run(&Root::new(root), &opts).expect("dns daemon");
}

// --- fixtures -----------------------------------------------------------------

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A network namespace deleted on drop.
struct Netns {
    name: String,
}

impl Netns {
    fn new() -> Netns {
        let name = unique_name("bdns");
        run("ip", &["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    fn ip(&self, args: &[&str]) {
        let mut a = vec!["-n", &self.name];
        a.extend_from_slice(args);
        run("ip", &a);
    }

    fn file(&self) -> File {
        File::open(format!("/run/netns/{}", self.name)).unwrap()
    }

    /// Runs `f` on a thread that has entered the namespace (sockets made
    /// there stay in it).
    fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let fd = self.file();
        std::thread::scope(|s| {
            s.spawn(|| {
                setns(&fd, CloneFlags::CLONE_NEWNET).unwrap();
                f()
            })
            .join()
            .unwrap()
        })
    }

    fn exec(&self, args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A fake upstream resolver: knows a few A records, NXDOMAIN for the rest,
/// and remembers every name it was asked.
struct Upstream {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl Upstream {
    fn start(ns: &Netns, addr: &str, known: &[(&str, Ipv4Addr)]) -> Upstream {
        let sock = ns.enter(|| UdpSocket::bind(addr).unwrap());
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let known: Vec<(String, Ipv4Addr)> =
            known.iter().map(|(n, a)| (n.to_string(), *a)).collect();
        let (stop2, seen2) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !stop2.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let (name, qtype, qend) = read_question(&buf[..n]);
                seen2.lock().unwrap().push(name.clone());
                let hit = known.iter().find(|(k, _)| *k == name).map(|(_, a)| *a);
                let mut r = buf[..qend].to_vec();
                r[2] = 0x81 | (buf[2] & 0x01);
                r[3] = if hit.is_some() { 0x80 } else { 0x83 };
                r[6..12].copy_from_slice(&[0, 0, 0, 0, 0, 0]);
                if let (Some(a), 1) = (hit, qtype) {
                    r[7] = 1;
                    r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
                    r.extend_from_slice(&a.octets());
                }
                sock.send_to(&r, from).unwrap();
            }
        });
        Upstream {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    fn asked(&self, name: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|n| *n == name)
            .count()
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A berth root, a fake host and the daemon running in it.
struct Host {
    root: Root,
    _tmp: tempfile::TempDir,
    resolv_conf: PathBuf,
    daemon: Option<Child>,
    spawned: usize,
    // Dropped after the daemon is stopped (see Drop).
    containers: Vec<Netns>,
    ns: Netns,
}

impl Host {
    fn new() -> Host {
        let tmp = tempfile::tempdir().unwrap();
        let resolv_conf = tmp.path().join("host-resolv.conf");
        std::fs::write(&resolv_conf, "nameserver 127.0.0.53\n").unwrap();
        Host {
            root: Root::new(tmp.path().join("root")),
            _tmp: tmp,
            resolv_conf,
            daemon: None,
            spawned: 0,
            containers: Vec::new(),
            ns: Netns::new(),
        }
    }

    /// A bridge carrying the gateway addresses (with prefix) of a network.
    fn bridge(&self, gateways: &[&str]) -> String {
        let br = unique_name("br");
        self.ns.ip(&["link", "add", &br, "type", "bridge"]);
        self.ns.ip(&["link", "set", &br, "up"]);
        for g in gateways {
            self.ns.ip(&["addr", "add", g, "dev", &br, "nodad"]);
        }
        br
    }

    /// A network record, as the attach code writes it.
    fn network(&self, name: &str, gateways: &[&str], internal: bool) {
        let n = DnsNetwork {
            name: name.into(),
            gateways: gateways.iter().map(|g| ip(g)).collect(),
            internal,
        };
        dnsdb::put_network(&self.root, &n).unwrap();
    }

    /// A container namespace with `eth0` on `bridge` carrying `addrs` (with prefix).
    fn container(&mut self, bridge: &str, addrs: &[&str]) -> usize {
        let c = Netns::new();
        let host_end = unique_name("ve");
        self.ns.ip(&[
            "link", "add", &host_end, "type", "veth", "peer", "name", "eth0", "netns", &c.name,
        ]);
        self.ns
            .ip(&["link", "set", &host_end, "master", bridge, "up"]);
        for a in addrs {
            c.ip(&["addr", "add", a, "dev", "eth0", "nodad"]);
        }
        c.ip(&["link", "set", "eth0", "up"]);
        self.containers.push(c);
        self.containers.len() - 1
    }

    /// This test binary as the daemon of `root`, inside the fake host.
    fn daemon_command(&self, root: &str) -> Command {
        let ns = self.ns.file();
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "daemon_entry",
            "--exact",
            "--ignored",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(ENV_ROOT, root)
        .env(ENV_RESOLV, &self.resolv_conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
        // SAFETY: setns is a plain system call, safe between fork and exec.
        unsafe {
            cmd.pre_exec(move || setns(&ns, CloneFlags::CLONE_NEWNET).map_err(Into::into));
        }
        cmd
    }

    fn ensure_daemon(&mut self) {
        let child = std::cell::RefCell::new(None);
        daemon::ensure_running(&self.root, |args| {
            assert_eq!(
                (args[0].as_str(), &args[2..]),
                ("--root", &["__internal".to_string(), "dns".to_string()][..])
            );
            *child.borrow_mut() = Some(self.daemon_command(&args[1]).spawn()?);
            Ok(())
        })
        .unwrap();
        if let Some(c) = child.into_inner() {
            assert!(self.daemon.is_none(), "a second daemon was started");
            self.daemon = Some(c);
            self.spawned += 1;
        }
    }

    fn daemon_pid(&self) -> i32 {
        daemon::running(&self.root)
            .unwrap()
            .expect("daemon runs")
            .process
            .pid
    }

    /// Waits for the daemon to exit by itself and reaps it.
    fn wait_daemon_exit(&mut self) -> std::process::ExitStatus {
        let child = self.daemon.as_mut().expect("daemon was started");
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.daemon = None;
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "daemon did not exit"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// busybox nslookup in container `c`: (rcode text or "ok", answers).
    fn nslookup(&self, c: usize, name: &str, server: &str) -> (String, Vec<String>) {
        let out = self.containers[c].exec(&["busybox", "nslookup", name, server]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut answers = Vec::new();
        let mut status = "ok".to_string();
        for line in text.lines() {
            if let Some(a) = line.strip_prefix("Address: ") {
                answers.push(a.trim().to_string());
            } else if let Some((_, n)) = line.split_once("name = ") {
                answers.push(n.trim().to_string());
            } else if let Some(err) = line.strip_prefix("** server can't find ") {
                status = err.rsplit(": ").next().unwrap().to_string();
            }
        }
        (status, answers)
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            let _ = daemon::stop(&self.root);
            let _ = c.kill();
            let _ = c.wait();
        }
        // Containers, then the host namespace (fields drop in order).
    }
}

fn endpoint(id: &str, name: &str, nets: &[(&str, &[&str], &[&str])]) -> Endpoint {
    Endpoint {
        container_id: id.into(),
        container_name: name.into(),
        networks: nets
            .iter()
            .map(|(n, addrs, aliases)| EndpointNetwork {
                network: n.to_string(),
                addresses: addrs.iter().map(|a| ip(a)).collect(),
                aliases: aliases.iter().map(|a| a.to_string()).collect(),
            })
            .collect(),
        dns_servers: vec![],
    }
}

// --- a raw client ---------------------------------------------------------------

fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = vec![(id >> 8) as u8, id as u8, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for l in name.split('.') {
        q.push(l.len() as u8);
        q.extend_from_slice(l.as_bytes());
    }
    q.extend_from_slice(&[0, 0, qtype as u8, 0, 1]);
    q
}

/// (name, qtype, end of question) of a message.
fn read_question(m: &[u8]) -> (String, u16, usize) {
    let mut pos = 12;
    let mut labels = Vec::new();
    while m[pos] != 0 {
        let len = m[pos] as usize;
        labels.push(String::from_utf8_lossy(&m[pos + 1..pos + 1 + len]).to_lowercase());
        pos += 1 + len;
    }
    let qtype = u16::from_be_bytes([m[pos + 1], m[pos + 2]]);
    (labels.join("."), qtype, pos + 5)
}

/// (rcode, A/AAAA addresses in order) of a response to `query(id, ..)`.
fn addresses(resp: &[u8], id: u16) -> (u8, Vec<IpAddr>) {
    assert_eq!(u16::from_be_bytes([resp[0], resp[1]]), id);
    assert_eq!(resp[2] & 0x80, 0x80, "a response");
    let count = u16::from_be_bytes([resp[6], resp[7]]);
    let (_, _, mut pos) = read_question(resp);
    let mut out = Vec::new();
    for _ in 0..count {
        // Owner name: labels, then a terminator or a pointer.
        while resp[pos] != 0 && resp[pos] & 0xc0 != 0xc0 {
            pos += 1 + resp[pos] as usize;
        }
        pos += if resp[pos] == 0 { 1 } else { 2 };
        let rtype = u16::from_be_bytes([resp[pos], resp[pos + 1]]);
        let ttl = u32::from_be_bytes(resp[pos + 4..pos + 8].try_into().unwrap());
        let len = u16::from_be_bytes([resp[pos + 8], resp[pos + 9]]) as usize;
        let data = &resp[pos + 10..pos + 10 + len];
        let addr = match rtype {
            1 => IpAddr::from(<[u8; 4]>::try_from(data).unwrap()),
            28 => IpAddr::from(<[u8; 16]>::try_from(data).unwrap()),
            _ => {
                pos += 10 + len;
                continue;
            }
        };
        // Containers' addresses are never cached; the fake upstream's answers
        // (192.0.2.0/24, TTL 60) are relayed unchanged.
        let upstream = matches!(addr, IpAddr::V4(v4) if v4.octets()[..3] == [192, 0, 2]);
        assert_eq!(ttl, if upstream { 60 } else { 0 }, "TTL of {addr}");
        out.push(addr);
        pos += 10 + len;
    }
    (resp[3] & 0x0f, out)
}

fn udp_ask(
    sock: &UdpSocket,
    server: SocketAddr,
    id: u16,
    name: &str,
    qtype: u16,
) -> (u8, Vec<IpAddr>) {
    sock.send_to(&query(id, name, qtype), server).unwrap();
    let mut buf = [0u8; 1500];
    let n = sock.recv(&mut buf).expect("an answer");
    addresses(&buf[..n], id)
}

fn tcp_ask(ns: &Netns, server: SocketAddr, id: u16, name: &str) -> (u8, Vec<IpAddr>) {
    let mut s = ns.enter(|| TcpStream::connect_timeout(&server, Duration::from_secs(2)).unwrap());
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let q = query(id, name, 1);
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    s.write_all(&framed).unwrap();
    let mut len = [0u8; 2];
    s.read_exact(&mut len).unwrap();
    let mut resp = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut resp).unwrap();
    addresses(&resp, id)
}

/// Retries `f` until it returns true (records are reloaded asynchronously).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

// --- tests ----------------------------------------------------------------------

/// Service names, container names, aliases, PTR and IPv6 from inside
/// containers; names of a network the asker is not on go upstream; internal
/// networks never go upstream; outside names come from the host's resolver.
#[test]
fn containers_resolve_names_of_their_networks_only() {
    require_root!();
    let mut h = Host::new();
    let upstream = Upstream::start(
        &h.ns,
        "127.0.0.53:53",
        &[("outside.example", Ipv4Addr::new(192, 0, 2, 80))],
    );
    let front = h.bridge(&["10.201.1.1/24", "fd00:201:1::1/64"]);
    let back = h.bridge(&["10.201.2.1/24"]);
    let client = h.container(&front, &["10.201.1.10/24", "fd00:201:1::10/64"]);
    let worker = h.container(&back, &["10.201.2.10/24"]);
    h.network("app_front", &["10.201.1.1", "fd00:201:1::1"], false);
    h.network("app_back", &["10.201.2.1"], true);
    let eps = [
        endpoint(
            "w1",
            "app-web-1",
            &[(
                "app_front",
                &["10.201.1.2", "fd00:201:1::2"],
                &["web", "www"],
            )],
        ),
        endpoint(
            "w2",
            "app-web-2",
            &[("app_front", &["10.201.1.3"], &["web"])],
        ),
        endpoint("d1", "app-db-1", &[("app_back", &["10.201.2.5"], &["db"])]),
        endpoint(
            "c1",
            "app-client-1",
            &[("app_front", &["10.201.1.10", "fd00:201:1::10"], &["client"])],
        ),
        endpoint(
            "k1",
            "app-worker-1",
            &[("app_back", &["10.201.2.10"], &["worker"])],
        ),
    ];
    for e in &eps {
        dnsdb::put_endpoint(&h.root, e).unwrap();
    }
    h.ensure_daemon();
    let gw = "10.201.1.1";

    let (st, mut web) = h.nslookup(client, "web", gw);
    web.sort();
    assert_eq!(
        (st.as_str(), web),
        (
            "ok",
            vec![
                "10.201.1.2".into(),
                "10.201.1.3".into(),
                "fd00:201:1::2".into()
            ]
        )
    );
    assert_eq!(
        h.nslookup(client, "APP-web-2", gw),
        ("ok".into(), vec!["10.201.1.3".into()])
    );
    assert_eq!(
        h.nslookup(client, "www.", gw).1,
        vec!["10.201.1.2", "fd00:201:1::2"]
    );
    // Over IPv6 to the v6 gateway.
    assert_eq!(
        h.nslookup(client, "www", "fd00:201:1::1").1,
        vec!["10.201.1.2", "fd00:201:1::2"]
    );
    assert_eq!(
        h.nslookup(client, "10.201.1.3", gw),
        ("ok".into(), vec!["app-web-2".into()])
    );

    // db lives on app_back only: not answered to the client, asked upstream
    // (which does not know it either).
    assert_eq!(h.nslookup(client, "db", gw).0, "NXDOMAIN");
    assert!(upstream.asked("db") >= 1);
    assert_eq!(h.nslookup(client, "10.201.2.5", gw).1, Vec::<String>::new());
    assert_eq!(
        h.nslookup(client, "outside.example", gw),
        ("ok".into(), vec!["192.0.2.80".into()])
    );

    // The worker (internal network only) sees db but never the outside.
    let back_gw = "10.201.2.1";
    assert_eq!(
        h.nslookup(worker, "db", back_gw),
        ("ok".into(), vec!["10.201.2.5".into()])
    );
    assert_eq!(h.nslookup(worker, "app-web-1", back_gw).0, "NXDOMAIN");
    let before = upstream.asked("outside.example");
    assert_eq!(h.nslookup(worker, "outside.example", back_gw).0, "NXDOMAIN");
    assert_eq!(upstream.asked("outside.example"), before);

    // TCP from the host itself (not a container): the network it asked.
    let (rcode, mut v) = tcp_ask(&h.ns, sa("10.201.1.1:53"), 7, "web");
    v.sort();
    assert_eq!((rcode, v), (0, vec![ip("10.201.1.2"), ip("10.201.1.3")]));
    assert_eq!(
        tcp_ask(&h.ns, sa("10.201.1.1:53"), 8, "outside.example"),
        (0, vec![ip("192.0.2.80")])
    );

    // The host's resolv.conf changes: the new upstream is used at once.
    let second = Upstream::start(
        &h.ns,
        "127.0.0.54:53",
        &[("outside.example", Ipv4Addr::new(192, 0, 2, 81))],
    );
    std::fs::write(&h.resolv_conf, "nameserver 127.0.0.54\n").unwrap();
    assert_eq!(
        h.nslookup(client, "outside.example", gw).1,
        vec!["192.0.2.81"]
    );
    assert!(second.asked("outside.example") >= 1);

    // The client's own `dns:` servers come before the host's.
    let own = Upstream::start(
        &h.ns,
        "127.0.0.55:53",
        &[("outside.example", Ipv4Addr::new(192, 0, 2, 82))],
    );
    let mut c1 = eps[3].clone();
    c1.dns_servers = vec![ip("127.0.0.55")];
    dnsdb::put_endpoint(&h.root, &c1).unwrap();
    eventually("the container's dns servers", || {
        h.nslookup(client, "outside.example", gw).1 == vec!["192.0.2.82"]
    });
    assert!(own.asked("outside.example") >= 1);
}

/// Replicas in rotating order, reloads without restart, listeners following
/// networks, and the daemon leaving with the last network.
#[test]
fn records_reload_and_daemon_follows_networks() {
    require_root!();
    let mut h = Host::new();
    h.bridge(&["10.202.1.1/24"]);
    h.network("app_default", &["10.202.1.1"], false);
    for (id, name, addr) in [
        ("a", "app-web-1", "10.202.1.2"),
        ("b", "app-web-2", "10.202.1.3"),
        ("c", "app-web-3", "10.202.1.4"),
    ] {
        dnsdb::put_endpoint(
            &h.root,
            &endpoint(id, name, &[("app_default", &[addr], &["web"])]),
        )
        .unwrap();
    }
    h.ensure_daemon();
    let pid = h.daemon_pid();
    let server = sa("10.202.1.1:53");
    let sock = h.ns.enter(|| UdpSocket::bind("10.202.1.1:0").unwrap());
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();

    // Round robin: each address comes first in turn; all are always there.
    let mut firsts = Vec::new();
    for id in 0..6 {
        let (rcode, v) = udp_ask(&sock, server, id, "web", 1);
        assert_eq!((rcode, v.len()), (0, 3));
        firsts.push(v[0]);
    }
    let mut distinct = firsts.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "rotation over every replica: {firsts:?}");
    assert_ne!(firsts[0], firsts[1]);

    // A replica goes away and another container gets an alias: picked up
    // without a restart.
    dnsdb::remove_endpoint(&h.root, "c").unwrap();
    dnsdb::put_endpoint(
        &h.root,
        &endpoint(
            "d",
            "app-api-1",
            &[("app_default", &["10.202.1.9"], &["api"])],
        ),
    )
    .unwrap();
    eventually("the new alias", || {
        udp_ask(&sock, server, 20, "api", 1) == (0, vec![ip("10.202.1.9")])
    });
    let (_, mut v) = udp_ask(&sock, server, 21, "web", 1);
    v.sort();
    assert_eq!(v, vec![ip("10.202.1.2"), ip("10.202.1.3")]);
    assert_eq!(h.daemon_pid(), pid, "no restart");

    // A broken record costs only its own names.
    let bad = dnsdb::watch_dir(&h.root).join("endpoints/broken.json");
    std::fs::write(&bad, "{\"container_id\":").unwrap();
    dnsdb::put_endpoint(
        &h.root,
        &endpoint("e", "app-new-1", &[("app_default", &["10.202.1.10"], &[])]),
    )
    .unwrap();
    eventually("a record beside a broken one", || {
        udp_ask(&sock, server, 22, "app-new-1", 1) == (0, vec![ip("10.202.1.10")])
    });
    assert_eq!(
        udp_ask(&sock, server, 23, "api", 1),
        (0, vec![ip("10.202.1.9")])
    );
    std::fs::remove_file(&bad).unwrap();

    // A second network: the same daemon listens on its gateway once
    // ensure_running returns, and stops when it is removed.
    h.bridge(&["10.202.2.1/24"]);
    h.network("other_default", &["10.202.2.1"], true);
    h.ensure_daemon();
    assert_eq!(h.spawned, 1);
    assert_eq!(h.daemon_pid(), pid);
    let sock2 = h.ns.enter(|| UdpSocket::bind("10.202.2.1:0").unwrap());
    sock2
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    // The host asking on other_default's gateway sees that network's names.
    assert_eq!(
        udp_ask(&sock2, sa("10.202.2.1:53"), 30, "web", 1),
        (3, vec![])
    );
    dnsdb::remove_network(&h.root, "other_default").unwrap();
    eventually("the listener to close", || {
        daemon::running(&h.root)
            .unwrap()
            .is_some_and(|s| s.listening == vec![ip("10.202.1.1")])
    });
    sock2.connect("10.202.2.1:53").unwrap();
    sock2.send(&query(31, "web", 1)).unwrap();
    let err = sock2.recv(&mut [0u8; 512]).unwrap_err();
    assert_eq!(
        err.kind(),
        std::io::ErrorKind::ConnectionRefused,
        "nothing listens any more"
    );

    // The last network goes: the daemon exits on its own, cleanly.
    dnsdb::remove_network(&h.root, "app_default").unwrap();
    let status = h.wait_daemon_exit();
    assert!(status.success(), "{status}");
    assert!(!daemon::pid_file(&h.root).exists());
    assert_eq!(daemon::running(&h.root).unwrap(), None);
}

/// One daemon per root, a gateway bound before its bridge exists, and stop().
#[test]
fn one_daemon_per_root_and_stop() {
    require_root!();
    let mut h = Host::new();
    // The record comes before the bridge (IP_FREEBIND).
    h.network("app_default", &["10.203.1.1"], false);
    dnsdb::put_endpoint(
        &h.root,
        &endpoint(
            "a",
            "app-db-1",
            &[("app_default", &["10.203.1.2"], &["db"])],
        ),
    )
    .unwrap();
    h.ensure_daemon();
    h.ensure_daemon();
    assert_eq!(h.spawned, 1);
    h.bridge(&["10.203.1.1/24"]);
    let sock = h.ns.enter(|| UdpSocket::bind("10.203.1.1:0").unwrap());
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    assert_eq!(
        udp_ask(&sock, sa("10.203.1.1:53"), 1, "DB", 1),
        (0, vec![ip("10.203.1.2")])
    );
    assert_eq!(
        udp_ask(&sock, sa("10.203.1.1:53"), 2, "db", 28),
        (0, vec![])
    );

    // A second daemon for the same root gives way at once.
    let lock_holder = daemon::running(&h.root).unwrap().unwrap();
    let second = h
        .daemon_command(h.root.path().to_str().unwrap())
        .status()
        .unwrap();
    assert!(second.success());
    assert_eq!(daemon::running(&h.root).unwrap().unwrap(), lock_holder);

    assert!(daemon::stop(&h.root).unwrap());
    let mut child = h.daemon.take().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed by SIGTERM: {status}");
    assert!(!daemon::pid_file(&h.root).exists());
    assert!(!daemon::stop(&h.root).unwrap());
}
