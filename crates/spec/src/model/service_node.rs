//! Reading a [`Service`] from its node.

use std::collections::BTreeMap;

use super::deploy::gpus_from_node;
use super::extra::ServiceModel;
use super::misc::{
    command_from_node, depends_on_from_node, env_files_from_node, service_networks_from_node,
};
use super::ports::ports_from_node;
use super::service::{SERVICE_KEYS, Service, expose_list};
use crate::convert::{FromNode, ScalarString, extensions, field, join, obj};
use crate::error::RawResult;
use crate::yaml::{Kind, Node};

impl FromNode for Service {
    fn from_node(n: &Node, path: &str) -> RawResult<Self> {
        if n.is_null() {
            return Ok(Service::default());
        }
        let m = obj(n, path, SERVICE_KEYS, true)?;
        let get = |k: &str| m.get(k);
        macro_rules! f {
            ($k:literal) => {
                field(m, n, path, $k)?
            };
        }
        macro_rules! with {
            ($k:literal, $func:expr) => {
                match get($k) {
                    Some(v) => $func(v, &join(path, $k))?,
                    None => Default::default(),
                }
            };
        }
        let models = match get("models") {
            Some(v) if matches!(v.kind, Kind::Seq(_)) => {
                Vec::<String>::from_node(v, &join(path, "models"))?
                    .into_iter()
                    .map(|k| (k, None))
                    .collect()
            }
            Some(v) => {
                BTreeMap::<String, Option<ServiceModel>>::from_node(v, &join(path, "models"))?
            }
            None => BTreeMap::new(),
        };
        Ok(Service {
            name: String::new(),
            profiles: f!("profiles"),
            annotations: f!("annotations"),
            attach: f!("attach"),
            build: f!("build"),
            develop: f!("develop"),
            blkio_config: f!("blkio_config"),
            cap_add: f!("cap_add"),
            cap_drop: f!("cap_drop"),
            cgroup_parent: f!("cgroup_parent"),
            cgroup: f!("cgroup"),
            cpu_count: f!("cpu_count"),
            cpu_percent: f!("cpu_percent"),
            cpu_period: f!("cpu_period"),
            cpu_quota: f!("cpu_quota"),
            cpu_rt_period: f!("cpu_rt_period"),
            cpu_rt_runtime: f!("cpu_rt_runtime"),
            cpus: f!("cpus"),
            cpuset: f!("cpuset"),
            cpu_shares: f!("cpu_shares"),
            command: with!("command", command_from_node),
            configs: f!("configs"),
            container_name: f!("container_name"),
            credential_spec: f!("credential_spec"),
            depends_on: with!("depends_on", depends_on_from_node),
            deploy: f!("deploy"),
            device_cgroup_rules: f!("device_cgroup_rules"),
            devices: f!("devices"),
            dns: f!("dns"),
            dns_opt: f!("dns_opt"),
            dns_search: f!("dns_search"),
            domainname: f!("domainname"),
            entrypoint: with!("entrypoint", command_from_node),
            provider: f!("provider"),
            environment: f!("environment"),
            env_file: with!("env_file", env_files_from_node),
            expose: expose_list(f!("expose")),
            extends: f!("extends"),
            external_links: f!("external_links"),
            extra_hosts: f!("extra_hosts"),
            group_add: field::<Vec<ScalarString>>(m, n, path, "group_add")?
                .into_iter()
                .map(|s| s.0)
                .collect(),
            gpus: with!("gpus", gpus_from_node),
            hostname: f!("hostname"),
            healthcheck: f!("healthcheck"),
            image: f!("image"),
            init: f!("init"),
            ipc: f!("ipc"),
            isolation: f!("isolation"),
            labels: f!("labels"),
            label_file: field::<crate::convert::StringList>(m, n, path, "label_file")?.0,
            links: f!("links"),
            logging: f!("logging"),
            mem_limit: f!("mem_limit"),
            mem_reservation: f!("mem_reservation"),
            memswap_limit: f!("memswap_limit"),
            mem_swappiness: f!("mem_swappiness"),
            mac_address: f!("mac_address"),
            models,
            network_mode: f!("network_mode"),
            networks: with!("networks", service_networks_from_node),
            oom_kill_disable: f!("oom_kill_disable"),
            oom_score_adj: f!("oom_score_adj"),
            pid: f!("pid"),
            pids_limit: f!("pids_limit"),
            platform: f!("platform"),
            ports: with!("ports", ports_from_node),
            privileged: f!("privileged"),
            pull_policy: f!("pull_policy"),
            pull_refresh_after: f!("pull_refresh_after"),
            read_only: f!("read_only"),
            restart: f!("restart"),
            runtime: f!("runtime"),
            scale: f!("scale"),
            secrets: f!("secrets"),
            security_opt: f!("security_opt"),
            shm_size: f!("shm_size"),
            stdin_open: f!("stdin_open"),
            stop_grace_period: f!("stop_grace_period"),
            stop_signal: f!("stop_signal"),
            storage_opt: field::<crate::convert::Mapping>(m, n, path, "storage_opt")?.0,
            sysctls: f!("sysctls"),
            tmpfs: f!("tmpfs"),
            tty: f!("tty"),
            ulimits: f!("ulimits"),
            use_api_socket: f!("use_api_socket"),
            user: f!("user"),
            userns_mode: f!("userns_mode"),
            uts: f!("uts"),
            volumes: f!("volumes"),
            volumes_from: f!("volumes_from"),
            working_dir: f!("working_dir"),
            pre_start: f!("pre_start"),
            post_start: f!("post_start"),
            pre_stop: f!("pre_stop"),
            extensions: extensions(m),
        })
    }
}
