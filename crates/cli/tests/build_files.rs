//! What a build puts into the image: `.dockerignore`, globs, `--chown` and
//! `--chmod`, ADD of a local archive, ARG/ENV substitution, USER and
//! WORKDIR in the config, and a file removed by RUN (a whiteout) staying
//! removed.

mod common;

use std::io::Read;
use std::path::Path;

use berth_testkit::require_root;
use common::Env;

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (p, content) in files {
        let p = dir.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
}

fn run(env: &Env, dir: &Path, image: &str, script: &str) -> String {
    env.ok(
        dir,
        &["container", "run", "--rm", image, "sh", "-c", script],
    )
}

#[test]
fn dockerignore_globs_owners_modes_and_archives() {
    require_root!();
    let mut env = Env::with_network();
    let dir = env.project("files", "services:\n  app:\n    build: .\n");
    write(
        &dir,
        &[
            (
                "Dockerfile",
                "FROM busybox:latest\n\
                 COPY . /ctx/\n\
                 COPY *.py /py/\n\
                 COPY --chown=nobody:nogroup --chmod=0750 tool.sh /usr/local/bin/tool\n\
                 COPY src /srcdir\n\
                 ADD bundle.tgz /opt/\n\
                 ADD bundle.tgz /kept/bundle.tgz.copy\n",
            ),
            (
                ".dockerignore",
                "*.log\nsecrets/\nsrc/**/*.tmp\n!keep.log\n",
            ),
            ("a.py", "a"),
            ("b.py", "b"),
            ("notes.txt", "n"),
            ("debug.log", "noise"),
            ("keep.log", "kept"),
            ("secrets/key", "hunter2"),
            ("src/main.c", "int main;"),
            ("src/sub/x.tmp", "tmp"),
            ("src/sub/y.h", "h"),
            ("tool.sh", "#!/bin/sh\necho tool\n"),
        ],
    );
    // A gzip tar to unpack, with a file owned by uid 1234, made by tar(1).
    let pkg = dir.join("pkgsrc/pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("data.txt"), "hello").unwrap();
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg("chown 1234:1234 pkgsrc/pkg/data.txt && chmod 640 pkgsrc/pkg/data.txt && tar -C pkgsrc -czf bundle.tgz pkg && rm -r pkgsrc")
        .current_dir(&dir)
        .status()
        .unwrap();
    assert!(o.success());

    env.ok_out(&dir, &["build"]);
    let img = "files-app";
    let listing = run(&env, &dir, img, "cd /ctx && find . -type f | sort");
    let files: Vec<&str> = listing.lines().collect();
    assert!(
        files.contains(&"./a.py") && files.contains(&"./keep.log"),
        "{listing}"
    );
    assert!(files.contains(&"./src/sub/y.h"), "{listing}");
    for gone in ["./debug.log", "./secrets/key", "./src/sub/x.tmp"] {
        assert!(
            !files.contains(&gone),
            "{gone} is excluded by .dockerignore:\n{listing}"
        );
    }
    assert_eq!(
        run(&env, &dir, img, "ls /py")
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["a.py", "b.py"]
    );
    let tool = run(
        &env,
        &dir,
        img,
        "stat -c '%U:%G %a' /usr/local/bin/tool && tool",
    );
    assert_eq!(tool.trim(), "nobody:nogroup 750\ntool");
    // Files from the context belong to root, whoever owns them here.
    let owner = run(&env, &dir, img, "stat -c '%u:%g' /ctx/a.py /srcdir/main.c");
    assert_eq!(owner.split_whitespace().collect::<Vec<_>>(), ["0:0", "0:0"]);
    assert_eq!(
        run(&env, &dir, img, "ls /srcdir | sort")
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["main.c", "sub"]
    );
    // ADD unpacks a local archive, keeping its owners and modes.
    let data = run(
        &env,
        &dir,
        img,
        "cat /opt/pkg/data.txt; stat -c ' %u %a' /opt/pkg/data.txt",
    );
    assert_eq!(data.trim(), "hello 1234 640");
    assert!(run(&env, &dir, img, "ls /kept/bundle.tgz.copy/pkg").contains("data.txt"));

    // A file that .dockerignore excludes cannot be copied, and the error says so.
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM busybox:latest\nCOPY secrets/key /key\n",
    )
    .unwrap();
    let o = env.berth(&dir, &["build"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("Dockerfile:2: COPY secrets/key: no such file or directory in the build context (or excluded by .dockerignore)"),
        "{err}"
    );
}

#[test]
fn arg_and_env_substitution_and_the_config() {
    require_root!();
    let mut env = Env::with_network();
    let dir = env.project(
        "subst",
        "services:\n  app:\n    build:\n      context: .\n      args:\n        WHO: compose\n",
    );
    write(
        &dir,
        &[
            (
                "Dockerfile",
                "# syntax=docker/dockerfile:1\n\
                 ARG BASE=busybox\n\
                 ARG TAG=latest\n\
                 FROM ${BASE}:${TAG}\n\
                 ARG WHO\n\
                 ARG UNSET\n\
                 ENV GREETING=\"hello ${WHO}\" \\\n    \
                     FALLBACK=${UNSET:-fallback} \\\n    \
                     ALT=${WHO:+set} \\\n    \
                     NOALT=x${UNSET:+set}\n\
                 ENV A=one\n\
                 ENV A=two B=$A\n\
                 ENV DIR=/srv\n\
                 WORKDIR $DIR\n\
                 WORKDIR app\n\
                 RUN echo \"$GREETING\" > greeting && echo \"$WHO\" > who && pwd > where\n\
                 COPY --chmod=644 in.txt ${DIR}/app/\n\
                 SHELL [\"/bin/sh\", \"-c\", \"echo via-shell > /shell-used; eval \\\"$0\\\"\"]\n\
                 RUN echo through-shell > /through\n\
                 SHELL [\"/bin/sh\", \"-c\"]\n\
                 USER nobody:nogroup\n\
                 RUN id -u > /tmp/uid\n\
                 LABEL org.example.who=$WHO\n\
                 EXPOSE 8080 53/udp\n\
                 VOLUME /data\n\
                 STOPSIGNAL SIGINT\n\
                 HEALTHCHECK --interval=5s --retries=2 CMD true\n\
                 ENTRYPOINT [\"sh\", \"-c\"]\n\
                 CMD [\"cat greeting\"]\n",
            ),
            ("in.txt", "input\n"),
        ],
    );
    env.ok_out(&dir, &["build"]);
    let img = "subst-app";
    let cfg = env.ok(&dir, &["image", "inspect", "-f", "{{json .Config}}", img]);
    let c: serde_json::Value = serde_json::from_str(cfg.trim()).unwrap();
    let envs: Vec<&str> = c["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for want in [
        "GREETING=hello compose",
        "FALLBACK=fallback",
        "ALT=set",
        "NOALT=x",
        "A=two",
        "B=one",
        "DIR=/srv",
    ] {
        assert!(envs.contains(&want), "{want} in {envs:?}");
    }
    assert!(
        !envs.iter().any(|e| e.starts_with("WHO=")),
        "args stay out of the image: {envs:?}"
    );
    assert_eq!(c["User"], "nobody:nogroup");
    assert_eq!(c["WorkingDir"], "/srv/app");
    assert_eq!(c["Labels"]["org.example.who"], "compose");
    assert!(
        c["ExposedPorts"].get("8080/tcp").is_some() && c["ExposedPorts"].get("53/udp").is_some(),
        "{c}"
    );
    assert!(c["Volumes"].get("/data").is_some(), "{c}");
    assert_eq!(c["StopSignal"], "SIGINT");
    assert_eq!(
        c["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "true"])
    );
    assert_eq!(c["Entrypoint"], serde_json::json!(["sh", "-c"]));
    assert_eq!(c["Cmd"], serde_json::json!(["cat greeting"]));

    // The container starts as that user, in that directory, with what RUN made.
    let o = env.ok(&dir, &["container", "run", "--rm", img]);
    assert_eq!(o.trim(), "hello compose");
    let o = env.ok(
        &dir,
        &[
            "container",
            "run",
            "--rm",
            img,
            "id -u; pwd; cat who where /tmp/uid; cat in.txt /shell-used /through",
        ],
    );
    assert_eq!(
        o.split_whitespace().collect::<Vec<_>>(),
        [
            "65534",
            "/srv/app",
            "compose",
            "/srv/app",
            "65534",
            "input",
            "via-shell",
            "through-shell"
        ]
    );
}

#[test]
fn a_file_removed_by_run_stays_removed() {
    require_root!();
    let mut env = Env::with_network();
    let dir = env.project("whiteout", "services:\n  app:\n    build: .\n");
    write(
        &dir,
        &[(
            "Dockerfile",
            "FROM busybox:latest\n\
             RUN mkdir -p /data/sub && echo x > /data/sub/f && echo y > /data/other\n\
             RUN rm /etc/group && rm -r /data/sub && mkdir /data/sub && echo new > /data/sub/g\n",
        )],
    );
    env.ok_out(&dir, &["build"]);
    let img = "whiteout-app";
    let o = run(
        &env,
        &dir,
        img,
        "ls /etc/group 2>&1; ls /data/sub; cat /data/other",
    );
    assert!(o.contains("No such file"), "{o}");
    assert!(
        o.contains("g") && !o.contains("f\n") && o.contains("y"),
        "{o}"
    );

    // The layer of the second RUN carries OCI whiteouts: a `.wh.` file for
    // /etc/group and an opaque marker for the recreated directory.
    let archive = dir.join("img.tar");
    env.ok(
        &dir,
        &["image", "save", "-o", archive.to_str().unwrap(), img],
    );
    let names = archive_names(&archive);
    let manifest: serde_json::Value = serde_json::from_slice(&names.file("manifest.json")).unwrap();
    let layers = manifest[0]["Layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3, "{manifest}");
    let last = names.file(layers[2].as_str().unwrap());
    let entries = tar_names(&last);
    assert!(entries.iter().any(|e| e == "etc/.wh.group"), "{entries:?}");
    assert!(
        entries.iter().any(|e| e == "data/sub/.wh..wh..opq")
            || entries.iter().any(|e| e == "data/.wh.sub"),
        "{entries:?}"
    );
    assert!(entries.iter().any(|e| e == "data/sub/g"), "{entries:?}");
}

struct Archive(Vec<(String, Vec<u8>)>);

impl Archive {
    fn file(&self, name: &str) -> Vec<u8> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name} not in the archive"))
            .1
            .clone()
    }
}

fn archive_names(p: &Path) -> Archive {
    let mut a = tar::Archive::new(std::fs::File::open(p).unwrap());
    let mut out = Vec::new();
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        out.push((name, data));
    }
    Archive(out)
}

/// Entry names of a layer (plain or gzip tar).
fn tar_names(layer: &[u8]) -> Vec<String> {
    let data = if layer.starts_with(&[0x1f, 0x8b]) {
        let out = std::process::Command::new("gzip")
            .args(["-dc"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(layer)?;
                c.wait_with_output()
            })
            .unwrap();
        out.stdout
    } else {
        layer.to_vec()
    };
    let mut a = tar::Archive::new(&data[..]);
    a.entries()
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .unwrap()
                .to_string_lossy()
                .trim_end_matches('/')
                .to_owned()
        })
        .collect()
}

#[test]
fn a_dockerfile_can_have_its_own_dockerignore() {
    require_root!();
    let mut env = Env::with_network();
    let dir = env.project(
        "ownignore",
        "services:\n  app:\n    build:\n      context: .\n      dockerfile: docker/app.Dockerfile\n",
    );
    write(
        &dir,
        &[
            (
                "docker/app.Dockerfile",
                "FROM busybox:latest\nCOPY . /ctx\n",
            ),
            // Beside the Dockerfile, named after it: wins over the context's.
            (
                "docker/app.Dockerfile.dockerignore",
                "only-app-ignores.txt\n",
            ),
            (".dockerignore", "context-ignores.txt\n"),
            ("only-app-ignores.txt", "x"),
            ("context-ignores.txt", "y"),
        ],
    );
    env.ok_out(&dir, &["build"]);
    let o = run(&env, &dir, "ownignore-app", "ls /ctx");
    assert!(o.contains("context-ignores.txt"), "{o}");
    assert!(!o.contains("only-app-ignores.txt"), "{o}");
}
