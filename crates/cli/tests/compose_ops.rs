//! End to end: `pause`/`unpause`, `cp`, `stop`/`start`/`restart`, `kill`,
//! `rm`, `wait`, `top`, `port`, `images`, `ls`, `events`, `version` and
//! `completion`, with Compose's output and exit codes.

mod common;
mod compose_common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use berth_testkit::require_root;
use common::Env;
use compose_common::{SLEEPER, ids, inspect, ps, run, states, wait_until};

/// The counter that `ticker` advances every 50 ms, read on the host.
fn counter(env: &Env) -> u64 {
    let p = env.root.path().join("volumes/pz_ticks/_data/n");
    std::fs::read_to_string(p)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// The freezer's view of a container: v1 `freezer.state` or v2 `cgroup.freeze`.
fn frozen(env: &Env, id: &str) -> bool {
    let parent = berth_runtime::cgroups::parent_for(&berth_store::Root::new(env.root.path()));
    let v1 = format!("/sys/fs/cgroup/freezer/{parent}/{id}/freezer.state");
    let v2 = format!("/sys/fs/cgroup/{parent}/{id}/cgroup.freeze");
    match std::fs::read_to_string(&v1) {
        Ok(s) => s.trim() == "FROZEN",
        Err(_) => std::fs::read_to_string(&v2).is_ok_and(|s| s.trim() == "1"),
    }
}

#[test]
fn pause_freezes_the_processes_and_unpause_thaws_them() {
    require_root!();
    let mut env = Env::with_network();
    let stack = r#"
services:
  ticker:
    image: busybox:latest
    command: ["sh", "-c", "n=0; while true; do n=$$((n+1)); echo $$n > /ticks/n; sleep 0.05; done"]
    init: true
    volumes: ["ticks:/ticks"]
volumes:
  ticks: {}
"#;
    let dir = env.project("pz", stack);
    env.ok(&dir, &["up", "-d"]);
    wait_until("the ticker to tick", 10, || counter(&env) > 2);
    let (code, _, err) = run(&env, &dir, &["pause"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("Container pz-ticker-1 Paused"), "{err}");
    let id = ids(&env, &dir)[0].1.clone();
    assert!(frozen(&env, &id), "the freezer cgroup is frozen");
    assert_eq!(states(&env, &dir)[0].1, "paused");
    let status = ps(&env, &dir, &[])[0]["Status"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(status.contains("(Paused)"), "{status}");
    let at = counter(&env);
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(counter(&env), at, "nothing runs while paused");
    let (code, _, err) = run(&env, &dir, &["unpause"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("Container pz-ticker-1 Unpaused"), "{err}");
    assert!(!frozen(&env, &id));
    wait_until("the ticker to tick again", 10, || counter(&env) > at + 2);
    // A paused container can still be stopped (it is thawed first).
    env.ok(&dir, &["pause"]);
    env.ok(&dir, &["stop", "-t", "2"]);
    assert_eq!(states(&env, &dir)[0].1, "exited");
}

#[test]
fn cp_copies_files_and_directories_both_ways() {
    require_root!();
    let mut env = Env::with_network();
    let stack = format!("services:\n  box:\n    image: busybox:latest\n    command: {SLEEPER}\n");
    let dir = env.project("cpy", &stack);
    env.ok(&dir, &["up", "-d"]);
    std::fs::write(dir.join("in.txt"), "into the container\n").unwrap();
    std::fs::create_dir_all(dir.join("tree/sub")).unwrap();
    std::fs::write(dir.join("tree/sub/leaf"), "leaf\n").unwrap();
    env.ok(&dir, &["cp", "in.txt", "box:/tmp/in.txt"]);
    env.ok(&dir, &["cp", "tree", "box:/tmp/"]);
    let o = env.ok(
        &dir,
        &[
            "exec",
            "-T",
            "box",
            "sh",
            "-c",
            "cat /tmp/in.txt /tmp/tree/sub/leaf",
        ],
    );
    assert_eq!(o, "into the container\nleaf\n");
    env.ok(
        &dir,
        &[
            "exec",
            "-T",
            "box",
            "sh",
            "-c",
            "mkdir -p /srv/out && echo made inside > /srv/out/f",
        ],
    );
    env.ok(&dir, &["cp", "box:/srv/out/f", "out.txt"]);
    assert_eq!(
        std::fs::read_to_string(dir.join("out.txt")).unwrap(),
        "made inside\n"
    );
    env.ok(&dir, &["cp", "box:/srv/out", "."]);
    assert_eq!(
        std::fs::read_to_string(dir.join("out/f")).unwrap(),
        "made inside\n"
    );
    let (code, _, err) = run(&env, &dir, &["cp", "nope:/x", "."]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not running"), "{err}");
}

#[test]
fn stop_start_restart_kill_rm_and_wait() {
    require_root!();
    let mut env = Env::with_network();
    let stack = format!(
        "services:\n  a:\n    image: busybox:latest\n    command: {SLEEPER}\n  b:\n    image: busybox:latest\n    command: [\"sh\", \"-c\", \"trap 'exit 7' USR1; sleep 3600 & wait\"]\n    volumes: [\"/scratch\"]\n"
    );
    let dir = env.project("lc", &stack);
    env.ok(&dir, &["up", "-d"]);
    let started = inspect(&env, "lc-a-1")["State"]["StartedAt"].clone();
    let (code, _, err) = run(&env, &dir, &["restart", "a"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("Container lc-a-1 Restarting"), "{err}");
    assert_ne!(inspect(&env, "lc-a-1")["State"]["StartedAt"], started);
    let (_, _, err) = run(&env, &dir, &["stop", "a"]);
    assert!(err.contains("Container lc-a-1 Stopped"), "{err}");
    assert_eq!(states(&env, &dir)[0], ("lc-a-1".into(), "exited".into()));
    let (_, _, err) = run(&env, &dir, &["start", "a"]);
    assert!(err.contains("Container lc-a-1 Started"), "{err}");
    // kill -s: b exits with the code its trap chose.
    let (code, _, err) = run(&env, &dir, &["kill", "-s", "USR1", "b"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("Container lc-b-1 Killed"), "{err}");
    // wait prints each exit and returns the last exit code.
    let (code, out, err) = run(&env, &dir, &["wait", "b"]);
    assert_eq!(code, 7, "{out}{err}");
    assert!(out.contains("exited with status code 7"), "{out}");
    let (code, _, err) = run(&env, &dir, &["kill", "-s", "NOPE", "a"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("invalid signal"), "{err}");
    // rm: only stopped containers; -f without a question; -v drops the
    // anonymous volume; -s stops first.
    let vols = || {
        std::fs::read_dir(env.root.path().join("volumes"))
            .unwrap()
            .count()
    };
    let before = vols();
    let (code, out, err) = run(&env, &dir, &["rm", "-f", "-v"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.trim(), "Going to remove lc-b-1");
    assert_eq!(vols(), before - 1, "the anonymous volume went with it");
    let (_, _, err) = run(&env, &dir, &["rm", "-f"]);
    assert!(err.contains("No stopped containers"), "{err}");
    env.ok(&dir, &["rm", "-f", "-s", "a"]);
    assert_eq!(states(&env, &dir), vec![]);
    let (code, _, err) = run(&env, &dir, &["stop", "nope"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no such service: nope"), "{err}");
}

#[test]
fn top_port_images_ls_version_and_completion() {
    require_root!();
    let mut env = Env::with_network();
    let stack = r#"
services:
  web:
    image: busybox:latest
    command: ["httpd", "-f", "-p", "80", "-h", "/etc"]
    init: true
    ports: ["127.0.0.1:18431:80"]
"#;
    let dir = env.project("info", stack);
    env.ok(&dir, &["up", "-d"]);
    let top = env.ok(&dir, &["top"]);
    assert!(top.starts_with("info-web-1\nUID "), "{top}");
    assert!(top.contains("httpd -f -p 80"), "{top}");
    assert_eq!(
        env.ok(&dir, &["port", "web", "80"]).trim(),
        "127.0.0.1:18431"
    );
    let (code, _, err) = run(&env, &dir, &["port", "web", "81"]);
    assert_eq!(code, 1, "{err}");
    let images = env.ok(&dir, &["images"]);
    assert!(images.starts_with("CONTAINER "), "{images}");
    assert!(
        images.contains("info-web-1") && images.contains("busybox"),
        "{images}"
    );
    let j: serde_json::Value =
        serde_json::from_str(&env.ok(&dir, &["images", "--format", "json"])).unwrap();
    assert_eq!(j[0]["ContainerName"], "info-web-1");
    assert_eq!(j[0]["Repository"], "busybox");
    let ls: serde_json::Value =
        serde_json::from_str(&env.ok(&dir, &["ls", "--format", "json"])).unwrap();
    assert_eq!(ls[0]["Name"], "info");
    assert_eq!(ls[0]["Status"], "running(1)");
    assert!(
        ls[0]["ConfigFiles"]
            .as_str()
            .unwrap()
            .ends_with("compose.yaml")
    );
    env.ok(&dir, &["stop", "-t", "1"]);
    assert_eq!(env.ok(&dir, &["ls", "-q"]), "");
    assert_eq!(env.ok(&dir, &["ls", "-a", "-q"]), "info\n");
    let v = env.ok(&dir, &["version", "--short"]);
    assert!(v.trim().split('.').count() == 3, "{v}");
    let j: serde_json::Value =
        serde_json::from_str(&env.ok(&dir, &["version", "-f", "json"])).unwrap();
    assert!(j["version"].as_str().unwrap().starts_with('v'));
    for shell in ["bash", "zsh", "fish"] {
        let c = env.ok(&dir, &["completion", shell]);
        assert!(c.contains("berth") && c.contains("up"), "{shell}");
    }
}

#[test]
fn events_json_reports_the_lifecycle() {
    require_root!();
    let mut env = Env::with_network();
    let stack = format!("services:\n  app:\n    image: busybox:latest\n    command: {SLEEPER}\n");
    let dir = env.project("ev", &stack);
    env.ok(&dir, &["up", "-d"]);
    let mut events = env
        .command(&dir, &["events", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Events come from looking at the containers' state every 100 ms:
    // give each step time to be seen.
    let step = || std::thread::sleep(Duration::from_millis(400));
    step();
    for args in [
        &["pause"][..],
        &["unpause"][..],
        &["stop", "-t", "1"][..],
        &["rm", "-f"][..],
    ] {
        env.ok(&dir, args);
        step();
    }
    let out = events.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for line in BufReader::new(out).lines() {
            let v: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
            let done = v["action"] == "destroy";
            seen.push(v);
            if done {
                break;
            }
        }
        seen
    });
    wait_until("the destroy event", 20, || reader.is_finished());
    let _ = events.kill();
    let _ = events.wait();
    let seen = reader.join().unwrap();
    let actions: Vec<&str> = seen.iter().map(|v| v["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["pause", "unpause", "die", "destroy"], "{seen:?}");
    for v in &seen {
        assert_eq!(v["type"], "container");
        assert_eq!(v["service"], "app");
        assert_eq!(v["attributes"]["name"], "ev-app-1");
        assert_eq!(v["id"].as_str().unwrap().len(), 64);
    }
    assert_eq!(seen[2]["attributes"]["exitCode"], "0");
}

#[test]
fn wait_down_project_removes_the_project_after_the_exit() {
    require_root!();
    let mut env = Env::with_network();
    let stack = format!(
        "services:\n  job:\n    image: busybox:latest\n    command: [\"sh\", \"-c\", \"sleep 0.5; exit 4\"]\n  server:\n    image: busybox:latest\n    command: {SLEEPER}\n"
    );
    let dir = env.project("wd", &stack);
    env.ok(&dir, &["up", "-d"]);
    let (code, out, err) = run(&env, &dir, &["wait", "--down-project", "job"]);
    assert_eq!(code, 4, "{out}{err}");
    assert!(out.contains("exited with status code 4"), "{out}");
    assert_eq!(states(&env, &dir), vec![], "down ran: {err}");
    let nets = env.ok(&dir, &["network", "ls"]);
    assert!(!nets.contains("wd_default"), "{nets}");
    let (code, _, err) = run(&env, &dir, &["wait"]);
    assert_eq!(code, 2, "a service is required, as clap reports: {err}");
}
