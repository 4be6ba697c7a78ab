//! The cgroup v2 parts of the runtime against the real kernel: the device
//! filter, and a container process born in its cgroup (`CLONE_INTO_CGROUP`,
//! no migration). This host runs cgroups hybrid, but its `unified` cgroup2
//! hierarchy takes BPF device programs and clone3 placement like a pure v2
//! host does (the v1 devices controller allows everything to the test's
//! own cgroup, so only the program decides).

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use berth_runtime::cgroups::devices;
use berth_testkit::require_root;

fn cgroup2_mount() -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        let mount_point = left.split(' ').nth(4)?;
        right
            .starts_with("cgroup2 ")
            .then(|| PathBuf::from(mount_point))
    })
}

/// Removes the test cgroup even when the test fails.
struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        for _ in 0..100 {
            if std::fs::remove_dir(&self.0).is_ok() || !self.0.exists() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

#[test]
fn the_v2_program_denies_every_device_but_the_defaults() {
    require_root!();
    let Some(mount) = cgroup2_mount() else {
        eprintln!("skipped: no cgroup2 hierarchy mounted");
        return;
    };
    let cg = Dir(mount.join(berth_testkit::unique_name("berth-dev")));
    std::fs::create_dir(&cg.0).unwrap();
    devices::attach_v2(&cg.0, devices::DEFAULT).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let procs = std::ffi::CString::new(cg.0.join("cgroup.procs").to_str().unwrap()).unwrap();
    let script = format!(
        "head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo null-ok; \
         mknod {d}/disk b 7 0 2>/dev/null && echo mknod-allowed || echo mknod-denied; \
         cat /dev/loop-control 2>&1 | grep -q 'not permitted' && echo open-denied || echo open-allowed",
        d = tmp.path().display()
    );
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &script]);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
            if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                return Err(std::io::Error::last_os_error());
            }
            libc::close(fd);
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    std::io::stderr().write_all(&out.stderr).unwrap();
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    assert_eq!(
        lines,
        ["4", "null-ok", "mknod-denied", "open-denied"],
        "allowed: /dev/zero, /dev/null; denied: creating a disk node, opening loop-control"
    );
    assert!(!tmp.path().join("disk").exists());
}

#[test]
fn a_prepared_process_is_born_in_its_v2_cgroup() {
    require_root!();
    let Some(mount) = cgroup2_mount() else {
        eprintln!("skipped: no cgroup2 hierarchy mounted");
        return;
    };
    let name = berth_testkit::unique_name("berth-c3");
    let cg = Dir(mount.join(&name));
    std::fs::create_dir(&cg.0).unwrap();
    let dir = std::fs::File::open(&cg.0).unwrap();
    let p = berth_runtime::spawn::prepare(true, Some(&dir)).unwrap();
    let own = std::fs::read_to_string(format!("/proc/{}/cgroup", p.pid)).unwrap();
    let procs = std::fs::read_to_string(cg.0.join("cgroup.procs")).unwrap();
    let netns = |pid: String| std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    let (its, ours) = (netns(p.pid.to_string()), netns("self".into()));
    let pid = p.pid;
    p.discard();
    assert!(
        own.lines().any(|l| l == format!("0::/{name}")),
        "born in the cgroup: {own}"
    );
    assert_eq!(procs.trim(), pid.to_string());
    assert_ne!(its, ours, "in a network namespace of its own");
}
