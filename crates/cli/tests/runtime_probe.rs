//! The container from the inside: a probe (a busybox shell script run as the
//! container's pid 1) reports what the container sees — pid, names, mount
//! table, masked and read-only paths, capabilities, rlimits, cgroup limits,
//! user and groups, environment, working directory, file descriptors — and
//! the test compares it with what was asked. Each test checks it left
//! nothing behind.

mod common;
mod runtime_common;

use std::collections::BTreeMap;

use berth_testkit::require_root;
use common::Env;
use runtime_common::{DOCKER_CAPS, PROBE, get, masked_on_this_host, parse_probe};

/// Runs the probe in a new container with `flags`; returns what it said.
fn probe(env: &Env, flags: &[&str]) -> BTreeMap<String, String> {
    let masked = format!("MASKED={}", masked_on_this_host().join(" "));
    let mut args = vec!["container", "run", "--rm", "-e", &masked];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["busybox:latest", "sh", "-c", PROBE]);
    parse_probe(&env.ok(env.root.path(), &args))
}

#[test]
fn a_default_container_from_the_inside() {
    require_root!();
    let env = Env::new();
    let before = env.snapshot();
    let p = probe(&env, &[]);
    assert_eq!(get(&p, "pid"), "1");
    assert_eq!(get(&p, "hostname").len(), 12, "the short id");
    assert_eq!(get(&p, "domainname"), "(none)");
    // A namespace of its own of every kind; its network has only `lo`.
    for (ns, host) in runtime_common::host_namespaces() {
        let inside = get(&p, &ns);
        assert_ne!(inside, host, "{ns}: not the host's");
        assert!(inside.contains(":["), "{ns}: {inside}");
    }
    assert_eq!(get(&p, "links"), "lo");
    // The name files: its hostname, localhost, and the host's resolvers.
    assert_eq!(get(&p, "etc_hostname"), get(&p, "hostname"));
    assert_eq!(get(&p, "hosts_localhost"), "1");
    assert_eq!(get(&p, "hosts_self"), "1", "its hostname resolves");
    let resolvers: Vec<String> = berth_runtime::spawn::default_resolv_conf()
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver"))
        .map(|s| s.trim().to_owned())
        .collect();
    assert!(!resolvers.is_empty());
    assert_eq!(get(&p, "nameservers"), resolvers.join(" "));
    assert_eq!(
        (get(&p, "uid"), get(&p, "gid"), get(&p, "groups")),
        ("0", "0", "0")
    );
    assert_eq!(get(&p, "home"), "/root");
    assert_eq!(get(&p, "cwd"), "/");
    assert_eq!(
        get(&p, "path"),
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    );
    assert_eq!(get(&p, "CapEff"), DOCKER_CAPS);
    assert_eq!(get(&p, "CapBnd"), DOCKER_CAPS, "nothing can be regained");
    assert_eq!(
        get(&p, "CapInh"),
        "0000000000000000",
        "none inheritable (CVE-2022-24769)"
    );
    assert_eq!(get(&p, "NoNewPrivs"), "0");
    // The mount table.
    let mount = |mp: &str| get(&p, &format!("mount {mp}")).to_owned();
    assert!(mount("/").starts_with("overlay rw"), "{}", mount("/"));
    assert!(mount("/proc").starts_with("proc rw,nosuid,nodev,noexec"));
    assert!(mount("/sys").starts_with("sysfs ro,nosuid,nodev,noexec"));
    assert!(
        mount("/dev").starts_with("tmpfs rw,nosuid"),
        "{}",
        mount("/dev")
    );
    assert!(mount("/dev/pts").starts_with("devpts rw,nosuid,noexec"));
    assert!(mount("/dev/pts").contains("ptmxmode=666"));
    assert!(
        mount("/dev/shm").contains("size=65536k"),
        "64 MiB by default"
    );
    assert!(mount("/dev/mqueue").starts_with("mqueue rw,nosuid,nodev,noexec"));
    assert!(mount("/sys/fs/cgroup").contains(" ro,"));
    assert!(mount("/proc/sys").contains(" ro,"), "read-only path");
    for f in ["/etc/hosts", "/etc/resolv.conf", "/etc/hostname"] {
        assert!(p.contains_key(&format!("mount {f}")), "{f} is bind-mounted");
    }
    // Masked paths: files behind /dev/null, directories behind an empty tmpfs.
    let masked = masked_on_this_host();
    assert!(masked.len() >= 3, "{masked:?}");
    for m in masked {
        let seen = get(&p, &format!("masked {m}"));
        let host = std::path::Path::new(m);
        let expected = if host.is_dir() {
            "directory 0"
        } else {
            "character special file 0"
        };
        assert_eq!(seen, expected, "{m} is masked");
    }
    for ro in ["/proc/sys/kernel/hostname", "/proc/irq", "/proc/bus"] {
        assert_eq!(get(&p, &format!("writable {ro}")), "no", "{ro}");
    }
    // /dev: the standard nodes, world read-write, and the links.
    assert_eq!(get(&p, "dev null"), "character special file 666 1:3");
    assert_eq!(get(&p, "dev urandom"), "character special file 666 1:9");
    assert_eq!(get(&p, "dev tty"), "character special file 666 5:0");
    assert_eq!(get(&p, "ptmx"), "pts/ptmx");
    assert_eq!(get(&p, "devfd"), "/proc/self/fd");
    assert_eq!(get(&p, "root"), "rw");
    assert_eq!(get(&p, "mknod"), "denied", "no host device nodes");
    let (own, all) = get(&p, "own_cgroup").split_once(" of ").unwrap();
    assert_eq!(
        own, all,
        "every controller's root is the container's cgroup"
    );
    // CVE-2024-21626: pid 1 holds its stdio and nothing else, and its
    // working directory and root are the container's.
    assert_eq!(get(&p, "fds"), "0 1 2");
    assert_eq!(get(&p, "cwd_link"), "/");
    assert_eq!(get(&p, "root_link"), "/");
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}

#[test]
fn the_settings_from_the_inside() {
    require_root!();
    let env = Env::new();
    let before = env.snapshot();
    let p = probe(
        &env,
        &[
            "--hostname",
            "probe",
            "--domainname",
            "example.org",
            "-u",
            "app",
            "--group-add",
            "nogroup",
            "-w",
            "/tmp",
            "-e",
            "GREETING=hi",
            "--read-only",
            "--security-opt",
            "no-new-privileges",
            "--memory",
            "64m",
            "--memory-swap",
            "96m",
            "--cpus",
            "0.5",
            "--cpu-shares",
            "512",
            "--cpuset-cpus",
            "0",
            "--pids-limit",
            "50",
            "--ulimit",
            "nofile=512:1024",
            "--shm-size",
            "8m",
            "--sysctl",
            "kernel.shmmax=1048576",
            "--sysctl",
            "net.ipv4.ip_unprivileged_port_start=80",
            "--tmpfs",
            "/scratch:size=1m,mode=700",
        ],
    );
    assert_eq!(get(&p, "pid"), "1");
    assert_eq!(get(&p, "hostname"), "probe");
    assert_eq!(get(&p, "domainname"), "example.org");
    assert_eq!(
        (get(&p, "uid"), get(&p, "gid")),
        ("1000", "1000"),
        "the image's app user"
    );
    assert_eq!(
        get(&p, "groups"),
        "1000 10 29 65534",
        "primary, supplementary from /etc/group, group_add"
    );
    assert_eq!(get(&p, "home"), "/home/app");
    assert_eq!(get(&p, "cwd"), "/tmp");
    assert_eq!(get(&p, "greeting"), "hi");
    assert_eq!(get(&p, "CapEff"), "0000000000000000", "a non-root user");
    assert_eq!(get(&p, "CapBnd"), DOCKER_CAPS);
    assert_eq!(get(&p, "NoNewPrivs"), "1");
    assert_eq!((get(&p, "nofile"), get(&p, "nofile_hard")), ("512", "1024"));
    assert_eq!(get(&p, "root"), "ro");
    assert!(get(&p, "mount /").starts_with("overlay ro"));
    assert!(get(&p, "mount /dev/shm").contains("size=8192k"));
    let scratch = get(&p, "mount /scratch");
    assert!(
        scratch.starts_with("tmpfs rw,nosuid,nodev") && scratch.contains("size=1024k,mode=700"),
        "{scratch}"
    );
    assert_eq!(get(&p, "shmmax"), "1048576", "namespaced sysctls are set");
    assert_eq!(get(&p, "port_start"), "80");
    // Limits, as the container reads them from its own cgroup (v1 here;
    // the v2 files are unit-tested in the runtime).
    let limit = |f: &str| get(&p, &format!("cgroup {f}")).to_owned();
    if p.contains_key("cgroup memory/memory.limit_in_bytes") {
        assert_eq!(
            limit("memory/memory.limit_in_bytes"),
            (64 << 20).to_string()
        );
        if p.contains_key("cgroup memory/memory.memsw.limit_in_bytes") {
            assert_eq!(
                limit("memory/memory.memsw.limit_in_bytes"),
                (96 << 20).to_string()
            );
        }
        assert_eq!(limit("cpu/cpu.cfs_quota_us"), "50000");
        assert_eq!(limit("cpu/cpu.cfs_period_us"), "100000");
        assert_eq!(limit("cpu/cpu.shares"), "512");
        assert_eq!(limit("cpuset/cpuset.cpus"), "0");
        assert_eq!(limit("pids/pids.max"), "50");
    } else {
        assert_eq!(limit("memory.max"), (64 << 20).to_string());
        if p.contains_key("cgroup memory.swap.max") {
            assert_eq!(
                limit("memory.swap.max"),
                (32 << 20).to_string(),
                "v2 limits the swap alone: 96m - 64m"
            );
        }
        assert_eq!(limit("cpu.max"), "50000 100000");
        assert_eq!(
            limit("cpu.weight"),
            berth_runtime::cgroups::shares_to_weight(512).to_string()
        );
        assert_eq!(limit("cpuset.cpus"), "0");
        assert_eq!(limit("pids.max"), "50");
    }
    assert_eq!(get(&p, "fds"), "0 1 2");
    assert_eq!(get(&p, "cwd_link"), "/tmp");
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}

#[test]
fn capabilities_added_dropped_and_privileged() {
    require_root!();
    let env = Env::new();
    let before = env.snapshot();
    let caps = |flags: &[&str]| {
        let p = probe(&env, flags);
        (get(&p, "CapEff").to_owned(), p)
    };
    let (only_bind, _) = caps(&["--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE"]);
    assert_eq!(only_bind, "0000000000000400", "CAP_NET_BIND_SERVICE alone");
    let (with_admin, _) = caps(&["--cap-add", "SYS_ADMIN"]);
    assert_eq!(
        with_admin, "00000000a82425fb",
        "the default set and CAP_SYS_ADMIN"
    );
    let (dropped, _) = caps(&["--cap-drop", "CHOWN", "--cap-drop", "net_raw"]);
    assert_eq!(dropped, "00000000a80405fa");
    let (everything, _) = caps(&["--cap-add", "ALL", "--cap-drop", "SYS_ADMIN"]);
    let sys_admin = 1u64 << 21;
    let ours_bits = u64::from_str_radix(
        std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("CapBnd:"))
            .unwrap()
            .trim(),
        16,
    )
    .unwrap();
    assert_eq!(
        format!("{:016x}", ours_bits & !sys_admin),
        everything,
        "cap_add ALL: everything but what is dropped"
    );
    // A numeric user needs no entry in the image: no groups, HOME=/, and
    // a non-root user has no effective capabilities.
    let p = probe(&env, &["-u", "4242:4343"]);
    assert_eq!(
        (get(&p, "uid"), get(&p, "gid"), get(&p, "groups")),
        ("4242", "4343", "4343")
    );
    assert_eq!(get(&p, "home"), "/");
    assert_eq!(get(&p, "CapEff"), "0000000000000000");
    // Switching to a user needs no capability the container keeps.
    let p = probe(&env, &["-u", "app", "--cap-drop", "ALL"]);
    assert_eq!((get(&p, "uid"), get(&p, "groups")), ("1000", "1000 10 29"));
    assert_eq!(get(&p, "CapBnd"), "0000000000000000");
    let (all, p) = caps(&["--privileged"]);
    // Everything berth has itself (this sandbox's bounding set may lack some).
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let ours = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .unwrap()
        .trim();
    assert_eq!(all, ours, "privileged: every capability");
    assert_eq!(
        get(&p, "masked /proc/keys"),
        "regular empty file 16",
        "nothing masked"
    );
    assert!(get(&p, "mount /sys").starts_with("sysfs rw"));
    assert_eq!(get(&p, "mknod"), "allowed");
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}

#[test]
fn bad_settings_fail_before_anything_runs() {
    require_root!();
    let env = Env::new();
    let before = env.snapshot();
    let fails = |flags: &[&str], expected: &str| {
        let mut args = vec!["container", "run", "--rm"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["busybox:latest", "true"]);
        let o = env.berth(env.root.path(), &args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{flags:?} was accepted");
        assert!(err.contains(expected), "{flags:?}: {err}");
    };
    fails(
        &["--sysctl", "vm.swappiness=10"],
        "sysctl \"vm.swappiness\" is not in a separate kernel namespace",
    );
    fails(
        &["--network", "host", "--sysctl", "net.ipv4.ip_forward=1"],
        "not allowed in host network namespace",
    );
    fails(&["--memory", "1m"], "Minimum memory limit allowed is 6MB");
    fails(&["--cap-add", "SUPERPOWER"], "unknown capability");
    fails(&["--ulimit", "nofiles=1"], "invalid ulimit type: nofiles");
    fails(&["-u", "nobody-here"], "unable to find user nobody-here");
    fails(
        &["--memory", "1g", "--memory-swap", "512m"],
        "larger than memory",
    );
    // A missing host path of a bind mount given by path is created.
    let src = env.root.path().join("made/by/run");
    let spec = format!("{}:/data", src.display());
    env.ok(
        env.root.path(),
        &[
            "container",
            "run",
            "--rm",
            "-v",
            &spec,
            "busybox:latest",
            "true",
        ],
    );
    assert!(src.is_dir(), "the missing host directory was created");
    assert!(
        env.container_ids().is_empty(),
        "failed runs leave no container"
    );
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}

#[test]
fn entrypoint_command_env_workdir_and_user_follow_docker() {
    require_root!();
    let env = Env::new();
    let before = env.snapshot();
    let root = env.root.path();
    let layer = root.join("layer.tar");
    std::fs::write(&layer, berth_testkit::busybox::rootfs_tar().unwrap()).unwrap();
    env.ok(
        root,
        &[
            "image",
            "import",
            "-c",
            r#"ENTRYPOINT ["/bin/echo", "ep"]"#,
            "-c",
            r#"CMD ["default"]"#,
            "-c",
            "ENV A=image B=image",
            "-c",
            "WORKDIR /tmp",
            "-c",
            "USER app",
            layer.to_str().unwrap(),
            "ep:1",
        ],
    );
    let run = |args: &[&str]| {
        let mut a = vec!["container", "run", "--rm"];
        a.extend_from_slice(args);
        env.ok(root, &a)
    };
    assert_eq!(run(&["ep:1"]), "ep default\n", "Entrypoint + Cmd");
    assert_eq!(
        run(&["ep:1", "x", "-y"]),
        "ep x -y\n",
        "arguments replace Cmd"
    );
    assert_eq!(
        run(&["--entrypoint", "/bin/echo", "ep:1"]),
        "\n",
        "a new entrypoint drops the image's Cmd"
    );
    assert_eq!(
        run(&[
            "--entrypoint",
            "",
            "-e",
            "B=cli",
            "ep:1",
            "sh",
            "-c",
            "echo $A $B $(pwd) $(id -un) $HOME"
        ]),
        "image cli /tmp app /home/app\n",
        "entrypoint reset; image env, then ours; WORKDIR; USER"
    );
    assert_eq!(
        run(&[
            "--entrypoint",
            "sh",
            "-u",
            "root",
            "-w",
            "/",
            "ep:1",
            "-c",
            "echo $(id -un) $(pwd)"
        ]),
        "root /\n",
        "flags after the image belong to the command"
    );
    env.ok(root, &["image", "rm", "ep:1"]);
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}
