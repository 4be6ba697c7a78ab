//! The watch actions on the running stack: sync into every replica, restart,
//! rebuild and recreate, exec.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use berth_compose::engine::{BuildMode, Engine, labels};
use berth_compose::executor::Backend;
use berth_compose::plan::{self, Options, Recreate};
use berth_image::progress::{ConsoleProgress, ProgressMode};
use berth_runtime::Container;
use berth_runtime::exec::ExecSpec;
use berth_watch::container_fs::ContainerFs;
use berth_watch::rules::{ExecHook, Hit, Rule};
use berth_watch::sync::SyncPlan;

use super::{Opts, Output, quoted};
use crate::global::Global;

fn service_of(c: &Container) -> Option<&str> {
    c.config.labels.get(labels::SERVICE).map(String::as_str)
}

/// The service's containers, sorted by name.
fn containers(engine: &Engine, service: &str) -> Vec<Container> {
    let mut cs: Vec<Container> = engine
        .containers()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| service_of(c) == Some(service))
        .collect();
    cs.sort_by(|a, b| a.config.name.cmp(&b.config.name));
    cs
}

/// Names Compose leaves out of an initial sync: the build and project files.
const INITIAL_SKIP: &[&str] = &[
    "Dockerfile",
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yaml",
    "docker-compose.override.yml",
];

/// Syncs `hits` of `rule` into every running replica; returns the errors.
pub fn sync(engine: &Engine, rule: &Rule, hits: &[Hit], initial: bool) -> Vec<String> {
    let plan = if initial {
        SyncPlan::new_filtered(rule, hits, &|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| INITIAL_SKIP.contains(&n))
        })
    } else {
        SyncPlan::new(rule, hits)
    };
    let plan = match plan {
        Ok(p) => p,
        Err(e) => return vec![e.to_string()],
    };
    let mut errors = Vec::new();
    for c in containers(engine, &rule.service) {
        let Some(pid) = c.state.pid.filter(|_| c.state.status.is_active()) else {
            continue;
        };
        match ContainerFs::open(&c.config.name, pid, &c.config.process.user) {
            Ok(fs) => errors.extend(plan.apply(&fs).into_iter().map(|e| e.to_string())),
            Err(e) => errors.push(e.to_string()),
        }
    }
    errors
}

/// Restarts every container of `services` (stop, then start).
pub fn restart(engine: &Engine, services: &[String]) -> Result<(), String> {
    for svc in services {
        for c in containers(engine, svc) {
            if c.state.status.is_active() {
                engine.stop_container(svc, &c.config.id)?;
            }
            engine.start_container(svc, &c.config.id)?;
        }
    }
    Ok(())
}

/// How many containers each service runs now, so a recreate keeps `--scale`.
fn current_scale(engine: &Engine) -> HashMap<String, u32> {
    let mut m = HashMap::new();
    for c in engine.containers().unwrap_or_default() {
        if let Some(s) = service_of(&c) {
            *m.entry(s.to_owned()).or_insert(0) += 1;
        }
    }
    m
}

/// Builds `services` and recreates their containers.
pub fn rebuild(g: &Global, engine: &mut Engine, services: &[String], opts: &Opts, out: &Output) {
    out.line(&format!(
        "Rebuilding service(s) {} after changes were detected...",
        quoted(services)
    ));
    let before: HashMap<String, String> = services
        .iter()
        .filter_map(|s| {
            Some((
                s.clone(),
                engine.store.resolve(&engine.image_ref(s)).ok()??.id,
            ))
        })
        .collect();
    let quiet = opts.quiet;
    let built = engine.build_images(services, BuildMode::Always, &|_svc, line| {
        if !quiet {
            out.line(line);
        }
    });
    if let Err(e) = built {
        out.line(&format!("Build failed. Error: {e}"));
        return;
    }
    out.line(&format!(
        "service(s) {} successfully built",
        quoted(services)
    ));
    let r = (|| -> anyhow::Result<Vec<String>> {
        let _lock = engine.lock()?;
        engine.ensure_images(services, None, &ConsoleProgress::new(ProgressMode::Quiet))?;
        let desired = engine.desired(&current_scale(engine));
        let observed = engine.observe()?;
        let plan = plan::plan_up(
            &desired,
            &observed,
            &Options {
                services: services.to_vec(),
                recreate: Recreate::Force,
                recreate_dependencies: Recreate::Never,
                no_deps: true,
                ..Default::default()
            },
        )?;
        let p = super::super::progress(g, "Running")?;
        let errors = super::super::execute(g, engine, &plan, &p);
        p.finish();
        Ok(errors)
    })();
    match r {
        Ok(errors) if errors.is_empty() => {}
        Ok(errors) => out.line(&format!(
            "Failed to recreate services after update. Error: {}",
            errors.join("; ")
        )),
        Err(e) => out.line(&format!(
            "Failed to recreate services after update. Error: {e:#}"
        )),
    }
    if opts.prune {
        prune_replaced(engine, &before);
    }
}

/// Removes the images the rebuild replaced, when nothing names or uses
/// them any more (only those: other dangling images are not ours to judge).
fn prune_replaced(engine: &Engine, before: &HashMap<String, String>) {
    let used: std::collections::BTreeMap<String, String> = engine
        .runtime
        .list()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| Some((c.config.labels.get(labels::IMAGE)?.clone(), c.config.name)))
        .collect();
    for (svc, old) in before {
        let Ok(Some(now)) = engine.store.resolve(&engine.image_ref(svc)) else {
            continue;
        };
        if now.id == *old || used.contains_key(old) {
            continue;
        }
        if let Ok(Some(img)) = engine.store.resolve(old)
            && img.familiar_tags().is_empty()
        {
            let _ = engine.store.remove(old, Default::default(), &used);
        }
    }
}

/// Runs `hook` in every running replica of `service`, through the runtime's
/// exec helper (started in the monitor's mount namespace, from berth's
/// read-only copy, as `berth exec` is). Returns the failures.
pub fn exec(engine: &Engine, service: &str, hook: &ExecHook) -> Vec<String> {
    let mut errors = Vec::new();
    for c in containers(engine, service) {
        if !c.state.status.is_active() {
            continue;
        }
        match exec_one(engine, &c.config.id, hook) {
            Ok(0) => {}
            Ok(code) => errors.push(format!("{}: exit code {code}", c.config.name)),
            Err(e) => errors.push(format!("{}: {e:#}", c.config.name)),
        }
    }
    errors
}

fn exec_one(engine: &Engine, id: &str, hook: &ExecHook) -> anyhow::Result<i32> {
    let root = &engine.root;
    let reply = berth_runtime::monitor::request(root, &berth_runtime::monitor::Request::Ping)?;
    let monitor: i32 = reply.message.trim().parse()?;
    let ns = File::open(format!("/proc/{monitor}/ns/mnt"))?;
    let spec = ExecSpec {
        args: hook.command.clone(),
        env: hook.environment.clone(),
        user: hook.user.clone(),
        cwd: hook.working_dir.clone(),
        tty: false,
    };
    let mut cmd = Command::new(root.run().join("berth-exe"));
    cmd.arg0("berth")
        .arg("--root")
        .arg(root.path())
        .args(["__internal", "exec", id, "--spec"])
        .arg(serde_json::to_string(&spec)?)
        .stdin(Stdio::null());
    let fd = ns.as_raw_fd();
    // SAFETY: between fork and exec only setns(2), async-signal-safe, runs;
    // the forked child is single-threaded, as joining a mount namespace needs.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNS) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let status = cmd.status()?;
    drop(ns);
    Ok(status.code().unwrap_or(128))
}
