//! End to end: `depends_on` conditions (service_healthy,
//! service_completed_successfully, required: false, restart: true) and
//! `up --wait`, on busybox images.

mod common;
mod compose_common;

use berth_testkit::require_root;
use common::Env;
use compose_common::{inspect, ps, run, states};

/// The `Health` field of `ps --format json` for one container.
fn health(env: &Env, dir: &std::path::Path, name: &str) -> String {
    ps(env, dir, &["-a"])
        .into_iter()
        .find(|c| c["Name"] == name)
        .map(|c| c["Health"].as_str().unwrap_or("").to_owned())
        .unwrap_or_default()
}

/// db becomes healthy only once /shared/ready exists (after a second);
/// migrate runs once db is healthy; web checks, as its very first action,
/// that both happened.
const GATED: &str = r#"
services:
  db:
    image: busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 1; touch /shared/ready; sleep 3600 & wait"]
    volumes: ["shared:/shared"]
    healthcheck:
      test: ["CMD", "test", "-f", "/shared/ready"]
      interval: 30s
      start_interval: 100ms
      start_period: 30s
  migrate:
    image: busybox:latest
    command: ["sh", "-c", "test -f /shared/ready && echo migrated > /shared/migrated"]
    volumes: ["shared:/shared"]
    depends_on:
      db: {condition: service_healthy}
  web:
    image: busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; if test -f /shared/ready && test -f /shared/migrated; then echo ORDER-OK; else echo ORDER-BROKEN; fi; sleep 3600 & wait"]
    volumes: ["shared:/shared"]
    depends_on:
      db: {condition: service_healthy}
      migrate: {condition: service_completed_successfully}
volumes:
  shared: {}
"#;

#[test]
fn web_starts_only_after_db_is_healthy_and_the_migration_succeeded() {
    require_root!();
    let mut env = Env::with_network();
    let dir = env.project("gate", GATED);
    let (code, _, err) = run(&env, &dir, &["up", "-d"]);
    assert_eq!(code, 0, "{err}");
    // Compose's progress: the gates are shown per container.
    assert!(err.contains("Container gate-db-1 Healthy"), "{err}");
    assert!(err.contains("Container gate-migrate-1 Exited"), "{err}");
    assert_eq!(
        states(&env, &dir),
        vec![
            ("gate-db-1".to_string(), "running".to_string()),
            ("gate-migrate-1".into(), "exited".into()),
            ("gate-web-1".into(), "running".into()),
        ]
    );
    let logs = env.ok(&dir, &["logs", "--no-log-prefix", "web"]);
    assert_eq!(logs.trim(), "ORDER-OK");
    // The health became healthy before web started.
    let db = inspect(&env, "gate-db-1");
    let web = inspect(&env, "gate-web-1");
    assert_eq!(health(&env, &dir, "gate-db-1"), "healthy");
    let db_started = db["State"]["StartedAt"].as_str().unwrap().to_owned();
    let web_started = web["State"]["StartedAt"].as_str().unwrap().to_owned();
    assert!(web_started > db_started, "{web_started} <= {db_started}");
    let migrate = inspect(&env, "gate-migrate-1");
    assert_eq!(migrate["State"]["ExitCode"], 0);
}

#[test]
fn a_failed_migration_fails_up_and_leaves_its_dependents_created() {
    require_root!();
    let mut env = Env::with_network();
    let failing = r#"
services:
  migrate:
    image: busybox:latest
    command: ["sh", "-c", "exit 3"]
  app:
    image: busybox:latest
    command: ["sleep", "3600"]
    depends_on:
      migrate: {condition: service_completed_successfully}
"#;
    let dir = env.project("mig", failing);
    let (code, _, err) = run(&env, &dir, &["up", "-d"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("service \"migrate\" didn't complete successfully: exit 3"),
        "{err}"
    );
    assert_eq!(
        states(&env, &dir),
        vec![
            ("mig-app-1".to_string(), "created".to_string()),
            ("mig-migrate-1".into(), "exited".into()),
        ]
    );
}

#[test]
fn an_optional_dependency_that_fails_only_warns() {
    require_root!();
    let mut env = Env::with_network();
    let optional = r#"
services:
  cache:
    image: busybox:latest
    command: ["sh", "-c", "exit 2"]
  app:
    image: busybox:latest
    command: ["sleep", "3600"]
    init: true
    depends_on:
      cache: {condition: service_completed_successfully, required: false}
      extra: {condition: service_started, required: false}
  extra:
    image: busybox:latest
    profiles: [debug]
"#;
    let dir = env.project("opt", optional);
    let (code, _, err) = run(&env, &dir, &["up", "-d"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("Warning"), "{err}");
    let st = states(&env, &dir);
    assert!(
        st.contains(&("opt-app-1".to_string(), "running".to_string())),
        "{st:?}"
    );
    assert!(!st.iter().any(|(n, _)| n.contains("extra")), "{st:?}");
}

#[test]
fn up_wait_succeeds_when_healthy_and_fails_on_an_unhealthy_service() {
    require_root!();
    let mut env = Env::with_network();
    let healthy = r#"
services:
  api:
    image: busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    healthcheck:
      test: ["CMD", "true"]
      interval: 30s
      start_interval: 100ms
      start_period: 30s
  once:
    image: busybox:latest
    command: ["true"]
  worker:
    image: busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    depends_on:
      once: {condition: service_completed_successfully}
"#;
    let dir = env.project("wok", healthy);
    let (code, _, err) = run(&env, &dir, &["up", "-d", "--wait"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("Container wok-api-1 Healthy"), "{err}");
    assert_eq!(health(&env, &dir, "wok-api-1"), "healthy");

    let unhealthy = r#"
services:
  api:
    image: busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    healthcheck:
      test: ["CMD", "false"]
      interval: 100ms
      timeout: 1s
      retries: 2
"#;
    let dir = env.project("wbad", unhealthy);
    let (code, _, err) = run(&env, &dir, &["up", "-d", "--wait"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("container wbad-api-1 is unhealthy"), "{err}");

    // A service that never gets healthy in time.
    let slow = r#"
services:
  api:
    image: busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    healthcheck:
      test: ["CMD", "false"]
      interval: 30s
      start_period: 60s
      start_interval: 30s
"#;
    let dir = env.project("wslow", slow);
    let (code, _, err) = run(&env, &dir, &["up", "-d", "--wait", "--wait-timeout", "1"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("application not healthy after 1s"), "{err}");
}

#[test]
fn restart_true_dependents_follow_a_recreated_dependency_and_others_stay() {
    require_root!();
    let mut env = Env::with_network();
    let stack = r#"
services:
  db:
    image: busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    environment: {VERSION: "1"}
  web:
    image: busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    depends_on:
      db: {condition: service_started, restart: true}
  report:
    image: busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    depends_on:
      db: {condition: service_started}
"#;
    let dir = env.project("rt", stack);
    env.ok(&dir, &["up", "-d"]);
    let before: Vec<_> = ["rt-db-1", "rt-web-1", "rt-report-1"]
        .iter()
        .map(|n| inspect(&env, n))
        .collect();
    std::fs::write(
        dir.join("compose.yaml"),
        stack.replace("VERSION: \"1\"", "VERSION: \"2\""),
    )
    .unwrap();
    env.ok(&dir, &["up", "-d"]);
    let after: Vec<_> = ["rt-db-1", "rt-web-1", "rt-report-1"]
        .iter()
        .map(|n| inspect(&env, n))
        .collect();
    assert_ne!(before[0]["Id"], after[0]["Id"], "db recreated");
    assert_eq!(before[1]["Id"], after[1]["Id"], "web kept");
    assert_ne!(
        before[1]["State"]["StartedAt"], after[1]["State"]["StartedAt"],
        "web restarted"
    );
    assert_eq!(after[1]["State"]["Status"], "running");
    assert_eq!(before[2]["Id"], after[2]["Id"]);
    assert_eq!(
        before[2]["State"]["StartedAt"], after[2]["State"]["StartedAt"],
        "report (no restart: true) untouched"
    );
    // `restart db` restarts web with it, not report.
    env.ok(&dir, &["restart", "db"]);
    let again: Vec<_> = ["rt-db-1", "rt-web-1", "rt-report-1"]
        .iter()
        .map(|n| inspect(&env, n))
        .collect();
    assert_ne!(
        after[1]["State"]["StartedAt"],
        again[1]["State"]["StartedAt"]
    );
    assert_eq!(
        after[2]["State"]["StartedAt"],
        again[2]["State"]["StartedAt"]
    );
}
