//! `up`: from (desired, observed, options) to a plan.
//!
//! The rules are Compose's (`docker/compose` `reconcile.go` + `start.go`),
//! folded into one DAG: networks and volumes first, then each service in
//! dependency order (scale down, recreate what diverged, create what is
//! missing), and start nodes that wait for the conditions of `depends_on`.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::model::*;
use super::order::dependency_order;
use super::{ContainerRef, Op, Plan, PlanError};

struct Planner<'a> {
    desired: &'a Desired,
    observed: &'a Observed,
    options: &'a Options,
    plan: Plan,
    network_nodes: HashMap<&'a str, usize>,
    volume_nodes: HashMap<&'a str, usize>,
    /// Start nodes per service (what a dependent waits for).
    start_nodes: HashMap<String, Vec<usize>>,
    /// Shared `WaitService` gates, by (service, condition).
    gates: HashMap<(String, Condition), usize>,
    /// Containers already stopped by an earlier part of the plan.
    stopped: HashMap<String, usize>,
    recreated: HashSet<String>,
    /// Running containers whose start was cut short (see `wired`).
    unwired: HashSet<String>,
    /// Create nodes per service.
    create_nodes: HashMap<String, Vec<usize>>,
}

/// Plans `up`. Services outside the scope (not named and not a dependency of
/// a named one) are left alone.
pub fn plan_up(
    desired: &Desired,
    observed: &Observed,
    options: &Options,
) -> Result<Plan, PlanError> {
    for s in &options.services {
        if !desired.services.iter().any(|d| &d.name == s) {
            return Err(PlanError::UnknownService(s.clone()));
        }
    }
    let order = dependency_order(&desired.services)?;
    let mut p = Planner {
        desired,
        observed,
        options,
        plan: Plan::default(),
        network_nodes: HashMap::new(),
        volume_nodes: HashMap::new(),
        start_nodes: HashMap::new(),
        gates: HashMap::new(),
        stopped: HashMap::new(),
        recreated: HashSet::new(),
        unwired: HashSet::new(),
        create_nodes: HashMap::new(),
    };
    let scope = p.scope();
    p.plan_networks(&scope)?;
    p.plan_volumes(&scope)?;
    for i in order {
        let svc = &desired.services[i];
        if scope.contains(svc.name.as_str()) {
            p.plan_service(svc);
        }
    }
    p.plan_orphans();
    Ok(p.plan)
}

impl<'a> Planner<'a> {
    /// Targeted services plus, unless `--no-deps`, everything they depend on.
    fn scope(&self) -> BTreeSet<&'a str> {
        let all = self.desired.services.iter().map(|s| s.name.as_str());
        if self.options.services.is_empty() {
            return all.collect();
        }
        let by_name: HashMap<&str, &DesiredService> = self
            .desired
            .services
            .iter()
            .map(|s| (s.name.as_str(), s))
            .collect();
        let mut scope = BTreeSet::new();
        let mut todo: Vec<&str> = self.options.services.iter().map(String::as_str).collect();
        while let Some(name) = todo.pop() {
            let Some(svc) = by_name.get(name) else {
                continue;
            };
            if !scope.insert(svc.name.as_str()) || self.options.no_deps {
                continue;
            }
            for d in &svc.depends_on {
                todo.push(&d.service);
            }
            for n in &svc.namespace_parents {
                todo.push(n);
            }
        }
        scope
    }

    fn is_targeted(&self, service: &str) -> bool {
        self.options.services.is_empty() || self.options.services.iter().any(|s| s == service)
    }

    fn plan_networks(&mut self, scope: &BTreeSet<&str>) -> Result<(), PlanError> {
        let used: HashSet<&str> = self
            .desired
            .services
            .iter()
            .filter(|s| scope.contains(s.name.as_str()))
            .flat_map(|s| s.networks.iter().map(String::as_str))
            .collect();
        for net in &self.desired.networks {
            if !used.contains(net.key.as_str()) {
                continue;
            }
            let found = self.observed.networks.iter().find(|o| o.name == net.name);
            if net.external {
                if found.is_none() {
                    return Err(PlanError::ExternalNetworkMissing {
                        name: net.name.clone(),
                    });
                }
                continue;
            }
            let cause = match found {
                None => "not found",
                Some(o) if !o.intact => "bridge missing",
                Some(_) => continue,
            };
            let op = Op::CreateNetwork {
                key: net.key.clone(),
                name: net.name.clone(),
            };
            let id = self.plan.add(op, cause, &[]);
            self.network_nodes.insert(&net.key, id);
        }
        Ok(())
    }

    fn plan_volumes(&mut self, scope: &BTreeSet<&str>) -> Result<(), PlanError> {
        let used: HashSet<&str> = self
            .desired
            .services
            .iter()
            .filter(|s| scope.contains(s.name.as_str()))
            .flat_map(|s| s.volumes.iter().map(String::as_str))
            .collect();
        for vol in &self.desired.volumes {
            let exists = self.observed.volumes.iter().any(|o| o.name == vol.name);
            if vol.external {
                if used.contains(vol.key.as_str()) && !exists {
                    return Err(PlanError::ExternalVolumeMissing {
                        name: vol.name.clone(),
                    });
                }
                continue;
            }
            if !exists {
                let op = Op::CreateVolume {
                    key: vol.key.clone(),
                    name: vol.name.clone(),
                };
                let id = self.plan.add(op, "not found", &[]);
                self.volume_nodes.insert(&vol.key, id);
            }
        }
        Ok(())
    }

    /// What a new container of `svc` must wait for: the creation of its
    /// networks and volumes, and the containers whose namespaces or volumes
    /// it shares (their start, or their creation with `--no-start`), since
    /// creating it needs theirs to exist.
    fn infra_deps(&self, svc: &DesiredService) -> Vec<usize> {
        let nets = svc
            .networks
            .iter()
            .filter_map(|k| self.network_nodes.get(k.as_str()));
        let vols = svc
            .volumes
            .iter()
            .filter_map(|k| self.volume_nodes.get(k.as_str()));
        let mut deps: Vec<usize> = nets.chain(vols).copied().collect();
        for p in &svc.namespace_parents {
            match self.start_nodes.get(p) {
                Some(starts) => deps.extend(starts),
                None => deps.extend(self.create_nodes.get(p).into_iter().flatten()),
            }
        }
        deps
    }

    /// Why `c` must be recreated, if it must.
    fn recreate_cause(&self, svc: &DesiredService, c: &ObservedContainer) -> Option<&'static str> {
        let policy = if self.is_targeted(&svc.name) {
            self.options.recreate
        } else {
            self.options.recreate_dependencies
        };
        match policy {
            Recreate::Never => return None,
            Recreate::Force => return Some("forced"),
            Recreate::Diverged => {}
        }
        if svc
            .namespace_parents
            .iter()
            .any(|p| self.recreated.contains(p))
        {
            return Some("namespace parent recreated");
        }
        if c.config_hash != svc.config_hash {
            return Some("config hash diverged");
        }
        if svc.image_id.is_some() && c.image_id != svc.image_id {
            return Some("image changed");
        }
        // A network removed (a `down` killed after it removed the network
        // but before the container records) or removed and created again:
        // the container's attachment names a bridge that is gone, so it
        // could never start again.
        let stale = c.bridges.iter().any(|(net, bridge)| {
            match self.observed.networks.iter().find(|o| &o.name == net) {
                Some(o) => &o.bridge != bridge,
                None => true,
            }
        });
        if stale {
            return Some("network recreated");
        }
        if c.state == ContainerState::Running {
            let wanted = svc.networks.iter().filter_map(|k| self.network_name(k));
            if wanted
                .into_iter()
                .any(|n| !c.networks.iter().any(|have| have == n))
            {
                return Some("network mismatch");
            }
        }
        None
    }

    fn network_name(&self, key: &str) -> Option<&'a str> {
        self.desired
            .networks
            .iter()
            .find(|n| n.key == key)
            .map(|n| n.name.as_str())
    }

    /// The gate a start of a dependent waits on; created once per
    /// (service, condition).
    fn gate(&mut self, dep: &Dependency) -> usize {
        let key = (dep.service.clone(), dep.condition);
        if let Some(&id) = self.gates.get(&key) {
            return id;
        }
        let deps = self
            .start_nodes
            .get(&dep.service)
            .cloned()
            .unwrap_or_default();
        let op = Op::WaitService {
            service: dep.service.clone(),
            condition: dep.condition,
            required: dep.required,
        };
        let id = self.plan.add(op, dep.condition.as_str(), &deps);
        self.gates.insert(key, id);
        id
    }

    fn stop(&mut self, svc: &str, c: &ObservedContainer, cause: &str) -> usize {
        if let Some(&id) = self.stopped.get(&c.id) {
            return id;
        }
        let op = Op::StopContainer {
            service: svc.to_owned(),
            number: c.number,
            container: existing(c),
        };
        let id = self.plan.add(op, cause, &[]);
        self.stopped.insert(c.id.clone(), id);
        id
    }

    /// Dependents that declared `restart: true` on `svc` are stopped before
    /// it is recreated (and started again after it, by their own planning).
    fn stop_restart_dependents(&mut self, svc: &DesiredService) -> Vec<usize> {
        let dependents: Vec<&DesiredService> = self
            .desired
            .services
            .iter()
            .filter(|d| {
                d.depends_on
                    .iter()
                    .any(|dep| dep.service == svc.name && dep.restart)
            })
            .collect();
        let mut stops = Vec::new();
        for d in dependents {
            for c in self
                .observed
                .containers
                .iter()
                .filter(|c| c.service == d.name)
            {
                if c.state == ContainerState::Running {
                    let cause = format!("dependency {} recreated", svc.name);
                    stops.push(self.stop(&d.name, c, &cause));
                }
            }
        }
        stops
    }

    fn plan_service(&mut self, svc: &'a DesiredService) {
        let all: Vec<&ObservedContainer> = self
            .observed
            .containers
            .iter()
            .filter(|c| c.service == svc.name)
            .collect();
        let causes: HashMap<&str, Option<&'static str>> = all
            .iter()
            .map(|c| (c.id.as_str(), self.recreate_cause(svc, c)))
            .collect();
        let expected = |c: &ObservedContainer| container_name(&self.desired.project, svc, c.number);
        // One container per number. A recreate cut short (berth killed) can
        // leave the replacement, under its temporary name, beside the
        // container it replaces: keep the up-to-date one.
        let mut by_rank = all.clone();
        by_rank.sort_by_key(|c| {
            (
                c.number,
                causes[c.id.as_str()].is_some(),
                c.name != expected(c),
            )
        });
        let mut numbers = HashSet::new();
        let (mut containers, duplicates): (Vec<&ObservedContainer>, Vec<&ObservedContainer>) =
            by_rank.into_iter().partition(|c| numbers.insert(c.number));
        // Keep up-to-date containers with low numbers; scaling down removes the
        // rest (obsolete ones first, then the highest numbers).
        containers.sort_by_key(|c| (causes[c.id.as_str()].is_some(), c.number));
        let wanted = svc.replicas as usize;
        let infra = self.infra_deps(svc);
        let mut to_start: Vec<(u32, ContainerRef, Vec<usize>)> = Vec::new();
        let mut removals = Vec::new();
        let mut surplus: Vec<(&ObservedContainer, &str)> = duplicates
            .iter()
            .map(|c| (*c, "duplicate number"))
            .collect();
        surplus.extend(containers.iter().skip(wanted).map(|c| (*c, "scale down")));
        for (c, cause) in surplus {
            let stop = self.stop(&svc.name, c, cause);
            let op = Op::RemoveContainer {
                service: svc.name.clone(),
                number: c.number,
                container: existing(c),
                volumes: false,
            };
            removals.push(self.plan.add(op, cause, &[stop]));
        }
        for c in containers.iter().take(wanted) {
            if let Some(cause) = causes[c.id.as_str()] {
                let renamed = self.plan_recreate(svc, c, cause, &infra);
                to_start.push((c.number, ContainerRef::Created(renamed.0), vec![renamed.1]));
                continue;
            }
            let mut deps = infra.clone();
            let name = expected(c);
            if c.name != name && c.name.ends_with(&format!("_{name}")) {
                // The temporary name of an interrupted recreate.
                let op = Op::RenameContainer {
                    service: svc.name.clone(),
                    number: c.number,
                    container: existing(c),
                    name,
                };
                deps = vec![self.plan.add(op, "interrupted recreate", &removals)];
            }
            let active = matches!(c.state, ContainerState::Running | ContainerState::Paused);
            if c.state == ContainerState::Running && c.stopping {
                // Finish the stop that was cut short, then start it again.
                deps.push(self.stop(&svc.name, c, "stop cut short"));
                to_start.push((c.number, existing(c), deps));
            } else if let Some(&stop) = self.stopped.get(&c.id) {
                deps.push(stop);
                to_start.push((c.number, existing(c), deps));
            } else if !active {
                to_start.push((c.number, existing(c), deps));
            } else if c.state == ContainerState::Running && !c.wired {
                self.unwired.insert(c.id.clone());
                to_start.push((c.number, existing(c), deps));
            }
        }
        // New containers take the lowest free numbers, so a scale-up cut
        // short converges to 1..N as a complete one would.
        let used: HashSet<u32> = containers.iter().map(|c| c.number).collect();
        let missing = wanted.saturating_sub(containers.len());
        let free: Vec<u32> = (1..).filter(|n| !used.contains(n)).take(missing).collect();
        for number in free {
            let name = container_name(&self.desired.project, svc, number);
            let op = Op::CreateContainer {
                service: svc.name.clone(),
                number,
                name,
                inherit_from: None,
            };
            let id = self.plan.add(op, "no existing container", &infra);
            self.create_nodes
                .entry(svc.name.clone())
                .or_default()
                .push(id);
            to_start.push((number, ContainerRef::Created(id), vec![id]));
        }
        if self.options.no_start {
            return;
        }
        let gates: Vec<usize> = if to_start.is_empty() {
            Vec::new()
        } else {
            let deps: Vec<&Dependency> = svc
                .depends_on
                .iter()
                // A dependency scaled to 0 has nothing to wait for (Compose).
                .filter(|d| {
                    self.desired
                        .services
                        .iter()
                        .any(|s| s.name == d.service && s.replicas > 0)
                })
                .collect();
            deps.into_iter().map(|d| self.gate(d)).collect()
        };
        for (number, container, mut deps) in to_start {
            let cause = match &container {
                ContainerRef::Existing { id, .. } if self.unwired.contains(id) => {
                    "ports and DNS not set up"
                }
                _ => "not running",
            };
            deps.extend(&gates);
            let op = Op::StartContainer {
                service: svc.name.clone(),
                number,
                container,
            };
            let id = self.plan.add(op, cause, &deps);
            self.start_nodes
                .entry(svc.name.clone())
                .or_default()
                .push(id);
        }
    }

    fn in_desired(&self, service: &str) -> bool {
        self.desired.services.iter().any(|s| s.name == service)
    }

    /// Compose's recreate: create the replacement under a temporary name
    /// (inheriting anonymous volumes), stop and remove the old container,
    /// then give the new one its name. Returns (create node, rename node).
    fn plan_recreate(
        &mut self,
        svc: &DesiredService,
        c: &ObservedContainer,
        cause: &str,
        infra: &[usize],
    ) -> (usize, usize) {
        let restart_stops = self.stop_restart_dependents(svc);
        // The name it should have (not a temporary name left by a recreate
        // that was cut short).
        let final_name = container_name(&self.desired.project, svc, c.number);
        let tmp_name = format!("{}_{}", &c.id[..c.id.len().min(12)], final_name);
        let create = Op::CreateContainer {
            service: svc.name.clone(),
            number: c.number,
            name: tmp_name,
            inherit_from: Some(c.id.clone()),
        };
        let create_id = self.plan.add(create, cause, infra);
        self.create_nodes
            .entry(svc.name.clone())
            .or_default()
            .push(create_id);
        // The old container goes once its replacement exists, unless an
        // earlier part of the plan already stops it: a `network_mode:
        // service:` sharer that is also a `restart: true` dependent (as
        // Compose makes it) is stopped before its parent is recreated, and
        // its replacement can only be created after the parent's, so
        // waiting for it there would make a cycle.
        let stopped_before = self.stopped.contains_key(&c.id);
        let stop = self.stop(&svc.name, c, cause);
        if !stopped_before {
            self.plan.add_dep(stop, create_id);
        }
        for s in restart_stops {
            self.plan.add_dep(stop, s);
        }
        let remove = Op::RemoveContainer {
            service: svc.name.clone(),
            number: c.number,
            container: existing(c),
            volumes: false,
        };
        let remove_id = self.plan.add(remove, cause, &[stop]);
        let rename = Op::RenameContainer {
            service: svc.name.clone(),
            number: c.number,
            container: ContainerRef::Created(create_id),
            name: final_name,
        };
        let after: &[usize] = if stopped_before {
            &[remove_id, create_id]
        } else {
            &[remove_id]
        };
        let rename_id = self.plan.add(rename, cause, after);
        self.recreated.insert(svc.name.clone());
        (create_id, rename_id)
    }

    fn plan_orphans(&mut self) {
        let orphans: Vec<&ObservedContainer> = self
            .observed
            .containers
            .iter()
            .filter(|c| !self.in_desired(&c.service))
            .collect();
        if orphans.is_empty() {
            return;
        }
        if !self.options.remove_orphans {
            let names: Vec<&str> = orphans.iter().map(|c| c.name.as_str()).collect();
            self.plan.warnings.push(format!(
                "Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
                names.join(" ")
            ));
            return;
        }
        for c in orphans {
            let stop = self.stop(&c.service, c, "orphan");
            let op = Op::RemoveContainer {
                service: c.service.clone(),
                number: c.number,
                container: existing(c),
                volumes: false,
            };
            self.plan.add(op, "orphan", &[stop]);
        }
    }
}

fn existing(c: &ObservedContainer) -> ContainerRef {
    ContainerRef::Existing {
        id: c.id.clone(),
        name: c.name.clone(),
    }
}

/// `container_name`, else `<project>-<service>-<n>`.
pub(crate) fn container_name(project: &str, svc: &DesiredService, number: u32) -> String {
    match &svc.container_name {
        Some(n) => n.clone(),
        None => format!("{project}-{}-{number}", svc.name),
    }
}
