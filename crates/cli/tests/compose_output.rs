//! End to end: how `up` and `down` report — the terminal view, `--progress
//! auto|tty|plain|json|quiet`,
//! the parallelism cap as the progress shows it, colours, and failures
//! gathered into one final error; and `up --build` recreating a service
//! whose image changed, `down --rmi local`.

mod common;
mod compose_common;

use berth_testkit::require_root;
use common::Env;
use compose_common::{SLEEPER, ids, on_a_tty, run};

fn stack(n: usize) -> String {
    let mut s = String::from("services:\n");
    for i in 0..n {
        s.push_str(&format!(
            "  s{i}:\n    image: busybox:latest\n    command: {SLEEPER}\n"
        ));
    }
    s
}

#[test]
fn progress_modes_and_the_parallel_cap() {
    require_root!();
    let mut env = Env::with_network();
    let dir = env.project("pg", &stack(4));
    // plain: one line per step, Compose's wording.
    let (code, _, err) = run(&env, &dir, &["--progress", "plain", "up", "-d"]);
    assert_eq!(code, 0, "{err}");
    for line in [
        " Network pg_default Creating",
        " Network pg_default Created",
        " Container pg-s0-1 Creating",
        " Container pg-s0-1 Created",
        " Container pg-s0-1 Starting",
        " Container pg-s0-1 Started",
    ] {
        assert!(err.lines().any(|l| l == line), "no {line:?} in {err}");
    }
    // quiet: nothing at all; a no-op up says nothing either.
    let (code, out, err) = run(&env, &dir, &["--progress", "quiet", "down"]);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""));
    // json: one object per event; with --parallel 1 never two at work.
    let (code, _, err) = run(
        &env,
        &dir,
        &["--progress", "json", "--parallel", "1", "up", "-d"],
    );
    assert_eq!(code, 0, "{err}");
    let mut working = 0;
    let mut events = 0;
    for l in err.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|_| panic!("{l}"));
        events += 1;
        match v["status"].as_str().unwrap() {
            "Working" => working += 1,
            "Done" => working -= 1,
            other => panic!("{other} in {l}"),
        }
        assert!(
            working <= 1,
            "two operations at once under --parallel 1: {err}"
        );
        assert!(v["id"].as_str().unwrap().contains("pg"), "{l}");
    }
    assert_eq!(events, 2 * 9, "network + 4 creates + 4 starts, each twice");
    assert_eq!(run(&env, &dir, &["--progress", "plain", "up", "-d"]).2, "");
    // COMPOSE_PARALLEL_LIMIT is the same cap.
    env.ok(&dir, &["down"]);
    let o = env
        .command(&dir, &["--progress", "json", "up", "-d"])
        .env("COMPOSE_PARALLEL_LIMIT", "1")
        .output()
        .unwrap();
    assert!(o.status.success());
    let mut working = 0i32;
    for l in String::from_utf8_lossy(&o.stderr).lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        working += if v["status"] == "Working" { 1 } else { -1 };
        assert!(working <= 1);
    }
    let (code, _, err) = run(&env, &dir, &["--progress", "fancy", "up", "-d"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--progress"), "{err}");
}

#[test]
fn the_terminal_view_is_chosen_on_a_tty() {
    require_root!();
    let mut env = Env::with_network();
    let dir = env.project("tty", &stack(2));
    // auto on a terminal: the live view, redrawn in place.
    let (code, screen) = on_a_tty(&env, &dir, &["up", "-d"]);
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("[+] Running 3/3"), "{screen:?}");
    for res in [
        "Network tty_default",
        "Container tty-s0-1",
        "Container tty-s1-1",
    ] {
        assert!(screen.contains(&format!("✔ {res}")), "{res} in {screen:?}");
    }
    assert!(
        screen.contains("\x1b[") && screen.contains('A'),
        "{screen:?}"
    );
    // plain on a terminal: lines, no view.
    let (code, screen) = on_a_tty(&env, &dir, &["--progress", "plain", "down"]);
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains(" Container tty-s0-1 Removed"), "{screen:?}");
    assert!(
        !screen.contains("[+]") && !screen.contains('✔'),
        "{screen:?}"
    );
    // tty without a terminal: the view anyway.
    let (code, _, err) = run(&env, &dir, &["--progress", "tty", "up", "-d"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("[+] Running 3/3"), "{err:?}");
    assert!(err.contains("✔ Network tty_default"), "{err:?}");
}

#[test]
fn failures_are_gathered_and_the_rest_goes_on() {
    require_root!();
    let mut env = Env::with_network();
    let broken = format!(
        "services:\n  good:\n    image: busybox:latest\n    command: {SLEEPER}\n  bad1:\n    image: busybox:latest\n    network_mode: container:nope1\n  bad2:\n    image: busybox:latest\n    network_mode: container:nope2\n"
    );
    let dir = env.project("fail", &broken);
    let (code, _, err) = run(&env, &dir, &["--progress", "plain", "up", "-d"]);
    assert_eq!(code, 1, "{err}");
    let last: Vec<&str> = err.lines().rev().take(3).collect();
    assert!(last[2].starts_with("Error: 2 operations failed:"), "{err}");
    assert!(last.iter().any(|l| l.contains("nope1")), "{err}");
    assert!(last.iter().any(|l| l.contains("nope2")), "{err}");
    assert!(err.contains(" Container fail-good-1 Started"), "{err}");
}

#[test]
fn colours_follow_ansi_and_no_color() {
    require_root!();
    let mut env = Env::with_network();
    let talk = "services:\n  a:\n    image: busybox:latest\n    command: [\"echo\", \"hi\"]\n";
    let dir = env.project("col", talk);
    env.ok(&dir, &["up", "-d"]);
    compose_common::wait_until("a to exit", 10, || env.ok(&dir, &["ps", "-q"]).is_empty());
    // The harness sets NO_COLOR: plain, unless --ansi always.
    assert_eq!(env.ok(&dir, &["logs"]), "a-1  | hi\n");
    let coloured = env.ok(&dir, &["--ansi", "always", "logs"]);
    assert_eq!(coloured, "\x1b[36ma-1  | \x1b[0mhi\n");
    assert_eq!(
        env.ok(&dir, &["--ansi", "always", "logs", "--no-color"]),
        "a-1  | hi\n"
    );
}

#[test]
fn up_build_recreates_what_a_new_image_changes_and_down_rmi_local_removes_it() {
    require_root!();
    let mut env = Env::with_network();
    let built = format!(
        "services:\n  app:\n    build: .\n    command: {SLEEPER}\n  base:\n    image: busybox:latest\n    command: {SLEEPER}\n"
    );
    let dir = env.project("bld", &built);
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM busybox:latest\nRUN echo one > /version\n",
    )
    .unwrap();
    env.ok(&dir, &["up", "-d"]);
    let o = env.ok(&dir, &["exec", "-T", "app", "cat", "/version"]);
    assert_eq!(o.trim(), "one");
    let first = ids(&env, &dir);
    // The Dockerfile changes: nothing happens until --build.
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM busybox:latest\nRUN echo two > /version\n",
    )
    .unwrap();
    env.ok(&dir, &["up", "-d"]);
    assert_eq!(ids(&env, &dir), first);
    env.ok(&dir, &["up", "-d", "--build"]);
    let second = ids(&env, &dir);
    let app = |v: &[(String, String)]| v.iter().find(|(n, _)| n == "bld-app-1").unwrap().1.clone();
    let base =
        |v: &[(String, String)]| v.iter().find(|(n, _)| n == "bld-base-1").unwrap().1.clone();
    assert_ne!(app(&second), app(&first), "a new image recreates");
    assert_eq!(base(&second), base(&first), "the other service stays");
    let o = env.ok(&dir, &["exec", "-T", "app", "cat", "/version"]);
    assert_eq!(o.trim(), "two");
    // --rmi local: the built image goes, the pulled one stays.
    env.ok(&dir, &["down", "--rmi", "local"]);
    let images = env.ok(&dir, &["image", "ls", "--format", "{{.Repository}}"]);
    assert!(!images.contains("bld-app"), "{images}");
    assert!(images.contains("busybox"), "{images}");
    let (code, _, err) = run(&env, &dir, &["down", "--rmi", "some"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--rmi"), "{err}");
}
