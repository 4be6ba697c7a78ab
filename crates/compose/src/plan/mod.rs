//! The plan: a DAG of operations computed by a pure function of what the
//! project wants and what exists. Printing a plan gives one line per node,
//! `[deps] -> #id resource, Operation, cause`, which the tests compare with
//! golden text.

mod down;
mod model;
mod order;
mod reconcile;

use std::fmt;

pub use down::plan_down;
pub use model::*;
pub use order::{OrderError, dependency_order};
pub use reconcile::plan_up;

/// Which container an operation acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerRef {
    /// A container that exists now.
    Existing { id: String, name: String },
    /// The container that the `CreateContainer` node with this id creates.
    Created(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    CreateNetwork {
        key: String,
        name: String,
    },
    RemoveNetwork {
        key: String,
        name: String,
    },
    CreateVolume {
        key: String,
        name: String,
    },
    RemoveVolume {
        key: String,
        name: String,
    },
    /// Create container `number` of `service` named `name`. When it replaces
    /// an older container, `inherit_from` names it so that the new container
    /// keeps its anonymous volumes (Compose does the same).
    CreateContainer {
        service: String,
        number: u32,
        name: String,
        inherit_from: Option<String>,
    },
    StartContainer {
        service: String,
        number: u32,
        container: ContainerRef,
    },
    StopContainer {
        service: String,
        number: u32,
        container: ContainerRef,
    },
    /// Remove a stopped container; `volumes` also removes its anonymous volumes.
    RemoveContainer {
        service: String,
        number: u32,
        container: ContainerRef,
        volumes: bool,
    },
    RenameContainer {
        service: String,
        number: u32,
        container: ContainerRef,
        name: String,
    },
    /// Wait until every container of `service` satisfies `condition`.
    WaitService {
        service: String,
        condition: Condition,
        required: bool,
    },
}

impl Op {
    /// The operation's name as printed in plans.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::CreateNetwork { .. } => "CreateNetwork",
            Op::RemoveNetwork { .. } => "RemoveNetwork",
            Op::CreateVolume { .. } => "CreateVolume",
            Op::RemoveVolume { .. } => "RemoveVolume",
            Op::CreateContainer { .. } => "CreateContainer",
            Op::StartContainer { .. } => "StartContainer",
            Op::StopContainer { .. } => "StopContainer",
            Op::RemoveContainer { .. } => "RemoveContainer",
            Op::RenameContainer { .. } => "RenameContainer",
            Op::WaitService { .. } => "WaitService",
        }
    }

    /// The resource the operation touches: `network:KEY`, `volume:KEY`,
    /// `service:NAME:N` or `service:NAME`.
    pub fn resource(&self) -> String {
        match self {
            Op::CreateNetwork { key, .. } | Op::RemoveNetwork { key, .. } => {
                format!("network:{key}")
            }
            Op::CreateVolume { key, .. } | Op::RemoveVolume { key, .. } => format!("volume:{key}"),
            Op::CreateContainer {
                service, number, ..
            }
            | Op::StartContainer {
                service, number, ..
            }
            | Op::StopContainer {
                service, number, ..
            }
            | Op::RemoveContainer {
                service, number, ..
            }
            | Op::RenameContainer {
                service, number, ..
            } => format!("service:{service}:{number}"),
            Op::WaitService { service, .. } => format!("service:{service}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// 1-based, in insertion order.
    pub id: usize,
    pub op: Op,
    /// Why the operation is needed (`not found`, `config hash diverged`, …).
    pub cause: String,
    /// Ids of the nodes that must finish first.
    pub deps: Vec<usize>,
}

/// A DAG of operations. Nodes only depend on nodes that exist; the planner
/// never creates cycles (a cycle in `depends_on` is rejected when loading).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub nodes: Vec<Node>,
    /// Things the user should know (orphan containers, …).
    pub warnings: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The plan restricted to the nodes whose operation `keep` accepts,
    /// renumbered; a kept node still waits for every kept node it depended
    /// on, directly or through dropped ones.
    pub fn filtered(&self, keep: impl Fn(&Op) -> bool) -> Plan {
        let mut new_id = vec![0usize; self.nodes.len() + 1];
        let mut out = Plan {
            nodes: Vec::new(),
            warnings: self.warnings.clone(),
        };
        // Kept ancestors of each node, computed in id order (deps are earlier
        // or later ids, so resolve recursively with memoisation).
        fn kept_deps(
            plan: &Plan,
            id: usize,
            keep: &dyn Fn(&Op) -> bool,
            memo: &mut Vec<Option<Vec<usize>>>,
        ) -> Vec<usize> {
            if let Some(v) = &memo[id] {
                return v.clone();
            }
            memo[id] = Some(Vec::new()); // guards against cycles
            let mut v = Vec::new();
            for &d in &plan.node(id).deps {
                if keep(&plan.node(d).op) {
                    v.push(d);
                } else {
                    v.extend(kept_deps(plan, d, keep, memo));
                }
            }
            v.sort_unstable();
            v.dedup();
            memo[id] = Some(v.clone());
            v
        }
        let mut memo = vec![None; self.nodes.len() + 1];
        for n in &self.nodes {
            if keep(&n.op) {
                new_id[n.id] = out.nodes.len() + 1;
                out.nodes.push(n.clone());
            }
        }
        for n in &mut out.nodes {
            let old = n.id;
            n.deps = kept_deps(self, old, &keep, &mut memo)
                .into_iter()
                .map(|d| new_id[d])
                .collect();
            n.id = new_id[old];
        }
        out
    }

    pub fn node(&self, id: usize) -> &Node {
        &self.nodes[id - 1]
    }

    fn add(&mut self, op: Op, cause: impl Into<String>, deps: &[usize]) -> usize {
        let id = self.nodes.len() + 1;
        let mut deps = deps.to_vec();
        deps.sort_unstable();
        deps.dedup();
        self.nodes.push(Node {
            id,
            op,
            cause: cause.into(),
            deps,
        });
        id
    }

    /// Makes node `id` also wait for `dep`.
    fn add_dep(&mut self, id: usize, dep: usize) {
        let deps = &mut self.nodes[id - 1].deps;
        if !deps.contains(&dep) {
            deps.push(dep);
            deps.sort_unstable();
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for n in &self.nodes {
            let deps: Vec<String> = n.deps.iter().map(|d| d.to_string()).collect();
            writeln!(
                f,
                "[{}] -> #{} {}, {}, {}",
                deps.join(","),
                n.id,
                n.op.resource(),
                n.op.kind(),
                n.cause
            )?;
        }
        Ok(())
    }
}

/// Errors that make a plan impossible.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("network {name} declared as external, but could not be found")]
    ExternalNetworkMissing { name: String },
    #[error("external volume \"{name}\" not found")]
    ExternalVolumeMissing { name: String },
    #[error("no such service: {0}")]
    UnknownService(String),
    #[error(transparent)]
    Order(#[from] OrderError),
}

#[cfg(test)]
mod tests;
