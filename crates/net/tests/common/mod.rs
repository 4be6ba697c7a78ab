//! Helpers shared by the root tests of berth-net.
#![allow(dead_code)]

use berth_testkit::host::Snapshot;

/// What berth-net could leave behind in the namespace playing the host:
/// links, addresses, routes, iptables and ip6tables rules. Mounts and
/// cgroups are the host's, changed meanwhile by other tests.
pub fn net_snapshot() -> Snapshot {
    Snapshot::take_for("berth-net-tests-use-no-cgroups")
}

/// The network differences between two snapshots (empty when none),
/// and berth's nf_tables tables, which must not outlive its networks.
pub fn net_diff(before: &Snapshot, after: &Snapshot) -> Vec<String> {
    let mut d: Vec<String> = before
        .diff(after)
        .into_iter()
        .filter(|l| !l.starts_with("mount ") && !l.starts_with("cgroup "))
        .collect();
    for f in berth_net::firewall::Family::all() {
        let tables = berth_net::firewall::nft::tables(f).unwrap_or_default();
        for t in tables
            .iter()
            .filter(|t| *t == berth_net::firewall::nft::TABLE)
        {
            d.push(format!("nf_tables table left: {f:?} {t}"));
        }
    }
    d
}

/// Runs `sh -c cmd` in the calling thread's namespace and asserts success.
pub fn sh(cmd: &str) {
    let out = std::process::Command::new("sh")
        .args(["-c", cmd])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `f` on a thread inside the network namespace of `pid`.
pub fn in_ns_of<T: Send>(pid: i32, f: impl FnOnce() -> T + Send) -> T {
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/net")).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            f()
        })
        .join()
        .unwrap()
    })
}

/// Connects to `addr` over TCP and reads until the server closes: the
/// greeting of a `busybox nc -ll -e echo …` server. `None` if unreachable.
pub fn tcp_read(addr: &str) -> Option<String> {
    use std::io::Read;
    let sa: std::net::SocketAddr = addr.parse().ok()?;
    let mut s =
        std::net::TcpStream::connect_timeout(&sa, std::time::Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .ok()?;
    // Nothing is sent: the server answers and closes, and unread data
    // would turn its close into a reset.
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out.trim().to_owned())
}

/// Sends one UDP datagram to `addr` and returns the reply, if any within 2 s.
pub fn udp_ask(addr: &str, msg: &[u8]) -> Option<String> {
    let sa: std::net::SocketAddr = addr.parse().ok()?;
    let any = if sa.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
    let s = std::net::UdpSocket::bind(any).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .ok()?;
    s.send_to(msg, sa).ok()?;
    let mut buf = [0u8; 1500];
    let (n, _) = s.recv_from(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).trim().to_owned())
}

/// Retries `f` for up to 5 s (servers take a moment to listen).
pub fn eventually<T>(mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if std::time::Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// TCP and UDP servers on one port inside a container's namespace, each
/// answering every connection or datagram with `reply` (where `$SOURCE`
/// stands for the address the client came from); stopped on drop.
pub struct Responder {
    /// Datagrams received so far (answered or not).
    pub datagrams: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Responder {
    pub fn start(pid: i32, addr: &str, reply: &str) -> Responder {
        use std::io::Write;
        use std::sync::atomic::Ordering;
        let (tcp, udp) = in_ns_of(pid, || {
            (
                std::net::TcpListener::bind(addr).unwrap(),
                std::net::UdpSocket::bind(addr).unwrap(),
            )
        });
        tcp.set_nonblocking(true).unwrap();
        udp.set_read_timeout(Some(std::time::Duration::from_millis(50)))
            .unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (s1, s2) = (stop.clone(), stop.clone());
        let (r1, r2) = (reply.to_owned(), reply.to_owned());
        let datagrams = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = datagrams.clone();
        let t1 = std::thread::spawn(move || {
            while !s1.load(Ordering::Relaxed) {
                match tcp.accept() {
                    Ok((mut c, from)) => {
                        let _ = c.set_nonblocking(false);
                        let text = r1.replace("$SOURCE", &from.ip().to_string());
                        let _ = c.write_all(format!("{text}\n").as_bytes());
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
                }
            }
        });
        let t2 = std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !s2.load(Ordering::Relaxed) {
                if let Ok((_, from)) = udp.recv_from(&mut buf) {
                    count.fetch_add(1, Ordering::SeqCst);
                    let text = r2.replace("$SOURCE", &from.ip().to_string());
                    let _ = udp.send_to(text.as_bytes(), from);
                }
            }
        });
        Responder {
            datagrams,
            stop,
            threads: vec![t1, t2],
        }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
