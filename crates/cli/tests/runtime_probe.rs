//! The container from the inside: a probe (a busybox shell script run as the
//! container's pid 1) reports what the container sees — pid, names, mount
//! table, masked and read-only paths, capabilities, rlimits, cgroup limits,
//! user and groups, environment, working directory, file descriptors — and
//! the test compares it with what was asked. Each test checks it left
//! nothing behind.

mod common;

use std::collections::BTreeMap;

use berth_testkit::require_root;
use common::Env;

/// Everything the probe reports, one `key=value` per line.
const PROBE: &str = r#"
echo "pid=$$"
echo "hostname=$(hostname)"
echo "domainname=$(cat /proc/sys/kernel/domainname)"
echo "uid=$(id -u)"
echo "gid=$(id -g)"
echo "groups=$(id -G)"
echo "home=$HOME"
echo "cwd=$(pwd)"
echo "greeting=$GREETING"
echo "path=$PATH"
for f in CapEff CapBnd NoNewPrivs; do echo "$f=$(grep "^$f:" /proc/self/status | cut -f2)"; done
echo "nofile=$(ulimit -n)"
echo "nofile_hard=$(ulimit -Hn)"
while read dev mp fs opts rest; do echo "mount $mp=$fs $opts"; done < /proc/self/mounts
for p in $MASKED; do
  if [ -d $p ]; then echo "masked $p=directory $(ls -A $p | wc -l)"
  elif [ -e $p ]; then echo "masked $p=$(stat -c %F $p) $(head -c 16 $p 2>/dev/null | wc -c)"
  else echo "masked $p=missing"; fi
done
for p in /proc/sys/kernel/hostname /proc/sysrq-trigger /proc/irq /proc/bus; do
  [ -e $p ] && (echo x > $p) 2>/dev/null && echo "writable $p=yes" || echo "writable $p=no"
done
for n in null zero full random urandom tty; do echo "dev $n=$(stat -c '%F %a %t:%T' /dev/$n)"; done
echo "ptmx=$(readlink /dev/ptmx)"
echo "devfd=$(readlink /dev/fd)"
(touch /probe-root) 2>/dev/null && echo "root=rw" || echo "root=ro"
(mknod /dev/shm/disk b 8 0) 2>/dev/null && echo "mknod=allowed" || echo "mknod=denied"
cg=/sys/fs/cgroup
for f in memory/memory.limit_in_bytes memory/memory.memsw.limit_in_bytes cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us cpu/cpu.shares cpuset/cpuset.cpus pids/pids.max memory.max memory.swap.max cpu.max cpu.weight pids.max; do
  [ -r $cg/$f ] && echo "cgroup $f=$(cat $cg/$f)"
done
echo "own_cgroup=$(grep -v name= /proc/self/cgroup | grep -c ':/$') of $(grep -vc name= /proc/self/cgroup)"
echo "shmmax=$(cat /proc/sys/kernel/shmmax)"
echo "port_start=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)"
# Listed while pid 1 waits, so that none of the shell's own redirections
# or pipes is open in it.
(ls /proc/1/fd > /dev/shm/fds) & wait $!
echo "fds=$(tr '\n' ' ' < /dev/shm/fds)"
echo "cwd_link=$(readlink /proc/1/cwd)"
echo "root_link=$(readlink /proc/1/root)"
"#;

/// Runs the probe in a new container with `flags`; returns what it said.
fn probe(env: &Env, flags: &[&str]) -> BTreeMap<String, String> {
    let masked = format!("MASKED={}", masked_on_this_host().join(" "));
    let mut args = vec!["container", "run", "--rm", "-e", &masked];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["busybox:latest", "sh", "-c", PROBE]);
    let out = env.ok(env.root.path(), &args);
    out.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect()
}

/// Docker's masked paths that this kernel has at all.
fn masked_on_this_host() -> Vec<&'static str> {
    berth_runtime::spawn::rootfs::MASKED
        .iter()
        .copied()
        .filter(|p| std::path::Path::new(p).exists())
        .collect()
}

fn get<'a>(m: &'a BTreeMap<String, String>, k: &str) -> &'a str {
    m.get(k)
        .unwrap_or_else(|| panic!("the probe did not report {k:?}: {m:#?}"))
}

/// Docker's default capability set as a CapEff mask.
const DOCKER_CAPS: &str = "00000000a80425fb";

#[test]
fn a_default_container_from_the_inside() {
    require_root!();
    let env = Env::new();
    let before = env.snapshot();
    let p = probe(&env, &[]);
    assert_eq!(get(&p, "pid"), "1");
    assert_eq!(get(&p, "hostname").len(), 12, "the short id");
    assert_eq!(get(&p, "domainname"), "(none)");
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
        assert_eq!(limit("cpu.max"), "50000 100000");
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

#[test]
fn compose_limits_and_deploy_resources_reach_the_cgroup() {
    require_root!();
    let mut env = Env::with_network();
    let before = env.snapshot();
    let project = berth_testkit::unique_name("lim");
    let dir = env.project(
        &project,
        r#"
services:
  direct:
    image: busybox:latest
    command: ["sleep", "1000"]
    mem_limit: 48m
    memswap_limit: 64m
    cpus: 0.25
    cpu_shares: 256
    pids_limit: 30
    shm_size: 16m
    ulimits:
      nofile: {soft: 256, hard: 512}
  deployed:
    image: busybox:latest
    command: ["sleep", "1000"]
    deploy:
      resources:
        limits:
          memory: 40m
          cpus: "0.75"
          pids: 25
"#,
    );
    env.ok(&dir, &["up", "-d"]);
    let read = |svc: &str, script: &str| {
        env.ok(&dir, &["exec", "-T", svc, "sh", "-c", script])
            .trim()
            .to_owned()
    };
    let v1 = std::path::Path::new("/sys/fs/cgroup/memory").is_dir();
    if v1 {
        let cg = "cd /sys/fs/cgroup; cat memory/memory.limit_in_bytes cpu/cpu.cfs_quota_us cpu/cpu.shares pids/pids.max | tr '\\n' ' '";
        assert_eq!(
            read("direct", cg),
            format!("{} 25000 256 30", 48 << 20),
            "mem_limit, cpus, cpu_shares, pids_limit"
        );
        if std::path::Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists() {
            assert_eq!(
                read(
                    "direct",
                    "cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"
                ),
                (64 << 20).to_string(),
                "memswap_limit"
            );
        }
        assert_eq!(
            read("deployed", cg),
            format!("{} 75000 1024 25", 40 << 20),
            "deploy.resources.limits"
        );
    }
    assert_eq!(
        read(
            "direct",
            "ulimit -n; ulimit -Hn; df -k /dev/shm | tail -1 | tr -s ' ' | cut -d' ' -f2"
        ),
        "256\n512\n16384"
    );
    env.ok(&dir, &["down", "-t", "1"]);
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}
