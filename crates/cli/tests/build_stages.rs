//! Multi-stage builds: `COPY --from` a stage and an image, `FROM scratch`,
//! `FROM` an earlier stage, `target`, and ONBUILD triggers.

mod common;

use std::path::Path;

use berth_testkit::require_root;
use common::Env;

const DOCKERFILE: &str = r#"ARG BASE=busybox:latest
FROM ${BASE} AS build
WORKDIR /src
COPY hello.txt .
RUN mkdir -p /out && tr a-z A-Z < hello.txt > /out/HELLO && echo built in build

# An unused stage is not built.
FROM busybox:latest AS unused
RUN echo unused-stage-ran && exit 1

FROM scratch AS tools
COPY --from=busybox:latest /bin/busybox /bin/busybox

FROM build AS test
RUN test -f /out/HELLO && echo tested > /out/TESTED

FROM busybox:latest
COPY --from=build /out/HELLO /HELLO
COPY --from=3 /out/TESTED /TESTED
COPY --from=tools /bin/busybox /copied-busybox
RUN cmp /copied-busybox /bin/busybox && rm /copied-busybox
CMD ["cat", "/HELLO", "/TESTED"]
"#;

fn layers(env: &Env, dir: &Path, image: &str) -> Vec<String> {
    let out = env.ok(
        dir,
        &["image", "inspect", "-f", "{{json .RootFS.Layers}}", image],
    );
    serde_json::from_str(out.trim()).unwrap()
}

#[test]
fn stages_copy_from_each_other_and_from_images() {
    require_root!();
    let mut env = Env::with_network();
    let dir = env.project(
        "stages",
        "services:\n  app:\n    build: .\n  tools:\n    build:\n      context: .\n      target: tools\n  test:\n    build:\n      context: .\n      target: test\n",
    );
    std::fs::write(dir.join("Dockerfile"), DOCKERFILE).unwrap();
    std::fs::write(dir.join("hello.txt"), "hello world\n").unwrap();
    let (_, log) = env.ok_out(&dir, &["--progress", "plain", "build", "app"]);
    assert!(!log.contains("[app unused"), "{log}");
    assert!(log.contains("[app build 1/4] FROM busybox:latest"), "{log}");
    assert!(
        log.contains("[app test 2/2] RUN test -f /out/HELLO"),
        "{log}"
    );
    let out = env.ok(&dir, &["container", "run", "--rm", "stages-app"]);
    assert_eq!(out, "HELLO WORLD\ntested\n");
    // The final image has busybox's layer and its own three COPY and one RUN,
    // nothing of the other stages.
    let busybox = layers(&env, &dir, "busybox:latest");
    let app = layers(&env, &dir, "stages-app");
    assert_eq!(app.len(), busybox.len() + 4, "{app:?}");
    assert_eq!(app[0], busybox[0]);

    // `target` stops at a stage: scratch with only busybox in it.
    env.ok_out(&dir, &["build", "tools"]);
    let tools = layers(&env, &dir, "stages-tools");
    assert_eq!(tools.len(), 1, "{tools:?}");
    let o = env.ok(
        &dir,
        &[
            "container",
            "run",
            "--rm",
            "--entrypoint",
            "/bin/busybox",
            "stages-tools",
            "ls",
            "/bin",
        ],
    );
    assert_eq!(o.split_whitespace().collect::<Vec<_>>(), ["busybox"]);
    // A stage FROM another stage starts from its layers.
    env.ok_out(&dir, &["build", "test"]);
    let test = layers(&env, &dir, "stages-test");
    assert_eq!(
        test.len(),
        busybox.len() + 4,
        "WORKDIR, COPY, RUN, RUN: {test:?}"
    );
    let o = env.ok(
        &dir,
        &[
            "container",
            "run",
            "--rm",
            "stages-test",
            "cat",
            "/out/TESTED",
        ],
    );
    assert_eq!(o.trim(), "tested");
}

#[test]
fn onbuild_triggers_run_in_the_child_and_are_not_inherited() {
    require_root!();
    let mut env = Env::with_network();
    let dir = env.project(
        "onbuild",
        "services:\n  parent:\n    build:\n      context: .\n      dockerfile: parent.Dockerfile\n    image: onbuild-parent:1\n  child:\n    build:\n      context: .\n      dockerfile: child.Dockerfile\n",
    );
    std::fs::write(
        dir.join("parent.Dockerfile"),
        "FROM busybox:latest\nONBUILD COPY marker.txt /marker.txt\nONBUILD RUN echo trigger-ran > /trigger\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("child.Dockerfile"),
        "FROM onbuild-parent:1\nRUN cat /trigger\n",
    )
    .unwrap();
    std::fs::write(dir.join("marker.txt"), "m\n").unwrap();
    env.ok_out(&dir, &["build", "parent"]);
    let parent = env.ok(
        &dir,
        &[
            "image",
            "inspect",
            "-f",
            "{{json .Config.OnBuild}}",
            "onbuild-parent:1",
        ],
    );
    assert!(parent.contains("RUN echo trigger-ran"), "{parent}");
    let (_, log) = env.ok_out(&dir, &["--progress", "plain", "build", "child"]);
    assert!(log.contains("trigger-ran"), "{log}");
    let o = env.ok(
        &dir,
        &[
            "container",
            "run",
            "--rm",
            "onbuild-child",
            "cat",
            "/marker.txt",
            "/trigger",
        ],
    );
    assert_eq!(o, "m\ntrigger-ran\n");
    let child = env.ok(
        &dir,
        &[
            "image",
            "inspect",
            "-f",
            "{{json .Config.OnBuild}}",
            "onbuild-child",
        ],
    );
    assert!(
        !child.contains("trigger"),
        "triggers run once, in the child: {child}"
    );
}
