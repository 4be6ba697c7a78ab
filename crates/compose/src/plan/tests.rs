//! Golden plans: each test states a project and what exists, and compares the
//! printed plan with the expected text.

use super::*;

mod recreate;

fn svc(name: &str) -> DesiredService {
    DesiredService {
        name: name.into(),
        replicas: 1,
        config_hash: format!("hash-{name}"),
        image_id: None,
        container_name: None,
        depends_on: vec![],
        namespace_parents: vec![],
        networks: vec!["default".into()],
        volumes: vec![],
    }
}

fn dep(service: &str, condition: Condition) -> Dependency {
    Dependency {
        service: service.into(),
        condition,
        required: true,
        restart: false,
    }
}

fn project(services: Vec<DesiredService>) -> Desired {
    Desired {
        project: "app".into(),
        services,
        networks: vec![DesiredNetwork {
            key: "default".into(),
            name: "app_default".into(),
            external: false,
        }],
        volumes: vec![],
    }
}

fn running(service: &str, number: u32, hash: &str) -> ObservedContainer {
    ObservedContainer {
        id: format!("{service}{number}00000000000000"),
        name: format!("app-{service}-{number}"),
        service: service.into(),
        number,
        config_hash: hash.into(),
        image_id: None,
        state: ContainerState::Running,
        networks: vec!["app_default".into()],
        bridges: vec![("app_default".into(), "brthapp".into())],
        wired: true,
        stopping: false,
    }
}

fn existing_net() -> Vec<ObservedNetwork> {
    vec![ObservedNetwork {
        name: "app_default".into(),
        intact: true,
        bridge: "brthapp".into(),
    }]
}

/// The project web → db (healthy), everything up to date.
fn web_db() -> (Desired, Observed) {
    let mut web = svc("web");
    web.depends_on = vec![dep("db", Condition::Healthy)];
    let desired = project(vec![web, svc("db")]);
    let observed = Observed {
        containers: vec![running("db", 1, "hash-db"), running("web", 1, "hash-web")],
        networks: existing_net(),
        volumes: vec![],
    };
    (desired, observed)
}

fn up(d: &Desired, o: &Observed, opts: &Options) -> String {
    plan_up(d, o, opts).unwrap().to_string()
}

#[test]
fn fresh_project_creates_in_dependency_order() {
    let (d, _) = web_db();
    let got = up(&d, &Observed::default(), &Options::default());
    assert_eq!(
        got,
        "\
[] -> #1 network:default, CreateNetwork, not found
[1] -> #2 service:db:1, CreateContainer, no existing container
[2] -> #3 service:db:1, StartContainer, not running
[1] -> #4 service:web:1, CreateContainer, no existing container
[3] -> #5 service:db, WaitService, service_healthy
[4,5] -> #6 service:web:1, StartContainer, not running
"
    );
}

#[test]
fn unchanged_project_plans_nothing() {
    let (d, o) = web_db();
    let plan = plan_up(&d, &o, &Options::default()).unwrap();
    assert!(plan.is_empty(), "{plan}");
    assert!(plan.warnings.is_empty());
}

#[test]
fn changed_service_is_the_only_one_recreated() {
    let (d, mut o) = web_db();
    o.containers[1].config_hash = "old".into();
    assert_eq!(
        up(&d, &o, &Options::default()),
        "\
[] -> #1 service:web:1, CreateContainer, config hash diverged
[1] -> #2 service:web:1, StopContainer, config hash diverged
[2] -> #3 service:web:1, RemoveContainer, config hash diverged
[3] -> #4 service:web:1, RenameContainer, config hash diverged
[] -> #5 service:db, WaitService, service_healthy
[4,5] -> #6 service:web:1, StartContainer, not running
"
    );
    let plan = plan_up(&d, &o, &Options::default()).unwrap();
    match &plan.node(1).op {
        Op::CreateContainer {
            name, inherit_from, ..
        } => {
            assert_eq!(name, "web100000000_app-web-1");
            assert_eq!(inherit_from.as_deref(), Some("web100000000000000"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn new_image_recreates() {
    let (mut d, mut o) = web_db();
    d.services[1].image_id = Some("sha256:new".into());
    o.containers[0].image_id = Some("sha256:old".into());
    let plan = plan_up(&d, &o, &Options::default()).unwrap();
    assert_eq!(plan.node(1).cause, "image changed");
    assert_eq!(plan.node(1).op.resource(), "service:db:1");
}

#[test]
fn scale_up_and_down_by_number() {
    let mut web = svc("web");
    web.replicas = 3;
    let d = project(vec![web]);
    let o = Observed {
        containers: vec![running("web", 1, "hash-web")],
        networks: existing_net(),
        volumes: vec![],
    };
    assert_eq!(
        up(&d, &o, &Options::default()),
        "\
[] -> #1 service:web:2, CreateContainer, no existing container
[] -> #2 service:web:3, CreateContainer, no existing container
[1] -> #3 service:web:2, StartContainer, not running
[2] -> #4 service:web:3, StartContainer, not running
"
    );
    let d = project(vec![svc("web")]);
    let o = Observed {
        containers: vec![
            running("web", 1, "hash-web"),
            running("web", 2, "hash-web"),
            running("web", 3, "old"),
        ],
        networks: existing_net(),
        volumes: vec![],
    };
    // The obsolete container goes first, then the highest number.
    assert_eq!(
        up(&d, &o, &Options::default()),
        "\
[] -> #1 service:web:2, StopContainer, scale down
[1] -> #2 service:web:2, RemoveContainer, scale down
[] -> #3 service:web:3, StopContainer, scale down
[3] -> #4 service:web:3, RemoveContainer, scale down
"
    );
}

#[test]
fn exited_container_is_started_again() {
    let (d, mut o) = web_db();
    o.containers[0].state = ContainerState::Exited;
    assert_eq!(
        up(&d, &o, &Options::default()),
        "[] -> #1 service:db:1, StartContainer, not running\n"
    );
}

#[test]
fn a_start_cut_short_is_finished() {
    let (d, mut o) = web_db();
    o.containers[0].wired = false;
    assert_eq!(
        up(&d, &o, &Options::default()),
        "[] -> #1 service:db:1, StartContainer, ports and DNS not set up\n"
    );
}

#[test]
fn a_stop_cut_short_is_finished_and_the_container_started_again() {
    let (d, mut o) = web_db();
    o.containers[0].stopping = true;
    assert_eq!(
        up(&d, &o, &Options::default()),
        "\
[] -> #1 service:db:1, StopContainer, stop cut short
[1] -> #2 service:db:1, StartContainer, not running
"
    );
}

#[test]
fn an_interrupted_recreate_is_completed() {
    let (d, mut o) = web_db();
    // Killed after creating the replacement, before removing the old one.
    let mut replacement = running("web", 1, "hash-web");
    replacement.id = "new00000000000000".into();
    replacement.name = "web100000000_app-web-1".into();
    replacement.state = ContainerState::Created;
    o.containers[1].config_hash = "old".into();
    o.containers.push(replacement.clone());
    assert_eq!(
        up(&d, &o, &Options::default()),
        "\
[] -> #1 service:web:1, StopContainer, duplicate number
[1] -> #2 service:web:1, RemoveContainer, duplicate number
[2] -> #3 service:web:1, RenameContainer, interrupted recreate
[] -> #4 service:db, WaitService, service_healthy
[3,4] -> #5 service:web:1, StartContainer, not running
"
    );
    // Killed after removing the old one, before the rename.
    o.containers.remove(1);
    o.containers[1].state = ContainerState::Running;
    assert_eq!(
        up(&d, &o, &Options::default()),
        "[] -> #1 service:web:1, RenameContainer, interrupted recreate\n"
    );
}

#[test]
fn a_network_without_its_bridge_is_created_again() {
    let (d, mut o) = web_db();
    o.networks[0].intact = false;
    assert_eq!(
        up(&d, &o, &Options::default()),
        "[] -> #1 network:default, CreateNetwork, bridge missing\n"
    );
}

#[test]
fn new_replicas_take_the_lowest_free_numbers() {
    let mut web = svc("web");
    web.replicas = 3;
    let d = project(vec![web]);
    let o = Observed {
        containers: vec![running("web", 3, "hash-web")],
        networks: existing_net(),
        volumes: vec![],
    };
    let got = up(&d, &o, &Options::default());
    assert!(
        got.contains("service:web:1, CreateContainer")
            && got.contains("service:web:2, CreateContainer"),
        "{got}"
    );
}

#[test]
fn a_dependency_scaled_to_zero_is_not_waited_for() {
    let (mut d, _) = web_db();
    d.services[1].replicas = 0;
    let got = up(&d, &Observed::default(), &Options::default());
    assert!(!got.contains("WaitService"), "{got}");
    assert!(got.contains("service:web:1, StartContainer"), "{got}");
}

#[test]
fn orphans_are_reported_or_removed() {
    let d = project(vec![svc("web")]);
    let o = Observed {
        containers: vec![running("web", 1, "hash-web"), running("old", 1, "x")],
        networks: existing_net(),
        volumes: vec![],
    };
    let plan = plan_up(&d, &o, &Options::default()).unwrap();
    assert!(plan.is_empty());
    assert_eq!(plan.warnings.len(), 1);
    assert!(
        plan.warnings[0].contains("Found orphan containers ([app-old-1])"),
        "{}",
        plan.warnings[0]
    );
    let opts = Options {
        remove_orphans: true,
        ..Options::default()
    };
    assert_eq!(
        up(&d, &o, &opts),
        "[] -> #1 service:old:1, StopContainer, orphan\n[1] -> #2 service:old:1, RemoveContainer, orphan\n"
    );
}

#[test]
fn targeted_service_brings_its_dependencies_unless_no_deps() {
    let mut web = svc("web");
    web.depends_on = vec![dep("db", Condition::Started)];
    let d = project(vec![web, svc("db"), svc("other")]);
    let opts = Options {
        services: vec!["web".into()],
        ..Options::default()
    };
    let got = up(&d, &Observed::default(), &opts);
    assert!(got.contains("service:db:1, CreateContainer"), "{got}");
    assert!(!got.contains("other"), "{got}");
    let opts = Options {
        services: vec!["web".into()],
        no_deps: true,
        ..Options::default()
    };
    let got = up(&d, &Observed::default(), &opts);
    assert!(!got.contains("service:db:1"), "{got}");
    assert!(got.contains("service:web:1, CreateContainer"), "{got}");
    let opts = Options {
        services: vec!["nope".into()],
        ..Options::default()
    };
    assert_eq!(
        plan_up(&d, &Observed::default(), &opts)
            .unwrap_err()
            .to_string(),
        "no such service: nope"
    );
}

#[test]
fn force_and_never_recreate() {
    let (d, mut o) = web_db();
    let force = Options {
        recreate: Recreate::Force,
        recreate_dependencies: Recreate::Force,
        ..Options::default()
    };
    let plan = plan_up(&d, &o, &force).unwrap();
    let creates = plan
        .nodes
        .iter()
        .filter(|n| n.op.kind() == "CreateContainer")
        .count();
    assert_eq!(creates, 2);
    assert!(
        plan.nodes
            .iter()
            .all(|n| n.op.kind() != "CreateContainer" || n.cause == "forced")
    );
    o.containers[1].config_hash = "old".into();
    let never = Options {
        recreate: Recreate::Never,
        ..Options::default()
    };
    assert!(plan_up(&d, &o, &never).unwrap().is_empty());
}

#[test]
fn dependents_with_restart_true_are_restarted_around_a_recreate() {
    let (mut d, mut o) = web_db();
    d.services[0].depends_on[0].restart = true;
    o.containers[0].config_hash = "old".into();
    assert_eq!(
        up(&d, &o, &Options::default()),
        "\
[] -> #1 service:web:1, StopContainer, dependency db recreated
[] -> #2 service:db:1, CreateContainer, config hash diverged
[1,2] -> #3 service:db:1, StopContainer, config hash diverged
[3] -> #4 service:db:1, RemoveContainer, config hash diverged
[4] -> #5 service:db:1, RenameContainer, config hash diverged
[5] -> #6 service:db:1, StartContainer, not running
[6] -> #7 service:db, WaitService, service_healthy
[1,7] -> #8 service:web:1, StartContainer, not running
"
    );
}

#[test]
fn namespace_sharing_service_follows_its_parent() {
    let mut sidecar = svc("sidecar");
    sidecar.namespace_parents = vec!["app".into()];
    sidecar.networks = vec![];
    let d = project(vec![sidecar, svc("app")]);
    let mut o = Observed {
        containers: vec![
            running("app", 1, "old"),
            running("sidecar", 1, "hash-sidecar"),
        ],
        networks: existing_net(),
        volumes: vec![],
    };
    o.containers[1].networks.clear();
    let plan = plan_up(&d, &o, &Options::default()).unwrap();
    let causes: Vec<(String, &str)> = plan
        .nodes
        .iter()
        .filter(|n| n.op.kind() == "CreateContainer")
        .map(|n| (n.op.resource(), n.cause.as_str()))
        .collect();
    assert_eq!(
        causes,
        vec![
            ("service:app:1".to_string(), "config hash diverged"),
            (
                "service:sidecar:1".to_string(),
                "namespace parent recreated"
            )
        ]
    );
}

#[test]
fn external_resources_must_exist() {
    let mut d = project(vec![svc("web")]);
    d.networks[0].external = true;
    d.networks[0].name = "shared".into();
    let err = plan_up(&d, &Observed::default(), &Options::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "network shared declared as external, but could not be found"
    );
    let o = Observed {
        networks: vec![ObservedNetwork {
            name: "shared".into(),
            intact: true,
            bridge: "brthshared".into(),
        }],
        ..Observed::default()
    };
    let got = up(&d, &o, &Options::default());
    assert!(!got.contains("CreateNetwork"), "{got}");
}

#[test]
fn volumes_are_created_before_their_users() {
    let mut db = svc("db");
    db.volumes = vec!["data".into()];
    let mut d = project(vec![db]);
    d.volumes = vec![DesiredVolume {
        key: "data".into(),
        name: "app_data".into(),
        external: false,
    }];
    assert_eq!(
        up(&d, &Observed::default(), &Options::default()),
        "\
[] -> #1 network:default, CreateNetwork, not found
[] -> #2 volume:data, CreateVolume, not found
[1,2] -> #3 service:db:1, CreateContainer, no existing container
[3] -> #4 service:db:1, StartContainer, not running
"
    );
}

#[test]
fn no_start_only_creates() {
    let (d, _) = web_db();
    let opts = Options {
        no_start: true,
        ..Options::default()
    };
    let got = up(&d, &Observed::default(), &opts);
    assert!(!got.contains("Start") && !got.contains("Wait"), "{got}");
}

#[test]
fn cycles_are_named() {
    let mut a = svc("a");
    a.depends_on = vec![dep("b", Condition::Started)];
    let mut b = svc("b");
    b.depends_on = vec![dep("a", Condition::Started)];
    let err = plan_up(
        &project(vec![a, b]),
        &Observed::default(),
        &Options::default(),
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "dependency cycle detected: a -> b -> a");
}

#[test]
fn down_stops_dependents_first_then_removes_networks() {
    let (d, o) = web_db();
    assert_eq!(
        plan_down(&d, &o, &DownOptions::default())
            .unwrap()
            .to_string(),
        "\
[] -> #1 service:web:1, StopContainer, down
[1] -> #2 service:web:1, RemoveContainer, down
[1] -> #3 service:db:1, StopContainer, down
[3] -> #4 service:db:1, RemoveContainer, down
[1,3] -> #5 network:default, RemoveNetwork, down
"
    );
}

#[test]
fn down_keeps_named_volumes_unless_asked() {
    let mut d = project(vec![svc("db")]);
    d.volumes = vec![
        DesiredVolume {
            key: "data".into(),
            name: "app_data".into(),
            external: false,
        },
        DesiredVolume {
            key: "ext".into(),
            name: "ext".into(),
            external: true,
        },
    ];
    let o = Observed {
        containers: vec![running("db", 1, "hash-db")],
        networks: existing_net(),
        volumes: vec![
            ObservedVolume {
                name: "app_data".into(),
            },
            ObservedVolume { name: "ext".into() },
        ],
    };
    let plain = plan_down(&d, &o, &DownOptions::default())
        .unwrap()
        .to_string();
    assert!(!plain.contains("RemoveVolume"), "{plain}");
    let v = plan_down(
        &d,
        &o,
        &DownOptions {
            volumes: true,
            ..DownOptions::default()
        },
    )
    .unwrap();
    let removed: Vec<String> = v
        .nodes
        .iter()
        .filter(|n| n.op.kind() == "RemoveVolume")
        .map(|n| n.op.resource())
        .collect();
    assert_eq!(removed, vec!["volume:data"]);
}

#[test]
fn down_of_one_service_takes_its_dependents_and_keeps_networks() {
    let (d, o) = web_db();
    let opts = DownOptions {
        services: vec!["db".into()],
        ..DownOptions::default()
    };
    let got = plan_down(&d, &o, &opts).unwrap().to_string();
    assert!(got.contains("service:web:1, StopContainer"), "{got}");
    assert!(!got.contains("RemoveNetwork"), "{got}");
}

#[test]
fn filtering_keeps_order_through_dropped_nodes() {
    let (d, o) = web_db();
    let stops = plan_down(&d, &o, &DownOptions::default())
        .unwrap()
        .filtered(|op| matches!(op, Op::StopContainer { .. }));
    assert_eq!(
        stops.to_string(),
        "[] -> #1 service:web:1, StopContainer, down\n[1] -> #2 service:db:1, StopContainer, down\n"
    );
}
