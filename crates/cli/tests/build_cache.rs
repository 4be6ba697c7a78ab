//! The build cache, end to end: an unchanged rebuild reuses every layer
//! (same digests, same image, "CACHED" for every step), a changed file
//! re-runs only the steps after it, a changed build arg only the steps that
//! see it, and `--no-cache` runs everything again.

mod common;

use std::path::Path;

use berth_testkit::require_root;
use common::Env;

/// Each RUN writes a fresh random stamp, so a step that really ran again
/// always gives a new layer digest.
const DOCKERFILE: &str = r#"FROM busybox:latest
COPY a.txt /a.txt
RUN cat /proc/sys/kernel/random/uuid > /stamp-a && echo ran-step-a
ARG FLAVOUR=plain
COPY b.txt /b.txt
RUN cat /proc/sys/kernel/random/uuid > /stamp-b && echo ran-step-b-$FLAVOUR
CMD ["cat", "/b.txt"]
"#;

fn project(env: &mut Env, name: &str) -> std::path::PathBuf {
    let dir = env.project(name, "services:\n  app:\n    build: .\n");
    std::fs::write(dir.join("Dockerfile"), DOCKERFILE).unwrap();
    std::fs::write(dir.join("a.txt"), "a1\n").unwrap();
    std::fs::write(dir.join("b.txt"), "b1\n").unwrap();
    dir
}

fn layers(env: &Env, dir: &Path, image: &str) -> Vec<String> {
    let out = env.ok(
        dir,
        &["image", "inspect", "-f", "{{json .RootFS.Layers}}", image],
    );
    serde_json::from_str(out.trim()).unwrap()
}

fn image_id(env: &Env, dir: &Path, image: &str) -> String {
    env.ok(dir, &["image", "inspect", "-f", "{{.Id}}", image])
        .trim()
        .to_owned()
}

/// The plain progress lines of a build (`#N …`).
fn build(env: &Env, dir: &Path, extra: &[&str]) -> String {
    let mut args = vec!["--progress", "plain", "build"];
    args.extend_from_slice(extra);
    env.ok_out(dir, &args).1
}

/// Whether a RUN printed `marker` (an output line `#N marker…`, not the
/// step's own `#N [app i/n] RUN … echo marker` line).
fn ran(log: &str, marker: &str) -> bool {
    log.lines().any(|l| {
        l.split_once(' ')
            .is_some_and(|(_, rest)| rest.starts_with(marker))
    })
}

/// Step numbers reported CACHED and DONE.
fn outcomes(log: &str) -> (Vec<String>, Vec<String>) {
    let mut cached = Vec::new();
    let mut done = Vec::new();
    for l in log.lines() {
        let Some((id, rest)) = l.split_once(' ') else {
            continue;
        };
        if rest == "CACHED" {
            cached.push(id.to_owned());
        } else if rest.starts_with("DONE") {
            done.push(id.to_owned());
        }
    }
    (cached, done)
}

#[test]
fn an_unchanged_rebuild_reuses_every_layer() {
    require_root!();
    let mut env = Env::with_network();
    let dir = project(&mut env, "cachehit");
    let first = build(&env, &dir, &[]);
    assert!(
        ran(&first, "ran-step-a") && ran(&first, "ran-step-b-plain"),
        "{first}"
    );
    assert!(
        !first.contains("CACHED"),
        "a first build has no cache:\n{first}"
    );
    assert!(first.contains("#2 [app 2/5] COPY a.txt /a.txt"), "{first}");
    let img = "cachehit-app";
    let before = layers(&env, &dir, img);
    let id = image_id(&env, &dir, img);
    // busybox's layer plus one per COPY and RUN.
    assert_eq!(before.len(), 5, "{before:?}");

    let second = build(&env, &dir, &[]);
    let (cached, done) = outcomes(&second);
    // Steps 2..5 (two COPY, two RUN) come from the cache; FROM is only resolved.
    assert_eq!(cached, vec!["#2", "#3", "#4", "#5"], "{second}");
    assert_eq!(done, vec!["#1"], "{second}");
    assert!(!ran(&second, "ran-step"), "no RUN ran again:\n{second}");
    assert_eq!(layers(&env, &dir, img), before, "same layers");
    assert_eq!(image_id(&env, &dir, img), id, "same image");
    // No dangling image is left behind by the rebuild.
    let ls = env.ok(&dir, &["image", "ls"]);
    assert!(!ls.contains("<none>"), "{ls}");
}

#[test]
fn a_changed_file_reruns_only_the_later_steps() {
    require_root!();
    let mut env = Env::with_network();
    let dir = project(&mut env, "cachemiss");
    build(&env, &dir, &[]);
    let img = "cachemiss-app";
    let before = layers(&env, &dir, img);

    // Touching a file without changing it is not a change.
    std::fs::write(dir.join("b.txt"), "b1\n").unwrap();
    let (cached, _) = outcomes(&build(&env, &dir, &[]));
    assert_eq!(cached.len(), 4);

    std::fs::write(dir.join("b.txt"), "b2\n").unwrap();
    let log = build(&env, &dir, &[]);
    let (cached, done) = outcomes(&log);
    assert_eq!(cached, vec!["#2", "#3"], "COPY a and RUN a reused:\n{log}");
    assert_eq!(
        done,
        vec!["#1", "#4", "#5"],
        "COPY b and RUN b re-ran:\n{log}"
    );
    assert!(ran(&log, "ran-step-b") && !ran(&log, "ran-step-a"), "{log}");
    let after = layers(&env, &dir, img);
    assert_eq!(
        after[..3],
        before[..3],
        "base, COPY a and RUN a are the same layers"
    );
    assert_ne!(after[3], before[3], "COPY b has the new content");
    assert_ne!(after[4], before[4], "RUN b ran again");
    let o = env.ok(&dir, &["container", "run", "--rm", img]);
    assert_eq!(o.trim(), "b2");
}

#[test]
fn a_build_arg_invalidates_only_the_steps_that_see_it() {
    require_root!();
    let mut env = Env::with_network();
    let dir = project(&mut env, "cachearg");
    build(&env, &dir, &[]);
    let img = "cachearg-app";
    let before = layers(&env, &dir, img);
    let log = build(&env, &dir, &["--build-arg", "FLAVOUR=spicy"]);
    let (cached, _) = outcomes(&log);
    assert_eq!(cached, vec!["#2", "#3"], "{log}");
    assert!(ran(&log, "ran-step-b-spicy"), "{log}");
    let after = layers(&env, &dir, img);
    assert_eq!(after[..3], before[..3]);
    assert_ne!(after[4], before[4]);
    // The arg is not kept in the image's environment.
    let env_json = env.ok(
        &dir,
        &["image", "inspect", "-f", "{{json .Config.Env}}", img],
    );
    assert!(!env_json.contains("FLAVOUR"), "{env_json}");
}

#[test]
fn no_cache_runs_every_step_again() {
    require_root!();
    let mut env = Env::with_network();
    let dir = project(&mut env, "nocache");
    build(&env, &dir, &[]);
    let img = "nocache-app";
    let before = layers(&env, &dir, img);
    let log = build(&env, &dir, &["--no-cache"]);
    let (cached, done) = outcomes(&log);
    assert!(cached.is_empty(), "{log}");
    assert_eq!(done.len(), 5, "{log}");
    assert!(ran(&log, "ran-step-a") && ran(&log, "ran-step-b"), "{log}");
    let after = layers(&env, &dir, img);
    assert_eq!(after[0], before[0], "the base is the base");
    assert_eq!(
        after[1], before[1],
        "COPY of the same file gives the same layer"
    );
    assert_ne!(after[2], before[2], "RUN ran again");
    // The cache was refreshed: the next plain build reuses the new layers.
    build(&env, &dir, &[]);
    assert_eq!(layers(&env, &dir, img), after);
}
