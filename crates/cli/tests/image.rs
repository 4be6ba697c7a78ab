//! `berth image …` end to end: the real binary, a temporary root, archives
//! built by the testkit and a real local registry.

use std::path::Path;
use std::process::{Command, Output};

use berth_testkit::oci::{self, Entry, TestImage};
use berth_testkit::registry::Registry;

struct Env {
    root: tempfile::TempDir,
    work: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env {
            root: tempfile::tempdir().unwrap(),
            work: tempfile::tempdir().unwrap(),
        }
    }

    fn berth(&self, args: &[&str]) -> Output {
        self.berth_env(args, &[])
    }

    fn berth_env(&self, args: &[&str], env: &[(&str, &Path)]) -> Output {
        let mut c = Command::new(berth_testkit::berth_bin());
        c.arg("--root").arg(self.root.path()).args(args);
        // Never pick up the developer's own Docker credentials.
        c.env("DOCKER_CONFIG", self.work.path().join("no-docker-config"));
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.berth(args);
        assert!(
            out.status.success(),
            "berth {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn path(&self, name: &str) -> String {
        self.work.path().join(name).display().to_string()
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn load_ls_inspect_tag_save_rm_prune() {
    let env = Env::new();
    oci::busybox_archive(Path::new(&env.path("bb.tar")), "busybox:1.36").unwrap();
    let out = env.ok(&["image", "load", "-i", &env.path("bb.tar")]);
    assert_eq!(out, "Loaded image: busybox:1.36\n");
    env.ok(&["image", "tag", "busybox:1.36", "localhost:5000/tools/bb"]);
    let ls = env.ok(&["image", "ls"]);
    let lines: Vec<&str> = ls.lines().collect();
    assert!(
        lines[0].starts_with("REPOSITORY")
            && lines[0].contains("IMAGE ID")
            && lines[0].ends_with("SIZE"),
        "{ls}"
    );
    assert!(
        ls.contains("busybox ") && ls.contains("1.36") && ls.contains("localhost:5000/tools/bb"),
        "{ls}"
    );
    let json = env.ok(&["image", "ls", "--format", "json"]);
    let rows: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    let id = rows[0]["ID"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 12);
    let q = env.ok(&["image", "ls", "-q", "busybox"]);
    assert_eq!(q, format!("{id}\n"));
    let t = env.ok(&[
        "image",
        "ls",
        "--format",
        "{{.Repository}}:{{.Tag}}",
        "busybox:1.36",
    ]);
    assert_eq!(t, "busybox:1.36\n");
    let cmd = env.ok(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config.Cmd}} {{.Architecture}}",
        "busybox:1.36",
    ]);
    assert_eq!(cmd, "[\"sh\"] amd64\n");
    let full: serde_json::Value =
        serde_json::from_str(&env.ok(&["image", "inspect", &id])).unwrap();
    assert_eq!(full[0]["RepoTags"].as_array().unwrap().len(), 2);

    // save → rm → load gives the same id.
    env.ok(&[
        "image",
        "save",
        "-o",
        &env.path("saved.tar"),
        "busybox:1.36",
    ]);
    let rm = env.ok(&["image", "rm", "-f", &id]);
    assert!(
        rm.contains("Untagged: busybox:1.36") && rm.contains("Deleted: sha256:"),
        "{rm}"
    );
    assert_eq!(env.ok(&["image", "ls", "-q"]), "");
    env.ok(&["image", "load", "-i", &env.path("saved.tar")]);
    assert_eq!(env.ok(&["image", "ls", "-q"]), format!("{id}\n"));

    // Errors: exit code 1 and Docker's wording.
    let o = env.berth(&["image", "inspect", "nothing"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("No such image: nothing"));
    let o = env.berth(&["image", "rm", "nothing"]);
    assert_eq!(o.status.code(), Some(1));
    let o = env.berth(&["image", "pull", "--platform", "linux/", "x"]);
    assert!(
        stderr(&o).contains("--platform") && stderr(&o).contains("os/arch"),
        "{}",
        stderr(&o)
    );

    // prune -a -f removes everything and reports the space.
    let p = env.ok(&["image", "prune", "-a", "-f"]);
    assert!(
        p.starts_with("Deleted Images:\nuntagged: busybox:1.36\ndeleted: sha256:"),
        "{p}"
    );
    assert!(
        p.contains("Total reclaimed space: ") && !p.contains("space: 0B"),
        "{p}"
    );
}

#[test]
fn import_with_change_and_stdin() {
    let env = Env::new();
    std::fs::write(
        env.path("rootfs.tar"),
        berth_testkit::busybox::rootfs_tar().unwrap(),
    )
    .unwrap();
    let id = env.ok(&[
        "image",
        "import",
        "-c",
        "CMD [\"sh\"]",
        "-c",
        "ENV A=b",
        &env.path("rootfs.tar"),
        "imp:1",
    ]);
    assert!(id.starts_with("sha256:") && id.trim().len() == 71, "{id}");
    let cfg = env.ok(&["image", "inspect", "-f", "{{json .Config}}", "imp:1"]);
    let v: serde_json::Value = serde_json::from_str(&cfg).unwrap();
    assert_eq!(v["Cmd"], serde_json::json!(["sh"]));
    assert_eq!(v["Env"], serde_json::json!(["A=b"]));
    let mut c = Command::new(berth_testkit::berth_bin());
    c.arg("--root")
        .arg(env.root.path())
        .args(["image", "import", "-", "imp:2"]);
    c.stdin(std::fs::File::open(env.path("rootfs.tar")).unwrap());
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let o = env.berth(&["image", "import", "-c", "RUN x", &env.path("rootfs.tar")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("invalid --change \"RUN x\""),
        "{}",
        stderr(&o)
    );
}

fn push_busybox(reg: &Registry, work: &Path) {
    let path = work.join("push.tar");
    let bb = TestImage::busybox().unwrap();
    let mut arm = bb.clone();
    arm.architecture = "arm64".into();
    arm.config["Labels"] = serde_json::json!({"arch": "arm64"});
    oci::write_archive(
        &path,
        vec![
            ("bb".into(), Entry::Image(bb.clone())),
            ("mp".into(), Entry::Index(vec![bb, arm])),
        ],
    )
    .unwrap();
    reg.push_oci_archive(&path, "bb", "test/busybox:1", false)
        .unwrap();
    reg.push_oci_archive(&path, "mp", "test/mp:1", true)
        .unwrap();
}

#[test]
fn pull_prints_like_docker() {
    let env = Env::new();
    let reg = Registry::start().unwrap();
    push_busybox(&reg, env.work.path());
    let r = format!("{}/test/busybox:1", reg.host());
    let out = env.ok(&["image", "pull", &r]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "1: Pulling from 127.0.0.1:".to_owned() + &reg.port.to_string() + "/test/busybox"
    );
    assert!(
        lines[1].ends_with(": Pulling fs layer") && lines[2].ends_with(": Pull complete"),
        "{out}"
    );
    assert!(lines[3].starts_with("Digest: sha256:"), "{out}");
    assert!(
        lines[4].starts_with("Status: Downloaded newer image for "),
        "{out}"
    );
    assert_eq!(*lines.last().unwrap(), r);
    let again = env.ok(&["image", "pull", &r]);
    assert!(
        again.contains("Already exists") && again.contains("Status: Image is up to date"),
        "{again}"
    );
    assert_eq!(env.ok(&["image", "pull", "-q", &r]), format!("{r}\n"));
    let mp = format!("{}/test/mp:1", reg.host());
    env.ok(&["image", "pull", "-q", "--platform", "linux/arm64", &mp]);
    assert_eq!(
        env.ok(&["image", "inspect", "-f", "{{.Architecture}}", &mp]),
        "arm64\n"
    );
    let o = env.berth(&[
        "image",
        "pull",
        &format!("{}/test/busybox:nope", reg.host()),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("manifest for") && stderr(&o).contains("not found"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn pull_with_basic_auth_from_docker_config() {
    let env = Env::new();
    let hta = Command::new("htpasswd")
        .args(["-Bbn", "alice", "s3cret"])
        .output()
        .unwrap();
    assert!(hta.status.success(), "htpasswd (apache2-utils) is needed");
    let htfile = env.work.path().join("htpasswd");
    std::fs::write(&htfile, &hta.stdout).unwrap();
    let reg = Registry::start_with(&format!(
        "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
        htfile.display()
    ))
    .unwrap();
    // Push with credentials, then pull through berth with DOCKER_CONFIG.
    let path = env.work.path().join("push.tar");
    oci::busybox_archive(&path, "bb").unwrap();
    let st = Command::new("skopeo")
        .args([
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            "--dest-creds",
            "alice:s3cret",
        ])
        .arg(format!("oci-archive:{}:bb", path.display()))
        .arg(format!("docker://{}/private/bb:1", reg.host()))
        .status()
        .unwrap();
    assert!(st.success());
    let r = format!("{}/private/bb:1", reg.host());
    let cfg_dir = env.work.path().join("dockercfg");
    std::fs::create_dir(&cfg_dir).unwrap();
    let write_cfg = |user: &str, pass: &str| {
        let auth = base64_encode(&format!("{user}:{pass}"));
        std::fs::write(
            cfg_dir.join("config.json"),
            format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, reg.host()),
        )
        .unwrap();
    };
    let o = env.berth(&["image", "pull", "-q", &r]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("authentication refused"),
        "{}",
        stderr(&o)
    );
    write_cfg("alice", "wrong");
    let o = env.berth_env(&["image", "pull", "-q", &r], &[("DOCKER_CONFIG", &cfg_dir)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains(&reg.host()), "{}", stderr(&o));
    write_cfg("alice", "s3cret");
    let o = env.berth_env(&["image", "pull", "-q", &r], &[("DOCKER_CONFIG", &cfg_dir)]);
    assert!(o.status.success(), "{}", stderr(&o));
}

fn base64_encode(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
