//! Shared helpers for the loader's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use berth_spec::{LoadOptions, Loaded, SpecError};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The environment every fixture is loaded with (the CLI would pass the
/// process environment).
pub fn test_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("HOME", "/home/tester"),
        ("FROM_PROCESS", "proc"),
        ("DB_PASS", "secret"),
    ]
}

/// Options for a fixture directory; `args` is the content of its `args`
/// file (`-f`, `--profile`, `-p`).
pub fn options(dir: &Path, args: &str) -> LoadOptions {
    let mut o = LoadOptions {
        working_dir: dir.to_owned(),
        environment: test_env()
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect(),
        ..Default::default()
    };
    let mut it = args.split_whitespace();
    while let Some(a) = it.next() {
        let v = it.next().unwrap_or_default().to_owned();
        match a {
            "-f" => o.files.push(v.into()),
            "--profile" => o.profiles.push(v),
            "-p" => o.project_name = Some(v),
            other => panic!("unknown fixture arg {other}"),
        }
    }
    o
}

pub fn args_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("args")).unwrap_or_default()
}

pub fn load_dir(dir: &Path) -> Result<Loaded, SpecError> {
    berth_spec::load(&options(dir, &args_of(dir)))
}

/// Loads `text` as the single Compose file `compose.yaml` of a new temporary
/// directory.
pub fn load_str(text: &str) -> Result<Loaded, SpecError> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("compose.yaml"), text).unwrap();
    berth_spec::load(&options(dir.path(), ""))
}

/// Checks the `config` round trip: the YAML output loads again to the
/// same YAML and JSON.
pub fn assert_round_trip(loaded: &Loaded, what: &str) {
    let yaml = berth_spec::to_yaml(&loaded.project);
    let json = berth_spec::to_json(&loaded.project);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("compose.yaml");
    std::fs::write(&file, &yaml).unwrap();
    let mut o = options(dir.path(), "");
    o.project_name = Some(loaded.project.name.clone());
    o.profiles = vec!["*".into()];
    let again = berth_spec::load(&o)
        .unwrap_or_else(|e| panic!("{what}: output does not load: {e}\n{yaml}"));
    assert_eq!(
        berth_spec::to_yaml(&again.project),
        yaml,
        "{what}: YAML round trip"
    );
    assert_eq!(
        berth_spec::to_json(&again.project),
        json,
        "{what}: JSON round trip"
    );
}

/// `BERTH_SHARED_DIR`, default `<repo>/../shared`.
pub fn shared_dir() -> PathBuf {
    let d: PathBuf = match std::env::var_os("BERTH_SHARED_DIR") {
        Some(d) => d.into(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    };
    // Canonical, so the paths the loader resolves compare equal to it.
    d.canonicalize().unwrap_or(d)
}
