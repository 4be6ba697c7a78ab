//! Helpers shared by the `runtime_*` end-to-end tests (on top of
//! `common::Env`): single containers started, their directories, their
//! processes, and test images with a config of their own.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::common::{Env, wait_for};

/// `container run -d ARGS`.
pub fn run_d(env: &Env, args: &[&str]) {
    let mut a = vec!["container", "run", "-d"];
    a.extend_from_slice(args);
    env.ok(env.root.path(), &a);
}

/// `container run --rm ARGS`; its output.
pub fn run_rm(env: &Env, args: &[&str]) -> String {
    let mut a = vec!["container", "run", "--rm"];
    a.extend_from_slice(args);
    env.ok(env.root.path(), &a)
}

/// The container's directory in the root (`containers/<id>`).
pub fn container_dir(env: &Env, name: &str) -> PathBuf {
    let id = env.inspect(name)["Id"].as_str().unwrap().to_owned();
    env.root.path().join("containers").join(id)
}

/// The container's status as `inspect` reports it.
pub fn status(env: &Env, name: &str) -> String {
    env.inspect(name)["State"]["Status"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

/// Waits until the container said `ready` (its traps are set).
pub fn ready(env: &Env, name: &str) {
    wait_for("the container's traps", || {
        env.ok(env.root.path(), &["container", "logs", name])
            .contains("ready")
    });
}

pub fn sigkill(pid: i32) {
    // SAFETY: killing a process this test started.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

/// Pids whose parent is `pid`.
pub fn children(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let after = &stat[stat.rfind(')').unwrap_or(0) + 2..];
        if after.split(' ').nth(1).and_then(|x| x.parse::<i32>().ok()) == Some(pid) {
            out.push(p);
        }
    }
    out
}

/// Loads the busybox image as `name`, its image config's `config` object
/// changed by `edit` (Volumes, Healthcheck, …).
pub fn load_image(env: &Env, name: &str, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut img = berth_testkit::oci::TestImage::busybox().unwrap();
    edit(&mut img.config);
    let archive = env
        .root
        .path()
        .join(format!("{}.tar", name.replace([':', '/'], "_")));
    berth_testkit::oci::write_archive(
        &archive,
        vec![(name.to_owned(), berth_testkit::oci::Entry::Image(img))],
    )
    .unwrap();
    env.ok(
        env.root.path(),
        &["image", "load", "-i", archive.to_str().unwrap()],
    );
    std::fs::remove_file(&archive).unwrap();
}

/// A probe: a busybox script that reports what its container sees, one
/// `key=value` per line (see [`parse_probe`]). `$MASKED` lists the masked
/// paths to look at.
pub const PROBE: &str = r#"
echo "pid=$$"
echo "args=$#:$1|$2"
echo "hostname=$(hostname)"
echo "domainname=$(cat /proc/sys/kernel/domainname)"
echo "uid=$(id -u)"
echo "gid=$(id -g)"
echo "groups=$(id -G)"
echo "home=$HOME"
echo "cwd=$(pwd)"
echo "greeting=$GREETING"
echo "layers=$A,$B,$C"
echo "path=$PATH"
for f in CapEff CapBnd CapInh NoNewPrivs; do echo "$f=$(grep "^$f:" /proc/self/status | cut -f2)"; done
echo "nofile=$(ulimit -n)"
echo "nofile_hard=$(ulimit -Hn)"
for n in pid mnt uts ipc net cgroup; do echo "ns $n=$(readlink /proc/self/ns/$n)"; done
echo "links=$(ls /sys/class/net | tr '\n' ' ')"
echo "etc_hostname=$(cat /etc/hostname)"
echo "hosts_localhost=$(grep -c '^127.0.0.1[[:space:]]*localhost$' /etc/hosts)"
echo "hosts_self=$(grep -c "[[:space:]]$(hostname)\$" /etc/hosts)"
echo "nameservers=$(grep '^nameserver' /etc/resolv.conf | tr -s ' \t' '  ' | cut -d' ' -f2 | tr '\n' ' ')"
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
for f in memory/memory.limit_in_bytes memory/memory.memsw.limit_in_bytes cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us cpu/cpu.shares cpuset/cpuset.cpus pids/pids.max memory.max memory.swap.max cpu.max cpu.weight cpuset.cpus pids.max; do
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

/// What the probe said.
pub fn parse_probe(out: &str) -> BTreeMap<String, String> {
    out.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect()
}

/// One value the probe reported; panics naming it when it did not.
pub fn get<'a>(m: &'a BTreeMap<String, String>, k: &str) -> &'a str {
    m.get(k)
        .unwrap_or_else(|| panic!("the probe did not report {k:?}: {m:#?}"))
}

/// Docker's masked paths that this kernel has at all.
pub fn masked_on_this_host() -> Vec<&'static str> {
    berth_runtime::spawn::rootfs::MASKED
        .iter()
        .copied()
        .filter(|p| std::path::Path::new(p).exists())
        .collect()
}

/// Docker's default capability set as a CapEff mask.
pub const DOCKER_CAPS: &str = "00000000a80425fb";

/// The namespaces of this (the host's) process, as `ns <name>` → link.
pub fn host_namespaces() -> Vec<(String, String)> {
    ["pid", "mnt", "uts", "ipc", "net", "cgroup"]
        .iter()
        .map(|n| {
            let link = std::fs::read_link(format!("/proc/self/ns/{n}")).unwrap();
            (format!("ns {n}"), link.display().to_string())
        })
        .collect()
}
