//! The watch rules of a loaded project: `develop.watch` of the selected
//! services, with their patterns compiled and checked as Compose checks them.

use std::path::{Path, PathBuf};

use berth_build::ignore::DockerIgnore;
use berth_spec::{Project, Service};

use crate::error::{Result, WatchError};
use crate::rules::{Action, ExecHook, Rule};

/// Rules, and warnings to print (rules left out, and why).
#[derive(Debug, Default)]
pub struct ProjectRules {
    pub rules: Vec<Rule>,
    pub warnings: Vec<String>,
}

/// The build context's `.dockerignore` (or `<Dockerfile>.dockerignore`,
/// which wins, as in BuildKit).
fn context_ignore(svc: &Service, project_dir: &Path) -> Result<Option<(PathBuf, DockerIgnore)>> {
    let Some(b) = &svc.build else { return Ok(None) };
    let ctx = b
        .context
        .as_deref()
        .map(PathBuf::from)
        .unwrap_or_else(|| project_dir.to_owned());
    if !ctx.is_dir() {
        return Ok(None);
    }
    let dockerfile = b.dockerfile.as_deref().unwrap_or("Dockerfile");
    let candidates = [
        ctx.join(format!("{dockerfile}.dockerignore")),
        ctx.join(".dockerignore"),
    ];
    for f in candidates {
        match std::fs::read_to_string(&f) {
            Ok(text) => {
                let ig = DockerIgnore::parse(&text, &f.display().to_string())
                    .map_err(|e| WatchError::Rule(e.to_string()))?;
                return Ok(Some((ctx, ig)));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(WatchError::host(f, e)),
        }
    }
    Ok(None)
}

fn patterns(lines: &[String], what: &str) -> Result<DockerIgnore> {
    DockerIgnore::parse(&lines.join("\n"), what).map_err(|e| WatchError::Rule(e.to_string()))
}

/// Whether `path` lies under a bind mount of the service (Compose does not
/// sync those: the container sees the files already).
fn bind_mounted(svc: &Service, path: &Path) -> bool {
    svc.volumes.iter().any(|v| {
        v.kind == "bind"
            && v.source
                .as_deref()
                .is_some_and(|s| path.starts_with(Path::new(s)))
    })
}

/// The rules of `services` (all services when empty).
pub fn project_rules(project: &Project, services: &[String]) -> Result<ProjectRules> {
    let mut out = ProjectRules::default();
    for (name, svc) in &project.services {
        if !services.is_empty() && !services.contains(name) {
            continue;
        }
        let Some(develop) = &svc.develop else {
            continue;
        };
        let ctx_ignore = context_ignore(svc, &project.working_dir)?;
        for (i, t) in develop.watch.iter().enumerate() {
            let at = format!("services.{name}.develop.watch[{i}]");
            let action = Action::parse(&t.action).ok_or_else(|| {
                WatchError::Rule(format!(
                    "{at}.action: {:?} is not one of sync, restart, rebuild, sync+restart, sync+exec",
                    t.action
                ))
            })?;
            if action == Action::Rebuild && svc.build.is_none() {
                return Err(WatchError::Rule(format!(
                    "can't watch service {name:?} with action rebuild without a build context"
                )));
            }
            let exec = if action == Action::SyncExec {
                let command = t.exec.command.clone().unwrap_or_default();
                if command.is_empty() {
                    return Err(WatchError::Rule(format!(
                        "can't watch with action \"sync+exec\" on service {name} without a command"
                    )));
                }
                Some(ExecHook {
                    command,
                    user: t.exec.user.clone(),
                    working_dir: t.exec.working_dir.clone(),
                    environment: t
                        .exec
                        .environment
                        .0
                        .iter()
                        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
                        .collect(),
                    privileged: t.exec.privileged,
                })
            } else {
                None
            };
            let path = PathBuf::from(&t.path);
            if action.syncs() && bind_mounted(svc, &path) {
                out.warnings.push(format!(
                    "path '{}' also declared by a bind mount volume, this path won't be monitored!",
                    t.path
                ));
                continue;
            }
            out.rules.push(Rule {
                service: name.clone(),
                path,
                action,
                target: t.target.clone(),
                ignore: patterns(&t.ignore, &format!("{at}.ignore"))?,
                include: if t.include.is_empty() {
                    None
                } else {
                    Some(patterns(&t.include, &format!("{at}.include"))?)
                },
                context_ignore: ctx_ignore.clone(),
                exec,
                initial_sync: t.initial_sync,
            });
        }
    }
    Ok(out)
}
