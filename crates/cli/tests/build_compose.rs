//! `build:` in Compose files, end to end: the long form's options, image
//! names, `berth build` flags, `up` starting a built image (and `--build`,
//! `pull_policy: build`), errors that name the Dockerfile line, and the
//! built image saved as an archive `docker load` takes.

mod common;

use std::io::Read;
use std::path::Path;

use berth_testkit::{require_root, unique_name};
use common::Env;

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (p, content) in files {
        let p = dir.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
}

fn inspect(env: &Env, dir: &Path, image: &str) -> serde_json::Value {
    let out = env.ok(dir, &["image", "inspect", image]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v[0].clone()
}

#[test]
fn the_long_form_and_berth_build_flags() {
    require_root!();
    let mut env = Env::with_network();
    let compose = r#"
services:
  app:
    build:
      context: ./src
      dockerfile: build/App.Dockerfile
      args:
        - GREETING=from-compose
      target: final
      labels:
        org.example.team: builders
      tags:
        - example/app:extra
      extra_hosts:
        - "buildhost.test=10.11.12.13"
      shm_size: 32m
  inline:
    image: example/inline:1
    build:
      context: ./src
      dockerfile_inline: |
        FROM busybox:latest
        RUN echo inline > /inline
  offline:
    build:
      context: ./src
      network: none
      dockerfile_inline: |
        FROM busybox:latest
        RUN test "$(grep -c : /proc/net/dev)" = 1 && echo only-lo > /net
  plain:
    image: busybox:latest
"#;
    let dir = env.project("longform", compose);
    write(
        &dir,
        &[(
            "src/build/App.Dockerfile",
            "FROM busybox:latest AS first\n\
             ARG GREETING=default\n\
             RUN echo \"$GREETING\" > /greeting\n\
             FROM first AS final\n\
             RUN grep buildhost.test /etc/hosts > /hosts-line && df -k /dev/shm | tail -1 > /shm\n\
             FROM busybox:latest AS after\n\
             RUN exit 1\n",
        )],
    );
    let (stdout, _) = env.ok_out(&dir, &["build"]);
    assert!(stdout.is_empty(), "build reports on stderr only: {stdout}");
    // <project>-<service> unless `image:` names it; `tags` add names.
    let app = inspect(&env, &dir, "longform-app");
    assert_eq!(app["Config"]["Labels"]["org.example.team"], "builders");
    let tags: Vec<&str> = app["RepoTags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        tags.contains(&"longform-app:latest") && tags.contains(&"example/app:extra"),
        "{tags:?}"
    );
    let o = env.ok(
        &dir,
        &[
            "container",
            "run",
            "--rm",
            "longform-app",
            "cat",
            "/greeting",
            "/hosts-line",
            "/shm",
        ],
    );
    let lines: Vec<&str> = o.lines().collect();
    assert_eq!(lines[0], "from-compose");
    assert!(
        lines[1].starts_with("10.11.12.13") && lines[1].contains("buildhost.test"),
        "{o}"
    );
    assert!(
        lines[2].split_whitespace().nth(1) == Some("32768"),
        "32m of shm: {o}"
    );
    assert!(
        env.ok(
            &dir,
            &[
                "container",
                "run",
                "--rm",
                "example/inline:1",
                "cat",
                "/inline"
            ]
        )
        .contains("inline")
    );
    assert!(
        env.ok(
            &dir,
            &[
                "container",
                "run",
                "--rm",
                "longform-offline",
                "cat",
                "/net"
            ]
        )
        .contains("only-lo")
    );
    let ls = env.ok(
        &dir,
        &["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"],
    );
    assert!(
        !ls.contains("longform-plain"),
        "services without build are not built: {ls}"
    );

    // --build-arg beats the file; -q prints nothing at all; services by name.
    let o = env.berth(
        &dir,
        &["build", "-q", "--build-arg", "GREETING=from-flag", "app"],
    );
    assert!(o.status.success());
    assert!(o.stdout.is_empty() && o.stderr.is_empty(), "{o:?}");
    let o = env.ok(
        &dir,
        &[
            "container",
            "run",
            "--rm",
            "longform-app",
            "cat",
            "/greeting",
        ],
    );
    assert_eq!(o.trim(), "from-flag");
    let o = env.berth(&dir, &["build", "nosuch"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no such service: nosuch"));
}

#[test]
fn errors_name_the_dockerfile_line() {
    require_root!();
    let mut env = Env::with_network();
    let dir = env.project("badfile", "services:\n  app:\n    build: .\n");
    write(
        &dir,
        &[(
            "Dockerfile",
            "FROM busybox:latest\nRUN true\nCOPY --badflag a b\n",
        )],
    );
    let o = env.berth(&dir, &["build"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("failed to build service app"), "{err}");
    assert!(
        err.contains("Dockerfile:3: COPY does not support the flag --badflag"),
        "{err}"
    );

    write(
        &dir,
        &[("Dockerfile", "FROM busybox:latest\n\nRUNX true\n")],
    );
    let err = String::from_utf8_lossy(&env.berth(&dir, &["build"]).stderr).into_owned();
    assert!(
        err.contains("Dockerfile:3: unknown instruction: RUNX"),
        "{err}"
    );

    // A failing RUN: its line, its command, its exit code and its output.
    write(
        &dir,
        &[(
            "Dockerfile",
            "FROM busybox:latest\nRUN echo fine\nRUN echo about to fail && echo on-stderr >&2 && exit 3\n",
        )],
    );
    let o = env.berth(&dir, &["--progress", "plain", "build"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("#3 ERROR"), "{err}");
    assert!(
        err.contains("Dockerfile:3: RUN echo about to fail && echo on-stderr >&2 && exit 3: process \"/bin/sh -c echo about to fail && echo on-stderr >&2 && exit 3\" did not complete successfully: exit code: 3"),
        "{err}"
    );
    assert!(
        err.contains("about to fail") && err.contains("on-stderr"),
        "{err}"
    );
    // Remote contexts are refused with a clear message.
    std::fs::write(
        dir.join("compose.yaml"),
        "services:\n  app:\n    build: https://example.invalid/app.git\n",
    )
    .unwrap();
    let err = String::from_utf8_lossy(&env.berth(&dir, &["build"]).stderr).into_owned();
    assert!(
        err.contains("remote contexts are not supported by berth"),
        "{err}"
    );
    // The failed step's container is gone.
    assert!(env.container_ids().is_empty());
    let ls = env.ok(&dir, &["image", "ls", "--format", "{{.Repository}}"]);
    assert!(!ls.contains("badfile-app"), "{ls}");
}

const WEB: &str = "FROM busybox:latest\n\
    ARG PAGE=one\n\
    RUN mkdir /www && echo \"page $PAGE\" > /www/index.html\n\
    EXPOSE 80\n\
    CMD [\"httpd\", \"-f\", \"-p\", \"80\", \"-h\", \"/www\"]\n";

fn get(env: &Env, dir: &Path, url: &str) -> String {
    for _ in 0..100 {
        let o = env.sh(&format!("busybox wget -q -O - {url}"));
        if o.status.success() {
            return String::from_utf8_lossy(&o.stdout).trim().to_owned();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let ps = env.berth(dir, &["ps", "-a"]);
    let logs = env.berth(dir, &["logs"]);
    panic!(
        "{url} did not answer\n{}{}",
        String::from_utf8_lossy(&ps.stdout),
        String::from_utf8_lossy(&logs.stdout)
    );
}

#[test]
fn up_builds_and_starts_the_image() {
    require_root!();
    let mut env = Env::with_network();
    let before = env.snapshot();
    let name = unique_name("bld");
    let compose = "services:\n  web:\n    build:\n      context: .\n      args:\n        PAGE: ${PAGE:-one}\n    init: true\n    ports: [\"127.0.0.1:18311:80\"]\n  again:\n    build:\n      context: ./again\n    pull_policy: build\n    command: [\"sh\", \"-c\", \"cat /stamp; sleep 3600\"]\n    init: true\n";
    let dir = env.project(&name, compose);
    write(
        &dir,
        &[
            ("Dockerfile", WEB),
            (
                "again/Dockerfile",
                "FROM busybox:latest\nRUN cat /proc/sys/kernel/random/uuid > /stamp\n",
            ),
        ],
    );
    let (_, log) = env.ok_out(&dir, &["up", "-d"]);
    assert!(log.contains("RUN mkdir /www"), "up built the image: {log}");
    assert_eq!(get(&env, &dir, "http://127.0.0.1:18311/"), "page one");
    let image = format!("{name}-web");
    let ps = env.ok(&dir, &["ps", "--format", "json"]);
    assert!(ps.contains(&image), "{ps}");

    // A second up neither rebuilds web nor recreates it...
    let (_, log) = env.ok_out(&dir, &["up", "-d"]);
    assert!(!log.contains("RUN mkdir /www"), "{log}");
    // ...but `pull_policy: build` builds every time (from the cache here).
    assert!(log.contains("RUN cat /proc"), "{log}");

    // `up --build` rebuilds, and a changed build arg gives a new page.
    let o = env
        .command(&dir, &["up", "-d", "--build"])
        .env("PAGE", "two")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(get(&env, &dir, "http://127.0.0.1:18311/"), "page two");

    // `--no-build` with a missing image is an error that says so.
    env.ok(&dir, &["down", "-t", "1", "--rmi", "local"]);
    let o = env.berth(&dir, &["up", "-d", "--no-build"]);
    assert!(!o.status.success());
    env.ok(&dir, &["down", "-v", "-t", "1"]);
    let leaks = before.diff(&env.snapshot());
    assert!(leaks.is_empty(), "left behind: {leaks:?}");
}

#[test]
fn a_built_image_saves_as_a_docker_archive() {
    require_root!();
    let mut env = Env::with_network();
    let dir = env.project("saved", "services:\n  app:\n    build: .\n");
    write(&dir, &[("Dockerfile", WEB)]);
    env.ok_out(&dir, &["build"]);
    let archive = dir.join("app.tar");
    env.ok(
        &dir,
        &[
            "image",
            "save",
            "-o",
            archive.to_str().unwrap(),
            "saved-app",
        ],
    );
    let mut files = std::collections::BTreeMap::new();
    let mut a = tar::Archive::new(std::fs::File::open(&archive).unwrap());
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        files.insert(name, data);
    }
    // docker load reads manifest.json: config, repo tags, layer files.
    let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let m = &manifest[0];
    assert_eq!(m["RepoTags"], serde_json::json!(["saved-app:latest"]));
    let config: serde_json::Value =
        serde_json::from_slice(&files[m["Config"].as_str().unwrap()]).unwrap();
    let diff_ids = config["rootfs"]["diff_ids"].as_array().unwrap();
    let layers = m["Layers"].as_array().unwrap();
    assert_eq!(layers.len(), diff_ids.len());
    assert_eq!(layers.len(), 2, "busybox and the RUN layer");
    assert_eq!(config["config"]["Cmd"][0], "httpd");
    // Every layer file is there and is what the config's diff id says.
    for (l, want) in layers.iter().zip(diff_ids) {
        std::fs::write(dir.join("layer.bin"), &files[l.as_str().unwrap()]).unwrap();
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg("if gzip -t layer.bin 2>/dev/null; then gzip -dc layer.bin; else cat layer.bin; fi | sha256sum")
            .current_dir(&dir)
            .output()
            .unwrap();
        let sum = String::from_utf8_lossy(&o.stdout);
        let want = want.as_str().unwrap().trim_start_matches("sha256:");
        assert!(sum.starts_with(want), "layer {l} is not {want}: {sum}");
    }
    // The archive loads back under the same name into a fresh root.
    let other = Env::new();
    other.ok(&dir, &["image", "load", "-i", archive.to_str().unwrap()]);
    let o = other.ok(&dir, &["image", "inspect", "-f", "{{.Id}}", "saved-app"]);
    let mine = env.ok(&dir, &["image", "inspect", "-f", "{{.Id}}", "saved-app"]);
    assert_eq!(o, mine);
}
