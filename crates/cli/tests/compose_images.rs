//! End to end: images and convergence — a tag moved in the registry gives
//! the service a new image digest, and `up --pull always` recreates that
//! service alone; `--quiet-pull`; `down --rmi all`. Images come from a real
//! local registry on the host's loopback, so the services use
//! `network_mode: none` (no bridge needed).

mod common;
mod compose_common;

use berth_testkit::registry::Registry;
use berth_testkit::require_root;
use common::Env;
use compose_common::{ids, push_labelled, run};

#[test]
fn a_moved_tag_recreates_only_its_service_and_rmi_all_removes_pulled_images() {
    require_root!();
    let mut env = Env::new();
    let reg = Registry::start().unwrap();
    push_labelled(&reg, env.root.path(), "one", &["moving:1", "steady:1"]);
    let h = reg.host();
    let svc = |name: &str| {
        format!(
            "  {name}:\n    image: {h}/test/{name}:1\n    network_mode: none\n    command: [\"sleep\", \"3600\"]\n    init: true\n"
        )
    };
    let dir = env.project(
        "mv",
        &format!("services:\n{}{}", svc("moving"), svc("steady")),
    );
    // --quiet-pull: the pull shows nothing (without it, digests are printed).
    let (code, out, err) = run(&env, &dir, &["up", "-d", "--quiet-pull"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        !out.contains("Digest:") && !err.contains("Digest:"),
        "{out}{err}"
    );
    let first = ids(&env, &dir);
    assert_eq!(first.len(), 2, "{first:?}");

    // The registry moves one tag: a plain `up` keeps what it has…
    push_labelled(&reg, env.root.path(), "two", &["moving:1"]);
    env.ok(&dir, &["up", "-d"]);
    assert_eq!(ids(&env, &dir), first);
    // …`up --pull always` pulls both, and only the service whose image
    // digest changed is recreated.
    let (code, out, err) = run(
        &env,
        &dir,
        &["--progress", "plain", "up", "-d", "--pull", "always"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Digest: sha256:"),
        "pull progress without --quiet-pull: {out}"
    );
    assert!(err.contains(" Container mv-moving-1 Recreated"), "{err}");
    assert!(!err.contains("mv-steady-1"), "steady is left alone: {err}");
    let second = ids(&env, &dir);
    assert_ne!(second[0].1, first[0].1, "moving recreated");
    assert_eq!(second[1], first[1], "steady kept");
    let v = env.ok(&dir, &["exec", "-T", "moving", "sh", "-c", "echo up"]);
    assert_eq!(v.trim(), "up");
    let running = compose_common::inspect(&env, "mv-moving-1")["Image"].clone();
    let want = env.ok(
        &dir,
        &[
            "image",
            "inspect",
            "-f",
            "{{.Id}}",
            &format!("{h}/test/moving:1"),
        ],
    );
    assert_eq!(running, want.trim(), "the new container runs the new image");

    // --rmi all: the pulled images go too (local would keep them).
    env.ok(&dir, &["down", "-t", "1", "--rmi", "local"]);
    let ls = env.ok(&dir, &["image", "ls", "--format", "{{.Repository}}"]);
    assert!(
        ls.contains("test/moving") && ls.contains("test/steady"),
        "{ls}"
    );
    env.ok(&dir, &["up", "-d"]);
    env.ok(&dir, &["down", "-t", "1", "--rmi", "all"]);
    let ls = env.ok(&dir, &["image", "ls", "--format", "{{.Repository}}"]);
    assert!(
        !ls.contains("test/moving") && !ls.contains("test/steady"),
        "{ls}"
    );
}
