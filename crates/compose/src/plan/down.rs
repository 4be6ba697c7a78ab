//! `down`: stop in reverse dependency order, remove containers, then the
//! project's networks and (with `-v`) its volumes.

use std::collections::{BTreeSet, HashMap};

use super::model::*;
use super::order::{dependency_order, parents};
use super::{ContainerRef, Op, Plan, PlanError};

/// Plans `down`. With services named, only those and the services that depend
/// on them are stopped and removed, and networks and volumes stay (as Compose).
pub fn plan_down(
    desired: &Desired,
    observed: &Observed,
    options: &DownOptions,
) -> Result<Plan, PlanError> {
    for s in &options.services {
        if !desired.services.iter().any(|d| &d.name == s) {
            return Err(PlanError::UnknownService(s.clone()));
        }
    }
    let order = dependency_order(&desired.services)?;
    let known: HashMap<&str, usize> = desired
        .services
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    let scope = scope(desired, &known, &options.services);
    let whole_project = options.services.is_empty();

    let mut plan = Plan::default();
    let mut stops_of: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut removes = Vec::new();
    // Reverse dependency order: dependents are stopped first, and a service
    // is stopped only after every service depending on it.
    for &i in order.iter().rev() {
        let svc = &desired.services[i];
        if !scope.contains(svc.name.as_str()) {
            continue;
        }
        let dependents: Vec<usize> = desired
            .services
            .iter()
            .filter(|d| parents(d, &known).contains(svc.name.as_str()))
            .flat_map(|d| stops_of.get(d.name.as_str()).cloned().unwrap_or_default())
            .collect();
        let mut containers: Vec<&ObservedContainer> = observed
            .containers
            .iter()
            .filter(|c| c.service == svc.name)
            .collect();
        containers.sort_by_key(|c| c.number);
        for c in containers {
            let container = ContainerRef::Existing {
                id: c.id.clone(),
                name: c.name.clone(),
            };
            let stop = plan.add(
                Op::StopContainer {
                    service: svc.name.clone(),
                    number: c.number,
                    container: container.clone(),
                },
                "down",
                &dependents,
            );
            stops_of.entry(&svc.name).or_default().push(stop);
            let remove = Op::RemoveContainer {
                service: svc.name.clone(),
                number: c.number,
                container,
                volumes: options.volumes,
            };
            removes.push(plan.add(remove, "down", &[stop]));
        }
    }
    let orphans: Vec<&ObservedContainer> = observed
        .containers
        .iter()
        .filter(|c| !known.contains_key(c.service.as_str()))
        .collect();
    if whole_project && !orphans.is_empty() {
        if options.remove_orphans {
            for c in orphans {
                let container = ContainerRef::Existing {
                    id: c.id.clone(),
                    name: c.name.clone(),
                };
                let stop = plan.add(
                    Op::StopContainer {
                        service: c.service.clone(),
                        number: c.number,
                        container: container.clone(),
                    },
                    "orphan",
                    &[],
                );
                let remove = Op::RemoveContainer {
                    service: c.service.clone(),
                    number: c.number,
                    container,
                    volumes: options.volumes,
                };
                removes.push(plan.add(remove, "orphan", &[stop]));
            }
        } else {
            let names: Vec<&str> = orphans.iter().map(|c| c.name.as_str()).collect();
            plan.warnings.push(format!(
                "Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
                names.join(" ")
            ));
        }
    }
    if !whole_project {
        return Ok(plan);
    }
    // A network goes once the containers on it are stopped (their network
    // namespaces, and veths, are gone with their processes), beside the
    // removal of their records; the engine gives their addresses back.
    let stops: Vec<usize> = plan
        .nodes
        .iter()
        .filter(|n| matches!(n.op, Op::StopContainer { .. }))
        .map(|n| n.id)
        .collect();
    for net in desired.networks.iter().filter(|n| !n.external) {
        if observed.networks.iter().any(|o| o.name == net.name) {
            plan.add(
                Op::RemoveNetwork {
                    key: net.key.clone(),
                    name: net.name.clone(),
                },
                "down",
                &stops,
            );
        }
    }
    if options.volumes {
        for vol in desired.volumes.iter().filter(|v| !v.external) {
            if observed.volumes.iter().any(|o| o.name == vol.name) {
                plan.add(
                    Op::RemoveVolume {
                        key: vol.key.clone(),
                        name: vol.name.clone(),
                    },
                    "down -v",
                    &removes,
                );
            }
        }
    }
    Ok(plan)
}

/// The named services and, transitively, every service that depends on them.
fn scope<'a>(
    desired: &'a Desired,
    known: &HashMap<&str, usize>,
    named: &[String],
) -> BTreeSet<&'a str> {
    if named.is_empty() {
        return desired.services.iter().map(|s| s.name.as_str()).collect();
    }
    let mut scope: BTreeSet<&str> = desired
        .services
        .iter()
        .filter(|s| named.contains(&s.name))
        .map(|s| s.name.as_str())
        .collect();
    loop {
        let before = scope.len();
        for s in &desired.services {
            if parents(s, known).iter().any(|p| scope.contains(p)) {
                scope.insert(s.name.as_str());
            }
        }
        if scope.len() == before {
            return scope;
        }
    }
}
