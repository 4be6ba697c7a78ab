//! End to end: `berth build` killed with SIGKILL during a RUN leaves the
//! step's container running under its shim; the next build removes it
//! (processes, cgroups, overlay, address lease, the build network), while
//! the RUN container of a build that is still running is left alone. In a
//! network namespace playing the host, which is left as it was.

mod build_common;
mod common;

use std::path::Path;

use berth_testkit::{require_root, unique_name};
use build_common::{BackgroundBuild, Server, build_containers, network, value};
use common::{Env, process_state, wait_for};

fn project(env: &Env, gate_port: u16) -> std::path::PathBuf {
    let dir = env.root.path().join("projects").join(unique_name("bc"));
    let files = [
        (
            "compose.yaml",
            "services:\n  slow:\n    build: ./slow\n  quick:\n    build: ./quick\n  waits:\n    build: ./waits\n".to_owned(),
        ),
        (
            "slow/Dockerfile",
            "FROM busybox:latest\nRUN sleep 30\n".to_owned(),
        ),
        (
            "quick/Dockerfile",
            "FROM busybox:latest\nRUN echo quick > /quick\n".to_owned(),
        ),
        // Talks to the test's server on the host (the default gateway),
        // which answers when the test says so.
        (
            "waits/Dockerfile",
            format!(
                "FROM busybox:latest\nRUN echo \"got=$(nc -w 120 $(ip route | awk '/^default/ {{print $3}}') {gate_port})\"\n"
            ),
        ),
    ];
    for (p, text) in files {
        let p = dir.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

fn running_build_container(env: &Env) -> Option<serde_json::Value> {
    build_containers(env)
        .into_iter()
        .find(|c| c["State"]["Running"] == true)
}

fn lock_files(root: &Path) -> Vec<String> {
    std::fs::read_dir(root.join("builds/running"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn the_next_build_removes_what_a_build_killed_during_run_left() {
    require_root!();
    let env = Env::with_network();
    let before = env.snapshot();
    let dir = project(&env, 9);

    let mut slow = BackgroundBuild::start(&env, &dir, &["build", "slow"]);
    wait_for("the RUN container to run", || {
        running_build_container(&env).is_some()
    });
    let c = running_build_container(&env).unwrap();
    let name = c["Name"]
        .as_str()
        .unwrap()
        .trim_start_matches('/')
        .to_owned();
    let pids = env.container_pids(&name);
    assert!(!pids.is_empty(), "{c}");
    slow.child.kill().unwrap();
    slow.child.wait().unwrap();

    // What the killed build left: the step still running, its address.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let left = running_build_container(&env).expect("the step outlives berth");
    assert_eq!(left["Name"], c["Name"]);
    assert!(pids.iter().all(|p| process_state(*p).is_some()));
    let net = network(&env, "berth_build").expect("the build network is left too");
    assert_eq!(net["Containers"].as_object().unwrap().len(), 1, "{net}");

    let (_, log) = env.ok_out(&dir, &["build", "quick"]);
    assert!(
        log.contains(&format!("removed {name} left by an interrupted build")),
        "{log}"
    );
    assert!(build_containers(&env).is_empty());
    assert!(env.container_ids().is_empty());
    wait_for("the step's processes to be gone", || {
        pids.iter()
            .all(|p| matches!(process_state(*p), None | Some('Z')))
    });
    assert!(
        network(&env, "berth_build").is_none(),
        "the next build removes the build network once nothing uses it"
    );
    assert!(lock_files(env.root.path()).is_empty());
    // No cgroup, mount, link, address, route or rule of the step is left.
    let leaks = env.leftovers(&before);
    assert!(leaks.is_empty(), "left behind: {leaks:#?}");
}

#[test]
fn a_build_that_is_still_running_keeps_its_run_container() {
    require_root!();
    let env = Env::with_network();
    let before = env.snapshot();
    let gate = Server::start(
        &env.netns.as_ref().unwrap().path(),
        "0.0.0.0:0",
        "gate",
        true,
    );
    let dir = project(&env, gate.addr.port());
    let waits = BackgroundBuild::start(&env, &dir, &["--progress", "plain", "build", "waits"]);
    wait_for("the waiting RUN to connect", || !gate.peers().is_empty());
    let c = running_build_container(&env).expect("the waiting step runs");

    // Another build sweeps: the live build's step is not its business.
    let (_, log) = env.ok_out(&dir, &["build", "--no-cache", "quick"]);
    assert!(!log.contains("interrupted build"), "{log}");
    let still = running_build_container(&env).expect("still running");
    assert_eq!(still["Id"], c["Id"]);

    gate.open();
    let (ok, log) = waits.finish();
    assert!(ok, "{log}");
    assert_eq!(
        value(&log, "got"),
        Some(format!("gate saw {}", gate.peers()[0]).as_str()),
        "{log}"
    );
    assert!(build_containers(&env).is_empty());
    assert!(lock_files(env.root.path()).is_empty());
    let leaks = env.leftovers(&before);
    assert!(leaks.is_empty(), "left behind: {leaks:#?}");
}
