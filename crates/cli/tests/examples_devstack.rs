//! The devstack example end to end, as its README tells a user to run it:
//! the Debian base made with debootstrap (examples/base/debian.sh), then
//! `up -d --wait` builds the PostgreSQL and web images, starts db, cache and
//! web, and the web app answers with counts it keeps in Redis and in
//! PostgreSQL; `down -v` leaves nothing behind. Everything runs in a network
//! namespace that plays the host, so port 8000 cannot clash.
//!
//! The slow part is debootstrap (a few minutes, from the apt mirror); its
//! root filesystem is kept as a tar in `BERTH_EXAMPLES_CACHE` (default
//! /var/cache/berth-tests), so later runs only import it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use berth_testkit::{require_root, unique_name};
use common::Env;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}

/// The app's answer, once it answers (a fresh PostgreSQL takes a moment).
fn query(env: &Env, dir: &Path) -> serde_json::Value {
    let mut last = String::new();
    for _ in 0..150 {
        let o = env.sh("busybox wget -q -O - http://127.0.0.1:8000/");
        if o.status.success() {
            return serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
                panic!("not JSON ({e}): {}", String::from_utf8_lossy(&o.stdout))
            });
        }
        last = String::from_utf8_lossy(&o.stderr).into_owned();
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let logs = env.berth(dir, &["logs"]);
    panic!(
        "the web app did not answer ({last})\n{}{}",
        String::from_utf8_lossy(&logs.stdout),
        String::from_utf8_lossy(&logs.stderr)
    );
}

#[test]
fn devstack_builds_starts_answers_and_goes_away() {
    require_root!();
    let mut env = Env::with_network();
    // The base image: debootstrap from the apt mirror (in the real host's
    // network namespace, which reaches it), or the cached root filesystem.
    let cache = std::env::var("BERTH_EXAMPLES_CACHE")
        .unwrap_or_else(|_| "/var/cache/berth-tests".to_owned());
    let o = Command::new("bash")
        .arg(repo().join("examples/base/debian.sh"))
        .env("BERTH", env!("CARGO_BIN_EXE_berth"))
        .env("BERTH_ROOT", env.root.path())
        .env("BERTH_EXAMPLES_CACHE", &cache)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "debian.sh failed:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );

    let before = env.snapshot();
    let name = unique_name("dev");
    let compose = std::fs::read_to_string(repo().join("examples/devstack/compose.yaml")).unwrap();
    let dir = env.project(
        &name,
        &compose.replace("name: devstack", &format!("name: {name}")),
    );
    copy_tree(&repo().join("examples/devstack/app"), &dir.join("app"));
    copy_tree(&repo().join("examples/devstack/db"), &dir.join("db"));

    let (_, log) = env.ok_out(&dir, &["up", "-d", "--wait"]);
    assert!(
        log.contains("COPY entrypoint.sh"),
        "up built the db image:\n{log}"
    );
    let ps = env.ok(&dir, &["ps"]);
    for svc in ["db", "cache", "web"] {
        assert!(ps.contains(&format!("{name}-{svc}-1")), "{ps}");
    }
    assert!(ps.contains("(healthy)"), "{ps}");
    assert!(ps.contains("0.0.0.0:8000->8000/tcp"), "{ps}");

    // Each answer counts the visit in Redis and inserts a row in PostgreSQL.
    let first = query(&env, &dir);
    assert_eq!(first["greeting"], "Hello from the devstack", "{first}");
    let second = query(&env, &dir);
    assert_eq!(
        second["hits"].as_i64().unwrap(),
        first["hits"].as_i64().unwrap() + 1,
        "Redis counts: {first} then {second}"
    );
    assert_eq!(
        second["visits_in_db"].as_i64().unwrap(),
        first["visits_in_db"].as_i64().unwrap() + 1,
        "PostgreSQL counts: {first} then {second}"
    );
    // The database really is PostgreSQL, in the named volume.
    let o = env.ok(
        &dir,
        &[
            "exec",
            "-T",
            "db",
            "psql",
            "-U",
            "app",
            "-d",
            "app",
            "-tAc",
            "select count(*) from visits",
        ],
    );
    assert_eq!(o.trim(), second["visits_in_db"].to_string());
    let vols = env.ok(&dir, &["volume", "ls", "-q"]);
    assert!(vols.contains(&format!("{name}_dbdata")), "{vols}");

    env.ok(&dir, &["down", "-v", "-t", "5"]);
    let vols = env.ok(&dir, &["volume", "ls", "-q"]);
    assert!(
        !vols.contains(&format!("{name}_dbdata")),
        "down -v removes the volume: {vols}"
    );
    assert!(env.container_ids().is_empty());
    let leaks = before.diff(&env.snapshot());
    assert!(leaks.is_empty(), "left behind: {leaks:?}");
}
