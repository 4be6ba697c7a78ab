//! `berth config` as a user runs it: flags, exit codes, stdin, output files,
//! warnings.

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn berth(dir: &Path, args: &[&str]) -> Output {
    berth_stdin(dir, args, None)
}

fn berth_stdin(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("HOME", "/home/tester")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("cfg").tempdir().unwrap();
    for (name, text) in files {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

const APP: &str = "name: app\nservices:\n  web:\n    image: nginx\n    depends_on: [db]\n    volumes: [data:/data]\n    networks: [front, back]\n  db:\n    image: postgres\n    networks: [back]\n  tool:\n    build: ./tool\n    profiles: [tools]\nnetworks:\n  front: {}\n  back: {}\nvolumes:\n  data: {}\n";

#[test]
fn prints_yaml_by_default_and_json_on_request() {
    let d = project(&[("compose.yaml", APP)]);
    let o = berth(d.path(), &["config"]);
    assert!(o.status.success(), "{}", err(&o));
    let y = out(&o);
    assert!(
        y.starts_with("name: app\nservices:\n  db:\n    image: postgres\n"),
        "{y}"
    );
    let o = berth(d.path(), &["config", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out(&o)).unwrap();
    assert_eq!(
        v["services"]["web"]["depends_on"]["db"]["condition"],
        "service_started"
    );
    assert_eq!(v["volumes"]["data"]["name"], "app_data");
    let o = berth(d.path(), &["config", "--format", "toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains("unsupported format \"toml\""),
        "{}",
        err(&o)
    );
}

#[test]
fn list_flags() {
    let d = project(&[("compose.yaml", APP)]);
    assert_eq!(
        out(&berth(d.path(), &["config", "--services"])),
        "db\nweb\n"
    );
    assert_eq!(
        out(&berth(
            d.path(),
            &["--profile", "tools", "config", "--services"]
        )),
        "db\ntool\nweb\n"
    );
    assert_eq!(out(&berth(d.path(), &["config", "--volumes"])), "data\n");
    assert_eq!(
        out(&berth(d.path(), &["config", "--networks"])),
        "back\nfront\n"
    );
    assert_eq!(out(&berth(d.path(), &["config", "--profiles"])), "tools\n");
    assert_eq!(
        out(&berth(
            d.path(),
            &["--profile", "tools", "config", "--images"]
        )),
        "nginx\npostgres\napp-tool\n"
    );
}

#[test]
fn quiet_validates_and_errors_name_file_line_column() {
    let d = project(&[("compose.yaml", APP)]);
    let o = berth(d.path(), &["config", "-q"]);
    assert!(o.status.success());
    assert_eq!(out(&o), "");
    let bad = project(&[(
        "compose.yaml",
        "services:\n  web:\n    image: x\n    restrat: always\n",
    )]);
    let o = berth(bad.path(), &["config", "-q"]);
    assert_eq!(o.status.code(), Some(1));
    let e = err(&o);
    let file = bad.path().join("compose.yaml");
    assert_eq!(
        e.trim_end(),
        format!(
            "Error: {}:4:5: services.web: unknown attribute `restrat` (did you mean `restart`?)",
            file.display()
        )
    );
}

#[test]
fn hash_is_stable_across_key_order_and_runs() {
    let a = project(&[(
        "compose.yaml",
        "services:\n  w:\n    image: x\n    environment: {A: '1', B: '2'}\n    ports: ['80:80']\n",
    )]);
    let b = project(&[(
        "compose.yaml",
        "services:\n  w:\n    ports: ['80:80']\n    environment: [B=2, A=1]\n    image: x\n",
    )]);
    let ha = out(&berth(a.path(), &["-p", "p", "config", "--hash", "w"]));
    let hb = out(&berth(b.path(), &["-p", "p", "config", "--hash", "*"]));
    assert!(ha.starts_with("w ") && ha.len() == 2 + 64 + 1, "{ha}");
    assert_eq!(ha, hb);
    assert_eq!(
        ha,
        out(&berth(a.path(), &["-p", "p", "config", "--hash", "w"]))
    );
    let o = berth(a.path(), &["config", "--hash", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("no such service: nope"));
}

#[test]
fn stdin_output_file_and_service_filter() {
    let d = project(&[]);
    let o = berth_stdin(
        d.path(),
        &["-f", "-", "-p", "piped", "config", "--services"],
        Some(APP),
    );
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(out(&o), "db\nweb\n");
    let d = project(&[("compose.yaml", APP)]);
    let o = berth(d.path(), &["config", "-o", "out.yaml", "db"]);
    assert!(o.status.success(), "{}", err(&o));
    let written = std::fs::read_to_string(d.path().join("out.yaml")).unwrap();
    assert!(
        written.contains("  db:\n") && !written.contains("  web:\n"),
        "{written}"
    );
}

#[test]
fn global_flags_and_warnings() {
    let d = project(&[
        (
            "sub/compose.yaml",
            "services:\n  a:\n    image: ${IMG}:${TAG:-latest}\n    environment: [\"X=${MISSING}\"]\n",
        ),
        ("vars.env", "IMG=custom\n"),
    ]);
    let o = berth(
        d.path(),
        &[
            "--project-directory",
            "sub",
            "--env-file",
            "vars.env",
            "-p",
            "named",
            "config",
        ],
    );
    assert!(o.status.success(), "{}", err(&o));
    let y = out(&o);
    assert!(y.starts_with("name: named\n"), "{y}");
    assert!(y.contains("image: custom:latest"), "{y}");
    assert!(
        err(&o).contains("The \"MISSING\" variable is not set. Defaulting to a blank string."),
        "{}",
        err(&o)
    );
    let o = berth(
        d.path(),
        &["-f", "sub/compose.yaml", "config", "--no-interpolate"],
    );
    assert!(
        out(&o).contains("image: ${IMG}:${TAG:-latest}"),
        "{}",
        out(&o)
    );
    let o = berth(
        d.path(),
        &["-p", "Not Valid", "-f", "sub/compose.yaml", "config"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains("invalid project name (-p) \"Not Valid\""),
        "{}",
        err(&o)
    );
}

#[test]
fn missing_file_and_no_file() {
    let d = project(&[]);
    let o = berth(d.path(), &["config"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        err(&o).trim_end(),
        "Error: no configuration file provided: not found"
    );
    let o = berth(d.path(), &["-f", "nope.yaml", "config"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err(&o).contains("nope.yaml: No such file or directory"),
        "{}",
        err(&o)
    );
}
