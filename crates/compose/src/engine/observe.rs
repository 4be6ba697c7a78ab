//! What exists for a project, as the planner sees it.

use std::collections::HashSet;

use berth_runtime::{Container, Status};

use super::labels;
use crate::plan::{ContainerState, Observed, ObservedContainer, ObservedNetwork, ObservedVolume};

pub fn state(s: Status) -> ContainerState {
    match s {
        Status::Created => ContainerState::Created,
        Status::Running => ContainerState::Running,
        Status::Paused => ContainerState::Paused,
        Status::Restarting => ContainerState::Restarting,
        Status::Exited => ContainerState::Exited,
        Status::Dead => ContainerState::Dead,
    }
}

/// The project's containers (one-off `run` containers excluded).
pub fn project_containers(all: Vec<Container>, project: &str) -> Vec<Container> {
    all.into_iter()
        .filter(|c| c.config.labels.get(labels::PROJECT).map(String::as_str) == Some(project))
        .filter(|c| !is_oneoff(c))
        .collect()
}

/// A container of `berth run`.
pub fn is_oneoff(c: &Container) -> bool {
    c.config.labels.get(labels::ONEOFF).map(String::as_str) == Some("True")
}

/// `endpoints` are the ids of containers with a DNS entry: the last step of
/// a start, so a running container attached to networks without one has not
/// been wired up completely. `stopping` are the ids of running containers
/// with a stop requested.
pub fn observed(
    containers: &[Container],
    networks: Vec<(String, bool, String)>,
    volumes: Vec<String>,
    endpoints: &HashSet<String>,
    stopping: &HashSet<String>,
) -> Observed {
    Observed {
        containers: containers
            .iter()
            .map(|c| ObservedContainer {
                id: c.config.id.clone(),
                name: c.config.name.clone(),
                service: c
                    .config
                    .labels
                    .get(labels::SERVICE)
                    .cloned()
                    .unwrap_or_default(),
                number: c
                    .config
                    .labels
                    .get(labels::NUMBER)
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0),
                config_hash: c
                    .config
                    .labels
                    .get(labels::CONFIG_HASH)
                    .cloned()
                    .unwrap_or_default(),
                image_id: Some(c.config.image_id.clone()),
                state: state(c.state.status),
                networks: match &c.config.network {
                    berth_runtime::NetworkMode::Bridge(a) => {
                        a.iter().map(|a| a.network.clone()).collect()
                    }
                    _ => Vec::new(),
                },
                bridges: match &c.config.network {
                    berth_runtime::NetworkMode::Bridge(a) => a
                        .iter()
                        .map(|a| (a.network.clone(), a.bridge.clone()))
                        .collect(),
                    _ => Vec::new(),
                },
                wired: match &c.config.network {
                    berth_runtime::NetworkMode::Bridge(a) if !a.is_empty() => {
                        endpoints.contains(&c.config.id)
                    }
                    _ => true,
                },
                stopping: stopping.contains(&c.config.id),
            })
            .collect(),
        networks: networks
            .into_iter()
            .map(|(name, intact, bridge)| ObservedNetwork {
                name,
                intact,
                bridge,
            })
            .collect(),
        volumes: volumes
            .into_iter()
            .map(|name| ObservedVolume { name })
            .collect(),
    }
}
