//! End to end: `up`, `ps`, `exec`, convergence and `down` of real projects,
//! each in a network namespace that plays the host.

mod common;

use berth_testkit::require_root;
use common::Env;

const STACK: &str = r#"
services:
  web:
    image: busybox:latest
    command: ["sh", "-c", "echo hello from web > /tmp/index.html; httpd -f -p 80 -h /tmp"]
    init: true
    environment:
      GREETING: one
    ports: ["127.0.0.1:18181:80"]
    depends_on:
      db:
        condition: service_healthy
  db:
    image: busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1; touch /tmp/ready; sleep 3600 & wait"]
    volumes: ["data:/data"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 30s
      start_interval: 200ms
      start_period: 20s
volumes:
  data: {}
"#;

fn ids_by_service(env: &Env, dir: &std::path::Path) -> Vec<(String, String)> {
    let out = env.ok(dir, &["ps", "--format", "json"]);
    let mut v: Vec<(String, String)> = out
        .lines()
        .map(|l| {
            let j: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                j["Service"].as_str().unwrap().to_owned(),
                j["ID"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn a_stack_comes_up_converges_and_goes_away_without_leftovers() {
    require_root!();
    let mut env = Env::with_network();
    let before = env.snapshot();
    let dir = env.project("e2e", STACK);
    env.ok(&dir, &["up", "-d"]);
    // web waited for db to be healthy, and answers on the published port.
    let ps = env.ok(&dir, &["ps"]);
    assert!(ps.contains("e2e-db-1") && ps.contains("(healthy)"), "{ps}");
    assert!(ps.contains("127.0.0.1:18181->80/tcp"), "{ps}");
    // httpd may take a moment to listen after `up -d` returns (as with
    // Compose: web has no healthcheck).
    common::wait_for("web to answer", || {
        let page = env.sh("timeout 2 busybox wget -q -O - http://127.0.0.1:18181/index.html");
        String::from_utf8_lossy(&page.stdout).trim() == "hello from web"
    });
    // Service names resolve through berth's DNS, and exec passes exit codes.
    let o = env.berth(
        &dir,
        &[
            "exec",
            "-T",
            "web",
            "sh",
            "-c",
            "ping -c1 -W2 db >/dev/null && nslookup e2e-db-1 >/dev/null && exit 7",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Data written to the named volume.
    env.ok(
        &dir,
        &["exec", "-T", "db", "sh", "-c", "echo kept > /data/file"],
    );

    // up again: nothing changes, nothing is even restarted.
    let first = ids_by_service(&env, &dir);
    let started = |name: &str| env.inspect(name)["State"]["StartedAt"].clone();
    let was_started = [started("e2e-db-1"), started("e2e-web-1")];
    env.ok(&dir, &["up", "-d"]);
    assert_eq!(
        ids_by_service(&env, &dir),
        first,
        "an unchanged project is left alone"
    );
    assert_eq!(
        [started("e2e-db-1"), started("e2e-web-1")],
        was_started,
        "no container restarted"
    );

    // Changing one service's environment recreates only that service.
    std::fs::write(
        dir.join("compose.yaml"),
        STACK.replace("GREETING: one", "GREETING: two"),
    )
    .unwrap();
    env.ok(&dir, &["up", "-d"]);
    let second = ids_by_service(&env, &dir);
    assert_eq!(second[0], first[0], "db untouched");
    assert_ne!(second[1].1, first[1].1, "web recreated");
    let o = env.ok(&dir, &["exec", "-T", "web", "sh", "-c", "echo $GREETING"]);
    assert_eq!(o.trim(), "two");

    // down keeps the named volume; up finds the data again; down -v removes it.
    env.ok(&dir, &["down"]);
    assert!(env.ok(&dir, &["ps", "-a"]).lines().count() <= 1);
    env.ok(&dir, &["up", "-d"]);
    let o = env.ok(&dir, &["exec", "-T", "db", "cat", "/data/file"]);
    assert_eq!(o.trim(), "kept");
    env.ok(&dir, &["down", "-v"]);
    let vols = std::fs::read_dir(env.root.path().join("volumes"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(vols, 0, "down -v removed the named volume");
    let after = env.snapshot();
    assert_eq!(
        before.diff(&after),
        Vec::<String>::new(),
        "down leaves the host as it was"
    );
}

#[test]
fn scale_and_orphans() {
    require_root!();
    let mut env = Env::with_network();
    let two = "services:\n  a:\n    image: busybox:latest\n    command: [\"sleep\", \"3600\"]\n    init: true\n  b:\n    image: busybox:latest\n    command: [\"sleep\", \"3600\"]\n    init: true\n";
    let dir = env.project("sc", two);
    env.ok(&dir, &["up", "-d", "--scale", "a=3"]);
    let names = env.ok(&dir, &["ps", "--format", "json"]);
    assert_eq!(
        names
            .lines()
            .filter(|l| l.contains("\"Service\":\"a\""))
            .count(),
        3
    );
    assert!(names.contains("sc-a-3"), "{names}");
    env.ok(&dir, &["up", "-d", "--scale", "a=1"]);
    let names = env.ok(&dir, &["ps"]);
    assert!(
        names.contains("sc-a-1") && !names.contains("sc-a-2") && !names.contains("sc-a-3"),
        "{names}"
    );
    // b removed from the file: reported as an orphan, removed on request.
    std::fs::write(dir.join("compose.yaml"), two.split("  b:").next().unwrap()).unwrap();
    let o = env.berth(&dir, &["up", "-d"]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Found orphan containers ([sc-b-1])"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    env.ok(&dir, &["up", "-d", "--remove-orphans"]);
    let ps = env.ok(&dir, &["ps", "-a"]);
    assert!(!ps.contains("sc-b-1") && ps.contains("sc-a-1"), "{ps}");
    // `down --remove-orphans` takes them too.
    env.ok(&dir, &["up", "-d"]);
    std::fs::write(dir.join("compose.yaml"), two).unwrap();
    env.ok(&dir, &["up", "-d"]);
    std::fs::write(dir.join("compose.yaml"), two.split("  b:").next().unwrap()).unwrap();
    env.ok(&dir, &["down", "-t", "1", "--remove-orphans"]);
    assert_eq!(env.container_ids(), Vec::<String>::new());

    // `down -v` never removes an external volume.
    env.ok(&dir, &["volume", "create", "sc_kept"]);
    let ext = "services:\n  a:\n    image: busybox:latest\n    command: [\"sleep\", \"3600\"]\n    init: true\n    volumes: [\"kept:/kept\"]\nvolumes:\n  kept:\n    name: sc_kept\n    external: true\n";
    std::fs::write(dir.join("compose.yaml"), ext).unwrap();
    env.ok(&dir, &["up", "-d"]);
    env.ok(&dir, &["down", "-t", "1", "-v"]);
    let vols = env.ok(&dir, &["volume", "ls", "-q"]);
    assert_eq!(vols.trim(), "sc_kept", "the external volume stays");
}
