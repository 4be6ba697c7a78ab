//! End to end: `up` in the foreground — prefixed logs, Ctrl-C (graceful,
//! then a second one kills), `--abort-on-container-exit`,
//! `--abort-on-container-failure`, `--exit-code-from`, `--attach`,
//! `--no-attach`, coloured prefixes.

mod common;
mod compose_common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use berth_testkit::require_root;
use common::Env;
use compose_common::{SLEEPER, run, states};

/// `berth up …` in the foreground, its stdout lines sent to a channel.
fn foreground(env: &Env, dir: &std::path::Path, args: &[&str]) -> (Child, mpsc::Receiver<String>) {
    let mut child = env
        .command(dir, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rx = lines(child.stdout.take().unwrap());
    (child, rx)
}

/// The lines read from `from`, sent to a channel as they come.
fn lines(from: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(from).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

/// Lines until one contains `what` (all of them, that one included).
fn until(rx: &mpsc::Receiver<String>, what: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => {
                let done = l.contains(what);
                seen.push(l);
                if done {
                    return seen;
                }
            }
            Err(_) => panic!("no line with {what:?} in {seen:#?}"),
        }
    }
}

fn interrupt(child: &Child) {
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
}

/// Waits for the child, at most `secs`; returns its exit code.
fn exit_code(mut child: Child, secs: u64) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("berth up did not end within {secs}s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn foreground_up_streams_prefixed_logs_and_ctrl_c_stops_gracefully() {
    require_root!();
    let mut env = Env::with_network();
    let stack = r#"
services:
  api:
    image: busybox:latest
    command: ["sh", "-c", "trap 'echo api got TERM; exit 0' TERM; echo api up; sleep 3600 & wait"]
  longer-name:
    image: busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; echo second up; sleep 3600 & wait"]
  quiet:
    image: busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; echo not shown; sleep 3600 & wait"]
    attach: false
"#;
    let dir = env.project("fg", stack);
    let (child, rx) = foreground(&env, &dir, &["up"]);
    let seen = until(&rx, "Attaching to");
    assert_eq!(
        seen.last().unwrap(),
        "Attaching to api-1, longer-name-1",
        "attach: false is not attached"
    );
    // The two containers' lines come in either order.
    let mut lines = until(&rx, "api up");
    if !lines.iter().any(|l| l.contains("second up")) {
        lines.extend(until(&rx, "second up"));
    }
    // Names padded to one more than the widest, as Compose does.
    assert!(
        lines.contains(&"api-1          | api up".to_string()),
        "{lines:#?}"
    );
    assert!(
        lines.contains(&"longer-name-1  | second up".to_string()),
        "{lines:#?}"
    );
    interrupt(&child);
    let rest = until(&rx, "api-1 exited with code 0");
    assert!(
        rest.iter().any(|l| l == "api-1          | api got TERM"),
        "the stop is graceful: {rest:#?}"
    );
    assert_eq!(exit_code(child, 30), 130, "Ctrl-C ends up with 130");
    let st = states(&env, &dir);
    assert!(st.iter().all(|(_, s)| s == "exited"), "{st:?}");
    assert_eq!(st.len(), 3);
}

#[test]
fn a_second_ctrl_c_kills() {
    require_root!();
    let mut env = Env::with_network();
    let stack = r#"
services:
  stubborn:
    image: busybox:latest
    command: ["sh", "-c", "trap '' TERM INT; echo ignoring; while true; do sleep 1; done"]
    stop_grace_period: 60s
"#;
    let dir = env.project("kk", stack);
    let (child, rx) = foreground(&env, &dir, &["up"]);
    until(&rx, "ignoring");
    let t = Instant::now();
    interrupt(&child);
    std::thread::sleep(Duration::from_millis(500));
    interrupt(&child);
    assert_eq!(exit_code(child, 30), 130);
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "killed, not waited for: {:?}",
        t.elapsed()
    );
    let (_, out, _) = run(
        &env,
        &dir,
        &["ps", "-a", "--format", "{{.State}} {{.ExitCode}}"],
    );
    assert_eq!(out.trim(), "exited 137");
}

#[test]
fn ctrl_c_while_up_waits_for_a_dependency_stops_what_it_started() {
    require_root!();
    let mut env = Env::with_network();
    // db stays "starting" for a minute; web waits for it to be healthy.
    let stack = format!(
        r#"
services:
  db:
    image: busybox:latest
    command: {SLEEPER}
    healthcheck:
      test: ["CMD", "false"]
      interval: 30s
      start_period: 60s
      start_interval: 30s
  web:
    image: busybox:latest
    command: {SLEEPER}
    depends_on:
      db: {{condition: service_healthy}}
"#
    );
    let dir = env.project("cw", &stack);
    let mut child = env
        .command(&dir, &["--progress", "plain", "up"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = lines(child.stderr.take().unwrap());
    until(&rx, "Container cw-db-1 Waiting");
    interrupt(&child);
    assert_eq!(exit_code(child, 30), 130, "Ctrl-C ends up with 130");
    assert_eq!(
        states(&env, &dir),
        vec![
            ("cw-db-1".to_string(), "exited".to_string()),
            ("cw-web-1".into(), "created".into())
        ],
        "db stopped, web never started"
    );
}

#[test]
fn abort_on_exit_and_exit_code_from() {
    require_root!();
    let mut env = Env::with_network();
    let stack = format!(
        r#"
services:
  job:
    image: busybox:latest
    command: ["sh", "-c", "sleep 0.5; echo job done; exit 3"]
  ok:
    image: busybox:latest
    command: ["true"]
  server:
    image: busybox:latest
    command: {SLEEPER}
"#
    );
    let dir = env.project("ab", &stack);
    // --abort-on-container-exit: the first exit (ok, 0) stops everything.
    let (code, out, err) = run(&env, &dir, &["up", "--abort-on-container-exit"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("Aborting on container exit..."), "{err}");
    assert!(states(&env, &dir).iter().all(|(_, s)| s == "exited"));
    // --abort-on-container-failure: ok's exit 0 does not count, job's 3 does.
    let (code, out, _) = run(&env, &dir, &["up", "--abort-on-container-failure"]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("job-1     | job done"), "{out}");
    assert!(out.contains("job-1 exited with code 3"), "{out}");
    // --no-attach hides a service's logs (its exit still counts); on a
    // terminal or with --ansi always each prefix has its colour; -y is
    // accepted (berth's up never asks).
    let (code, out, err) = run(
        &env,
        &dir,
        &[
            "--ansi",
            "always",
            "up",
            "-y",
            "--no-attach",
            "ok",
            "--abort-on-container-failure",
        ],
    );
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.starts_with("Attaching to job-1, server-1\n"), "{out}");
    assert!(!out.contains("ok-1"), "{out}");
    assert!(
        out.contains("\x1b[36mjob-1     | \x1b[0mjob done\n"),
        "{out:?}"
    );
    // --exit-code-from: the chosen service's code, whoever exits first.
    let (code, _, err) = run(&env, &dir, &["up", "--exit-code-from", "job"]);
    assert_eq!(code, 3, "{err}");
    let (code, _, err) = run(&env, &dir, &["up", "--exit-code-from", "server"]);
    assert_eq!(code, 0, "server exits 0 on the TERM of the abort: {err}");
    // --attach: only those logs; and the flag checks of Compose.
    let (code, out, err) = run(
        &env,
        &dir,
        &["up", "--attach", "job", "--abort-on-container-failure"],
    );
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.starts_with("Attaching to job-1\n"), "{out}");
    let (code, _, err) = run(&env, &dir, &["up", "-d", "--abort-on-container-exit"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--detach cannot be combined"), "{err}");
    let (code, _, err) = run(&env, &dir, &["up", "--attach", "nope"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("cannot attach to services not included in up: nope"),
        "{err}"
    );
}
