//! A container's life: stop (signal, grace period, then SIGKILL of the
//! whole cgroup), kill, restart policies, every state from created to dead,
//! `init: true`, and a supervisor (or the whole supervision) killed with
//! SIGKILL. Each test checks it left nothing behind.

mod common;
mod runtime_common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_testkit::require_root;
use common::{Env, process_state, wait_for};
use runtime_common::{children, ready, run_d, sigkill};

#[test]
fn stop_signals_waits_then_kills_the_whole_cgroup() {
    require_root!();
    let env = Env::new();
    let before = env.snapshot();
    let root = env.root.path();
    // Ignores SIGTERM: stop must wait for the grace period, then kill
    // everything, a process started with exec included.
    run_d(
        &env,
        &[
            "--name",
            "stubborn",
            "--stop-timeout",
            "1",
            "busybox:latest",
            "sh",
            "-c",
            "trap '' TERM; echo ready; while true; do sleep 1; done",
        ],
    );
    ready(&env, "stubborn");
    let mut exec = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["container", "exec", "stubborn", "sleep", "1000"])
        .env("BERTH_ROOT", root)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the exec'd sleep in the container's cgroup", || {
        env.container_pids("stubborn").len() >= 3
    });
    let pids = env.container_pids("stubborn");
    let t = Instant::now();
    env.ok(root, &["container", "stop", "stubborn"]);
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(8),
        "the container's stop_grace_period (1 s): {took:?}"
    );
    let c = env.inspect("stubborn");
    assert_eq!(c["State"]["Status"], "exited");
    assert_eq!(c["State"]["ExitCode"], 137);
    assert_eq!(exec.wait().unwrap().code(), Some(137), "exec'd too");
    for p in pids {
        assert!(
            process_state(p).is_none_or(|s| s == 'Z'),
            "pid {p} survived the stop"
        );
    }
    // A stop signal the container handles ends it at once, with its code.
    run_d(
        &env,
        &[
            "--name",
            "polite",
            "--stop-signal",
            "USR1",
            "busybox:latest",
            "sh",
            "-c",
            "trap 'exit 42' USR1; echo ready; while true; do sleep 0.1; done",
        ],
    );
    ready(&env, "polite");
    let t = Instant::now();
    env.ok(root, &["container", "stop", "polite"]);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(env.inspect("polite")["State"]["ExitCode"], 42);
    env.ok(root, &["container", "rm", "stubborn", "polite"]);
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}

#[test]
fn the_default_grace_period_is_ten_seconds() {
    require_root!();
    let env = Env::new();
    let before = env.snapshot();
    let root = env.root.path();
    run_d(
        &env,
        &[
            "--name",
            "deaf",
            "busybox:latest",
            "sh",
            "-c",
            "trap '' TERM; echo ready; while true; do sleep 1; done",
        ],
    );
    ready(&env, "deaf");
    let t = Instant::now();
    env.ok(root, &["container", "stop", "deaf"]);
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(9500) && took < Duration::from_secs(20),
        "Docker's default stop_grace_period (10 s): {took:?}"
    );
    assert_eq!(env.inspect("deaf")["State"]["ExitCode"], 137);
    env.ok(root, &["container", "rm", "deaf"]);
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}

#[test]
fn kill_sends_any_signal() {
    require_root!();
    let env = Env::new();
    let before = env.snapshot();
    let root = env.root.path();
    run_d(
        &env,
        &[
            "--name",
            "k",
            "busybox:latest",
            "sh",
            "-c",
            "trap 'echo got-hup' HUP; echo ready; while true; do sleep 0.1; done",
        ],
    );
    ready(&env, "k");
    env.ok(root, &["container", "kill", "-s", "HUP", "k"]);
    wait_for("the trap's output", || {
        env.ok(root, &["container", "logs", "k"])
            .contains("got-hup")
    });
    assert_eq!(env.inspect("k")["State"]["Status"], "running");
    env.ok(root, &["container", "kill", "k"]);
    wait_for("exit", || env.inspect("k")["State"]["Status"] == "exited");
    assert_eq!(env.inspect("k")["State"]["ExitCode"], 137);
    let o = env.berth(root, &["container", "kill", "k"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not running"));
    env.ok(root, &["container", "rm", "k"]);
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}

#[test]
fn restart_policies_restart_count_and_back_off() {
    require_root!();
    let env = Env::new();
    let before = env.snapshot();
    let root = env.root.path();
    run_d(
        &env,
        &[
            "--name",
            "flaky",
            "--restart",
            "on-failure:2",
            "busybox:latest",
            "sh",
            "-c",
            "echo try; exit 3",
        ],
    );
    wait_for("two restarts then exit", || {
        let c = env.inspect("flaky");
        c["State"]["Status"] == "exited" && c["RestartCount"] == 2
    });
    assert_eq!(env.inspect("flaky")["State"]["ExitCode"], 3);
    let logs = env.ok(root, &["container", "logs", "flaky"]);
    assert_eq!(logs.matches("try").count(), 3, "{logs}");
    // on-failure does not restart a success.
    run_d(
        &env,
        &[
            "--name",
            "fine",
            "--restart",
            "on-failure",
            "busybox:latest",
            "true",
        ],
    );
    wait_for("exit", || {
        env.inspect("fine")["State"]["Status"] == "exited"
    });
    assert_eq!(env.inspect("fine")["RestartCount"], 0);
    // always: a crash is restarted, and the back-off grows (100 ms doubling),
    // so the container is seen "restarting" between two runs.
    run_d(
        &env,
        &[
            "--name",
            "always",
            "--restart",
            "always",
            "busybox:latest",
            "sh",
            "-c",
            "sleep 0.05",
        ],
    );
    let mut seen_restarting = false;
    wait_for("five restarts", || {
        let c = env.inspect("always");
        seen_restarting |= c["State"]["Status"] == "restarting";
        c["RestartCount"].as_u64().unwrap_or(0) >= 5
    });
    assert!(seen_restarting, "the back-off shows as restarting");
    // A user's stop is never undone by the policy.
    env.ok(root, &["container", "stop", "-t", "1", "always"]);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(env.inspect("always")["State"]["Status"], "exited");
    // unless-stopped restarts a killed process.
    run_d(
        &env,
        &[
            "--name",
            "unless",
            "--restart",
            "unless-stopped",
            "busybox:latest",
            "sleep",
            "1000",
        ],
    );
    let pid = env.inspect("unless")["State"]["Pid"].as_i64().unwrap() as i32;
    sigkill(pid);
    wait_for("restart after kill", || {
        let c = env.inspect("unless");
        c["State"]["Status"] == "running" && c["RestartCount"] == 1
    });
    env.ok(
        root,
        &["container", "rm", "-f", "flaky", "fine", "always", "unless"],
    );
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}

#[test]
fn every_state_is_recorded() {
    require_root!();
    let env = Env::new();
    let before = env.snapshot();
    let root = env.root.path();
    let status = |n: &str| {
        env.inspect(n)["State"]["Status"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    env.ok(
        root,
        &[
            "container",
            "create",
            "--name",
            "s",
            "busybox:latest",
            "sh",
            "-c",
            "echo data > /file; while true; do echo tick; sleep 0.1; done",
        ],
    );
    assert_eq!(status("s"), "created");
    assert_eq!(env.inspect("s")["State"]["Pid"], 0);
    env.ok(root, &["container", "start", "s"]);
    assert_eq!(status("s"), "running");
    env.ok(root, &["container", "pause", "s"]);
    assert_eq!(status("s"), "paused");
    let frozen = |env: &Env| {
        let logs = env.ok(root, &["container", "logs", "s"]).len();
        std::thread::sleep(Duration::from_millis(400));
        env.ok(root, &["container", "logs", "s"]).len() == logs
    };
    assert!(frozen(&env), "a paused container does not run");
    env.ok(root, &["container", "unpause", "s"]);
    assert_eq!(status("s"), "running");
    assert!(!frozen(&env), "it runs again");
    env.ok(root, &["container", "stop", "-t", "1", "s"]);
    assert_eq!(status("s"), "exited");
    assert!(env.inspect("s")["State"]["FinishedAt"].is_string());
    // A removal that fails half-way leaves a dead container, which a second
    // removal finishes. Removal moves the record to `.trash` (deleted in the
    // background); when that cannot be, the record is deleted in place, and
    // an immutable file in its upper layer stops that half-way.
    let id = env.inspect("s")["Id"].as_str().unwrap().to_owned();
    let file = root.join("containers").join(&id).join("upper/file");
    assert!(file.exists(), "{}", file.display());
    let trash = root.join("containers/.trash");
    let _ = std::fs::remove_dir_all(&trash);
    std::fs::write(&trash, "not a directory").unwrap();
    let chattr = |flag: &str| {
        Command::new("chattr")
            .args([flag, file.to_str().unwrap()])
            .status()
            .unwrap()
            .success()
    };
    if chattr("+i") {
        let o = env.berth(root, &["container", "rm", "s"]);
        chattr("-i");
        assert!(!o.status.success(), "the removal failed");
        assert_eq!(status("s"), "dead");
        let ls = env.ok(root, &["container", "ls", "-a"]);
        assert!(ls.contains("Dead"), "{ls}");
    } else {
        eprintln!("chattr is not available here: the dead state is not exercised");
    }
    std::fs::remove_file(&trash).unwrap();
    env.ok(root, &["container", "rm", "s"]);
    assert!(env.container_ids().is_empty());
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
    assert!(
        !root.join("containers").join(&id).exists(),
        "the record is gone"
    );
}

#[test]
fn init_forwards_signals_and_reaps_orphans() {
    require_root!();
    let env = Env::new();
    let before = env.snapshot();
    let root = env.root.path();
    // The payload leaves an orphan that exits after 0.2 s: re-parented to
    // pid 1, it stays a zombie unless pid 1 reaps it.
    let payload = "(sleep 0.2 &); trap 'exit 7' TERM; while true; do sleep 0.1; done";
    run_d(
        &env,
        &[
            "--name",
            "plain",
            "busybox:latest",
            "sh",
            "-c",
            "(sleep 0.2 &); exec sleep 1000",
        ],
    );
    run_d(
        &env,
        &[
            "--init",
            "--name",
            "inited",
            "busybox:latest",
            "sh",
            "-c",
            payload,
        ],
    );
    std::thread::sleep(Duration::from_secs(1));
    // Zombies have left their cgroup already: look for children of pid 1.
    let zombies = |n: &str| {
        let init = env.inspect(n)["State"]["Pid"].as_i64().unwrap() as i32;
        children(init)
            .into_iter()
            .filter(|p| process_state(*p) == Some('Z'))
            .count()
    };
    assert_eq!(
        zombies("plain"),
        1,
        "without init, the orphan stays a zombie"
    );
    assert_eq!(zombies("inited"), 0, "init reaps it");
    // SIGTERM to pid 1 (berth's init) reaches the payload, whose exit code
    // becomes the container's.
    let t = Instant::now();
    env.ok(root, &["container", "stop", "inited"]);
    assert!(t.elapsed() < Duration::from_secs(5), "forwarded at once");
    assert_eq!(env.inspect("inited")["State"]["ExitCode"], 7);
    env.ok(root, &["container", "rm", "-f", "plain", "inited"]);
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}

#[test]
fn a_killed_supervisor_neither_kills_nor_loses_the_container() {
    require_root!();
    let env = Env::new();
    let before = env.snapshot();
    let root = env.root.path();
    run_d(
        &env,
        &[
            "--name",
            "orphan",
            "busybox:latest",
            "sh",
            "-c",
            "trap 'exit 0' TERM; while true; do echo tick; sleep 0.2; done",
        ],
    );
    let shim = env.state_file("orphan")["shim"]["pid"].as_i64().unwrap() as i32;
    let pid = env.inspect("orphan")["State"]["Pid"].as_i64().unwrap() as i32;
    sigkill(shim);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        env.inspect("orphan")["State"]["Status"],
        "running",
        "the container survives its supervisor"
    );
    wait_for("a new shim adopting the container", || {
        env.state_file("orphan")["shim"]["pid"]
            .as_i64()
            .is_some_and(|p| p as i32 != shim)
    });
    // Its output is still collected (no SIGPIPE, no loss).
    let ticks = || {
        env.ok(root, &["container", "logs", "orphan"])
            .matches("tick")
            .count()
    };
    let n = ticks();
    wait_for("logs to keep flowing", || ticks() > n);
    env.ok(root, &["container", "stop", "orphan"]);
    let c = env.inspect("orphan");
    assert_eq!(c["State"]["Status"], "exited");
    assert_eq!(c["State"]["ExitCode"], 0, "the real exit status is known");
    assert_eq!(process_state(pid), None, "no zombie is left");
    assert_eq!(process_state(shim), None, "the killed shim was reaped");
    env.ok(root, &["container", "rm", "orphan"]);
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}

#[test]
fn with_its_monitor_and_shim_killed_berth_still_tells_the_truth() {
    require_root!();
    let env = Env::new();
    let before = env.snapshot();
    let root = env.root.path();
    run_d(
        &env,
        &["--name", "alone", "busybox:latest", "sleep", "1000"],
    );
    let shim = env.state_file("alone")["shim"]["pid"].as_i64().unwrap() as i32;
    let pid = env.inspect("alone")["State"]["Pid"].as_i64().unwrap() as i32;
    let monitor: i32 = std::fs::read_to_string(root.join("run/monitor.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    sigkill(monitor);
    sigkill(shim);
    wait_for("the supervision gone", || {
        common::reap_orphans();
        process_state(monitor).is_none() && process_state(shim).is_none()
    });
    assert_eq!(
        env.inspect("alone")["State"]["Status"],
        "running",
        "the container runs on without supervision"
    );
    sigkill(pid);
    wait_for("the container reaped", || {
        common::reap_orphans();
        process_state(pid).is_none()
    });
    let c = env.inspect("alone");
    assert_eq!(c["State"]["Status"], "exited", "pid and start time say so");
    assert_eq!(
        c["State"]["ExitCode"], 255,
        "what Docker reports for a lost container"
    );
    env.ok(root, &["container", "rm", "alone"]);
    // The new monitor (started by these commands) cleaned the old spare.
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}

#[test]
fn deploy_restart_policy_restarts_like_restart() {
    require_root!();
    let mut env = Env::with_network();
    let before = env.snapshot();
    let project = berth_testkit::unique_name("rp");
    let dir = env.project(
        &project,
        r#"
services:
  flaky:
    image: busybox:latest
    command: ["sh", "-c", "echo run; exit 1"]
    deploy:
      restart_policy:
        condition: on-failure
        max_attempts: 2
"#,
    );
    env.ok(&dir, &["up", "-d"]);
    let name = format!("{project}-flaky-1");
    wait_for("two restarts, then exited", || {
        let c = env.inspect(&name);
        c["State"]["Status"] == "exited" && c["RestartCount"] == 2
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(env.inspect(&name)["RestartCount"], 2, "max_attempts holds");
    env.ok(&dir, &["down", "-t", "1"]);
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}
