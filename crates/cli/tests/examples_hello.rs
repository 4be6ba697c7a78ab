//! The hello example, as the README's first command runs it: the busybox
//! base that install.sh imports (examples/base/busybox.sh), then `up` in
//! examples/hello builds `hello-web`, starts it healthy with port 8080
//! published, and the page answers; `down` removes it. In a network
//! namespace that plays the host, so port 8080 cannot clash.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use berth_testkit::{require_root, unique_name};
use common::Env;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn hello_builds_starts_and_answers() {
    require_root!();
    let mut env = Env::with_network();
    let o = Command::new("bash")
        .arg(repo().join("examples/base/busybox.sh"))
        .env("BERTH", env!("CARGO_BIN_EXE_berth"))
        .env("BERTH_ROOT", env.root.path())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "busybox.sh failed:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let before = env.snapshot();
    let hello = repo().join("examples/hello");
    let compose = std::fs::read_to_string(hello.join("compose.yaml")).unwrap();
    let name = unique_name("hel");
    let dir = env.project(&name, &compose);
    for f in ["Dockerfile", "index.html"] {
        std::fs::copy(hello.join(f), dir.join(f)).unwrap();
    }
    let (_, log) = env.ok_out(&dir, &["up", "-d", "--wait"]);
    assert!(log.contains("COPY index.html /var/www/index.html"), "{log}");
    let ps = env.ok(&dir, &["ps"]);
    assert!(
        ps.contains(&format!("{name}-web-1")) && ps.contains("(healthy)"),
        "{ps}"
    );
    assert!(ps.contains("0.0.0.0:8080->8080/tcp"), "{ps}");
    let page = env.sh("busybox wget -q -O - http://localhost:8080/");
    assert!(
        String::from_utf8_lossy(&page.stdout).contains("<h1>Hello from berth</h1>"),
        "{page:?}"
    );
    env.ok(&dir, &["down", "-t", "1"]);
    assert!(env.container_ids().is_empty());
    let leaks = before.diff(&env.snapshot());
    assert!(leaks.is_empty(), "left behind: {leaks:?}");
}
