//! Fixtures of the DNS daemon's root tests: namespaces, a fake upstream
//! resolver, a fake host running the daemon, and a raw DNS client written
//! independently of the crate's wire code.
#![allow(dead_code)]

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

use berth_net::dns::daemon;
use berth_net::dnsdb::{self, DnsNetwork, Endpoint, EndpointNetwork};
use berth_store::Root;
use berth_testkit::unique_name;
use nix::sched::{CloneFlags, setns};

pub const ENV_ROOT: &str = "BERTH_DNS_TEST_ROOT";
pub const ENV_RESOLV: &str = "BERTH_DNS_TEST_RESOLV_CONF";

// --- fixtures -----------------------------------------------------------------

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A network namespace deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new() -> Netns {
        let name = unique_name("bdns");
        run("ip", &["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    pub fn ip(&self, args: &[&str]) {
        let mut a = vec!["-n", &self.name];
        a.extend_from_slice(args);
        run("ip", &a);
    }

    pub fn file(&self) -> File {
        File::open(format!("/run/netns/{}", self.name)).unwrap()
    }

    /// Runs `f` on a thread that has entered the namespace (sockets made
    /// there stay in it).
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
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

    pub fn exec(&self, args: &[&str]) -> std::process::Output {
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
pub struct Upstream {
    pub stop: Arc<AtomicBool>,
    pub seen: Arc<Mutex<Vec<String>>>,
    pub thread: Option<JoinHandle<()>>,
}

impl Upstream {
    pub fn start(ns: &Netns, addr: &str, known: &[(&str, Ipv4Addr)]) -> Upstream {
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

    pub fn asked(&self, name: &str) -> usize {
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
pub struct Host {
    pub root: Root,
    pub _tmp: tempfile::TempDir,
    pub resolv_conf: PathBuf,
    pub daemon: Option<Child>,
    pub spawned: usize,
    // Dropped after the daemon is stopped (see Drop).
    pub containers: Vec<Netns>,
    pub ns: Netns,
}

impl Host {
    pub fn new() -> Host {
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
    pub fn bridge(&self, gateways: &[&str]) -> String {
        let br = unique_name("br");
        self.ns.ip(&["link", "add", &br, "type", "bridge"]);
        self.ns.ip(&["link", "set", &br, "up"]);
        for g in gateways {
            self.ns.ip(&["addr", "add", g, "dev", &br, "nodad"]);
        }
        br
    }

    /// A network record, as the attach code writes it.
    pub fn network(&self, name: &str, gateways: &[&str], internal: bool) {
        let n = DnsNetwork {
            name: name.into(),
            gateways: gateways.iter().map(|g| ip(g)).collect(),
            internal,
        };
        dnsdb::put_network(&self.root, &n).unwrap();
    }

    /// A container namespace with `eth0` on `bridge` carrying `addrs` (with prefix).
    pub fn container(&mut self, bridge: &str, addrs: &[&str]) -> usize {
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
    pub fn daemon_command(&self, root: &str) -> Command {
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

    pub fn ensure_daemon(&mut self) {
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

    pub fn daemon_pid(&self) -> i32 {
        daemon::running(&self.root)
            .unwrap()
            .expect("daemon runs")
            .process
            .pid
    }

    /// Waits for the daemon to exit by itself and reaps it.
    pub fn wait_daemon_exit(&mut self) -> std::process::ExitStatus {
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
    pub fn nslookup(&self, c: usize, name: &str, server: &str) -> (String, Vec<String>) {
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

pub fn endpoint(id: &str, name: &str, nets: &[(&str, &[&str], &[&str])]) -> Endpoint {
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

pub fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = vec![(id >> 8) as u8, id as u8, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for l in name.split('.') {
        q.push(l.len() as u8);
        q.extend_from_slice(l.as_bytes());
    }
    q.extend_from_slice(&[0, 0, qtype as u8, 0, 1]);
    q
}

/// (name, qtype, end of question) of a message.
pub fn read_question(m: &[u8]) -> (String, u16, usize) {
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
pub fn addresses(resp: &[u8], id: u16) -> (u8, Vec<IpAddr>) {
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

pub fn udp_ask(
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

pub fn tcp_ask(ns: &Netns, server: SocketAddr, id: u16, name: &str) -> (u8, Vec<IpAddr>) {
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
pub fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}
