//! `start`, `stop`, `restart`, `kill`, `pause`, `unpause`, `wait`: the
//! existing containers of a project, in dependency order, with Compose's
//! progress lines.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use berth_compose::engine::health::Readiness;
use berth_compose::engine::{Engine, labels};
use berth_compose::executor::Backend;
use berth_compose::plan::{self, ContainerRef, DownOptions, Op, Options, Recreate};
use berth_runtime::{Container, Status};

use crate::global::Global;
use crate::output::progress::Status as Progress;

#[derive(clap::Args, Debug)]
pub struct Services {
    pub services: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct StartArgs {
    /// Wait for services to be running|healthy
    #[arg(long)]
    wait: bool,
    /// Maximum duration in seconds to wait for the project to be running|healthy
    #[arg(long)]
    wait_timeout: Option<u64>,
    services: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct StopArgs {
    /// Specify a shutdown timeout in seconds
    #[arg(short, long)]
    timeout: Option<u64>,
    services: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct RestartArgs {
    /// Specify a shutdown timeout in seconds
    #[arg(short, long)]
    timeout: Option<u64>,
    /// Don't restart dependent services
    #[arg(long)]
    no_deps: bool,
    services: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct KillArgs {
    /// SIGNAL to send to the container
    #[arg(short, long, default_value = "SIGKILL")]
    signal: String,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    remove_orphans: bool,
    services: Vec<String>,
}

pub fn service_of(c: &Container) -> String {
    c.config
        .labels
        .get(labels::SERVICE)
        .cloned()
        .unwrap_or_default()
}

/// Fails on a service the project does not have.
pub fn check_services(engine: &Engine, services: &[String]) -> anyhow::Result<()> {
    for s in services {
        if !engine.project.services.contains_key(s) {
            anyhow::bail!("no such service: {s}");
        }
    }
    Ok(())
}

/// The project's containers of `services` (all when empty), by name.
pub fn selected(engine: &Engine, services: &[String]) -> anyhow::Result<Vec<Container>> {
    check_services(engine, services)?;
    let mut cs: Vec<Container> = engine
        .containers()?
        .into_iter()
        .filter(|c| services.is_empty() || services.contains(&service_of(c)))
        .collect();
    cs.sort_by(|a, b| a.config.name.cmp(&b.config.name));
    Ok(cs)
}

/// Services in dependency order (dependencies first).
fn ordered(engine: &Engine) -> anyhow::Result<Vec<String>> {
    let d = engine.desired(&HashMap::new());
    Ok(plan::dependency_order(&d.services)?
        .into_iter()
        .map(|i| d.services[i].name.clone())
        .collect())
}

/// `start`: the existing containers, in dependency order, each waiting
/// for the `depends_on` conditions of its service (nothing is created).
pub fn start(g: &Global, a: StartArgs) -> anyhow::Result<i32> {
    let mut engine = super::engine(g, &[])?;
    check_services(&engine, &a.services)?;
    engine.wait_timeout = a.wait_timeout.filter(|t| *t > 0).map(Duration::from_secs);
    let existing = engine.containers()?;
    for s in &a.services {
        if !existing.iter().any(|c| &service_of(c) == s) {
            anyhow::bail!("service {s:?} has no container to start");
        }
    }
    let plan = {
        let _lock = engine.lock()?;
        let desired = engine.desired(&HashMap::new());
        let observed = engine.observe()?;
        let opts = Options {
            services: a.services.clone(),
            recreate: Recreate::Never,
            recreate_dependencies: Recreate::Never,
            ..Default::default()
        };
        plan::plan_up(&desired, &observed, &opts)?.filtered(|op| match op {
            Op::StartContainer { container, .. } => {
                matches!(container, ContainerRef::Existing { .. })
            }
            Op::WaitService { .. } => true,
            _ => false,
        })
    };
    let p = super::progress(g, "Running")?;
    let errors = super::execute(g, &engine, &plan, &p);
    p.finish();
    if !errors.is_empty() {
        return Err(super::summary(&errors));
    }
    if a.wait {
        let deadline = engine.wait_timeout.map(|t| Instant::now() + t);
        let scope: BTreeSet<String> = if a.services.is_empty() {
            engine.project.services.keys().cloned().collect()
        } else {
            a.services.iter().cloned().collect()
        };
        for svc in scope {
            engine
                .wait_ready(&svc, Readiness::RunningOrHealthy, deadline)
                .map_err(anyhow::Error::msg)?;
        }
    }
    Ok(0)
}

/// Stops the project's containers (or those of `services` and their
/// dependents), in reverse dependency order.
pub fn stop_services(g: &Global, engine: &Engine, services: &[String]) -> anyhow::Result<i32> {
    let desired = engine.desired(&HashMap::new());
    let observed = engine.observe()?;
    let plan = plan::plan_down(
        &desired,
        &observed,
        &DownOptions {
            services: services.to_vec(),
            ..Default::default()
        },
    )?;
    // Only what runs: a stopped container is left as it is.
    let running: BTreeSet<&str> = observed
        .containers
        .iter()
        .filter(|c| {
            matches!(
                c.state,
                plan::ContainerState::Running
                    | plan::ContainerState::Paused
                    | plan::ContainerState::Restarting
            )
        })
        .map(|c| c.id.as_str())
        .collect();
    let plan = plan.filtered(|op| match op {
        Op::StopContainer {
            container: ContainerRef::Existing { id, .. },
            ..
        } => running.contains(id.as_str()),
        _ => false,
    });
    let p = super::progress(g, "Stopping")?;
    let errors = super::execute(g, engine, &plan, &p);
    p.finish();
    if !errors.is_empty() {
        return Err(super::summary(&errors));
    }
    Ok(0)
}

pub fn stop(g: &Global, a: StopArgs) -> anyhow::Result<i32> {
    let mut engine = super::engine(g, &[])?;
    engine.stop_timeout = a.timeout.map(Duration::from_secs);
    check_services(&engine, &a.services)?;
    stop_services(g, &engine, &a.services)
}

/// The services `restart` restarts: the named ones and, unless
/// `--no-deps`, the services that declared `restart: true` on them.
fn restart_scope(engine: &Engine, named: &[String], no_deps: bool) -> BTreeSet<String> {
    let all = &engine.project.services;
    if named.is_empty() {
        return all.keys().cloned().collect();
    }
    let mut scope: BTreeSet<String> = named.iter().cloned().collect();
    if no_deps {
        return scope;
    }
    loop {
        let before = scope.len();
        for (name, svc) in all {
            if svc
                .depends_on
                .iter()
                .any(|(d, dep)| dep.restart && scope.contains(d))
            {
                scope.insert(name.clone());
            }
        }
        if scope.len() == before {
            break;
        }
    }
    scope
}

/// `restart`: every container of the scope, stopped (with `-t`) and
/// started again, service after service in dependency order.
pub fn restart(g: &Global, a: RestartArgs) -> anyhow::Result<i32> {
    let mut engine = super::engine(g, &[])?;
    engine.stop_timeout = a.timeout.map(Duration::from_secs);
    engine.restarts_follow_stops = true;
    check_services(&engine, &a.services)?;
    let scope = restart_scope(&engine, &a.services, a.no_deps);
    let cs = engine.containers()?;
    let p = super::progress(g, "Restarting")?;
    let mut errors = Vec::new();
    for svc in ordered(&engine)?.into_iter().filter(|s| scope.contains(s)) {
        let of_service: Vec<&Container> = cs.iter().filter(|c| service_of(c) == svc).collect();
        let results: Vec<Result<(), String>> = std::thread::scope(|s| {
            let handles: Vec<_> = of_service
                .iter()
                .map(|c| {
                    let (engine, p, svc) = (&engine, &p, &svc);
                    s.spawn(move || {
                        let id = format!("Container {}", c.config.name);
                        p.event(&id, Progress::Working, "Restarting", "");
                        let r = engine
                            .stop_container(svc, &c.config.id)
                            .and_then(|()| engine.start_container(svc, &c.config.id));
                        match &r {
                            Ok(()) => p.event(&id, Progress::Done, "Started", ""),
                            Err(e) => p.event(&id, Progress::Error, "Error", e),
                        }
                        r
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("panicked".into())))
                .collect()
        });
        errors.extend(results.into_iter().filter_map(Result::err));
    }
    p.finish();
    if !errors.is_empty() {
        return Err(super::summary(&errors));
    }
    Ok(0)
}

pub fn kill(g: &Global, a: KillArgs) -> anyhow::Result<i32> {
    let engine = super::engine(g, &[])?;
    berth_runtime::parse_signal(&a.signal)?;
    let mut cs = selected(&engine, &a.services)?;
    if !a.remove_orphans {
        cs.retain(|c| engine.project.services.contains_key(&service_of(c)));
    }
    cs.retain(|c| c.state.status.is_active());
    if cs.is_empty() {
        anyhow::bail!("no container to kill");
    }
    let p = super::progress(g, "Killing")?;
    let mut errors = Vec::new();
    for c in &cs {
        let id = format!("Container {}", c.config.name);
        p.event(&id, Progress::Working, "Killing", "");
        match engine.runtime.kill(&c.config.id, &a.signal) {
            Ok(()) => p.event(&id, Progress::Done, "Killed", ""),
            Err(e) => {
                p.event(&id, Progress::Error, "Error", &e.to_string());
                errors.push(e.to_string());
            }
        }
    }
    p.finish();
    if !errors.is_empty() {
        return Err(super::summary(&errors));
    }
    Ok(0)
}

/// `pause` (cgroup freezer) and `unpause`.
pub fn pause(g: &Global, a: Services, freeze: bool) -> anyhow::Result<i32> {
    let engine = super::engine(g, &[])?;
    let p = super::progress(g, if freeze { "Pausing" } else { "Unpausing" })?;
    let mut errors = Vec::new();
    let wanted = if freeze {
        Status::Running
    } else {
        Status::Paused
    };
    for c in selected(&engine, &a.services)? {
        if c.state.status != wanted {
            continue;
        }
        let id = format!("Container {}", c.config.name);
        let r = if freeze {
            engine.runtime.pause(&c.config.id)
        } else {
            engine.runtime.unpause(&c.config.id)
        };
        match r {
            Ok(()) => p.event(
                &id,
                Progress::Done,
                if freeze { "Paused" } else { "Unpaused" },
                "",
            ),
            Err(e) => {
                p.event(&id, Progress::Error, "Error", &e.to_string());
                errors.push(e.to_string());
            }
        }
    }
    p.finish();
    if !errors.is_empty() {
        return Err(super::summary(&errors));
    }
    Ok(0)
}

#[derive(clap::Args, Debug)]
pub struct WaitArgs {
    /// Drops project when the first container stops
    #[arg(long)]
    down_project: bool,
    #[arg(required = true)]
    services: Vec<String>,
}

/// `wait`: blocks until every container of the services has stopped,
/// printing each exit as Compose does; the exit code is the last one's.
pub fn wait(g: &Global, a: WaitArgs) -> anyhow::Result<i32> {
    let engine = super::engine(g, &[])?;
    let cs = selected(&engine, &a.services)?;
    if cs.is_empty() {
        anyhow::bail!("no containers for project {:?}", engine.project.name);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        for c in &cs {
            let (tx, rt) = (tx.clone(), &engine.runtime);
            s.spawn(move || {
                let _ = tx.send((c.config.id.clone(), rt.wait(&c.config.id)));
            });
        }
        drop(tx);
        let mut code = 0;
        for (id, r) in rx {
            match r {
                Ok(exit) => {
                    println!("container {id:?} exited with status code {exit}");
                    code = exit;
                }
                Err(e) => return Err(anyhow::Error::from(e)),
            }
        }
        Ok(code)
    })
    .and_then(|code| {
        if a.down_project {
            super::down::run(
                g,
                super::down::Args {
                    remove_orphans: true,
                    ..Default::default()
                },
            )?;
        }
        Ok(code)
    })
}

#[derive(clap::Args, Debug)]
pub struct RmArgs {
    /// Don't ask to confirm removal
    #[arg(short, long)]
    force: bool,
    /// Stop the containers, if required, before removing
    #[arg(short, long)]
    stop: bool,
    /// Remove any anonymous volumes attached to containers
    #[arg(short, long)]
    volumes: bool,
    services: Vec<String>,
}

/// Asks `question` on the terminal; anything but yes (or no terminal) is no.
fn confirm(question: &str) -> anyhow::Result<bool> {
    use std::io::{BufRead, IsTerminal, Write};
    eprint!("? {question} [yN] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().is_terminal() {
        std::io::stdin().lock().read_line(&mut answer)?;
    } else {
        errln!();
    }
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

/// `rm`: the stopped containers of the services (`-s` stops them first).
pub fn rm(g: &Global, a: RmArgs) -> anyhow::Result<i32> {
    let engine = super::engine(g, &[])?;
    check_services(&engine, &a.services)?;
    if a.stop {
        stop_services(g, &engine, &a.services)?;
    }
    let cs: Vec<Container> = selected(&engine, &a.services)?
        .into_iter()
        .filter(|c| engine.project.services.contains_key(&service_of(c)))
        .filter(|c| !c.state.status.is_active())
        .collect();
    if cs.is_empty() {
        errln!("No stopped containers");
        return Ok(0);
    }
    let names: Vec<&str> = cs.iter().map(|c| c.config.name.as_str()).collect();
    let msg = format!("Going to remove {}", names.join(", "));
    if a.force {
        println!("{msg}");
    } else {
        errln!("{msg}");
        if !confirm("Are you sure?")? {
            return Ok(0);
        }
    }
    let p = super::progress(g, "Removing")?;
    let mut errors = Vec::new();
    for c in &cs {
        let id = format!("Container {}", c.config.name);
        p.event(&id, Progress::Working, "Removing", "");
        match engine.remove_container(&service_of(c), &c.config.id, a.volumes) {
            Ok(()) => p.event(&id, Progress::Done, "Removed", ""),
            Err(e) => {
                p.event(&id, Progress::Error, "Error", &e);
                errors.push(e);
            }
        }
    }
    p.finish();
    if !errors.is_empty() {
        return Err(super::summary(&errors));
    }
    Ok(0)
}
