//! A Compose service + its image → the runtime's container config: Docker's
//! rules for entrypoint/command, environment, mounts, limits and security.

use std::collections::BTreeMap;

use berth_image::{Image, ImageConfig};
use berth_runtime::{
    ContainerConfig, Healthcheck, Logging, Mount, MountKind, NetworkMode, Process, Resources,
    RestartPolicy, Security, Ulimit,
};
use berth_spec::{Project, Service};

use crate::desired::volume_name;

/// Docker's rule (its daemon merges the service's settings over the
/// image's): a new, non-empty entrypoint drops the image's Cmd unless the
/// service gives a command too. An empty one (`entrypoint: []` or `""`)
/// drops the image's entrypoint only, and an empty command counts as none:
/// the image's Cmd runs then (checked against Compose v2 on Docker).
pub fn argv(
    image: &ImageConfig,
    entrypoint: Option<&Vec<String>>,
    command: Option<&Vec<String>>,
) -> Vec<String> {
    let (ep, cmd) = match entrypoint {
        Some(e) if !e.is_empty() => (e.clone(), command.cloned().unwrap_or_default()),
        _ => (
            match entrypoint {
                Some(_) => Vec::new(),
                None => image.entrypoint.clone().unwrap_or_default(),
            },
            command
                .filter(|c| !c.is_empty())
                .cloned()
                .or_else(|| image.cmd.clone())
                .unwrap_or_default(),
        ),
    };
    ep.into_iter().chain(cmd).collect()
}

/// Image env, then the service's `environment` (which already holds the
/// `env_file` content); a variable without a value is left out.
pub fn env(image: &ImageConfig, service: &BTreeMap<String, Option<String>>) -> Vec<String> {
    let mut out: Vec<String> = image
        .env
        .iter()
        .filter(|e| {
            let k = e.split('=').next().unwrap_or("");
            !service.contains_key(k)
        })
        .cloned()
        .collect();
    for (k, v) in service {
        if let Some(v) = v {
            out.push(format!("{k}={v}"));
        }
    }
    out
}

fn secs(d: Option<&berth_spec::Duration>) -> Option<f64> {
    d.map(|d| d.as_std().as_secs_f64())
}

/// The container's healthcheck: the service's, else the image's.
pub fn healthcheck(svc: &Service, image: &ImageConfig) -> Option<Healthcheck> {
    if let Some(h) = &svc.healthcheck {
        if h.disable || h.test.first().map(String::as_str) == Some("NONE") {
            return None;
        }
        let inherited = image.healthcheck.as_ref();
        let test = if h.test.is_empty() {
            inherited.map(|i| i.test.clone()).unwrap_or_default()
        } else {
            h.test.clone()
        };
        if test.is_empty() {
            return None;
        }
        return Some(Healthcheck {
            test,
            interval: secs(h.interval.as_ref()),
            timeout: secs(h.timeout.as_ref()),
            start_period: secs(h.start_period.as_ref()),
            start_interval: secs(h.start_interval.as_ref()),
            retries: h.retries.map(|r| r as u32),
        });
    }
    let h = image.healthcheck.as_ref()?;
    if h.test.is_empty() || h.test[0] == "NONE" {
        return None;
    }
    Some(Healthcheck {
        test: h.test.clone(),
        interval: h.interval.map(|d| d.as_secs_f64()),
        timeout: h.timeout.map(|d| d.as_secs_f64()),
        start_period: h.start_period.map(|d| d.as_secs_f64()),
        start_interval: h.start_interval.map(|d| d.as_secs_f64()),
        retries: h.retries,
    })
}

/// `restart:`, overridden by `deploy.restart_policy` as Compose does.
pub fn restart(svc: &Service) -> RestartPolicy {
    if let Some(rp) = svc.deploy.as_ref().and_then(|d| d.restart_policy.as_ref()) {
        return match rp.condition.as_deref() {
            Some("none") => RestartPolicy::No,
            Some("on-failure") => RestartPolicy::OnFailure(rp.max_attempts.map(|m| m as u32)),
            _ => RestartPolicy::Always,
        };
    }
    svc.restart
        .as_deref()
        .and_then(RestartPolicy::parse)
        .unwrap_or(RestartPolicy::No)
}

fn resources(svc: &Service) -> Resources {
    let limits = svc
        .deploy
        .as_ref()
        .and_then(|d| d.resources.limits.as_ref());
    Resources {
        memory: svc
            .mem_limit
            .map(|b| b.0)
            .or_else(|| limits.and_then(|l| l.memory.map(|b| b.0))),
        memory_swap: svc.memswap_limit.map(|b| b.0),
        memory_reservation: svc.mem_reservation.map(|b| b.0),
        cpus: svc.cpus.or_else(|| limits.and_then(|l| l.cpus)),
        cpu_shares: svc.cpu_shares.map(|s| s as u64),
        cpuset: svc.cpuset.clone(),
        pids_limit: svc.pids_limit.or_else(|| limits.and_then(|l| l.pids)),
    }
}

/// Mounts: service volumes, tmpfs, secrets and configs, and an anonymous
/// volume for every image VOLUME the service does not mount itself.
pub fn mounts(project: &Project, svc: &Service, image: &ImageConfig) -> Vec<Mount> {
    let mut out = Vec::new();
    for v in &svc.volumes {
        let kind = match v.kind.as_str() {
            "bind" => MountKind::Bind,
            "tmpfs" => MountKind::Tmpfs,
            _ => MountKind::Volume,
        };
        let source = match kind {
            MountKind::Volume => v.source.as_ref().map(|s| {
                if project.volumes.contains_key(s) {
                    volume_name(project, s)
                } else {
                    s.clone()
                }
            }),
            _ => v.source.clone(),
        };
        out.push(Mount {
            kind,
            source,
            target: v.target.clone(),
            read_only: v.read_only,
            create_host_path: v
                .bind
                .as_ref()
                .and_then(|b| b.create_host_path)
                .unwrap_or(true),
            nocopy: v.volume.as_ref().is_some_and(|o| o.nocopy),
            tmpfs_size: v.tmpfs.as_ref().and_then(|t| t.size.map(|s| s.0 as u64)),
            tmpfs_mode: v.tmpfs.as_ref().and_then(|t| t.mode.map(|m| m.0)),
            propagation: v.bind.as_ref().and_then(|b| b.propagation.clone()),
        });
    }
    for t in &svc.tmpfs.0 {
        let (path, opts) = t.split_once(':').unwrap_or((t, ""));
        let size = opts
            .split(',')
            .find_map(|o| o.strip_prefix("size="))
            .and_then(|s| berth_spec::Bytes::parse(s).map(|b| b.0 as u64));
        let mode = opts
            .split(',')
            .find_map(|o| o.strip_prefix("mode="))
            .and_then(|m| u32::from_str_radix(m, 8).ok());
        out.push(Mount {
            kind: MountKind::Tmpfs,
            target: path.to_owned(),
            tmpfs_size: size,
            tmpfs_mode: mode,
            ..Default::default()
        });
    }
    for (refs, objects, default_dir) in [
        (&svc.secrets, &project.secrets, "/run/secrets/"),
        (&svc.configs, &project.configs, "/"),
    ] {
        for r in refs {
            let Some(obj) = objects.get(&r.source) else {
                continue;
            };
            let Some(file) = &obj.file else { continue };
            let target = match &r.target {
                Some(t) if t.starts_with('/') => t.clone(),
                Some(t) => format!("{default_dir}{t}"),
                None => format!("{default_dir}{}", r.source),
            };
            out.push(Mount {
                kind: MountKind::Bind,
                source: Some(file.clone()),
                target,
                read_only: true,
                ..Default::default()
            });
        }
    }
    for v in image.volumes.keys() {
        if !out
            .iter()
            .any(|m| m.target.trim_end_matches('/') == v.trim_end_matches('/'))
        {
            out.push(Mount {
                kind: MountKind::Volume,
                target: v.clone(),
                ..Default::default()
            });
        }
    }
    out
}

/// Everything of the container config that depends only on the service and
/// its image (the caller adds id, name, labels, network and name files).
pub fn container(
    project: &Project,
    svc: &Service,
    image: &Image,
    lower_dirs: Vec<std::path::PathBuf>,
    image_ref: &str,
) -> ContainerConfig {
    let ic = &image.config;
    let security_opt_nnp = svc.security_opt.iter().any(|o| {
        o == "no-new-privileges" || o == "no-new-privileges:true" || o == "no-new-privileges=true"
    });
    ContainerConfig {
        image: image_ref.to_owned(),
        image_id: image.id.clone(),
        lower_dirs,
        process: Process {
            args: argv(ic, svc.entrypoint.as_ref(), svc.command.as_ref()),
            env: env(ic, &svc.environment.0),
            cwd: svc
                .working_dir
                .clone()
                .unwrap_or_else(|| ic.working_dir.clone()),
            user: svc.user.clone().unwrap_or_else(|| ic.user.clone()),
            group_add: svc.group_add.clone(),
            tty: svc.tty,
            stdin_open: svc.stdin_open,
        },
        hostname: svc.hostname.clone().unwrap_or_default(),
        domainname: svc.domainname.clone(),
        mounts: mounts(project, svc, ic),
        resources: resources(svc),
        security: Security {
            privileged: svc.privileged,
            cap_add: svc.cap_add.clone(),
            cap_drop: svc.cap_drop.clone(),
            read_only: svc.read_only,
            no_new_privileges: security_opt_nnp,
        },
        ulimits: svc
            .ulimits
            .iter()
            .map(|(k, u)| Ulimit {
                name: k.clone(),
                soft: u.soft().max(0) as u64,
                hard: u.hard().max(0) as u64,
            })
            .collect(),
        sysctls: svc.sysctls.0.clone(),
        network: NetworkMode::None,
        healthcheck: healthcheck(svc, ic),
        restart: restart(svc),
        stop_signal: svc
            .stop_signal
            .clone()
            .or_else(|| (!ic.stop_signal.is_empty()).then(|| ic.stop_signal.clone())),
        stop_grace_period: secs(svc.stop_grace_period.as_ref()),
        logging: Logging {
            driver: svc.logging.as_ref().and_then(|l| l.driver.clone()),
            options: svc
                .logging
                .as_ref()
                .map(|l| l.options.0.clone())
                .unwrap_or_default(),
        },
        init: svc.init.unwrap_or(false),
        shm_size: svc.shm_size.map(|b| b.0 as u64),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ic(ep: Option<&[&str]>, cmd: Option<&[&str]>) -> ImageConfig {
        let v = |x: Option<&[&str]>| x.map(|s| s.iter().map(|s| s.to_string()).collect());
        ImageConfig {
            entrypoint: v(ep),
            cmd: v(cmd),
            ..Default::default()
        }
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn entrypoint_and_command_rules() {
        let img = ic(Some(&["/entry"]), Some(&["serve"]));
        assert_eq!(argv(&img, None, None), s(&["/entry", "serve"]));
        assert_eq!(argv(&img, None, Some(&s(&["run"]))), s(&["/entry", "run"]));
        assert_eq!(
            argv(&img, Some(&s(&["sh"])), None),
            s(&["sh"]),
            "a new entrypoint drops the image's Cmd"
        );
        assert_eq!(
            argv(&img, Some(&s(&["sh", "-c"])), Some(&s(&["echo"]))),
            s(&["sh", "-c", "echo"])
        );
        assert_eq!(
            argv(&img, Some(&vec![]), Some(&s(&["true"]))),
            s(&["true"]),
            "entrypoint reset"
        );
        assert_eq!(
            argv(&img, None, Some(&vec![])),
            s(&["/entry", "serve"]),
            "an empty command is none: the image's Cmd"
        );
        assert_eq!(
            argv(&img, Some(&vec![]), None),
            s(&["serve"]),
            "entrypoint reset alone runs the image's Cmd"
        );
        assert_eq!(
            argv(&img, Some(&s(&["sh"])), Some(&vec![])),
            s(&["sh"]),
            "a new entrypoint with an empty command"
        );
    }

    #[test]
    fn environment_layers() {
        let img = ImageConfig {
            env: s(&["PATH=/bin", "A=image", "B=image"]),
            ..Default::default()
        };
        let svc: BTreeMap<String, Option<String>> =
            [("A".into(), Some("svc".into())), ("C".into(), None)].into();
        assert_eq!(env(&img, &svc), s(&["PATH=/bin", "B=image", "A=svc"]));
    }
}
