//! Finding, starting and stopping the DNS daemon of a root.
//!
//! One daemon per root holds `<root>/run/dns.lock` for its lifetime and
//! publishes `<root>/run/dns.pid`: its pid, start time and the addresses it
//! listens on. It is started by whoever adds a network ([`ensure_running`]),
//! and exits by itself when the last network record is removed. How it is
//! spawned is the caller's choice: its parent must reap it (pid 1 may not),
//! which in berth is the per-root monitor.

use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use berth_store::{ProcessIdentity, Root};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use super::DnsError;
use crate::dnsdb;

/// How long [`ensure_running`] waits for the daemon to listen on every gateway.
pub const READY_TIMEOUT: Duration = Duration::from_secs(3);
/// How long [`stop`] waits after SIGTERM before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(2);

/// What a running daemon publishes about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonState {
    #[serde(flatten)]
    pub process: ProcessIdentity,
    /// Gateway addresses with a bound UDP socket and TCP listener (port 53).
    pub listening: Vec<IpAddr>,
}

pub fn pid_file(root: &Root) -> PathBuf {
    root.run().join("dns.pid")
}

pub fn lock_file(root: &Root) -> PathBuf {
    root.run().join("dns.lock")
}

/// Arguments of the berth binary that run the daemon of `root`:
/// `--root <root> __internal dns` (the global option first, so a spawner
/// that supplies the root itself can drop the first two).
pub fn daemon_args(root: &Root) -> Vec<String> {
    vec![
        "--root".into(),
        root.path().to_string_lossy().into_owned(),
        "__internal".into(),
        "dns".into(),
    ]
}

/// The running daemon of `root`, if any. A pid file left by a killed daemon
/// names a process that is gone (or a reused pid with another start time).
pub fn running(root: &Root) -> Result<Option<DaemonState>, DnsError> {
    let state: Option<DaemonState> = match berth_store::read_json_opt(&pid_file(root)) {
        Ok(s) => s,
        // Torn or foreign content: treat as absent, the daemon rewrites it.
        Err(berth_store::StoreError::Json { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    Ok(state.filter(|s| s.process.is_running()))
}

/// Makes sure the daemon of `root` runs and listens on the gateway of every
/// network recorded in [`dnsdb`]: starts it with `spawn(args)` (arguments of
/// the berth binary, see [`daemon_args`]) if it is not running, then waits
/// until it listens everywhere. With no network recorded there is nothing to do.
pub fn ensure_running(
    root: &Root,
    spawn: impl Fn(Vec<String>) -> io::Result<()>,
) -> Result<(), DnsError> {
    let mut wanted: Vec<IpAddr> = dnsdb::networks(root)?
        .into_iter()
        .flat_map(|n| n.gateways)
        .collect();
    wanted.sort();
    wanted.dedup();
    if wanted.is_empty() {
        return Ok(());
    }
    // A daemon that saw its last network go may be exiting just as a new
    // network appears: if it is gone while we wait, start another one.
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if running(root)?.is_none() {
            spawn(daemon_args(root)).map_err(|source| DnsError::Spawn {
                root: root.path().to_owned(),
                source,
            })?;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match wait_ready(root, &wanted, left.min(Duration::from_millis(500))) {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => {}
        }
    }
}

/// Waits until a live daemon lists every address of `wanted`.
pub fn wait_ready(root: &Root, wanted: &[IpAddr], timeout: Duration) -> Result<(), DnsError> {
    let start = Instant::now();
    let mut pause = Duration::from_micros(500);
    loop {
        let missing: Vec<IpAddr> = match running(root)? {
            Some(s) => wanted
                .iter()
                .filter(|a| !s.listening.contains(a))
                .copied()
                .collect(),
            None => wanted.to_vec(),
        };
        if missing.is_empty() {
            return Ok(());
        }
        if start.elapsed() >= timeout {
            let missing: Vec<String> = missing.iter().map(|a| format!("{a}:53")).collect();
            return Err(DnsError::NotReady {
                root: root.path().to_owned(),
                missing: missing.join(", "),
                waited_ms: start.elapsed().as_millis() as u64,
            });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// Stops the daemon of `root` (SIGTERM, then SIGKILL) and removes its pid
/// file. Returns whether one was running. Reaping it is its parent's job.
pub fn stop(root: &Root) -> Result<bool, DnsError> {
    let Some(state) = running(root)? else {
        let _ = std::fs::remove_file(pid_file(root));
        return Ok(false);
    };
    let pid = Pid::from_raw(state.process.pid);
    for signal in [Signal::SIGTERM, Signal::SIGKILL] {
        let _ = kill(pid, signal);
        let start = Instant::now();
        while state.process.is_running() && start.elapsed() < STOP_TIMEOUT {
            std::thread::sleep(Duration::from_millis(2));
        }
        if !state.process.is_running() {
            break;
        }
    }
    if state.process.is_running() {
        return Err(DnsError::io(
            format!("stopping pid {}", state.process.pid),
            io::Error::from(io::ErrorKind::TimedOut),
        ));
    }
    // Only remove the file if it still names the process just stopped.
    if running(root)?.is_none() {
        let _ = std::fs::remove_file(pid_file(root));
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dnsdb::DnsNetwork;

    #[test]
    fn args_name_the_root() {
        let root = Root::new("/tmp/r");
        assert_eq!(
            daemon_args(&root),
            ["--root", "/tmp/r", "__internal", "dns"]
        );
    }

    #[test]
    fn stale_pid_file_is_not_running() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path());
        Root::ensure_dir(&root.run()).unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        let id = ProcessIdentity::of(pid).unwrap();
        child.wait().unwrap();
        let state = DaemonState {
            process: id,
            listening: vec!["10.0.0.1".parse().unwrap()],
        };
        berth_store::write_json(&pid_file(&root), &state).unwrap();
        assert_eq!(running(&root).unwrap(), None);
        assert!(!stop(&root).unwrap());
        assert!(!pid_file(&root).exists());
    }

    #[test]
    fn ensure_running_without_networks_spawns_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path());
        ensure_running(&root, |_| panic!("must not spawn")).unwrap();
    }

    #[test]
    fn a_spawner_that_fails_is_reported_and_a_silent_one_times_out() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path());
        let n = DnsNetwork {
            name: "n".into(),
            gateways: vec!["10.0.0.1".parse().unwrap()],
            internal: false,
        };
        dnsdb::put_network(&root, &n).unwrap();
        let err = ensure_running(&root, |_| Err(io::Error::other("no binary"))).unwrap_err();
        assert!(
            err.to_string().contains("starting the DNS server of"),
            "{err}"
        );
        let err = wait_ready(&root, &n.gateways, Duration::from_millis(30)).unwrap_err();
        assert!(
            err.to_string().contains("not answering on 10.0.0.1:53"),
            "{err}"
        );
    }
}
