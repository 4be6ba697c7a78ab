//! Base images from a registry: a missing base is pulled, a present one is
//! used as it is, and `--pull` (or `build.pull: true`) fetches it again.
//! The registry is Debian's docker-registry on 127.0.0.1 of the network
//! namespace playing the host (where berth builds, RUN steps on its
//! build network).

mod common;

use berth_testkit::oci::{self, Entry, TestImage};
use berth_testkit::registry::Registry;
use berth_testkit::require_root;
use common::Env;

fn label(env: &Env, dir: &std::path::Path, image: &str) -> String {
    env.ok(
        dir,
        &["image", "inspect", "-f", "{{json .Config.Labels}}", image],
    )
    .trim()
    .to_owned()
}

#[test]
fn bases_are_pulled_when_missing_or_asked_for() {
    require_root!();
    let mut env = Env::with_network();
    let host = env.netns.as_ref().unwrap();
    let reg = host.run(|| Registry::start().unwrap());
    // The registry's base carries a label the local busybox does not.
    let mut base = TestImage::busybox().unwrap();
    base.config["Labels"] = serde_json::json!({"origin": "registry"});
    let archive = env.root.path().join("base.tar");
    oci::write_archive(&archive, vec![("base".into(), Entry::Image(base))]).unwrap();
    host.run(|| reg.push_oci_archive(&archive, "base", "test/base:1", false))
        .unwrap();
    let remote = format!("{}/test/base:1", reg.host());
    let compose = format!(
        "services:\n  app:\n    build:\n      context: .\n      dockerfile_inline: |\n        FROM {remote}\n        RUN echo built > /built\n  always:\n    build:\n      context: .\n      pull: true\n      dockerfile_inline: |\n        FROM {remote}\n        RUN echo built > /built\n"
    );
    let dir = env.project("pulls", &compose);

    // Missing: pulled during the build.
    env.ok_out(&dir, &["build", "app"]);
    assert!(label(&env, &dir, "pulls-app").contains("registry"));

    // Present: used as it is, even when the local one differs.
    env.ok(&dir, &["image", "tag", "busybox:latest", &remote]);
    env.ok_out(&dir, &["build", "app"]);
    assert!(!label(&env, &dir, "pulls-app").contains("registry"));

    // --pull and `pull: true` fetch it again.
    env.ok_out(&dir, &["build", "--pull", "app"]);
    assert!(label(&env, &dir, "pulls-app").contains("registry"));
    env.ok(&dir, &["image", "tag", "busybox:latest", &remote]);
    env.ok_out(&dir, &["build", "always"]);
    assert!(label(&env, &dir, "pulls-always").contains("registry"));
    let o = env.ok(
        &dir,
        &["container", "run", "--rm", "pulls-always", "cat", "/built"],
    );
    assert_eq!(o.trim(), "built");
}
