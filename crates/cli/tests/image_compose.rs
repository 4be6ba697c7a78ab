//! The Compose side of images: `berth pull` pulls every service image (with
//! its `platform:`), and `up` honours `pull_policy` and `up --pull`. Images
//! come from a real local registry; services use `network_mode: none` so the
//! tests need no bridge and can reach the registry on the host's loopback.

mod common;

use std::path::Path;

use berth_testkit::oci::{self, Entry, TestImage};
use berth_testkit::registry::Registry;
use berth_testkit::require_root;
use common::Env;

/// Pushes a busybox image labelled `v=<label>` under each of `tags`, and a
/// two-platform index (amd64, arm64) as `test/mp:1`.
fn push(reg: &Registry, work: &Path, label: &str, tags: &[&str]) {
    let path = work.join(format!("push-{label}.tar"));
    let mut bb = TestImage::busybox().unwrap();
    bb.config["Labels"] = serde_json::json!({ "v": label });
    let mut arm = bb.clone();
    arm.architecture = "arm64".into();
    oci::write_archive(
        &path,
        vec![
            ("bb".into(), Entry::Image(bb.clone())),
            ("mp".into(), Entry::Index(vec![bb, arm])),
        ],
    )
    .unwrap();
    for t in tags {
        reg.push_oci_archive(&path, "bb", &format!("test/{t}"), false)
            .unwrap();
    }
    reg.push_oci_archive(&path, "mp", "test/mp:1", true)
        .unwrap();
}

fn label(env: &Env, dir: &Path, reference: &str) -> String {
    env.ok(
        dir,
        &["image", "inspect", "-f", "{{.Config.Labels.v}}", reference],
    )
    .trim()
    .to_owned()
}

#[test]
fn pull_pulls_every_service_image_for_its_platform() {
    require_root!();
    let mut env = Env::new();
    let reg = Registry::start().unwrap();
    push(&reg, env.root.path(), "one", &["app:1"]);
    let h = reg.host();
    let dir = env.project(
        "pullall",
        &format!(
            "services:
  app:
    image: {h}/test/app:1
  arm:
    image: {h}/test/mp:1
    platform: linux/arm64
  built:
    build: ./built
"
        ),
    );
    std::fs::create_dir_all(dir.join("built")).unwrap();
    env.ok(&dir, &["pull", "-q"]);
    assert_eq!(label(&env, &dir, &format!("{h}/test/app:1")), "one");
    let arch = env.ok(
        &dir,
        &[
            "image",
            "inspect",
            "-f",
            "{{.Architecture}}",
            &format!("{h}/test/mp:1"),
        ],
    );
    assert_eq!(arch.trim(), "arm64");
    // The buildable service has no image to pull, and was not turned into one.
    let ls = env.ok(&dir, &["image", "ls", "--format", "{{.Repository}}"]);
    assert!(!ls.contains("pullall-built"), "{ls}");

    // One unknown image fails the command (exit 1, named), unless asked not to.
    let bad = env.project(
        "pullbad",
        &format!("services:\n  a:\n    image: {h}/test/app:1\n  b:\n    image: {h}/test/nope:1\n"),
    );
    let o = env.berth(&bad, &["pull", "-q"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("{h}/test/nope:1")), "{err}");
    env.ok(&bad, &["pull", "-q", "--ignore-pull-failures"]);
}

#[test]
fn up_honours_pull_policy_and_up_pull() {
    require_root!();
    let mut env = Env::new();
    let reg = Registry::start().unwrap();
    push(&reg, env.root.path(), "one", &["missing:1", "always:1"]);
    let h = reg.host();
    let svc = |name: &str, policy: &str| {
        format!(
            "  {name}:\n    image: {h}/test/{name}:1\n    pull_policy: {policy}\n    network_mode: none\n    command: [\"sleep\", \"60\"]\n"
        )
    };
    let dir = env.project(
        "pullpol",
        &format!(
            "services:\n{}{}",
            svc("missing", "missing"),
            svc("always", "always")
        ),
    );
    env.ok(&dir, &["up", "--no-start", "--quiet-pull"]);
    assert_eq!(label(&env, &dir, &format!("{h}/test/missing:1")), "one");
    assert_eq!(label(&env, &dir, &format!("{h}/test/always:1")), "one");

    // The registry moves both tags: only `always` follows.
    push(&reg, env.root.path(), "two", &["missing:1", "always:1"]);
    env.ok(&dir, &["up", "--no-start", "--quiet-pull"]);
    assert_eq!(label(&env, &dir, &format!("{h}/test/missing:1")), "one");
    assert_eq!(label(&env, &dir, &format!("{h}/test/always:1")), "two");

    // `up --pull always` beats the file's `missing`.
    env.ok(
        &dir,
        &["up", "--no-start", "--quiet-pull", "--pull", "always"],
    );
    assert_eq!(label(&env, &dir, &format!("{h}/test/missing:1")), "two");

    // `never` with an image that is not there: an error naming the service,
    // and nothing was created for it.
    let never = env.project(
        "pullnever",
        &format!(
            "services:\n  n:\n    image: {h}/test/never:1\n    pull_policy: never\n    network_mode: none\n"
        ),
    );
    let o = env.berth(&never, &["up", "--no-start"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("service n") && err.contains("pull_policy is never"),
        "{err}"
    );
    let ps = env.ok(&never, &["ps", "-a", "-q"]);
    assert!(ps.trim().is_empty(), "{ps}");
}
