//! The shared corpus (`BERTH_SHARED_DIR`, default `<repo>/../shared`):
//! every awesome-compose file loads and survives the `config` round trip,
//! and the compose-go fixtures whose outcome their names state behave so.
//! Outside CI a missing corpus skips these tests with a message; in CI
//! (`CI` set) it fails them.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn corpus(sub: &str) -> Option<PathBuf> {
    let dir = shared_dir().join("corpus").join(sub);
    if dir.is_dir() {
        return Some(dir);
    }
    let msg = format!(
        "corpus {} not found: set BERTH_SHARED_DIR to the shared folder",
        dir.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{msg}");
    }
    eprintln!("skipped: {msg}");
    None
}

#[test]
fn every_awesome_compose_file_loads_and_round_trips() {
    let Some(root) = corpus("awesome-compose") else {
        return;
    };
    let mut n = 0;
    for e in std::fs::read_dir(&root).unwrap() {
        let dir = e.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let loaded = load_dir(&dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display()));
        assert!(!loaded.project.services.is_empty(), "{}", dir.display());
        assert_round_trip(&loaded, &dir.display().to_string());
        n += 1;
    }
    assert_eq!(n, 39, "awesome-compose has 39 projects");
}

fn load_file(file: &Path) -> Result<berth_spec::Loaded, berth_spec::SpecError> {
    let mut o = options(file.parent().unwrap(), "");
    o.files = vec![file.to_owned()];
    berth_spec::load(&o)
}

#[test]
fn compose_go_cycles_fail_naming_the_cycle() {
    let Some(root) = corpus("compose-go/loader/testdata") else {
        return;
    };
    for (f, cycle) in [
        (
            "compose-depends-on-cycle.yaml",
            "service1 -> service2 -> service3 -> service1",
        ),
        ("compose-depends-on-self.yaml", "service1 -> service1"),
    ] {
        let e = load_file(&root.join(f)).unwrap_err().to_string();
        assert!(
            e.ends_with(&format!("dependency cycle detected: {cycle}")),
            "{f}: {e}"
        );
    }
    let e = load_file(&root.join("compose-include-cycle.yaml"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("include cycle detected: "), "{e}");
}

#[test]
fn compose_go_extends_resolve() {
    let Some(root) = corpus("compose-go/loader/testdata") else {
        return;
    };
    let l = load_file(&root.join("compose-test-extends.yaml")).unwrap();
    let s = &l.project.services["importer"];
    assert_eq!(s.image.as_deref(), Some("nginx"));
    assert_eq!(s.container_name.as_deref(), Some("imported"));
    // env_file is relative to the extended file, not the extending one.
    assert_eq!(s.environment.0["SOURCE"].as_deref(), Some("extends"));
    let l = load_file(&root.join("compose-test-extends-with-context-url.yaml")).unwrap();
    let b = l.project.services["importer-with-https-url"]
        .build
        .clone()
        .unwrap();
    assert_eq!(
        b.context.as_deref(),
        Some("https://github.com/docker/compose.git")
    );
    let l = load_file(&root.join("extends/reset.yaml")).unwrap();
    assert_eq!(l.project.services["base"].command, None);
    assert_eq!(
        l.project.services["init"].command.as_ref().unwrap(),
        &["sleep", "infinity"]
    );
    let l = load_file(&root.join("extends/withdir/compose.yaml")).unwrap();
    assert_eq!(
        l.project.services["test"].image.as_deref(),
        Some("hello-world")
    );
    let l = load_file(&root.join("extends/nested.yaml")).unwrap();
    let ctx = l.project.services["with-build"]
        .build
        .clone()
        .unwrap()
        .context
        .unwrap();
    assert_eq!(Path::new(&ctx), root.join("extends"));
    let l = load_file(&root.join("extends/depends_on.yaml")).unwrap();
    for s in [
        "with_depends_on",
        "with_volumes_from",
        "with_ipc",
        "with_network_mode",
    ] {
        assert!(l.project.services[s].depends_on.contains_key("zot"), "{s}");
    }
    assert!(l.project.services["with_ipc"].depends_on["zot"].restart);
    assert!(!l.project.services["with_volumes_from"].depends_on["zot"].restart);
}

#[test]
fn compose_go_include_resolve() {
    let Some(root) = corpus("compose-go/loader/testdata") else {
        return;
    };
    let l = load_file(&root.join("compose-include.yaml")).unwrap();
    assert_eq!(
        l.project.services.keys().collect::<Vec<_>>(),
        ["imported", "bar"]
    );
    let l = load_file(&root.join("include/compose.yaml")).unwrap();
    let inc = &l.project.services["included"];
    assert_eq!(
        Path::new(inc.build.as_ref().unwrap().context.as_deref().unwrap()),
        root.join("include")
    );
    let l = load_file(&root.join("include/project-directory.yaml")).unwrap();
    let ctx = l.project.services["service"]
        .build
        .clone()
        .unwrap()
        .context
        .unwrap();
    assert_eq!(Path::new(&ctx), root.join("subdir"));
    let l = load_file(&root.join("combined/compose.yaml")).unwrap();
    assert!(l.project.services.contains_key("service"));
}

#[test]
fn compose_go_dotenv_fixtures() {
    let Some(root) = corpus("compose-go/dotenv/fixtures") else {
        return;
    };
    let read = |f: &str| std::fs::read_to_string(root.join(f)).unwrap();
    let os = |k: &str| (k == "VAR_TO_BE_LOADED_FROM_OS_ENV").then(|| "from-os".to_owned());
    let parse = |f: &str| berth_spec::dotenv::parse(&read(f), &os);
    let p = parse("plain.env").unwrap();
    assert_eq!(p["OPTION_H"], "my string");
    assert_eq!(p["456"], "ABC");
    let bom = parse("utf8-bom.env").unwrap();
    assert_eq!(bom["OPTION_A"], "1");
    let q = parse("quoted.env").unwrap();
    assert_eq!(
        q["OPTION_J"],
        "first line\nsecond line\nthird line\nand so on"
    );
    assert_eq!(q["OPTION_K"], "Let's go!");
    let s = parse("substitutions.env").unwrap();
    assert_eq!(
        (
            s["OPTION_C"].as_str(),
            s["OPTION_D"].as_str(),
            s["OPTION_E"].as_str()
        ),
        ("1", "1_1", "")
    );
    assert_eq!(
        parse("inherited-single-var.env").unwrap()["VAR_TO_BE_LOADED_FROM_OS_ENV"],
        "from-os"
    );
    assert!(parse("inherited-not-found.env").unwrap().is_empty());
    assert_eq!(parse("exported.env").unwrap()["OPTION_B"], "\\n");
    assert_eq!(
        parse("equals.env").unwrap()["OPTION_A"],
        "postgres://localhost:5432/database?sslmode=disable"
    );
    assert_eq!(parse("special.env").unwrap()["VAR-WITH-DASHES"], "dashes");
    assert_eq!(parse("custom.format").unwrap()["ZOT"], "QIX");
    let e = parse("invalid1.env").unwrap_err();
    assert!(e.starts_with("line 7:"), "{e}");
}
