//! From a loaded Compose [`Project`] to the planner's [`Desired`] view.

use std::collections::HashMap;

use berth_spec::{Project, Service};

use crate::plan::{Condition, Dependency, Desired, DesiredNetwork, DesiredService, DesiredVolume};

/// The service a `service:NAME` reference (network_mode, ipc, pid) points to.
pub fn service_ref(mode: Option<&str>) -> Option<&str> {
    mode?.strip_prefix("service:")
}

/// How many containers a service wants: `--scale` overrides, then `scale`,
/// then `deploy.replicas`, else 1.
pub fn replicas(svc: &Service, overrides: &HashMap<String, u32>) -> u32 {
    if let Some(n) = overrides.get(&svc.name) {
        return *n;
    }
    let from_file = svc
        .scale
        .or_else(|| svc.deploy.as_ref().and_then(|d| d.replicas));
    from_file.map(|n| n.max(0) as u32).unwrap_or(1)
}

fn condition(c: &str) -> Condition {
    match c {
        "service_healthy" => Condition::Healthy,
        "service_completed_successfully" => Condition::CompletedSuccessfully,
        _ => Condition::Started,
    }
}

/// Services whose namespaces or volumes `svc` shares.
pub fn namespace_parents(svc: &Service) -> Vec<String> {
    let modes = [
        svc.network_mode.as_deref(),
        svc.ipc.as_deref(),
        svc.pid.as_deref(),
    ];
    let mut parents: Vec<String> = modes
        .into_iter()
        .filter_map(service_ref)
        .map(str::to_owned)
        .collect();
    for vf in &svc.volumes_from {
        if vf.starts_with("container:") {
            continue;
        }
        let name = vf.split(':').next().unwrap_or(vf);
        parents.push(name.to_owned());
    }
    parents.sort();
    parents.dedup();
    parents
}

/// Network key → real name.
pub fn network_name(project: &Project, key: &str) -> String {
    project
        .networks
        .get(key)
        .and_then(|n| n.name.clone())
        .unwrap_or_else(|| format!("{}_{key}", project.name))
}

/// Volume key → real name.
pub fn volume_name(project: &Project, key: &str) -> String {
    project
        .volumes
        .get(key)
        .and_then(|v| v.name.clone())
        .unwrap_or_else(|| format!("{}_{key}", project.name))
}

/// The planner's view of `project`. `image_ids` maps a service name to the id
/// of the image its containers must run (when known); `scale` holds `--scale`.
pub fn desired(
    project: &Project,
    image_ids: &HashMap<String, String>,
    scale: &HashMap<String, u32>,
) -> Desired {
    let services = project
        .services
        .values()
        .map(|svc| DesiredService {
            name: svc.name.clone(),
            replicas: replicas(svc, scale),
            config_hash: berth_spec::service_hash(svc),
            image_id: image_ids.get(&svc.name).cloned(),
            container_name: svc.container_name.clone(),
            depends_on: svc
                .depends_on
                .iter()
                .map(|(name, d)| Dependency {
                    service: name.clone(),
                    condition: condition(&d.condition),
                    required: d.required,
                    restart: d.restart,
                })
                .collect(),
            namespace_parents: namespace_parents(svc),
            networks: if svc.network_mode.is_some() {
                Vec::new()
            } else {
                svc.networks.keys().cloned().collect()
            },
            volumes: svc
                .volumes
                .iter()
                .filter(|v| v.kind == "volume")
                .filter_map(|v| v.source.clone())
                .filter(|s| project.volumes.contains_key(s))
                .collect(),
        })
        .collect();
    let networks = project
        .networks
        .iter()
        .map(|(key, n)| DesiredNetwork {
            key: key.clone(),
            name: network_name(project, key),
            external: n.external,
        })
        .collect();
    let volumes = project
        .volumes
        .iter()
        .map(|(key, v)| DesiredVolume {
            key: key.clone(),
            name: volume_name(project, key),
            external: v.external,
        })
        .collect();
    Desired {
        project: project.name.clone(),
        services,
        networks,
        volumes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("compose.yaml"), yaml).unwrap();
        let opts = berth_spec::LoadOptions {
            working_dir: dir.path().to_owned(),
            ..Default::default()
        };
        berth_spec::load(&opts).unwrap().project
    }

    #[test]
    fn translates_dependencies_networks_volumes_and_scale() {
        let p = load(
            "name: shop\nservices:\n  web:\n    image: busybox\n    depends_on:\n      db: {condition: service_healthy, restart: true}\n    deploy: {replicas: 2}\n  db:\n    image: busybox\n    volumes: [data:/var/lib/db, /anon]\n  side:\n    image: busybox\n    network_mode: service:web\nvolumes:\n  data: {}\n",
        );
        let d = desired(
            &p,
            &HashMap::new(),
            &HashMap::from([("side".to_string(), 3)]),
        );
        assert_eq!(d.project, "shop");
        let web = d.services.iter().find(|s| s.name == "web").unwrap();
        assert_eq!(web.replicas, 2);
        assert_eq!(
            web.depends_on,
            vec![Dependency {
                service: "db".into(),
                condition: Condition::Healthy,
                required: true,
                restart: true
            }]
        );
        assert_eq!(web.networks, vec!["default"]);
        let db = d.services.iter().find(|s| s.name == "db").unwrap();
        assert_eq!(db.volumes, vec!["data"]);
        let side = d.services.iter().find(|s| s.name == "side").unwrap();
        assert_eq!(side.replicas, 3);
        assert_eq!(side.namespace_parents, vec!["web"]);
        assert!(side.networks.is_empty());
        assert_eq!(
            d.networks,
            vec![DesiredNetwork {
                key: "default".into(),
                name: "shop_default".into(),
                external: false
            }]
        );
        assert_eq!(
            d.volumes,
            vec![DesiredVolume {
                key: "data".into(),
                name: "shop_data".into(),
                external: false
            }]
        );
        assert_eq!(
            web.config_hash,
            berth_spec::service_hash(&p.services["web"])
        );
    }
}
