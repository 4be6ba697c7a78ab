//! End to end: convergence rules beyond compose_up_down.rs — restart
//! policies, anonymous volumes across a recreate, the recreate flags and
//! `create`, a namespace sharer following its parent, stop timeouts, and
//! two `up` at once.

mod common;
mod compose_common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use berth_testkit::require_root;
use common::Env;
use compose_common::{SLEEPER, ids, inspect, run, states, wait_until};

#[test]
fn restart_always_brings_a_killed_process_back() {
    require_root!();
    let mut env = Env::with_network();
    let stack = format!(
        "services:\n  app:\n    image: busybox:latest\n    command: {SLEEPER}\n    restart: always\n"
    );
    let dir = env.project("ra", &stack);
    env.ok(&dir, &["up", "-d"]);
    let first = inspect(&env, "ra-app-1");
    let pid = first["State"]["Pid"].as_i64().unwrap();
    assert!(pid > 0);
    // Killed from outside, as a crash or the OOM killer would.
    let killed = env.sh(&format!("kill -9 {pid}"));
    assert!(killed.status.success());
    wait_until("the container to come back", 30, || {
        let c = inspect(&env, "ra-app-1");
        c["State"]["Status"] == "running"
            && c["State"]["Pid"].as_i64().unwrap_or(0) != pid
            && c["RestartCount"].as_u64().unwrap_or(0) >= 1
    });
    assert_eq!(inspect(&env, "ra-app-1")["Id"], first["Id"]);
    // `stop` is not a crash: it stays stopped.
    env.ok(&dir, &["stop", "-t", "1"]);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(
        states(&env, &dir),
        vec![("ra-app-1".to_string(), "exited".to_string())]
    );
}

#[test]
fn a_recreate_keeps_anonymous_volume_data_unless_renewed() {
    require_root!();
    let mut env = Env::with_network();
    let stack = format!(
        "services:\n  app:\n    image: busybox:latest\n    command: {SLEEPER}\n    volumes: [\"/cache\"]\n    environment: {{V: \"1\"}}\n"
    );
    let dir = env.project("anon", &stack);
    env.ok(&dir, &["up", "-d"]);
    env.ok(
        &dir,
        &["exec", "-T", "app", "sh", "-c", "echo kept > /cache/file"],
    );
    let before = ids(&env, &dir);
    std::fs::write(
        dir.join("compose.yaml"),
        stack.replace("V: \"1\"", "V: \"2\""),
    )
    .unwrap();
    env.ok(&dir, &["up", "-d"]);
    assert_ne!(ids(&env, &dir), before, "recreated");
    let o = env.ok(&dir, &["exec", "-T", "app", "cat", "/cache/file"]);
    assert_eq!(o.trim(), "kept", "the new container has the old one's data");
    // -V: fresh anonymous volumes.
    env.ok(&dir, &["up", "-d", "--force-recreate", "-V"]);
    let o = env.berth(&dir, &["exec", "-T", "app", "cat", "/cache/file"]);
    assert!(!o.status.success(), "-V starts from an empty volume");
}

#[test]
fn recreate_flags_no_start_no_deps() {
    require_root!();
    let mut env = Env::with_network();
    let stack = format!(
        "services:\n  db:\n    image: busybox:latest\n    command: {SLEEPER}\n  web:\n    image: busybox:latest\n    command: {SLEEPER}\n    environment: {{V: \"1\"}}\n    depends_on: [db]\n"
    );
    let dir = env.project("fl", &stack);
    // --no-deps: only the named service.
    env.ok(&dir, &["up", "-d", "--no-deps", "web"]);
    assert_eq!(
        states(&env, &dir),
        vec![("fl-web-1".to_string(), "running".to_string())]
    );
    env.ok(&dir, &["down"]);
    // `create`: the containers of every service, none started.
    let (code, _, err) = run(&env, &dir, &["create"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        states(&env, &dir),
        vec![
            ("fl-db-1".to_string(), "created".to_string()),
            ("fl-web-1".into(), "created".into())
        ]
    );
    env.ok(&dir, &["down"]);
    // --no-start: created only; `start` starts them in order.
    env.ok(&dir, &["up", "--no-start"]);
    assert_eq!(
        states(&env, &dir),
        vec![
            ("fl-db-1".to_string(), "created".to_string()),
            ("fl-web-1".into(), "created".into())
        ]
    );
    env.ok(&dir, &["start"]);
    let running = ids(&env, &dir);
    assert!(states(&env, &dir).iter().all(|(_, s)| s == "running"));
    // --force-recreate: new containers although nothing changed.
    env.ok(&dir, &["up", "-d", "--force-recreate"]);
    let forced = ids(&env, &dir);
    assert!(running.iter().zip(&forced).all(|(a, b)| a.1 != b.1));
    // --no-recreate: a changed service is left as it is.
    std::fs::write(
        dir.join("compose.yaml"),
        stack.replace("V: \"1\"", "V: \"2\""),
    )
    .unwrap();
    env.ok(&dir, &["up", "-d", "--no-recreate"]);
    assert_eq!(ids(&env, &dir), forced);
    // Incompatible flags are refused, as by Compose.
    let (code, _, err) = run(
        &env,
        &dir,
        &["up", "-d", "--force-recreate", "--no-recreate"],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("incompatible"), "{err}");
    let (code, _, err) = run(&env, &dir, &["up", "-d", "--scale", "nope=2"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no such service: nope"), "{err}");
}

#[test]
fn two_concurrent_ups_converge_without_interleaving() {
    require_root!();
    let mut env = Env::with_network();
    let mut stack = String::from("services:\n");
    for i in 0..6 {
        stack.push_str(&format!(
            "  s{i}:\n    image: busybox:latest\n    command: {SLEEPER}\n"
        ));
    }
    stack.push_str("  multi:\n    image: busybox:latest\n    command: ");
    stack.push_str(SLEEPER);
    stack.push_str("\n    deploy: {replicas: 3}\n");
    let dir = env.project("cc", &stack);
    let spawn = || {
        env.command(&dir, &["up", "-d"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let st = states(&env, &dir);
    assert_eq!(
        st.len(),
        9,
        "one container per replica, no duplicate: {st:?}"
    );
    assert!(st.iter().all(|(_, s)| s == "running"), "{st:?}");
    let names: Vec<&str> = st.iter().map(|(n, _)| n.as_str()).collect();
    for n in [
        "cc-multi-1",
        "cc-multi-2",
        "cc-multi-3",
        "cc-s0-1",
        "cc-s5-1",
    ] {
        assert!(names.contains(&n), "{names:?}");
    }
    // And the project is converged: one more `up` changes nothing.
    let before = ids(&env, &dir);
    env.ok(&dir, &["up", "-d"]);
    assert_eq!(ids(&env, &dir), before);
    // Two `down` at once: one removes, the other finds nothing left.
    let down = || {
        env.command(&dir, &["down"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (down(), down());
    for child in [a, b] {
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert_eq!(states(&env, &dir), vec![]);
}

#[test]
fn a_namespace_sharer_is_recreated_with_its_parent() {
    require_root!();
    let mut env = Env::with_network();
    let stack = format!(
        "services:\n  base:\n    image: busybox:latest\n    command: {SLEEPER}\n    environment: {{V: \"1\"}}\n  side:\n    image: busybox:latest\n    command: {SLEEPER}\n    network_mode: \"service:base\"\n  other:\n    image: busybox:latest\n    command: {SLEEPER}\n"
    );
    let dir = env.project("ns", &stack);
    env.ok(&dir, &["up", "-d"]);
    let netns = |svc: &str| {
        env.ok(&dir, &["exec", "-T", svc, "readlink", "/proc/self/ns/net"])
            .trim()
            .to_owned()
    };
    assert_eq!(netns("side"), netns("base"));
    let before = ids(&env, &dir);
    // Only base's configuration changes.
    std::fs::write(
        dir.join("compose.yaml"),
        stack.replace("V: \"1\"", "V: \"2\""),
    )
    .unwrap();
    env.ok(&dir, &["up", "-d"]);
    let after = ids(&env, &dir);
    let id = |v: &[(String, String)], n: &str| v.iter().find(|(c, _)| c == n).unwrap().1.clone();
    assert_ne!(
        id(&after, "ns-base-1"),
        id(&before, "ns-base-1"),
        "base recreated"
    );
    assert_ne!(
        id(&after, "ns-side-1"),
        id(&before, "ns-side-1"),
        "side shared the old base's namespace: recreated too"
    );
    assert_eq!(
        id(&after, "ns-other-1"),
        id(&before, "ns-other-1"),
        "other kept"
    );
    assert_eq!(
        netns("side"),
        netns("base"),
        "side is in the new base's namespace"
    );
    assert!(states(&env, &dir).iter().all(|(_, s)| s == "running"));
}

#[test]
fn timeouts_of_up_stop_and_down_cut_the_grace_period() {
    require_root!();
    let mut env = Env::with_network();
    // Ignores SIGTERM; the file gives it a minute to stop.
    let stack = "services:\n  stubborn:\n    image: busybox:latest\n    command: [\"sh\", \"-c\", \"trap '' TERM; while true; do sleep 1; done\"]\n    stop_grace_period: 60s\n    environment: {V: \"1\"}\n";
    let dir = env.project("to", stack);
    env.ok(&dir, &["up", "-d"]);
    // Within the time limits below only if `-t 1` replaced the 60 s.
    let limit = Duration::from_secs(30);
    std::fs::write(
        dir.join("compose.yaml"),
        stack.replace("V: \"1\"", "V: \"2\""),
    )
    .unwrap();
    let t = Instant::now();
    env.ok(&dir, &["up", "-d", "-t", "1"]);
    assert!(
        t.elapsed() < limit,
        "up -t 1 recreated in {:?}",
        t.elapsed()
    );
    assert_eq!(
        states(&env, &dir),
        vec![("to-stubborn-1".to_string(), "running".to_string())]
    );
    let t = Instant::now();
    env.ok(&dir, &["stop", "-t", "1"]);
    assert!(t.elapsed() < limit, "stop -t 1 took {:?}", t.elapsed());
    let (_, out, _) = run(
        &env,
        &dir,
        &["ps", "-a", "--format", "{{.State}} {{.ExitCode}}"],
    );
    assert_eq!(out.trim(), "exited 137", "killed after the timeout");
    env.ok(&dir, &["start"]);
    let t = Instant::now();
    env.ok(&dir, &["down", "-t", "1"]);
    assert!(t.elapsed() < limit, "down -t 1 took {:?}", t.elapsed());
    assert_eq!(states(&env, &dir), vec![]);
}
