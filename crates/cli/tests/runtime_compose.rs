//! Compose services on the runtime, end to end: what a container made from
//! a service sees from the inside (entrypoint and command in string form,
//! env layers, user, names, security, limits of v1 or v2 hosts). The
//! translation rules themselves are unit-tested in berth-compose; these
//! tests check that they reach the kernel. Each test checks it left
//! nothing behind.

mod common;
mod runtime_common;

use berth_testkit::require_root;
use common::{Env, wait_for};
use runtime_common::{PROBE, get, load_image, parse_probe, status};

#[test]
fn compose_settings_from_the_inside() {
    require_root!();
    let mut env = Env::with_network();
    let before = env.snapshot();
    load_image(&env, "layered:1", |c| {
        c["Env"] = serde_json::json!([
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "A=image",
            "B=image",
            "C=image"
        ]);
    });
    let project = berth_testkit::unique_name("set");
    let dir = env.project(
        &project,
        r#"
services:
  probe:
    image: layered:1
    entrypoint: sh /probe/probe.sh
    command: first 'second arg'
    env_file: [./probe.env]
    environment:
      C: env
    user: app
    group_add: [nogroup]
    working_dir: /tmp
    hostname: inside
    domainname: example.org
    read_only: true
    cap_drop: [ALL]
    cap_add: [NET_BIND_SERVICE]
    security_opt: ["no-new-privileges:true"]
    sysctls:
      kernel.shmmax: 1048576
    ulimits:
      nofile: 512
    shm_size: 8m
    tmpfs: ["/scratch:size=1m,mode=700"]
    cpuset: "0"
    volumes: ["./probe:/probe:ro"]
"#,
    );
    std::fs::create_dir(dir.join("probe")).unwrap();
    std::fs::write(dir.join("probe/probe.sh"), PROBE).unwrap();
    std::fs::write(dir.join("probe.env"), "B=file\nC=file\n").unwrap();
    env.ok(&dir, &["up", "-d"]);
    let name = format!("{project}-probe-1");
    wait_for("the probe to finish", || status(&env, &name) == "exited");
    let out = env.ok(env.root.path(), &["container", "logs", &name]);
    let p = parse_probe(&out);
    assert_eq!(get(&p, "pid"), "1");
    assert_eq!(
        get(&p, "args"),
        "2:first|second arg",
        "string forms are split like a shell, not run by one"
    );
    assert_eq!(
        get(&p, "layers"),
        "image,file,env",
        "image env, then env_file, then environment"
    );
    assert_eq!(
        (get(&p, "uid"), get(&p, "gid"), get(&p, "groups")),
        ("1000", "1000", "1000 10 29 65534")
    );
    assert_eq!(get(&p, "home"), "/home/app");
    assert_eq!(get(&p, "cwd"), "/tmp");
    assert_eq!(get(&p, "hostname"), "inside");
    assert_eq!(get(&p, "etc_hostname"), "inside");
    assert_eq!(get(&p, "domainname"), "example.org");
    assert_eq!(get(&p, "CapEff"), "0000000000000000", "a non-root user");
    assert_eq!(
        get(&p, "CapBnd"),
        "0000000000000400",
        "ALL dropped, one added"
    );
    assert_eq!(get(&p, "NoNewPrivs"), "1");
    assert_eq!(get(&p, "root"), "ro");
    assert_eq!((get(&p, "nofile"), get(&p, "nofile_hard")), ("512", "512"));
    assert!(get(&p, "mount /dev/shm").contains("size=8192k"));
    let scratch = get(&p, "mount /scratch");
    assert!(scratch.contains("size=1024k,mode=700"), "{scratch}");
    let bound = get(&p, "mount /probe");
    assert!(
        bound.split(' ').nth(1).is_some_and(|o| o.starts_with("ro")),
        "a relative, read-only bind: {bound}"
    );
    assert_eq!(get(&p, "shmmax"), "1048576");
    let cpuset = p
        .get("cgroup cpuset/cpuset.cpus")
        .or_else(|| p.get("cgroup cpuset.cpus"));
    assert_eq!(cpuset.map(String::as_str), Some("0"), "{p:#?}");
    // (fds: pid 1 is `sh SCRIPT`, which holds its script open; the
    // descriptor tests run the probe with `sh -c`.)
    env.ok(&dir, &["down", "-t", "1"]);
    env.ok(env.root.path(), &["image", "rm", "layered:1"]);
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
    cpuset: "0"
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
        assert_eq!(
            read("direct", "cat /sys/fs/cgroup/cpuset/cpuset.cpus"),
            "0",
            "cpuset"
        );
    } else {
        let cg = "cd /sys/fs/cgroup; cat memory.max cpu.max cpu.weight pids.max cpuset.cpus | tr '\\n' ' '";
        assert_eq!(
            read("direct", cg),
            format!(
                "{} 25000 100000 {} 30 0",
                48 << 20,
                berth_runtime::cgroups::shares_to_weight(256)
            ),
            "mem_limit, cpus, cpu_shares, pids_limit, cpuset"
        );
        let swap = read(
            "direct",
            "cat /sys/fs/cgroup/memory.swap.max 2>/dev/null || echo no-swap-accounting",
        );
        if swap != "no-swap-accounting" {
            assert_eq!(swap, (16 << 20).to_string(), "memswap_limit - mem_limit");
        }
        let cg = "cd /sys/fs/cgroup; cat memory.max cpu.max pids.max | tr '\\n' ' '";
        assert_eq!(
            read("deployed", cg),
            format!("{} 75000 100000 25", 40 << 20),
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
