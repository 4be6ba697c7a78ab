//! Healthchecks as the supervisor runs them: the transitions starting →
//! healthy → unhealthy → healthy with the last outputs kept, the start
//! period and its interval, timeouts, and the CMD / CMD-SHELL / NONE /
//! disable forms. Each test checks it left nothing behind.

mod common;
mod runtime_common;

use runtime_common::run_d;

use std::time::{Duration, Instant};

use berth_testkit::require_root;
use common::{Env, wait_for};

fn health(env: &Env, name: &str) -> serde_json::Value {
    env.inspect(name)["State"]["Health"].clone()
}

fn status(env: &Env, name: &str) -> String {
    health(env, name)["Status"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

#[test]
fn health_moves_between_starting_healthy_and_unhealthy() {
    require_root!();
    let env = Env::new();
    let before = env.snapshot();
    let root = env.root.path();
    run_d(
        &env,
        &[
            "--name",
            "h",
            "--health-cmd",
            "echo checking; test -f /tmp/ok",
            "--health-interval",
            "200ms",
            "--health-retries",
            "2",
            "busybox:latest",
            "sleep",
            "1000",
        ],
    );
    assert_eq!(status(&env, "h"), "starting");
    // Failing before the first success: unhealthy after two failures.
    wait_for("unhealthy", || status(&env, "h") == "unhealthy");
    let h = health(&env, "h");
    assert!(h["FailingStreak"].as_u64().unwrap() >= 2, "{h}");
    let last = h["Log"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["ExitCode"], 1);
    assert_eq!(last["Output"], "checking\n", "the probe's output is kept");
    assert!(last["Start"].as_str().unwrap() <= last["End"].as_str().unwrap());
    env.ok(root, &["container", "exec", "h", "touch", "/tmp/ok"]);
    wait_for("healthy", || status(&env, "h") == "healthy");
    assert_eq!(health(&env, "h")["FailingStreak"], 0);
    env.ok(root, &["container", "exec", "h", "rm", "/tmp/ok"]);
    wait_for("unhealthy again", || status(&env, "h") == "unhealthy");
    wait_for("five results kept", || {
        health(&env, "h")["Log"].as_array().unwrap().len() == 5
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        health(&env, "h")["Log"].as_array().unwrap().len(),
        5,
        "at most the last five"
    );
    env.ok(root, &["container", "rm", "-f", "h"]);
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}

#[test]
fn failures_in_the_start_period_do_not_count() {
    require_root!();
    let env = Env::new();
    let before = env.snapshot();
    let root = env.root.path();
    let started = Instant::now();
    run_d(
        &env,
        &[
            "--name",
            "slow",
            "--health-cmd",
            "false",
            "--health-start-period",
            "2s",
            "--health-start-interval",
            "100ms",
            "--health-interval",
            "300ms",
            "--health-retries",
            "1",
            "busybox:latest",
            "sleep",
            "1000",
        ],
    );
    // In the start period: probed every 100 ms, and still starting.
    wait_for("probes of the start period", || {
        health(&env, "slow")["Log"]
            .as_array()
            .is_some_and(|l| l.len() >= 4)
    });
    assert!(
        started.elapsed() < Duration::from_millis(1900),
        "start_interval, not interval: {:?}",
        started.elapsed()
    );
    assert_eq!(status(&env, "slow"), "starting");
    assert_eq!(health(&env, "slow")["FailingStreak"], 0);
    // After it, one failure is enough.
    wait_for("unhealthy", || status(&env, "slow") == "unhealthy");
    assert!(started.elapsed() >= Duration::from_secs(2));
    env.ok(root, &["container", "rm", "-f", "slow"]);
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}

#[test]
fn a_probe_past_its_timeout_is_killed_and_fails() {
    require_root!();
    let env = Env::new();
    let before = env.snapshot();
    let root = env.root.path();
    run_d(
        &env,
        &[
            "--name",
            "stuck",
            "--health-cmd",
            "sleep 30",
            "--health-timeout",
            "300ms",
            "--health-interval",
            "200ms",
            "--health-retries",
            "1",
            "busybox:latest",
            "sleep",
            "1000",
        ],
    );
    wait_for("unhealthy", || status(&env, "stuck") == "unhealthy");
    let last = health(&env, "stuck")["Log"][0].clone();
    assert_eq!(last["ExitCode"], -1, "{last}");
    assert!(
        last["Output"]
            .as_str()
            .unwrap()
            .starts_with("Health check exceeded timeout"),
        "{last}"
    );
    let sleeps = env
        .container_pids("stuck")
        .into_iter()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/cmdline"))
                .unwrap_or_default()
                .starts_with("sleep\x0030")
        })
        .count();
    assert!(sleeps <= 1, "timed-out probes are killed ({sleeps} left)");
    env.ok(root, &["container", "rm", "-f", "stuck"]);
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}

#[test]
fn cmd_cmd_shell_none_and_disable_forms() {
    require_root!();
    let mut env = Env::with_network();
    let before = env.snapshot();
    let project = berth_testkit::unique_name("hc");
    let dir = env.project(
        &project,
        r#"
services:
  exec-form:
    image: busybox:latest
    command: ["sleep", "1000"]
    healthcheck:
      test: ["CMD", "test", "-d", "/tmp"]
      interval: 200ms
  shell-form:
    image: busybox:latest
    command: ["sleep", "1000"]
    healthcheck:
      test: ["CMD-SHELL", "[ $$(hostname) = $$HOSTNAME ]"]
      interval: 200ms
  none:
    image: busybox:latest
    command: ["sleep", "1000"]
    healthcheck:
      test: ["NONE"]
  disabled:
    image: busybox:latest
    command: ["sleep", "1000"]
    healthcheck:
      test: ["CMD", "false"]
      disable: true
"#,
    );
    env.ok(&dir, &["up", "-d"]);
    let name = |s: &str| format!("{project}-{s}-1");
    wait_for("both checked services healthy", || {
        status(&env, &name("exec-form")) == "healthy"
            && status(&env, &name("shell-form")) == "healthy"
    });
    for s in ["none", "disabled"] {
        assert!(
            health(&env, &name(s)).is_null(),
            "{s}: no healthcheck at all"
        );
    }
    env.ok(&dir, &["down", "-t", "1"]);
    // --no-healthcheck on a single container.
    let root = env.root.path().to_owned();
    env.ok(
        &root,
        &[
            "container",
            "run",
            "-d",
            "--name",
            "nohc",
            "--no-healthcheck",
            "busybox:latest",
            "sleep",
            "1000",
        ],
    );
    assert!(health(&env, "nohc").is_null());
    env.ok(&root, &["container", "rm", "-f", "nohc"]);
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}

#[test]
fn the_images_healthcheck_is_used_and_can_be_replaced() {
    require_root!();
    let env = Env::new();
    let before = env.snapshot();
    let root = env.root.path();
    // HEALTHCHECK --interval=200ms --retries=1 CMD-SHELL test -f /tmp/ok
    runtime_common::load_image(&env, "checked:1", |c| {
        c["Healthcheck"] = serde_json::json!({
            "Test": ["CMD-SHELL", "echo from-image; test -f /tmp/ok"],
            "Interval": 200_000_000u64,
            "Retries": 1
        });
    });
    run_d(
        &env,
        &[
            "--name",
            "img",
            "checked:1",
            "sh",
            "-c",
            "touch /tmp/ok; sleep 1000",
        ],
    );
    wait_for("healthy by the image's check", || {
        status(&env, "img") == "healthy"
    });
    let last = health(&env, "img")["Log"][0].clone();
    assert_eq!(last["Output"], "from-image\n", "{last}");
    // The run's own check replaces the image's (and fails here).
    run_d(
        &env,
        &[
            "--name",
            "own",
            "--health-cmd",
            "echo own; false",
            "--health-interval",
            "200ms",
            "--health-retries",
            "1",
            "checked:1",
            "sh",
            "-c",
            "touch /tmp/ok; sleep 1000",
        ],
    );
    wait_for("unhealthy by its own check", || {
        status(&env, "own") == "unhealthy"
    });
    assert_eq!(health(&env, "own")["Log"][0]["Output"], "own\n");
    // And --no-healthcheck turns the image's off.
    run_d(
        &env,
        &[
            "--name",
            "off",
            "--no-healthcheck",
            "checked:1",
            "sleep",
            "1000",
        ],
    );
    assert!(health(&env, "off").is_null());
    env.ok(root, &["container", "rm", "-f", "img", "own", "off"]);
    env.ok(root, &["image", "rm", "checked:1"]);
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}
