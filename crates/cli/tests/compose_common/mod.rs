//! Helpers shared by the `compose_*` end-to-end tests (on top of
//! `common::Env`): Compose's JSON views of a project and polling.
#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::Env;

/// `ps --format json` (plus `extra` flags), one object per container.
pub fn ps(env: &Env, dir: &Path, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["ps", "--format", "json"];
    args.extend(extra);
    env.ok(dir, &args)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// (name, state) of every container of the project, sorted.
pub fn states(env: &Env, dir: &Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = ps(env, dir, &["-a"])
        .iter()
        .map(|j| {
            (
                j["Name"].as_str().unwrap().to_owned(),
                j["State"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

/// (name, full id) of every container of the project, sorted.
pub fn ids(env: &Env, dir: &Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = ps(env, dir, &["-a", "--no-trunc"])
        .iter()
        .map(|j| {
            (
                j["Name"].as_str().unwrap().to_owned(),
                j["ID"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

/// `container inspect NAME`: Docker's inspect object.
pub fn inspect(env: &Env, name: &str) -> Value {
    let out = env.ok(env.root.path(), &["container", "inspect", name]);
    let v: Value = serde_json::from_str(&out).unwrap();
    v[0].clone()
}

/// Polls `f` until it is true; panics with `what` after `secs` seconds.
pub fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs berth and returns (exit code, stdout, stderr).
pub fn run(env: &Env, dir: &Path, args: &[&str]) -> (i32, String, String) {
    let o = env.berth(dir, args);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A service that runs until stopped, exiting promptly on SIGTERM.
pub const SLEEPER: &str = r#"["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]"#;

/// Pushes a busybox image labelled `v=<label>` to `reg` as `test/<tag>` for
/// each of `tags` (`work` holds the archive).
pub fn push_labelled(
    reg: &berth_testkit::registry::Registry,
    work: &Path,
    label: &str,
    tags: &[&str],
) {
    use berth_testkit::oci::{self, Entry, TestImage};
    let path = work.join(format!("push-{label}.tar"));
    let mut bb = TestImage::busybox().unwrap();
    bb.config["Labels"] = serde_json::json!({ "v": label });
    oci::write_archive(&path, vec![("bb".into(), Entry::Image(bb))]).unwrap();
    for t in tags {
        reg.push_oci_archive(&path, "bb", &format!("test/{t}"), false)
            .unwrap();
    }
}

/// Runs berth with its standard streams on a pseudo-terminal (util-linux
/// `script`); returns (exit code, what the terminal showed).
pub fn on_a_tty(env: &Env, dir: &Path, args: &[&str]) -> (i32, String) {
    let c = env.command(dir, args);
    let quote = |s: &std::ffi::OsStr| format!("'{}'", s.to_string_lossy().replace('\'', r"'\''"));
    let line: Vec<String> = std::iter::once(c.get_program())
        .chain(c.get_args())
        .map(quote)
        .collect();
    let mut s = std::process::Command::new("script");
    s.args(["-qec", &line.join(" "), "/dev/null"])
        .current_dir(dir)
        .stdin(std::process::Stdio::null());
    for (k, v) in c.get_envs() {
        if let Some(v) = v {
            s.env(k, v);
        }
    }
    let o = s.output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}
