//! The executor against an in-memory backend.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::*;
use crate::plan::*;

#[derive(Default)]
struct Fake {
    log: Mutex<Vec<String>>,
    running: AtomicUsize,
    max_running: AtomicUsize,
    fail: HashSet<String>,
    delay: Duration,
    next_id: AtomicUsize,
}

impl Fake {
    fn op(&self, what: String) -> Result<(), String> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(self.delay);
        self.log.lock().unwrap().push(what.clone());
        self.running.fetch_sub(1, Ordering::SeqCst);
        if self.fail.contains(&what) {
            Err(format!("{what} failed"))
        } else {
            Ok(())
        }
    }
    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Backend for Fake {
    fn create_network(&self, key: &str, _: &str) -> Result<(), String> {
        self.op(format!("create-network {key}"))
    }
    fn remove_network(&self, key: &str, _: &str) -> Result<(), String> {
        self.op(format!("remove-network {key}"))
    }
    fn create_volume(&self, key: &str, _: &str) -> Result<(), String> {
        self.op(format!("create-volume {key}"))
    }
    fn remove_volume(&self, key: &str, _: &str) -> Result<(), String> {
        self.op(format!("remove-volume {key}"))
    }
    fn create_container(
        &self,
        _: &str,
        _: u32,
        name: &str,
        _: Option<&str>,
    ) -> Result<String, String> {
        self.op(format!("create {name}"))?;
        Ok(format!(
            "id{}-{name}",
            self.next_id.fetch_add(1, Ordering::SeqCst)
        ))
    }
    fn start_container(&self, _: &str, id: &str) -> Result<(), String> {
        self.op(format!("start {id}"))
    }
    fn stop_container(&self, _: &str, id: &str) -> Result<(), String> {
        self.op(format!("stop {id}"))
    }
    fn remove_container(&self, _: &str, id: &str, _: bool) -> Result<(), String> {
        self.op(format!("remove {id}"))
    }
    fn rename_container(&self, id: &str, name: &str) -> Result<(), String> {
        self.op(format!("rename {id} {name}"))
    }
    fn wait_service(&self, service: &str, c: Condition) -> Result<(), String> {
        self.op(format!("wait {service} {}", c.as_str()))
    }
}

fn service(name: &str, deps: &[(&str, Condition, bool)]) -> DesiredService {
    DesiredService {
        name: name.into(),
        replicas: 1,
        config_hash: "h".into(),
        image_id: None,
        container_name: None,
        depends_on: deps
            .iter()
            .map(|(s, c, required)| Dependency {
                service: (*s).into(),
                condition: *c,
                required: *required,
                restart: false,
            })
            .collect(),
        namespace_parents: vec![],
        networks: vec!["default".into()],
        volumes: vec![],
    }
}

fn desired(services: Vec<DesiredService>) -> Desired {
    Desired {
        project: "p".into(),
        services,
        networks: vec![DesiredNetwork {
            key: "default".into(),
            name: "p_default".into(),
            external: false,
        }],
        volumes: vec![],
    }
}

fn no_events(_: Event) {}

fn position(log: &[String], prefix: &str) -> usize {
    log.iter()
        .position(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("{prefix} not in {log:?}"))
}

#[test]
fn runs_every_node_after_its_dependencies() {
    let d = desired(vec![
        service(
            "web",
            &[
                ("db", Condition::Healthy, true),
                ("cache", Condition::Started, true),
            ],
        ),
        service("db", &[]),
        service("cache", &[]),
    ]);
    let plan = plan_up(&d, &Observed::default(), &Options::default()).unwrap();
    let fake = Fake::default();
    let out = execute(&plan, &fake, 0, &no_events);
    assert!(out.ok(), "{:?}", out.failed);
    let log = fake.log();
    assert_eq!(log.len(), plan.nodes.len());
    assert!(position(&log, "create-network") < position(&log, "create p-db-1"));
    assert!(position(&log, "wait db service_healthy") > position(&log, "start id"));
    let web_start = log
        .iter()
        .position(|l| l.starts_with("start") && l.ends_with("p-web-1"))
        .unwrap();
    assert!(web_start > position(&log, "wait db"));
    assert!(web_start > position(&log, "wait cache"));
    // Starts refer to the ids returned by the creates.
    assert_eq!(out.created.len(), 3);
    for id in out.created.values() {
        assert!(log.contains(&format!("start {id}")), "{log:?}");
    }
}

#[test]
fn parallelism_is_capped() {
    let services: Vec<DesiredService> = (0..8).map(|i| service(&format!("s{i}"), &[])).collect();
    let plan = plan_up(
        &desired(services.clone()),
        &Observed::default(),
        &Options::default(),
    )
    .unwrap();
    let fake = Fake {
        delay: Duration::from_millis(15),
        ..Fake::default()
    };
    // Reported as started only once running: never more than the cap.
    let shown = AtomicUsize::new(0);
    let max_shown = AtomicUsize::new(0);
    let on = |e: Event| match e {
        Event::Started(_) => {
            let n = shown.fetch_add(1, Ordering::SeqCst) + 1;
            max_shown.fetch_max(n, Ordering::SeqCst);
        }
        Event::Done(..) | Event::Failed(..) | Event::Warning(..) => {
            shown.fetch_sub(1, Ordering::SeqCst);
        }
        Event::Skipped(_) => {}
    };
    assert!(execute(&plan, &fake, 2, &on).ok());
    assert_eq!(fake.max_running.load(Ordering::SeqCst), 2);
    assert_eq!(max_shown.load(Ordering::SeqCst), 2);
    let fake = Fake {
        delay: Duration::from_millis(15),
        ..Fake::default()
    };
    assert!(execute(&plan, &fake, 0, &no_events).ok());
    assert!(
        fake.max_running.load(Ordering::SeqCst) > 2,
        "independent services run at once"
    );
}

#[test]
fn a_failure_skips_dependents_and_keeps_independent_branches() {
    let d = desired(vec![
        service("web", &[("db", Condition::Healthy, true)]),
        service("db", &[]),
        service("other", &[]),
    ]);
    let plan = plan_up(&d, &Observed::default(), &Options::default()).unwrap();
    let fake = Fake {
        fail: ["wait db service_healthy".to_string()].into(),
        ..Fake::default()
    };
    let events = Mutex::new(Vec::new());
    let out = execute(&plan, &fake, 0, &|e| {
        if let Event::Skipped(n) = e {
            events.lock().unwrap().push(n.op.resource());
        }
    });
    assert_eq!(out.failed.len(), 1);
    assert_eq!(out.failed[0].1, "wait db service_healthy failed");
    assert_eq!(*events.lock().unwrap(), vec!["service:web:1".to_string()]);
    let log = fake.log();
    assert!(
        log.iter()
            .any(|l| l.starts_with("start") && l.ends_with("p-other-1")),
        "{log:?}"
    );
    assert!(
        !log.iter()
            .any(|l| l.starts_with("start") && l.ends_with("p-web-1")),
        "{log:?}"
    );
}

#[test]
fn an_optional_dependency_failure_is_a_warning() {
    let d = desired(vec![
        service("web", &[("db", Condition::Healthy, false)]),
        service("db", &[]),
    ]);
    let plan = plan_up(&d, &Observed::default(), &Options::default()).unwrap();
    let fake = Fake {
        fail: ["wait db service_healthy".to_string()].into(),
        ..Fake::default()
    };
    let warned = AtomicUsize::new(0);
    let out = execute(&plan, &fake, 0, &|e| {
        if let Event::Warning(..) = e {
            warned.fetch_add(1, Ordering::SeqCst);
        }
    });
    assert!(out.ok());
    assert_eq!(warned.load(Ordering::SeqCst), 1);
    assert!(
        fake.log()
            .iter()
            .any(|l| l.starts_with("start") && l.ends_with("p-web-1"))
    );
}

#[test]
fn a_cycle_fails_its_nodes_instead_of_passing_silently() {
    let node = |id: usize, name: &str, deps: Vec<usize>| Node {
        id,
        op: Op::CreateNetwork {
            key: name.into(),
            name: name.into(),
        },
        cause: "test".into(),
        deps,
    };
    let plan = Plan {
        nodes: vec![
            node(1, "free", vec![]),
            node(2, "a", vec![3]),
            node(3, "b", vec![2]),
        ],
        warnings: vec![],
    };
    let fake = Fake::default();
    let out = execute(&plan, &fake, 0, &no_events);
    assert_eq!(fake.log(), ["create-network free"]);
    let failed: Vec<usize> = out.failed.iter().map(|(id, _)| *id).collect();
    assert_eq!(failed, [2, 3], "{:?}", out.failed);
    assert!(out.failed[0].1.contains("cycle"), "{:?}", out.failed);
}
