//! Helpers shared by the build tests that need the network or a build
//! running in the background (on top of `common::Env`): a TCP server in a
//! network namespace that can hold its answers back, and RUN containers.
#![allow(dead_code)]

use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::Env;

/// Runs `f` in a thread inside the network namespace at `path`
/// (`/run/netns/…` or `/proc/<pid>/ns/net`).
pub fn in_netns<T: Send>(path: &str, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            let ns = std::fs::File::open(path).expect("open netns");
            nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// A TCP server answering `<tag> saw <peer address>` to every connection
/// and closing it. A gated server holds every answer back until
/// [`Server::open`], so a RUN step talking to it stays running as long as
/// the test needs. Stopped on drop.
pub struct Server {
    pub addr: SocketAddr,
    peers: Arc<Mutex<Vec<IpAddr>>>,
    gate: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Listens on `bind` (port 0: any) inside the namespace at `netns`.
    pub fn start(netns: &str, bind: &str, tag: &str, gated: bool) -> Server {
        let listener = in_netns(netns, || TcpListener::bind(bind).unwrap());
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let peers = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new(AtomicBool::new(!gated));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, g, s, tag) = (peers.clone(), gate.clone(), stop.clone(), tag.to_owned());
        let thread = std::thread::spawn(move || {
            let mut waiting = Vec::new();
            while !s.load(Ordering::Relaxed) {
                if let Ok((conn, peer)) = listener.accept() {
                    p.lock().unwrap().push(peer.ip());
                    waiting.push((conn, peer));
                }
                if g.load(Ordering::Relaxed) {
                    for (mut conn, peer) in waiting.drain(..) {
                        let _ = conn.set_nonblocking(false);
                        let _ = writeln!(conn, "{tag} saw {}", peer.ip());
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Server {
            addr,
            peers,
            gate,
            stop,
            thread: Some(thread),
        }
    }

    /// The addresses that connected so far.
    pub fn peers(&self) -> Vec<IpAddr> {
        self.peers.lock().unwrap().clone()
    }

    /// Lets the held answers (and every later one) go.
    pub fn open(&self) {
        self.gate.store(true, Ordering::Relaxed);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A build started in the background, its output in `log`; killed on drop
/// if still running.
pub struct BackgroundBuild {
    pub child: Child,
    pub log: std::path::PathBuf,
}

impl BackgroundBuild {
    pub fn start(env: &Env, dir: &Path, args: &[&str]) -> BackgroundBuild {
        Self::start_with(env, dir, args, &[])
    }

    /// With these environment variables set.
    pub fn start_with(
        env: &Env,
        dir: &Path,
        args: &[&str],
        vars: &[(&str, &Path)],
    ) -> BackgroundBuild {
        let log = dir.join(format!("build-{}.log", berth_testkit::unique_name("l")));
        let f = std::fs::File::create(&log).unwrap();
        let mut c = env.command(dir, args);
        for (k, v) in vars {
            c.env(k, v);
        }
        let child = c.stdout(Stdio::null()).stderr(f).spawn().unwrap();
        BackgroundBuild { child, log }
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the build to end; (success, output).
    pub fn finish(mut self) -> (bool, String) {
        let ok = self.child.wait().unwrap().success();
        (ok, self.output())
    }
}

impl Drop for BackgroundBuild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `container inspect` of every RUN container of the root.
pub fn build_containers(env: &Env) -> Vec<serde_json::Value> {
    env.container_ids()
        .iter()
        .map(|id| env.inspect(id))
        .filter(|c| c["Config"]["labels"]["berth.build"] == "true")
        .collect()
}

/// `network inspect NAME`, `None` when it does not exist.
pub fn network(env: &Env, name: &str) -> Option<serde_json::Value> {
    let o = env.berth(env.root.path(), &["network", "inspect", name]);
    if !o.status.success() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    Some(v[0].clone())
}

/// What RUN printed on lines `#N key=value`: the value of the last `key`.
pub fn value<'a>(log: &'a str, key: &str) -> Option<&'a str> {
    let prefix = format!("{key}=");
    log.lines()
        .filter_map(|l| l.split_once(' ').map(|(_, rest)| rest))
        .filter_map(|rest| rest.strip_prefix(&prefix))
        .next_back()
}
