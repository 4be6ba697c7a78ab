//! What a container mounts: named volumes (filled from the image when empty,
//! persistent), anonymous volumes (image `VOLUME`s and `-v /path`), binds
//! (read-only or not, missing host directories created), tmpfs (size, mode)
//! and Compose secrets and configs. Each test checks it left nothing behind.

mod common;
mod runtime_common;

use berth_testkit::require_root;
use common::{Env, wait_for};
use runtime_common::{load_image, run_d, run_rm as run, status};

#[test]
fn named_volumes_are_filled_from_the_image_and_persist() {
    require_root!();
    let env = Env::new();
    let before = env.snapshot();
    let out = run(
        &env,
        &[
            "-v",
            "etcvol:/etc",
            "busybox:latest",
            "sh",
            "-c",
            "grep -c app /etc/passwd; stat -c %a /etc; echo mine > /etc/added",
        ],
    );
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["1", "755"],
        "an empty volume takes the image's content and mode"
    );
    let out = run(
        &env,
        &["-v", "etcvol:/etc", "busybox:latest", "cat", "/etc/added"],
    );
    assert_eq!(out.trim(), "mine", "data persists across containers");
    // `nocopy`: an empty volume stays empty.
    let out = run(
        &env,
        &[
            "-v",
            "bare:/home:nocopy",
            "busybox:latest",
            "ls",
            "-A",
            "/home",
        ],
    );
    assert_eq!(out.trim(), "", "{out}");
    let ls = env.ok(env.root.path(), &["volume", "ls"]);
    assert!(ls.contains("etcvol") && ls.contains("bare"), "{ls}");
    env.ok(env.root.path(), &["volume", "rm", "etcvol", "bare"]);
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}

#[test]
fn anonymous_volumes_belong_to_their_container() {
    require_root!();
    let env = Env::new();
    let before = env.snapshot();
    let root = env.root.path();
    run_d(
        &env,
        &[
            "--name",
            "anon",
            "-v",
            "/data",
            "busybox:latest",
            "sh",
            "-c",
            "echo kept > /data/f; grep ' /data ' /proc/self/mounts | cut -d' ' -f3; sleep 1000",
        ],
    );
    wait_for("the container's output", || {
        !env.ok(root, &["container", "logs", "anon"]).is_empty()
    });
    let logs = env.ok(root, &["container", "logs", "anon"]);
    assert_eq!(
        logs.trim(),
        "ext4",
        "a directory of the host, not the overlay"
    );
    let volumes = || env.volume_names();
    let vols = volumes();
    assert_eq!(vols.len(), 1, "{vols:?}");
    assert_eq!(vols[0].len(), 64, "named by a random id, as Docker does");
    let data = root.join("volumes").join(&vols[0]).join("_data/f");
    assert_eq!(std::fs::read_to_string(&data).unwrap(), "kept\n");
    // `rm -v` removes it with the container; `run --rm` too.
    env.ok(root, &["container", "rm", "-f", "-v", "anon"]);
    assert!(volumes().is_empty());
    run(&env, &["-v", "/scratch", "busybox:latest", "true"]);
    assert!(
        volumes().is_empty(),
        "run --rm removes its anonymous volumes"
    );
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}

#[test]
fn binds_are_read_only_or_not_and_created_when_missing() {
    require_root!();
    let env = Env::new();
    let before = env.snapshot();
    let host = env.root.path().join("host-dir");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("in"), "from the host\n").unwrap();
    let rw = format!("{}:/rw", host.display());
    let ro = format!("{}:/ro:ro", host.display());
    let out = run(
        &env,
        &[
            "-v",
            &rw,
            "-v",
            &ro,
            "busybox:latest",
            "sh",
            "-c",
            "cat /rw/in; echo out > /rw/out; (echo x > /ro/x) 2>/dev/null && echo ro-writable || echo ro-refused",
        ],
    );
    assert_eq!(out, "from the host\nro-refused\n");
    assert_eq!(
        std::fs::read_to_string(host.join("out")).unwrap(),
        "out\n",
        "written through to the host"
    );
    assert!(!host.join("x").exists());
    // A single file can be bound too.
    let file = format!("{}:/etc/motd:ro", host.join("in").display());
    assert_eq!(
        run(&env, &["-v", &file, "busybox:latest", "cat", "/etc/motd"]),
        "from the host\n"
    );
    // Missing host directories are created, as Compose's short syntax does.
    let missing = env.root.path().join("not/yet/there");
    let spec = format!("{}:/data", missing.display());
    run(
        &env,
        &["-v", &spec, "busybox:latest", "touch", "/data/made"],
    );
    assert!(missing.join("made").exists());
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}

#[test]
fn tmpfs_mounts_have_their_size_and_mode() {
    require_root!();
    let env = Env::new();
    let before = env.snapshot();
    let out = run(
        &env,
        &[
            "--tmpfs",
            "/fast:size=2m,mode=1770",
            "--tmpfs",
            "/plain",
            "busybox:latest",
            "sh",
            "-c",
            "stat -c %a /fast /plain; df -k /fast | tail -1 | tr -s ' ' | cut -d' ' -f2; \
             (head -c 3000000 /dev/zero > /fast/big) 2>/dev/null && echo fits || echo full",
        ],
    );
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["1770", "1777", "2048", "full"],
        "mode, Docker's default mode, size, and the size is a limit"
    );
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}

#[test]
fn secrets_and_configs_are_read_only_files() {
    require_root!();
    let mut env = Env::with_network();
    let before = env.snapshot();
    let dir = env.project(
        &berth_testkit::unique_name("sec"),
        r#"
services:
  app:
    image: busybox:latest
    command: ["sh", "-c", "cat /run/secrets/token /run/secrets/renamed /app.conf /other; (echo x > /run/secrets/token) 2>/dev/null && echo writable || echo read-only; stat -c %a /run/secrets/token"]
    secrets:
      - token
      - source: token
        target: renamed
    configs:
      - source: appconf
        target: /app.conf
      - other
secrets:
  token:
    file: ./token.txt
configs:
  appconf:
    file: ./app.conf
  other:
    file: ./other.conf
"#,
    );
    std::fs::write(dir.join("token.txt"), "s3cret\n").unwrap();
    std::fs::write(dir.join("app.conf"), "conf=1\n").unwrap();
    std::fs::write(dir.join("other.conf"), "other=2\n").unwrap();
    // `other` has no target: Compose puts a config at /<name>.
    env.ok(&dir, &["up", "-d"]);
    wait_for("the service's output", || {
        env.ok(&dir, &["logs", "--no-log-prefix", "app"])
            .contains("read")
    });
    let logs = env.ok(&dir, &["logs", "--no-log-prefix", "app"]);
    assert_eq!(
        logs.lines().collect::<Vec<_>>(),
        ["s3cret", "s3cret", "conf=1", "other=2", "read-only", "644"],
        "{logs}"
    );
    env.ok(&dir, &["down", "-v", "-t", "1"]);
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}

#[test]
fn image_volumes_get_anonymous_volumes_filled_from_the_image() {
    require_root!();
    let env = Env::new();
    let before = env.snapshot();
    let root = env.root.path();
    load_image(&env, "withvol:1", |c| {
        c["Volumes"] = serde_json::json!({"/etc": {}});
    });
    run_d(
        &env,
        &[
            "--name",
            "iv",
            "withvol:1",
            "sh",
            "-c",
            "echo added > /etc/added; sleep 1000",
        ],
    );
    let volumes = || env.volume_names();
    let vols = volumes();
    assert_eq!(vols.len(), 1, "one anonymous volume: {vols:?}");
    assert_eq!(vols[0].len(), 64);
    let data = root.join("volumes").join(&vols[0]).join("_data");
    wait_for("the container's write", || data.join("added").exists());
    let passwd = std::fs::read_to_string(data.join("passwd")).unwrap();
    assert!(
        passwd.contains("app:"),
        "the image's /etc was copied in: {passwd}"
    );
    env.ok(root, &["container", "rm", "-f", "-v", "iv"]);
    assert!(volumes().is_empty(), "rm -v removes it");
    // A mount at the same place replaces the image's volume.
    run(&env, &["-v", "mine:/etc", "withvol:1", "true"]);
    assert_eq!(volumes(), ["mine"]);
    env.ok(root, &["volume", "rm", "mine"]);
    env.ok(root, &["image", "rm", "withvol:1"]);
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}

#[test]
fn compose_mounts_relative_binds_volumes_and_tmpfs() {
    require_root!();
    let mut env = Env::with_network();
    let before = env.snapshot();
    let project = berth_testkit::unique_name("mnt");
    let dir = env.project(
        &project,
        r#"
services:
  app:
    image: busybox:latest
    command:
      - sh
      - -c
      - >-
        cat /cfg/in; echo out > /cfg/out; touch /made/x;
        (echo x > /ro/x) 2>/dev/null && echo ro-writable || echo ro-refused;
        grep -c app /etc/passwd; echo kept > /etc/kept; ls -A /anon | wc -l;
        stat -c %a /scratch; df -k /fast | tail -1 | tr -s ' ' | cut -d' ' -f2
    volumes:
      - ./cfg:/cfg
      - ./cfg:/ro:ro
      - ./not/yet:/made
      - data:/etc
      - /anon
      - type: tmpfs
        target: /fast
        tmpfs:
          size: 2097152
    tmpfs: ["/scratch:mode=1770"]
volumes:
  data:
"#,
    );
    std::fs::create_dir(dir.join("cfg")).unwrap();
    std::fs::write(dir.join("cfg/in"), "from the project\n").unwrap();
    let logs = |env: &Env| env.ok(&dir, &["logs", "--no-log-prefix", "app"]);
    let name = format!("{project}-app-1");
    env.ok(&dir, &["up", "-d"]);
    wait_for("the service to finish", || status(&env, &name) == "exited");
    assert_eq!(
        logs(&env).lines().collect::<Vec<_>>(),
        ["from the project", "ro-refused", "1", "0", "1770", "2048"],
        "relative binds, ro, a named volume filled from the image, an empty anonymous volume, tmpfs mode and size"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("cfg/out")).unwrap(),
        "out\n"
    );
    assert!(
        dir.join("not/yet/x").exists(),
        "a missing relative host directory is created"
    );
    let vols = env.ok(env.root.path(), &["volume", "ls", "-q"]);
    let named = format!("{project}_data");
    assert!(vols.lines().any(|v| v == named), "{vols}");
    assert!(
        vols.lines().any(|v| v.len() == 64),
        "the anonymous one: {vols}"
    );
    let kept = env
        .root
        .path()
        .join("volumes")
        .join(&named)
        .join("_data/kept");
    assert_eq!(std::fs::read_to_string(kept).unwrap(), "kept\n");
    // `down -v` removes both volumes with the container.
    env.ok(&dir, &["down", "-v", "-t", "1"]);
    assert_eq!(env.leftovers(&before), Vec::<String>::new());
}
