//! `deploy` (Swarm-era; Compose honours replicas, resources and
//! restart_policy) and GPU/device requests.

use serde::Serialize;

use crate::convert::{Extensions, FromNode, Mapping, expected};
use crate::error::RawResult;
use crate::from_node;
use crate::units::{Bytes, Duration};
use crate::yaml::{Kind, Node};

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Deploy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i64>,
    #[serde(skip_serializing_if = "Mapping::is_empty")]
    pub labels: Mapping,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_config: Option<UpdateConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_config: Option<UpdateConfig>,
    #[serde(skip_serializing_if = "crate::serialize::skip_empty_struct")]
    pub resources: Resources,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    #[serde(skip_serializing_if = "crate::serialize::skip_empty_struct")]
    pub placement: Placement,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_mode: Option<String>,
    #[serde(flatten)]
    pub extensions: Extensions,
}
from_node!(Deploy {
    mode, replicas, labels, update_config, rollback_config, resources, restart_policy, placement,
    endpoint_mode
} ext);

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct UpdateConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monitor: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_failure_ratio: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    #[serde(flatten)]
    pub extensions: Extensions,
}
from_node!(UpdateConfig { parallelism, delay, failure_action, monitor, max_failure_ratio, order } ext);

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Resources {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<Resource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reservations: Option<Resource>,
    #[serde(flatten)]
    pub extensions: Extensions,
}
from_node!(Resources { limits, reservations } ext);

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Resource {
    /// CPUs as a fraction of cores (`0.5`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<Bytes>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceRequest>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub generic_resources: Vec<GenericResource>,
    #[serde(flatten)]
    pub extensions: Extensions,
}
from_node!(Resource { cpus, memory, pids, devices, generic_resources } ext);

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct GenericResource {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discrete_resource_spec: Option<DiscreteResource>,
    #[serde(flatten)]
    pub extensions: Extensions,
}
from_node!(GenericResource { discrete_resource_spec } ext);

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DiscreteResource {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<i64>,
    #[serde(flatten)]
    pub extensions: Extensions,
}
from_node!(DiscreteResource { kind, value } ext);

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RestartPolicy {
    /// `none`, `on-failure` or `any`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay: Option<Duration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<Duration>,
    #[serde(flatten)]
    pub extensions: Extensions,
}
from_node!(RestartPolicy { condition, delay, max_attempts, window } ext);

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Placement {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub preferences: Vec<PlacementPreference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_replicas_per_node: Option<u64>,
    #[serde(flatten)]
    pub extensions: Extensions,
}
from_node!(Placement { constraints, preferences, max_replicas_per_node } ext);

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PlacementPreference {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spread: Option<String>,
    #[serde(flatten)]
    pub extensions: Extensions,
}
from_node!(PlacementPreference { spread } ext);

/// A device request (`gpus`, `deploy.resources.reservations.devices`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DeviceRequest {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    /// A number, or -1 for `all`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_ids: Vec<String>,
    #[serde(skip_serializing_if = "Mapping::is_empty")]
    pub options: Mapping,
    #[serde(flatten)]
    pub extensions: Extensions,
}

impl FromNode for DeviceRequest {
    fn from_node(n: &Node, path: &str) -> RawResult<Self> {
        use crate::convert::{extensions, field, obj};
        let m = obj(
            n,
            path,
            &["capabilities", "driver", "count", "device_ids", "options"],
            true,
        )?;
        let count =
            match m.get("count") {
                None => None,
                Some(c) => match &c.kind {
                    Kind::Str(s) if s == "all" => Some(-1),
                    Kind::Null => None,
                    _ => Some(crate::convert::int_of(c, &format!("{path}.count")).map_err(
                        |_| expected(c, &format!("{path}.count"), "a number or \"all\""),
                    )?),
                },
            };
        Ok(DeviceRequest {
            capabilities: field(m, n, path, "capabilities")?,
            driver: field(m, n, path, "driver")?,
            count,
            device_ids: field(m, n, path, "device_ids")?,
            options: field(m, n, path, "options")?,
            extensions: extensions(m),
        })
    }
}

/// `gpus: all` or a list of device requests.
pub fn gpus_from_node(n: &Node, path: &str) -> RawResult<Vec<DeviceRequest>> {
    match &n.kind {
        Kind::Str(s) if s == "all" => Ok(vec![DeviceRequest {
            count: Some(-1),
            ..Default::default()
        }]),
        _ => Vec::<DeviceRequest>::from_node(n, path),
    }
}
