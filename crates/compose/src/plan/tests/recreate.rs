//! Recreates that involve more than one service's containers: namespace
//! sharers, and containers whose network went away under them.

use std::collections::HashSet;

use super::*;

/// Every node can run: the dependencies form no cycle.
fn assert_acyclic(plan: &Plan) {
    let mut done: HashSet<usize> = HashSet::new();
    loop {
        let ready: Vec<usize> = plan
            .nodes
            .iter()
            .filter(|n| !done.contains(&n.id) && n.deps.iter().all(|d| done.contains(d)))
            .map(|n| n.id)
            .collect();
        if ready.is_empty() {
            break;
        }
        done.extend(ready);
    }
    assert_eq!(done.len(), plan.nodes.len(), "a cycle in\n{plan}");
}

#[test]
fn a_namespace_sharer_with_restart_true_is_recreated_after_its_parent() {
    // What the loader makes of `network_mode: service:base`: an implicit
    // depends_on base with restart: true.
    let mut side = svc("side");
    side.namespace_parents = vec!["base".into()];
    side.networks = vec![];
    side.depends_on = vec![Dependency {
        restart: true,
        ..dep("base", Condition::Started)
    }];
    let d = project(vec![svc("base"), side, svc("other")]);
    let mut o = Observed {
        containers: vec![
            running("side", 1, "hash-side"),
            running("base", 1, "old"),
            running("other", 1, "hash-other"),
        ],
        networks: existing_net(),
        volumes: vec![],
    };
    o.containers[0].networks.clear();
    o.containers[0].bridges.clear();
    let plan = plan_up(&d, &o, &Options::default()).unwrap();
    assert_acyclic(&plan);
    assert_eq!(
        plan.to_string(),
        "\
[] -> #1 service:side:1, StopContainer, dependency base recreated
[] -> #2 service:base:1, CreateContainer, config hash diverged
[1,2] -> #3 service:base:1, StopContainer, config hash diverged
[3] -> #4 service:base:1, RemoveContainer, config hash diverged
[4] -> #5 service:base:1, RenameContainer, config hash diverged
[5] -> #6 service:base:1, StartContainer, not running
[6] -> #7 service:side:1, CreateContainer, namespace parent recreated
[1] -> #8 service:side:1, RemoveContainer, namespace parent recreated
[7,8] -> #9 service:side:1, RenameContainer, namespace parent recreated
[6] -> #10 service:base, WaitService, service_started
[9,10] -> #11 service:side:1, StartContainer, not running
"
    );
}

#[test]
fn containers_of_a_recreated_network_are_recreated() {
    let (d, mut o) = web_db();
    o.networks[0].bridge = "brthnew".into();
    o.containers[0].state = ContainerState::Exited;
    let plan = plan_up(&d, &o, &Options::default()).unwrap();
    let causes: Vec<&str> = plan
        .nodes
        .iter()
        .filter(|n| n.op.kind() == "CreateContainer")
        .map(|n| n.cause.as_str())
        .collect();
    assert_eq!(causes, ["network recreated", "network recreated"], "{plan}");
}

#[test]
fn containers_of_a_removed_network_are_recreated() {
    // `down` killed after it removed the network, before the records.
    let (d, mut o) = web_db();
    o.networks.clear();
    for c in &mut o.containers {
        c.state = ContainerState::Exited;
    }
    let plan = plan_up(&d, &o, &Options::default()).unwrap();
    let causes: Vec<&str> = plan
        .nodes
        .iter()
        .filter(|n| matches!(n.op.kind(), "CreateContainer" | "CreateNetwork"))
        .map(|n| n.cause.as_str())
        .collect();
    assert_eq!(
        causes,
        ["not found", "network recreated", "network recreated"],
        "{plan}"
    );
}
