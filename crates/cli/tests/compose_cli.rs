//! End to end: `exec`, `logs`, `ps` and `run` with Compose's flags, output
//! and exit codes.

mod common;
mod compose_common;

use berth_testkit::require_root;
use common::Env;
use compose_common::{SLEEPER, ps, run, states, wait_until};

fn stack() -> String {
    format!(
        r#"
services:
  app:
    image: busybox:latest
    command: {SLEEPER}
    deploy: {{replicas: 2}}
    environment: {{FROM_FILE: "yes"}}
  talker:
    image: busybox:latest
    command: ["sh", "-c", "echo one; echo two; echo three; sleep 0.3; echo oops >&2; sleep 0.7; echo late"]
    ports: ["127.0.0.1:18411:80"]
"#
    )
}

#[test]
fn exec_passes_flags_and_exit_codes() {
    require_root!();
    let mut env = Env::with_network();
    let dir = env.project("ex", &stack());
    env.ok(&dir, &["up", "-d", "app"]);
    let out = env.ok(
        &dir,
        &[
            "exec",
            "-T",
            "-u",
            "1000",
            "-w",
            "/tmp",
            "-e",
            "A=b",
            "app",
            "sh",
            "-c",
            "echo $(id -u) $(pwd) $A $FROM_FILE",
        ],
    );
    assert_eq!(out.trim(), "1000 /tmp b yes");
    // --index picks the replica.
    let one = env.ok(&dir, &["exec", "-T", "app", "hostname"]);
    let two = env.ok(&dir, &["exec", "-T", "--index", "2", "app", "hostname"]);
    assert_ne!(one, two);
    // The command's exit code is berth's, 127 for a missing command.
    let (code, _, err) = run(&env, &dir, &["exec", "-T", "app", "sh", "-c", "exit 42"]);
    assert_eq!(code, 42, "{err}");
    let (code, _, err) = run(&env, &dir, &["exec", "-T", "app", "no-such-command"]);
    assert_eq!(code, 127, "{err}");
    // -d: in the background; its effect shows up.
    env.ok(
        &dir,
        &[
            "exec",
            "-d",
            "app",
            "sh",
            "-c",
            "sleep 0.2; touch /tmp/detached",
        ],
    );
    wait_until("the detached command", 10, || {
        env.berth(&dir, &["exec", "-T", "app", "test", "-f", "/tmp/detached"])
            .status
            .success()
    });
    let (code, _, err) = run(&env, &dir, &["exec", "-T", "talker", "true"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("service \"talker\" is not running"), "{err}");
}

#[test]
fn logs_tail_timestamps_prefixes_bounds_and_follow() {
    require_root!();
    let mut env = Env::with_network();
    let dir = env.project("lg", &stack());
    env.ok(&dir, &["up", "-d", "talker"]);
    wait_until("talker to finish", 20, || {
        states(&env, &dir) == vec![("lg-talker-1".to_string(), "exited".to_string())]
    });
    let o = env.berth(&dir, &["logs", "talker"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        out,
        "talker-1  | one\ntalker-1  | two\ntalker-1  | three\ntalker-1  | late\n"
    );
    // What the container wrote to stderr is on stderr.
    assert_eq!(String::from_utf8_lossy(&o.stderr), "talker-1  | oops\n");
    // --tail counts the lines of both streams.
    let o = env.berth(&dir, &["logs", "--tail", "3", "--no-log-prefix", "talker"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "three\nlate\n");
    assert_eq!(String::from_utf8_lossy(&o.stderr), "oops\n");
    let out = env.ok(&dir, &["logs", "-t", "--no-log-prefix", "--tail", "1"]);
    let (ts, text) = out.trim().split_once(' ').unwrap();
    assert_eq!(text, "late");
    assert!(
        ts.starts_with("20") && ts.ends_with('Z') && ts.contains('T'),
        "{ts}"
    );
    // --since in the future and --until in the past show nothing.
    assert_eq!(
        env.ok(&dir, &["logs", "--since", "2999-01-01T00:00:00Z"]),
        ""
    );
    assert_eq!(env.ok(&dir, &["logs", "--until", "1h"]), "");
    assert_eq!(
        env.ok(
            &dir,
            &["logs", "--since", "1h", "--tail", "1", "--no-log-prefix"]
        ),
        "late\n"
    );
    // --no-color is plain, and NO_COLOR is honoured even with --ansi auto.
    assert!(!env.ok(&dir, &["logs", "--no-color"]).contains('\x1b'));
    // -f on stopped containers returns at once; on a running one it
    // follows until the container exits.
    env.ok(&dir, &["logs", "-f"]);
    env.ok(&dir, &["start", "talker"]);
    let out = env.ok(&dir, &["logs", "-f", "--no-log-prefix", "talker"]);
    assert_eq!(out.matches("late").count(), 2, "{out}");
    let (code, _, err) = run(&env, &dir, &["logs", "nope"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no such service: nope"), "{err}");
    // --index: one replica's logs.
    let reps = "services:\n  rep:\n    image: busybox:latest\n    command: [\"echo\", \"hi\"]\n    deploy: {replicas: 2}\n";
    let dir = env.project("lgi", reps);
    env.ok(&dir, &["up", "-d"]);
    wait_until("both replicas to finish", 20, || {
        states(&env, &dir).iter().all(|(_, s)| s == "exited")
    });
    // Both replicas, in the order they wrote (they start together).
    let mut both: Vec<String> = env
        .ok(&dir, &["logs", "rep"])
        .lines()
        .map(String::from)
        .collect();
    both.sort();
    assert_eq!(both, ["rep-1  | hi", "rep-2  | hi"]);
    assert_eq!(
        env.ok(&dir, &["logs", "--index", "2", "rep"]),
        "rep-2  | hi\n"
    );
}

#[test]
fn ps_json_fields_and_flags() {
    require_root!();
    let mut env = Env::with_network();
    let dir = env.project("pj", &stack());
    env.ok(&dir, &["up", "-d"]);
    let rows = ps(&env, &dir, &[]);
    let app = rows.iter().find(|r| r["Name"] == "pj-app-1").unwrap();
    for key in [
        "Command",
        "CreatedAt",
        "ExitCode",
        "Health",
        "ID",
        "Image",
        "Labels",
        "LocalVolumes",
        "Mounts",
        "Name",
        "Names",
        "Networks",
        "Ports",
        "Project",
        "Publishers",
        "RunningFor",
        "Service",
        "Size",
        "State",
        "Status",
    ] {
        assert!(app.get(key).is_some(), "no {key} in {app}");
    }
    assert_eq!(app["Service"], "app");
    assert_eq!(app["Project"], "pj");
    assert_eq!(app["State"], "running");
    assert_eq!(app["ExitCode"], 0);
    assert_eq!(app["Health"], "");
    assert_eq!(app["ID"].as_str().unwrap().len(), 12);
    assert_eq!(app["Networks"], "pj_default");
    assert!(app["Status"].as_str().unwrap().starts_with("Up "), "{app}");
    // The published port, while talker runs.
    let talker = rows.iter().find(|r| r["Name"] == "pj-talker-1").unwrap();
    assert_eq!(
        talker["Publishers"],
        serde_json::json!([{"URL": "127.0.0.1", "TargetPort": 80, "PublishedPort": 18411, "Protocol": "tcp"}])
    );
    assert_eq!(talker["Ports"], "127.0.0.1:18411->80/tcp");
    wait_until("talker to exit", 20, || {
        ps(&env, &dir, &["-a", "--status", "exited"]).len() == 1
    });
    // Without -a only running containers; exited ones show their code.
    assert_eq!(ps(&env, &dir, &[]).len(), 2);
    let exited = ps(&env, &dir, &["--status", "exited"]);
    assert_eq!(exited[0]["ExitCode"], 0);
    assert!(
        exited[0]["Status"]
            .as_str()
            .unwrap()
            .starts_with("Exited (0)")
    );
    // -q: full ids; --services: each service once.
    let q = env.ok(&dir, &["ps", "-q"]);
    assert!(q.lines().all(|l| l.len() == 64), "{q}");
    assert_eq!(q.lines().count(), 2);
    assert_eq!(env.ok(&dir, &["ps", "-a", "--services"]), "app\ntalker\n");
    assert_eq!(
        env.ok(&dir, &["ps", "--format", "{{.Name}} {{.State}}", "app"]),
        "pj-app-1 running\npj-app-2 running\n"
    );
    let table = env.ok(&dir, &["ps"]);
    assert!(
        table.starts_with("NAME ") && table.contains("SERVICE") && table.contains("STATUS"),
        "{table}"
    );
    let (code, _, err) = run(&env, &dir, &["ps", "--status", "sleeping"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("invalid status"), "{err}");
}

#[test]
fn run_one_off_containers() {
    require_root!();
    let mut env = Env::with_network();
    let dir = env.project("ru", &stack());
    std::fs::write(dir.join("hostfile"), "from the host\n").unwrap();
    // Output and exit code are the command's; --rm leaves nothing behind.
    let (code, out, err) = run(
        &env,
        &dir,
        &[
            "run",
            "--rm",
            "-T",
            "app",
            "sh",
            "-c",
            "echo hi; echo err >&2; exit 5",
        ],
    );
    assert_eq!((code, out.as_str()), (5, "hi\n"), "{err}");
    assert!(err.contains("err"), "{err}");
    assert_eq!(ps(&env, &dir, &["-a"]).len(), 0);
    // -e, -w, -u, -v, --entrypoint.
    let out = env.ok(
        &dir,
        &[
            "run",
            "--rm",
            "-T",
            "-e",
            "X=1",
            "-w",
            "/mnt",
            "-u",
            "1000",
            "-v",
            "./hostfile:/mnt/hostfile:ro",
            "--entrypoint",
            "sh -c",
            "app",
            "echo $X $(pwd) $(id -u) $(cat hostfile)",
        ],
    );
    assert_eq!(out.trim(), "1 /mnt 1000 from the host");
    // -d prints the container id; --name names it; it is a one-off (not
    // part of `ps` without -a, not touched by `up`).
    let id = env.ok(&dir, &["run", "-d", "--name", "ru-job", "app"]);
    assert_eq!(id.trim().len(), 64, "{id}");
    assert!(ps(&env, &dir, &[]).is_empty());
    let all = ps(&env, &dir, &["-a"]);
    assert!(all.iter().any(|c| c["Name"] == "ru-job"), "{all:?}");
    env.ok(&dir, &["up", "-d", "app"]);
    assert_eq!(ps(&env, &dir, &[]).len(), 2);
    // -p publishes; without --service-ports the service's own ports are not.
    env.ok(
        &dir,
        &[
            "run",
            "-d",
            "--name",
            "ru-web",
            "-p",
            "127.0.0.1:18412:80",
            "app",
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/etc",
        ],
    );
    wait_until("the published one-off to answer", 20, || {
        env.sh("busybox wget -q -O - http://127.0.0.1:18412/hostname")
            .status
            .success()
    });
    // --service-ports: the service's own ports are published.
    env.ok(
        &dir,
        &[
            "run",
            "-d",
            "--name",
            "ru-sp",
            "--service-ports",
            "talker",
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/etc",
        ],
    );
    wait_until("the one-off on the service's port to answer", 20, || {
        env.sh("timeout 2 busybox wget -q -O - http://127.0.0.1:18411/hostname")
            .status
            .success()
    });
    // `down --remove-orphans` removes the one-off containers too.
    env.ok(&dir, &["down", "-t", "1", "--remove-orphans"]);
    assert!(ps(&env, &dir, &["-a"]).is_empty());
    // --no-deps: the dependency is not brought up.
    let deps = format!(
        "services:\n  db:\n    image: busybox:latest\n    command: {SLEEPER}\n  app:\n    image: busybox:latest\n    depends_on: [db]\n"
    );
    let dir = env.project("rd", &deps);
    env.ok(&dir, &["run", "--rm", "--no-deps", "app", "true"]);
    assert!(ps(&env, &dir, &["-a"]).is_empty());
    env.ok(&dir, &["run", "--rm", "app", "true"]);
    assert_eq!(
        states(&env, &dir),
        vec![("rd-db-1".to_string(), "running".to_string())]
    );
}
