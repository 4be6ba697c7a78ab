//! End to end: berth killed with SIGKILL at any point of `up` or `down`, then
//! the same command again, converges and leaks nothing: no stray container,
//! process, lease, published port, DNS record, link, rule, mount or cgroup.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use berth_testkit::require_root;
use common::Env;

const STACK: &str = r#"
services:
  db:
    image: busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; touch /tmp/ready; sleep 3600 & wait"]
    volumes: ["data:/data"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 30s
      start_interval: 100ms
      start_period: 20s
  web:
    image: busybox:latest
    command: ["httpd", "-f", "-p", "80", "-h", "/"]
    init: true
    ports: ["127.0.0.1:18301:80"]
    depends_on:
      db: {condition: service_healthy}
  worker:
    image: busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    deploy: {replicas: 3}
    networks: [default, back]
  side:
    image: busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    network_mode: service:worker
networks:
  back: {}
volumes:
  data: {}
"#;

/// The project's state as `ps` reports it: (name, state) sorted.
fn states(env: &Env, dir: &Path) -> Vec<(String, String)> {
    let out = env.ok(dir, &["ps", "-a", "--format", "json"]);
    let mut v: Vec<(String, String)> = out
        .lines()
        .map(|l| {
            let j: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                j["Name"].as_str().unwrap().to_owned(),
                j["State"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

fn converged() -> Vec<(String, String)> {
    [
        "cr-db-1",
        "cr-side-1",
        "cr-web-1",
        "cr-worker-1",
        "cr-worker-2",
        "cr-worker-3",
    ]
    .iter()
    .map(|n| (n.to_string(), "running".to_string()))
    .collect()
}

/// Runs berth and kills it with SIGKILL after `after` (if still running).
fn kill_after(env: &Env, dir: &Path, args: &[&str], after: Duration) {
    let mut child = env
        .command(dir, args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    let _ = child.kill();
    let _ = child.wait();
}

/// Files under `<root>/<sub>` (records of leases, ports, DNS entries…).
fn files(env: &Env, sub: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![env.root.path().join(sub)];
    while let Some(d) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if !p.file_name().unwrap().to_string_lossy().starts_with('.') {
                out.push(
                    p.strip_prefix(env.root.path())
                        .unwrap()
                        .display()
                        .to_string(),
                );
            }
        }
    }
    out.sort();
    out
}

/// What must be left after `down`: nothing but the named volume.
fn assert_clean(env: &Env, dir: &Path, before: &berth_testkit::host::Snapshot, when: &str) {
    assert_eq!(states(env, dir), vec![], "{when}: containers left");
    assert_eq!(env.container_ids(), Vec::<String>::new(), "{when}");
    let nets: Vec<String> = files(env, "networks")
        .into_iter()
        .filter(|f| !f.ends_with(".lock") && !f.contains("/run/"))
        .collect();
    assert_eq!(nets, Vec::<String>::new(), "{when}: network records left");
    let vols: Vec<String> = std::fs::read_dir(env.root.path().join("volumes"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(vols, vec!["cr_data".to_string()], "{when}: volumes");
    let after = env.snapshot();
    assert_eq!(before.diff(&after), Vec::<String>::new(), "{when}: host");
}

#[test]
fn sigkill_during_up_or_down_then_again_converges_without_leaks() {
    require_root!();
    let mut env = Env::with_network();
    let dir = env.project("cr", STACK);

    // How long a whole `up` and `down` take here, to kill at fractions of it.
    let t = Instant::now();
    env.ok(&dir, &["up", "-d"]);
    let up_time = t.elapsed();
    assert_eq!(states(&env, &dir), converged());
    let t = Instant::now();
    env.ok(&dir, &["down"]);
    let down_time = t.elapsed();
    // The reference: what a complete `down` leaves (compose_up_down checks
    // that this is the host as it was).
    let before = env.snapshot();
    assert_clean(&env, &dir, &before, "plain down");

    for pct in [2, 10, 25, 40, 55, 70, 85] {
        let at = up_time * pct / 100;
        kill_after(&env, &dir, &["up", "-d"], at);
        env.ok(&dir, &["up", "-d"]);
        assert_eq!(
            states(&env, &dir),
            converged(),
            "up after a SIGKILL at {pct}% of up"
        );
        // httpd may take a moment to listen after `up -d` returns.
        let answers = || {
            env.sh("timeout 2 busybox wget -q -O - http://127.0.0.1:18301/etc/hostname")
                .status
                .success()
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !answers() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
        }
        assert!(
            answers(),
            "web is published after a SIGKILL at {pct}% of up:\n{}\n{}",
            env.ok(&dir, &["ps", "-a"]),
            String::from_utf8_lossy(&env.sh("iptables-save -t nat").stdout)
        );
        // A recreate killed half-way converges too.
        std::fs::write(
            dir.join("compose.yaml"),
            STACK.replace("18301:80", "18302:80"),
        )
        .unwrap();
        kill_after(&env, &dir, &["up", "-d"], up_time * pct / 200);
        std::fs::write(dir.join("compose.yaml"), STACK).unwrap();
        env.ok(&dir, &["up", "-d"]);
        assert_eq!(
            states(&env, &dir),
            converged(),
            "up after a SIGKILL during a recreate at {pct}%"
        );

        // A `down` killed half-way, then `up`: what it left (networks
        // removed before the container records, say) converges up too.
        kill_after(&env, &dir, &["down"], down_time * pct / 100);
        env.ok(&dir, &["up", "-d"]);
        assert_eq!(
            states(&env, &dir),
            converged(),
            "up after a SIGKILL at {pct}% of down"
        );
        kill_after(&env, &dir, &["down"], down_time * pct / 100);
        env.ok(&dir, &["down"]);
        assert_clean(
            &env,
            &dir,
            &before,
            &format!("down after SIGKILL at {pct}%"),
        );
    }
}

/// `down` killed after it signalled a container that takes its time to
/// exit: the stop has nobody left to finish it. `up` must finish it and start
/// the container again, not keep a container that is about to exit.
#[test]
fn up_finishes_a_stop_cut_short_and_starts_the_container_again() {
    require_root!();
    let mut env = Env::new();
    let dir = env.project(
        "crstop",
        r#"
services:
  slow:
    image: busybox:latest
    command: ["sh", "-c", "trap 'sleep 1; exit 0' TERM; sleep 3600 & wait"]
"#,
    );
    env.ok(&dir, &["up", "-d"]);
    let containers = env.root.path().join("containers");
    let id = std::fs::read_dir(&containers)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.len() == 64)
        .unwrap();
    let marker = containers.join(&id).join("stopped-by-user");
    let mut down = env
        .command(&dir, &["down"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !marker.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    // Signalled (the marker is written just before the signal): cut short.
    std::thread::sleep(Duration::from_millis(50));
    let _ = down.kill();
    let _ = down.wait();
    assert!(marker.exists(), "down never reached the stop");
    let state = |env: &Env| {
        let out = env.ok(&dir, &["ps", "-a", "--format", "{{.Name}} {{.State}}"]);
        out.trim().to_owned()
    };
    assert_eq!(state(&env), "crstop-slow-1 running", "still exiting");

    env.ok(&dir, &["up", "-d"]);
    // Longer than the container's own way out of the cut-short stop.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        state(&env),
        "crstop-slow-1 running",
        "up after a cut-short stop"
    );
    env.ok(&dir, &["down", "-t", "0"]);
}
