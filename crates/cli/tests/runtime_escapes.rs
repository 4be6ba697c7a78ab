//! The two classic runtime escapes must fail.
//!
//! - CVE-2019-5736: a process in the container opens `/proc/<pid>/exe` of a
//!   runtime process (the container's init during setup, the exec helper)
//!   and rewrites the runtime's binary. berth runs those processes from a
//!   read-only bind mount of itself.
//! - CVE-2024-21626: a descriptor of the host (a directory, a cgroup file)
//!   leaks into the container, whose process then reaches the host's file
//!   system through it. Inside, only stdio may be open, and the working
//!   directory is the container's — for the container and for `exec`.

mod common;
mod runtime_common;

use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use berth_testkit::require_root;
use common::{Env, wait_for};
use runtime_common::run_d;

/// Opens `/proc/<pid>/exe` the way an attacker in the container would, and
/// checks it cannot be written and lives on a read-only mount.
fn assert_exe_sealed(pid: i32, what: &str) {
    let path = std::ffi::CString::new(format!("/proc/{pid}/exe")).unwrap();
    // SAFETY: plain open with O_PATH.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_PATH) };
    assert!(fd >= 0, "{what}: open {:?}", path);
    let reopen = std::ffi::CString::new(format!("/proc/self/fd/{fd}")).unwrap();
    // SAFETY: plain open.
    let w = unsafe { libc::open(reopen.as_ptr(), libc::O_WRONLY) };
    let err = std::io::Error::last_os_error();
    assert!(w < 0, "{what}: its binary was writable");
    assert!(
        matches!(err.raw_os_error(), Some(libc::EROFS) | Some(libc::ETXTBSY)),
        "{what}: {err}"
    );
    // SAFETY: fstatvfs on our descriptor.
    let mut vfs: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::fstatvfs(fd, &mut vfs) }, 0);
    assert!(
        vfs.f_flag & libc::ST_RDONLY != 0,
        "{what}: the binary it runs is on a read-only mount"
    );
    // SAFETY: closing our descriptor.
    unsafe { libc::close(fd) };
}

#[test]
fn the_berth_binary_is_never_writable_from_a_container() {
    require_root!();
    let env = Env::new();
    let before = env.snapshot();
    let root = env.root.path();
    // The container's init is a clone of the shim: berth code, running
    // berth's binary, visible to the container as its pid 1.
    run_d(
        &env,
        &["--init", "--name", "esc", "busybox:latest", "sleep", "1000"],
    );
    let init = env.inspect("esc")["State"]["Pid"].as_i64().unwrap() as i32;
    assert_exe_sealed(init, "the container's init");
    // The exec helper: the parent of the exec'd process.
    let mut exec = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["container", "exec", "esc", "sleep", "1000"])
        .env("BERTH_ROOT", root)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut helper = None;
    wait_for("the exec'd process", || {
        helper = env
            .container_pids("esc")
            .into_iter()
            .filter(|p| *p != init)
            .find_map(|p| {
                let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
                let comm = &stat[stat.find('(')? + 1..stat.rfind(')')?];
                (comm == "sleep")
                    .then(|| stat[stat.rfind(')')? + 2..].split(' ').nth(1)?.parse().ok())
                    .flatten()
            });
        helper.is_some()
    });
    assert_exe_sealed(helper.unwrap(), "the exec helper");
    env.ok(root, &["container", "rm", "-f", "esc"]);
    let _ = exec.wait();
    // While the host's own copy sits on a writable file system.
    let host = std::ffi::CString::new(env!("CARGO_BIN_EXE_berth")).unwrap();
    let mut vfs: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: statvfs on a path.
    assert_eq!(unsafe { libc::statvfs(host.as_ptr(), &mut vfs) }, 0);
    assert!(vfs.f_flag & libc::ST_RDONLY == 0);
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}

/// Lists the descriptors of the shell itself while it waits (so that none
/// of its own pipes or redirections is open), and its working directory.
const FDS: &str = "(ls /proc/$$/fd > /dev/shm/fds.$$) & wait $!; \
    echo \"fds=$(tr '\\n' ' ' < /dev/shm/fds.$$)\"; echo \"cwd=$(readlink /proc/$$/cwd)\"";

#[test]
fn no_host_descriptor_reaches_a_container_or_an_exec() {
    require_root!();
    let env = Env::new();
    let before = env.snapshot();
    let root = env.root.path();
    // A berth command that holds an inheritable descriptor of a host
    // directory, as a careless caller (or runc's own leak) would.
    let host_dir = std::fs::File::open("/").unwrap();
    let leaky = |args: &[&str]| {
        let fd = host_dir.as_raw_fd();
        let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
        c.args(args).env("BERTH_ROOT", root);
        // SAFETY: dup2 between fork and exec; the copy is not close-on-exec.
        unsafe {
            c.pre_exec(move || {
                if libc::dup2(fd, 7) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let o = c.output().unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let out = leaky(&[
        "container",
        "run",
        "--rm",
        "-w",
        "/tmp",
        "busybox:latest",
        "sh",
        "-c",
        FDS,
    ]);
    assert!(out.contains("fds=0 1 2 \n"), "the container's pid 1: {out}");
    assert!(out.contains("cwd=/tmp\n"), "{out}");
    run_d(
        &env,
        &["--name", "target", "busybox:latest", "sleep", "1000"],
    );
    let out = leaky(&["container", "exec", "target", "sh", "-c", FDS]);
    assert!(out.contains("fds=0 1 2 \n"), "an exec'd process: {out}");
    assert!(out.contains("cwd=/\n"), "{out}");
    let out = leaky(&["container", "exec", "-w", "/etc", "target", "sh", "-c", FDS]);
    assert!(out.contains("cwd=/etc\n"), "{out}");
    // A healthcheck probe runs like an exec.
    run_d(
        &env,
        &[
            "--name",
            "checked",
            "--health-cmd",
            "(ls /proc/$$/fd > /dev/shm/probe-fds) & wait $!; readlink /proc/$$/cwd >> /dev/shm/probe-fds",
            "--health-interval",
            "200ms",
            "busybox:latest",
            "sleep",
            "1000",
        ],
    );
    wait_for("a probe", || {
        env.inspect("checked")["State"]["Health"]["Status"] == "healthy"
    });
    let seen = env.ok(
        root,
        &["container", "exec", "checked", "cat", "/dev/shm/probe-fds"],
    );
    let lines: Vec<&str> = seen.lines().collect();
    assert_eq!(
        lines,
        ["0", "1", "2", "/"],
        "a probe's stdio and cwd: {seen}"
    );
    env.ok(root, &["container", "rm", "-f", "target", "checked"]);
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}
