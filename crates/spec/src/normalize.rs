//! Normalisation of the typed project, as compose-go does it: the default
//! network, resource names, build defaults, environment resolution (with
//! `env_file` contents merged in), implicit dependencies, secret targets.

use std::collections::BTreeMap;

use crate::error::SpecError;
use crate::loader::Ctx;
use crate::model::{Dependency, Project, Service};

pub fn normalize(
    ctx: &mut Ctx,
    p: &mut Project,
    tree: &crate::yaml::Node,
) -> Result<(), SpecError> {
    let mut uses_default = false;
    for s in p.services.values_mut() {
        if s.provider.is_some() || s.network_mode.is_some() {
            continue;
        }
        if s.networks.is_empty() {
            s.networks.insert("default".into(), None);
        }
        uses_default |= s.networks.contains_key("default");
    }
    if uses_default && !p.networks.contains_key("default") {
        p.networks.insert("default".into(), Default::default());
    }
    let name = p.name.clone();
    for (k, n) in p.networks.iter_mut() {
        n.name.get_or_insert_with(|| {
            if n.external {
                k.clone()
            } else {
                format!("{name}_{k}")
            }
        });
    }
    for (k, v) in p.volumes.iter_mut() {
        v.name.get_or_insert_with(|| {
            if v.external {
                k.clone()
            } else {
                format!("{name}_{k}")
            }
        });
    }
    for sec in [&mut p.secrets, &mut p.configs] {
        for (k, o) in sec.iter_mut() {
            o.name.get_or_insert_with(|| {
                if o.external {
                    k.clone()
                } else {
                    format!("{name}_{k}")
                }
            });
        }
    }
    let dir = p.working_dir.clone();
    for s in p.services.values_mut() {
        let pos = crate::validate::pos_at(tree, &["services", &s.name, "env_file"]);
        normalize_service(ctx, s, &p.environment, &dir, pos)?;
    }
    Ok(())
}

fn implicit(dep: &mut BTreeMap<String, Dependency>, name: &str, restart: bool) {
    dep.entry(name.to_owned()).or_insert_with(|| Dependency {
        restart,
        ..Default::default()
    });
}

fn normalize_service(
    ctx: &mut Ctx,
    s: &mut Service,
    env: &crate::loader::Env,
    dir: &std::path::Path,
    env_file_pos: Option<crate::error::Pos>,
) -> Result<(), SpecError> {
    if s.pull_policy.as_deref() == Some("if_not_present") {
        s.pull_policy = Some("missing".into());
    }
    if let Some(b) = &mut s.build {
        if b.context.is_none() {
            b.context = Some(dir.to_string_lossy().into_owned());
        }
        if b.dockerfile.is_none() && b.dockerfile_inline.is_none() {
            b.dockerfile = Some("Dockerfile".into());
        }
        b.args.0 = std::mem::take(&mut b.args.0)
            .into_iter()
            .filter_map(|(k, v)| match v {
                Some(v) => Some((k, Some(v))),
                None => env.get(&k).map(|e| (k, Some(e.clone()))),
            })
            .collect();
    }
    // env_file contents first, then `environment` on top; a bare KEY takes
    // its value from the project environment.
    if !ctx.opts.no_env_resolution && !s.env_file.is_empty() {
        let mut merged: BTreeMap<String, Option<String>> = BTreeMap::new();
        for f in std::mem::take(&mut s.env_file) {
            let path = std::path::Path::new(&f.path);
            if !path.is_file() {
                if f.required {
                    let msg = format!(
                        "service {:?}: env file {} not found",
                        s.name,
                        path.display()
                    );
                    return Err(match env_file_pos {
                        Some(pos) => ctx.err(crate::error::Raw::new(pos, msg)),
                        None => SpecError::msg(msg),
                    });
                }
                continue;
            }
            let text = ctx.read(path)?;
            let lookup = |k: &str| {
                env.get(k)
                    .cloned()
                    .or_else(|| merged.get(k).cloned().flatten())
            };
            let parsed = match f.format.as_deref() {
                None | Some(".env") => crate::dotenv::parse(&text, &lookup),
                Some("raw") => Ok(crate::dotenv::parse_raw(&text)),
                Some(other) => Err(format!("unsupported env_file format {other:?}")),
            };
            let vars = parsed.map_err(|e| {
                SpecError::msg(format!(
                    "service {:?}: failed to read {}: {e}",
                    s.name,
                    path.display()
                ))
            })?;
            merged.extend(vars.into_iter().map(|(k, v)| (k, Some(v))));
        }
        for (k, v) in std::mem::take(&mut s.environment.0) {
            merged.insert(k, v);
        }
        s.environment.0 = merged;
    }
    // label_file contents under `labels`, like env_file under `environment`.
    if !s.label_file.is_empty() {
        let mut labels = std::collections::BTreeMap::new();
        for f in std::mem::take(&mut s.label_file) {
            let path = std::path::Path::new(&f);
            let text = ctx.read(path)?;
            let vars = crate::dotenv::parse(&text, &|_| None).map_err(|e| {
                SpecError::msg(format!(
                    "service {:?}: failed to read {}: {e}",
                    s.name,
                    path.display()
                ))
            })?;
            labels.extend(vars);
        }
        labels.extend(std::mem::take(&mut s.labels.0));
        s.labels.0 = labels;
    }
    for (k, v) in s.environment.0.iter_mut() {
        if v.is_none() {
            *v = env.get(k).cloned();
        }
    }
    let mut dep = std::mem::take(&mut s.depends_on);
    for l in &s.links {
        implicit(&mut dep, l.split(':').next().unwrap_or(l), true);
    }
    for ns in [&s.network_mode, &s.ipc, &s.pid, &s.uts, &s.cgroup]
        .into_iter()
        .flatten()
    {
        if let Some(svc) = ns.strip_prefix("service:") {
            implicit(&mut dep, svc, true);
        }
    }
    for v in &s.volumes_from {
        if !v.starts_with("container:") {
            implicit(&mut dep, v.split(':').next().unwrap_or(v), false);
        }
    }
    s.depends_on = dep;
    for sec in &mut s.secrets {
        if sec.target.is_none() {
            sec.target = Some(format!("/run/secrets/{}", sec.source));
        }
    }
    Ok(())
}

/// Drops the networks, volumes, secrets and configs no enabled service uses
/// (Compose does the same: they are neither printed nor created).
pub fn prune_unused(p: &mut Project) {
    let mut nets = std::collections::HashSet::new();
    let mut vols = std::collections::HashSet::new();
    let mut secrets = std::collections::HashSet::new();
    let mut configs = std::collections::HashSet::new();
    for s in p.services.values() {
        nets.extend(s.networks.keys().cloned());
        vols.extend(
            s.volumes
                .iter()
                .filter(|v| v.kind == "volume")
                .filter_map(|v| v.source.clone()),
        );
        secrets.extend(s.secrets.iter().map(|r| r.source.clone()));
        if let Some(b) = &s.build {
            secrets.extend(b.secrets.iter().map(|r| r.source.clone()));
        }
        configs.extend(s.configs.iter().map(|r| r.source.clone()));
    }
    p.networks.retain(|k, _| nets.contains(k));
    p.volumes.retain(|k, _| vols.contains(k));
    p.secrets.retain(|k, _| secrets.contains(k));
    p.configs.retain(|k, _| configs.contains(k));
}
