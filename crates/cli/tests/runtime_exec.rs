//! `exec`: a process joins a running container's namespaces and cgroup with
//! the container's user, environment, working directory and capabilities
//! unless overridden (`-u`, `-w`, `-e`, `--privileged`), gets a terminal of
//! the container's own with `-t`, and its exit code is berth's. Each test
//! checks it left nothing behind.

mod common;
mod runtime_common;

use std::io::Write;
use std::process::{Command, Stdio};

use berth_testkit::require_root;
use common::{Env, wait_for};

fn exec(env: &Env, args: &[&str]) -> (i32, String, String) {
    let mut a = vec!["container", "exec"];
    a.extend_from_slice(args);
    let o = env.berth(env.root.path(), &a);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn start(env: &Env, flags: &[&str]) {
    let mut a = flags.to_vec();
    a.extend_from_slice(&["busybox:latest", "sleep", "1000"]);
    runtime_common::run_d(env, &a);
}

#[test]
fn exit_codes_are_the_commands() {
    require_root!();
    let env = Env::new();
    let before = env.snapshot();
    start(&env, &["--name", "x"]);
    assert_eq!(exec(&env, &["x", "true"]).0, 0);
    assert_eq!(exec(&env, &["x", "sh", "-c", "exit 3"]).0, 3);
    assert_eq!(exec(&env, &["x", "sh", "-c", "kill -9 $$"]).0, 137);
    let (code, _, err) = exec(&env, &["x", "no-such-command"]);
    assert_eq!(code, 127, "not found");
    assert!(err.contains("executable file not found in $PATH"), "{err}");
    let (code, _, err) = exec(&env, &["x", "/etc/passwd"]);
    assert_eq!(code, 126, "not executable: {err}");
    // stdin is passed on.
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["container", "exec", "-i", "x", "sh", "-c", "tr a-z A-Z"])
        .env("BERTH_ROOT", env.root.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"piped in\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "PIPED IN\n");
    // A stopped container cannot be entered.
    env.ok(env.root.path(), &["container", "stop", "-t", "0", "x"]);
    let (code, _, err) = exec(&env, &["x", "true"]);
    assert_eq!(code, 1);
    assert!(err.contains("is not running"), "{err}");
    env.ok(env.root.path(), &["container", "rm", "x"]);
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}

#[test]
fn exec_takes_the_containers_settings_unless_overridden() {
    require_root!();
    let env = Env::new();
    let before = env.snapshot();
    start(
        &env,
        &[
            "--name",
            "s",
            "-u",
            "app",
            "-w",
            "/home/app",
            "-e",
            "FROM=container",
            "-e",
            "KEEP=yes",
            "--hostname",
            "inside",
        ],
    );
    let show = "echo $(id -u):$(id -g) $(pwd) $FROM $KEEP $(hostname) $HOME; grep CapEff /proc/self/status | cut -f2";
    let (code, out, _) = exec(&env, &["s", "sh", "-c", show]);
    assert_eq!(code, 0);
    assert_eq!(
        out, "1000:1000 /home/app container yes inside /home/app\n0000000000000000\n",
        "the container's user, directory, environment and names"
    );
    let (_, out, _) = exec(
        &env,
        &[
            "-u",
            "root",
            "-w",
            "/tmp",
            "-e",
            "FROM=exec",
            "s",
            "sh",
            "-c",
            show,
        ],
    );
    assert_eq!(
        out, "0:0 /tmp exec yes inside /root\n00000000a80425fb\n",
        "-u, -w and -e win; root gets the container's capability set"
    );
    let (_, out, _) = exec(
        &env,
        &[
            "--privileged",
            "-u",
            "root",
            "s",
            "grep",
            "CapEff",
            "/proc/self/status",
        ],
    );
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let ours = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .unwrap()
        .trim();
    assert_eq!(out.trim(), format!("CapEff:\t{ours}"), "--privileged");
    // An exec switches users even when the container keeps no capability.
    start(&env, &["--name", "bare", "--cap-drop", "ALL"]);
    let (code, out, err) = exec(&env, &["-u", "app", "bare", "id", "-u"]);
    assert_eq!((code, out.as_str()), (0, "1000\n"), "{err}");
    env.ok(env.root.path(), &["container", "rm", "-f", "s", "bare"]);
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}

#[test]
fn an_exec_joins_the_cgroup_and_the_namespaces() {
    require_root!();
    let env = Env::new();
    let before = env.snapshot();
    start(&env, &["--name", "ns", "--pids-limit", "20"]);
    let init = env.inspect("ns")["State"]["Pid"].as_i64().unwrap() as i32;
    let mut bg = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["container", "exec", "ns", "sleep", "1000"])
        .env("BERTH_ROOT", env.root.path())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the exec'd process in the container's cgroup", || {
        env.container_pids("ns").len() == 2
    });
    let pid = *env
        .container_pids("ns")
        .iter()
        .find(|p| **p != init)
        .unwrap();
    for ns in ["pid", "mnt", "net", "uts", "ipc", "cgroup"] {
        let link = |p: i32| std::fs::read_link(format!("/proc/{p}/ns/{ns}")).unwrap();
        assert_eq!(link(pid), link(init), "{ns} namespace");
    }
    // Inside: its cgroup is the container's root, and the pids limit counts it.
    let (_, out, _) = exec(
        &env,
        &[
            "ns",
            "sh",
            "-c",
            "grep -v name= /proc/self/cgroup | grep -vc ':/$'",
        ],
    );
    assert_eq!(out.trim(), "0", "every hierarchy at the container's root");
    let (_, out, _) = exec(&env, &["ns", "sh", "-c", "ps -o pid,comm | grep -c sleep"]);
    assert_eq!(out.trim(), "2", "it sees the container's processes");
    // Stopping the container ends the exec too.
    env.ok(env.root.path(), &["container", "rm", "-f", "ns"]);
    assert_eq!(bg.wait().unwrap().code(), Some(137));
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}

#[test]
fn exec_with_a_terminal_gets_one_of_the_container() {
    require_root!();
    let env = Env::new();
    let before = env.snapshot();
    start(&env, &["--name", "t"]);
    let (code, out, _) = exec(
        &env,
        &[
            "-t",
            "t",
            "sh",
            "-c",
            "tty; [ -t 0 ] && [ -t 1 ] && echo both; exit 5",
        ],
    );
    assert_eq!(code, 5, "the exit code comes through the terminal");
    assert!(
        out.starts_with("/dev/pts/"),
        "the container's devpts: {out:?}"
    );
    assert!(out.contains("both"), "{out:?}");
    assert!(out.contains("\r\n"), "through a terminal: {out:?}");
    let (_, out, _) = exec(&env, &["t", "sh", "-c", "tty || true"]);
    assert_eq!(out.trim(), "not a tty", "no -t, no terminal");
    env.ok(env.root.path(), &["container", "rm", "-f", "t"]);
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}
