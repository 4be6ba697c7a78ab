//! The runtime from the inside: a probe (busybox shell) checks what a
//! container sees, and lifecycle tests check stop, restart, logs, volumes,
//! a killed supervisor and the two classic runtime escapes.

mod common;

use std::time::{Duration, Instant};

use berth_testkit::require_root;
use common::Env;

fn run(env: &Env, args: &[&str]) -> String {
    let mut a = vec!["container", "run", "--rm"];
    a.extend_from_slice(args);
    env.ok(env.root.path(), &a)
}

fn inspect(env: &Env, name: &str) -> serde_json::Value {
    let out = env.ok(env.root.path(), &["container", "inspect", name]);
    serde_json::from_str::<serde_json::Value>(&out).unwrap()[0].clone()
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_probe_sees_a_container() {
    require_root!();
    let env = Env::new();
    let before = env.snapshot();
    let probe = "echo pid=$$; hostname; grep CapEff /proc/self/status; id; echo cwd=$(pwd); echo env=$GREETING; \
        grep ' / ' /proc/self/mounts | cut -d' ' -f3; stat -c %F /proc/keys; touch /ro 2>/dev/null && echo rw || echo ro; \
        cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || true; \
        ulimit -n; mknod /tmp/disk b 8 0 2>/dev/null && echo mknod-allowed || echo mknod-denied; ls /proc/$$/fd | tr '\\n' ' '";
    let out = run(
        &env,
        &[
            "--hostname",
            "probe",
            "-u",
            "app",
            "-w",
            "/tmp",
            "-e",
            "GREETING=hi",
            "--read-only",
            "--memory",
            "64m",
            "--pids-limit",
            "50",
            "--ulimit",
            "nofile=512:1024",
            "busybox:latest",
            "sh",
            "-c",
            probe,
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "pid=1", "{out}");
    assert_eq!(lines[1], "probe");
    assert_eq!(
        lines[2], "CapEff:\t0000000000000000",
        "a non-root user has no effective capabilities"
    );
    assert_eq!(
        lines[3],
        "uid=1000(app) gid=1000(app) groups=10(wheel),29(audio),1000(app)"
    );
    assert_eq!(lines[4], "cwd=/tmp");
    assert_eq!(lines[5], "env=hi");
    assert_eq!(lines[6], "overlay");
    assert_eq!(
        lines[7], "character special file",
        "/proc/keys is masked by /dev/null"
    );
    assert_eq!(lines[8], "ro");
    assert_eq!(lines[9], "67108864");
    assert_eq!(lines[10], "50");
    assert_eq!(lines[11], "512");
    assert_eq!(lines[12], "mknod-denied");
    assert_eq!(
        lines[13].trim(),
        "0 1 2",
        "only stdio is open (CVE-2024-21626)"
    );
    // Root gets Docker's default capability set.
    let caps = run(
        &env,
        &["busybox:latest", "grep", "CapEff", "/proc/self/status"],
    );
    assert_eq!(caps.trim(), "CapEff:\t00000000a80425fb");
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}

#[test]
fn stop_waits_for_the_grace_period_then_kills() {
    require_root!();
    let env = Env::new();
    let root = env.root.path();
    env.ok(
        root,
        &[
            "container",
            "run",
            "-d",
            "--name",
            "stubborn",
            "busybox:latest",
            "sh",
            "-c",
            "trap '' TERM; while true; do sleep 1; done",
        ],
    );
    let t = Instant::now();
    env.ok(root, &["container", "stop", "-t", "1", "stubborn"]);
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(8),
        "{took:?}"
    );
    let c = inspect(&env, "stubborn");
    assert_eq!(c["State"]["Status"], "exited");
    assert_eq!(c["State"]["ExitCode"], 137);
    env.ok(root, &["container", "rm", "stubborn"]);
}

#[test]
fn restart_policies_restart_and_count() {
    require_root!();
    let env = Env::new();
    let root = env.root.path();
    env.ok(
        root,
        &[
            "container",
            "run",
            "-d",
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
        let c = inspect(&env, "flaky");
        c["State"]["Status"] == "exited" && c["RestartCount"] == 2
    });
    let logs = env.ok(root, &["container", "logs", "flaky"]);
    assert_eq!(logs.matches("try").count(), 3, "{logs}");
    env.ok(
        root,
        &[
            "container",
            "run",
            "-d",
            "--name",
            "always",
            "--restart",
            "always",
            "busybox:latest",
            "sleep",
            "1000",
        ],
    );
    let pid = inspect(&env, "always")["State"]["Pid"].as_i64().unwrap() as i32;
    // SAFETY: killing the container's process we just started.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    wait_for("restart after kill", || {
        let c = inspect(&env, "always");
        c["State"]["Status"] == "running" && c["RestartCount"] == 1
    });
    env.ok(root, &["container", "rm", "-f", "always", "flaky"]);
}

#[test]
fn a_killed_supervisor_neither_kills_nor_loses_the_container() {
    require_root!();
    let env = Env::new();
    let root = env.root.path();
    env.ok(
        root,
        &[
            "container",
            "run",
            "-d",
            "--name",
            "orphan",
            "busybox:latest",
            "sh",
            "-c",
            "trap 'exit 0' TERM; while true; do echo tick; sleep 0.2; done",
        ],
    );
    let state = |env: &Env| -> serde_json::Value {
        let id = inspect(env, "orphan")["Id"].as_str().unwrap().to_owned();
        serde_json::from_str(
            &std::fs::read_to_string(root.join("containers").join(id).join("state.json")).unwrap(),
        )
        .unwrap()
    };
    let shim = state(&env)["shim"]["pid"].as_i64().unwrap() as i32;
    let pid = inspect(&env, "orphan")["State"]["Pid"].as_i64().unwrap() as i32;
    // SAFETY: killing the shim we started.
    unsafe { libc::kill(shim, libc::SIGKILL) };
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        inspect(&env, "orphan")["State"]["Status"],
        "running",
        "the container survives its supervisor"
    );
    wait_for("a new shim adopting the container", || {
        state(&env)["shim"]["pid"]
            .as_i64()
            .is_some_and(|p| p as i32 != shim)
    });
    // Its output is still collected (no SIGPIPE, no loss).
    let before = env
        .ok(root, &["container", "logs", "orphan"])
        .matches("tick")
        .count();
    std::thread::sleep(Duration::from_millis(600));
    let after = env
        .ok(root, &["container", "logs", "orphan"])
        .matches("tick")
        .count();
    assert!(after > before, "logs keep flowing: {before} → {after}");
    env.ok(root, &["container", "stop", "orphan"]);
    let c = inspect(&env, "orphan");
    assert_eq!(c["State"]["Status"], "exited");
    assert_eq!(c["State"]["ExitCode"], 0, "the real exit status is known");
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "no zombie is left"
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{shim}")).exists(),
        "the killed shim was reaped"
    );
    env.ok(root, &["container", "rm", "orphan"]);
}

#[test]
fn volumes_are_filled_from_the_image_and_persist() {
    require_root!();
    let env = Env::new();
    let out = run(
        &env,
        &[
            "-v",
            "etcvol:/etc",
            "busybox:latest",
            "sh",
            "-c",
            "grep -c app /etc/passwd; echo mine > /etc/added",
        ],
    );
    assert_eq!(out.trim(), "1", "an empty volume takes the image's content");
    let out = run(
        &env,
        &["-v", "etcvol:/etc", "busybox:latest", "cat", "/etc/added"],
    );
    assert_eq!(out.trim(), "mine", "data persists across containers");
    let ls = env.ok(env.root.path(), &["volume", "ls"]);
    assert!(ls.contains("etcvol"), "{ls}");
    env.ok(env.root.path(), &["volume", "rm", "etcvol"]);
}

#[test]
fn the_berth_binary_is_never_writable_from_a_container() {
    require_root!();
    // CVE-2019-5736: a process in the container holds /proc/<pid>/exe of a
    // berth process (here the init, a clone of the shim) and reopens it for
    // writing once berth is gone. The exe is berth's read-only copy.
    let env = Env::new();
    let root = env.root.path();
    env.ok(
        root,
        &[
            "container",
            "run",
            "-d",
            "--init",
            "--name",
            "esc",
            "busybox:latest",
            "sleep",
            "1000",
        ],
    );
    let pid = inspect(&env, "esc")["State"]["Pid"].as_i64().unwrap();
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    let path = std::ffi::CString::new(format!("/proc/{pid}/exe")).unwrap();
    // SAFETY: plain open.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_PATH) };
    assert!(fd >= 0);
    env.ok(root, &["container", "rm", "-f", "esc"]);
    let reopen = std::ffi::CString::new(format!("/proc/self/fd/{fd}")).unwrap();
    // SAFETY: plain open.
    let w = unsafe { libc::open(reopen.as_ptr(), libc::O_WRONLY) };
    let err = std::io::Error::last_os_error();
    assert!(
        w < 0,
        "{} was writable through the container's view",
        exe.display()
    );
    // Busy while another berth process runs it; read-only in any case.
    assert!(
        matches!(err.raw_os_error(), Some(libc::EROFS) | Some(libc::ETXTBSY)),
        "{err}"
    );
    // SAFETY: fstatvfs on our descriptor.
    let mut vfs: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::fstatvfs(fd, &mut vfs) }, 0);
    assert!(
        vfs.f_flag & libc::ST_RDONLY != 0,
        "the exe a container can reach is on a read-only mount"
    );
    // SAFETY: closing our descriptor.
    unsafe { libc::close(fd) };
    // While the host's own copy sits on a writable file system.
    let host = std::ffi::CString::new(env!("CARGO_BIN_EXE_berth")).unwrap();
    // SAFETY: statvfs on a path.
    assert_eq!(unsafe { libc::statvfs(host.as_ptr(), &mut vfs) }, 0);
    assert!(vfs.f_flag & libc::ST_RDONLY == 0);
}
