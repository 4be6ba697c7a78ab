//! The loader's public behaviour beyond single fixtures: file discovery,
//! project names, environment precedence, warnings, profiles, the config
//! hash.

mod common;

use std::path::Path;

use berth_spec::{LoadOptions, load, service_hash};
use common::*;

fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[test]
fn finds_files_in_parent_directories_and_loads_the_override() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("My Project");
    write(&root, "compose.yml", "services:\n  a:\n    image: a\n");
    write(
        &root,
        "docker-compose.yaml",
        "services:\n  ignored:\n    image: x\n",
    );
    write(
        &root,
        "compose.override.yaml",
        "services:\n  a:\n    image: b\n",
    );
    let sub = root.join("deep/er");
    std::fs::create_dir_all(&sub).unwrap();
    let l = load(&options(&sub, "")).unwrap();
    assert_eq!(l.project.name, "myproject");
    assert_eq!(l.project.working_dir, root);
    assert_eq!(l.project.services["a"].image.as_deref(), Some("b"));
    assert!(!l.project.services.contains_key("ignored"));
    assert_eq!(
        l.project.compose_files,
        vec![root.join("compose.yml"), root.join("compose.override.yaml")]
    );
    let w: Vec<String> = l.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[0].starts_with("Found multiple config files with supported names: "),
        "{w:?}"
    );
    assert_eq!(
        w[1],
        format!("Using {}", root.join("compose.yml").display())
    );
}

#[test]
fn no_file_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let e = load(&options(tmp.path(), "")).unwrap_err();
    assert_eq!(e.to_string(), "no configuration file provided: not found");
}

#[test]
fn compose_file_variable_lists_files() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "one.yaml", "services:\n  a:\n    image: a\n");
    write(tmp.path(), "two.yaml", "services:\n  b:\n    image: b\n");
    let mut o = options(tmp.path(), "");
    o.environment
        .insert("COMPOSE_FILE".into(), "one.yaml:two.yaml".into());
    let l = load(&o).unwrap();
    assert_eq!(l.project.services.keys().collect::<Vec<_>>(), ["a", "b"]);
}

#[test]
fn stdin_file() {
    let tmp = tempfile::tempdir().unwrap();
    let mut o = LoadOptions::for_files(tmp.path(), &["-"]);
    o.stdin = Some("services:\n  s:\n    image: from-stdin\n".into());
    o.project_name = Some("stdin".into());
    let l = load(&o).unwrap();
    assert_eq!(l.project.services["s"].image.as_deref(), Some("from-stdin"));
}

#[test]
fn project_name_precedence_and_validation() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "compose.yaml",
        "name: From_File\nservices:\n  a:\n    image: a\n",
    );
    let mut o = options(tmp.path(), "");
    assert_eq!(load(&o).unwrap().project.name, "from_file");
    o.environment
        .insert("COMPOSE_PROJECT_NAME".into(), "from-env".into());
    assert_eq!(load(&o).unwrap().project.name, "from-env");
    o.project_name = Some("from-flag".into());
    assert_eq!(load(&o).unwrap().project.name, "from-flag");
    o.project_name = Some("Bad Name".into());
    let e = load(&o).unwrap_err().to_string();
    assert!(e.contains("invalid project name (-p) \"Bad Name\""), "{e}");
    // The project name is available to interpolation.
    write(
        tmp.path(),
        "compose.yaml",
        "services:\n  a:\n    image: ${COMPOSE_PROJECT_NAME}-img\n",
    );
    o.project_name = Some("proj".into());
    assert_eq!(
        load(&o).unwrap().project.services["a"].image.as_deref(),
        Some("proj-img")
    );
}

#[test]
fn process_environment_wins_over_dotenv_and_env_file_replaces_it() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "compose.yaml",
        "services:\n  a:\n    image: ${IMG}:${TAG}\n",
    );
    write(tmp.path(), ".env", "IMG=dotenv\nTAG=1\n");
    write(tmp.path(), "alt.env", "IMG=alt\nTAG=2\n");
    let mut o = options(tmp.path(), "");
    assert_eq!(
        load(&o).unwrap().project.services["a"].image.as_deref(),
        Some("dotenv:1")
    );
    o.environment.insert("TAG".into(), "os".into());
    assert_eq!(
        load(&o).unwrap().project.services["a"].image.as_deref(),
        Some("dotenv:os")
    );
    o.env_files = vec!["alt.env".into()];
    assert_eq!(
        load(&o).unwrap().project.services["a"].image.as_deref(),
        Some("alt:os")
    );
    o.env_files = vec!["missing.env".into()];
    let e = load(&o).unwrap_err().to_string();
    assert!(
        e.starts_with("couldn't find env file: ") && e.ends_with("missing.env"),
        "{e}"
    );
}

#[test]
fn warnings_for_unset_variables_and_version() {
    let l = load_str(
        "version: '3.8'\nservices:\n  a:\n    image: ${NOPE}x\n    environment: ['A=${NOPE}']\n",
    )
    .unwrap();
    let w: Vec<String> = l.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w[0].ends_with("compose.yaml: the attribute `version` is obsolete, it will be ignored, please remove it to avoid potential confusion"), "{w:?}");
    assert!(
        w[1].contains(
            "compose.yaml:4:12: The \"NOPE\" variable is not set. Defaulting to a blank string."
        ),
        "{w:?}"
    );
}

#[test]
fn no_interpolate_keeps_templates() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "compose.yaml",
        "services:\n  a:\n    image: ${IMG:-x}\n",
    );
    let mut o = options(tmp.path(), "");
    o.no_interpolate = true;
    let l = load(&o).unwrap();
    assert_eq!(l.project.services["a"].image.as_deref(), Some("${IMG:-x}"));
    assert!(l.warnings.is_empty());
}

#[test]
fn profiles_from_flag_env_star_and_named_services() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "compose.yaml",
        "services:\n  base: {image: a}\n  dbg: {image: b, profiles: [debug], depends_on: [tool]}\n  tool: {image: c, profiles: [tools]}\n",
    );
    let names = |o: &LoadOptions| {
        load(o)
            .unwrap()
            .project
            .services
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    let mut o = options(tmp.path(), "");
    assert_eq!(names(&o), ["base"]);
    o.environment
        .insert("COMPOSE_PROFILES".into(), "tools".into());
    assert_eq!(names(&o), ["base", "tool"]);
    o.profiles = vec!["*".into()];
    assert_eq!(names(&o), ["base", "dbg", "tool"]);
    // Naming a service enables it and what it depends on.
    let mut o = options(tmp.path(), "");
    o.services = vec!["dbg".into()];
    assert_eq!(names(&o), ["base", "dbg", "tool"]);
    let l = load(&options(tmp.path(), "")).unwrap();
    assert_eq!(l.project.all_profiles(), ["debug", "tools"]);
    assert_eq!(l.project.disabled_services.len(), 2);
}

#[test]
fn typed_model_is_normalised() {
    let l = load_str(
        "services:\n  web:\n    build: .\n    ports: ['8080:80']\n    volumes: ['./d:/d', 'v:/v']\n    depends_on: [db]\n    environment: [HOME]\n    secrets: [s]\n  db:\n    image: postgres\nvolumes:\n  v: {}\nsecrets:\n  s: {file: ./s.txt}\n",
    )
    .unwrap();
    let p = &l.project;
    let web = &p.services["web"];
    let b = web.build.as_ref().unwrap();
    assert_eq!(b.context.as_deref(), Some(p.working_dir.to_str().unwrap()));
    assert_eq!(b.dockerfile.as_deref(), Some("Dockerfile"));
    assert_eq!(
        (web.ports[0].target, web.ports[0].published.as_deref()),
        (80, Some("8080"))
    );
    assert_eq!(
        web.volumes[0].source.as_deref(),
        Some(p.working_dir.join("d").to_str().unwrap())
    );
    assert_eq!(web.volumes[1].kind, "volume");
    assert_eq!(web.depends_on["db"].condition, "service_started");
    assert!(web.depends_on["db"].required);
    assert_eq!(web.environment.0["HOME"].as_deref(), Some("/home/tester"));
    assert_eq!(web.secrets[0].target.as_deref(), Some("/run/secrets/s"));
    assert_eq!(web.networks.keys().collect::<Vec<_>>(), ["default"]);
    assert_eq!(
        p.networks["default"].name.as_deref(),
        Some(&*format!("{}_default", p.name))
    );
    assert_eq!(
        p.volumes["v"].name.as_deref(),
        Some(&*format!("{}_v", p.name))
    );
    assert_eq!(
        p.secrets["s"].file.as_deref(),
        Some(p.working_dir.join("s.txt").to_str().unwrap())
    );
}

#[test]
fn config_hash_ignores_key_order_and_non_container_fields() {
    let a = load_str("services:\n  w:\n    image: x\n    environment: {A: '1', B: '2'}\n    ports: ['80']\n    deploy: {replicas: 1}\n").unwrap();
    let b = load_str("services:\n  w:\n    ports: ['80']\n    environment: [B=2, A=1]\n    image: x\n    depends_on: {}\n    pull_policy: always\n    deploy: {replicas: 3}\n    profiles: []\n").unwrap();
    let c = load_str(
        "services:\n  w:\n    image: x\n    environment: {A: '1', B: '3'}\n    ports: ['80']\n",
    )
    .unwrap();
    let h = |l: &berth_spec::Loaded| service_hash(&l.project.services["w"]);
    assert_eq!(h(&a), h(&b));
    assert_ne!(h(&a), h(&c));
    assert_eq!(h(&a).len(), 64);
    assert_eq!(h(&a), h(&load_str("services:\n  w:\n    image: x\n    environment: {A: '1', B: '2'}\n    ports: ['80']\n    deploy: {replicas: 1}\n").unwrap()));
}

#[test]
fn extends_and_include_resolve_relative_paths_against_their_own_files() {
    let l = load_dir(&fixtures().join("ok/extends")).unwrap();
    let base = fixtures().join("ok/extends/base");
    let remote = &l.project.services["remote"];
    assert_eq!(
        remote.build.as_ref().unwrap().context.as_deref(),
        Some(base.join("ctx").to_str().unwrap())
    );
    assert_eq!(
        remote.volumes[0].source.as_deref(),
        Some(base.join("data").to_str().unwrap())
    );
    assert_eq!(
        remote.environment.0["BASE_VAR"].as_deref(),
        Some("from-base-env")
    );
    assert_eq!(remote.environment.0["FROM"].as_deref(), Some("remote"));
    let chained = &l.project.services["chained"];
    assert_eq!(
        chained.command.as_deref(),
        Some(&["run".to_owned(), "app".to_owned()][..])
    );
    assert_eq!(chained.labels.0["tier"], "backend");
    let l = load_dir(&fixtures().join("ok/include")).unwrap();
    assert_eq!(
        l.project.services["back"].image.as_deref(),
        Some("backend:1.2")
    );
    assert_eq!(
        l.project.services["cache"].image.as_deref(),
        Some("redis:7-alpine")
    );
    assert_eq!(
        l.project.services["back"].volumes[0].source.as_deref(),
        Some(fixtures().join("ok/include/sub/state").to_str().unwrap())
    );
}

#[test]
fn project_names_are_normalised_like_compose() {
    use berth_spec::normalize_project_name as n;
    assert_eq!(n("My App.v2"), "myappv2");
    assert_eq!(n("__-x_Y-1"), "x_y-1");
    assert_eq!(n("..."), "");
}

#[test]
fn dotenv_can_be_disabled_and_sets_compose_variables() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "other.yaml",
        "services:\n  a:\n    image: ${IMG:-none}\n",
    );
    write(
        tmp.path(),
        ".env",
        "IMG=fromdotenv\nCOMPOSE_FILE=other.yaml\nCOMPOSE_PROJECT_NAME=dotenvname\n",
    );
    let l = load(&options(tmp.path(), "")).unwrap();
    assert_eq!(l.project.name, "dotenvname");
    assert_eq!(l.project.services["a"].image.as_deref(), Some("fromdotenv"));
    let mut o = options(tmp.path(), "-f other.yaml");
    o.environment
        .insert("COMPOSE_DISABLE_ENV_FILE".into(), "1".into());
    let l = load(&o).unwrap();
    assert_eq!(l.project.services["a"].image.as_deref(), Some("none"));
}

#[test]
fn unknown_keys_deep_inside_name_their_path() {
    let e = load_str("services:\n  w:\n    image: x\n    deploy:\n      resources:\n        limit: {cpus: '1'}\n")
        .unwrap_err()
        .to_string();
    assert!(e.ends_with("compose.yaml:6:9: services.w.deploy.resources: unknown attribute `limit` (did you mean `limits`?)"), "{e}");
    let e = load_str(
        "services:\n  w:\n    image: x\n    ports:\n      - target: 80\n        publised: 8080\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.ends_with(
            "services.w.ports[0]: unknown attribute `publised` (did you mean `published`?)"
        ),
        "{e}"
    );
}

#[test]
fn long_extends_chains_are_refused() {
    let mut doc = String::from("services:\n  s0:\n    image: x\n");
    for i in 1..=100 {
        doc.push_str(&format!("  s{i}:\n    extends: s{}\n", i - 1));
    }
    let e = load_str(&doc).unwrap_err().to_string();
    assert!(e.contains("extends chain longer than 64 services"), "{e}");
    let mut doc = String::from("services:\n  s0:\n    image: x\n");
    for i in 1..=20 {
        doc.push_str(&format!("  s{i}:\n    extends: s{}\n", i - 1));
    }
    let l = load_str(&doc).unwrap();
    assert_eq!(l.project.services["s20"].image.as_deref(), Some("x"));
}

#[test]
fn helpers_for_the_reconciler() {
    let l = load_str(
        "name: h\nservices:\n  web:\n    build: .\n    depends_on: [db, cache]\n    deploy: {replicas: 3}\n  db:\n    image: pg\n    scale: 2\n  cache:\n    image: redis\n    depends_on: [db]\n  aaa:\n    image: a\n",
    )
    .unwrap();
    let p = &l.project;
    assert_eq!(p.dependency_order(), ["aaa", "db", "cache", "web"]);
    assert_eq!(p.image_of(&p.services["web"]), "h-web");
    assert_eq!(p.image_of(&p.services["db"]), "pg");
    assert_eq!(
        (
            p.services["web"].replicas(),
            p.services["db"].replicas(),
            p.services["aaa"].replicas()
        ),
        (3, 2, 1)
    );
}
