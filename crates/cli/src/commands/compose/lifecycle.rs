//! `start`, `stop`, `restart`, `kill`, `rm`, `pause`, `unpause`, `wait`.

use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::time::Duration;

use berth_compose::engine::{Engine, labels};
use berth_compose::executor::Backend;
use berth_compose::plan::{self, DownOptions, Op};
use berth_runtime::{Container, Status};

use crate::global::Global;

#[derive(clap::Args, Debug)]
pub struct Services {
    pub services: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct StopArgs {
    /// Specify a shutdown timeout in seconds
    #[arg(short, long)]
    timeout: Option<u64>,
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

fn service_of(c: &Container) -> String {
    c.config
        .labels
        .get(labels::SERVICE)
        .cloned()
        .unwrap_or_default()
}

fn selected(engine: &Engine, services: &[String]) -> anyhow::Result<Vec<Container>> {
    for s in services {
        if !engine.project.services.contains_key(s) {
            anyhow::bail!("no such service: {s}");
        }
    }
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

pub fn start(g: &Global, a: Services) -> anyhow::Result<i32> {
    let engine = super::engine(g, &[])?;
    let cs = selected(&engine, &a.services)?;
    let p = super::progress(g, "Running")?;
    let mut code = 0;
    for svc in ordered(&engine)? {
        for c in cs
            .iter()
            .filter(|c| service_of(c) == svc && !c.state.status.is_active())
        {
            let id = format!("Container {}", c.config.name);
            p.event(
                &id,
                crate::output::progress::Status::Working,
                "Starting",
                "",
            );
            match engine.start_container(&svc, &c.config.id) {
                Ok(()) => p.event(&id, crate::output::progress::Status::Done, "Started", ""),
                Err(e) => {
                    p.event(&id, crate::output::progress::Status::Error, "Error", &e);
                    code = 1;
                }
            }
        }
    }
    p.finish();
    Ok(code)
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
    )?
    .filtered(|op| matches!(op, Op::StopContainer { .. }));
    let p = super::progress(g, "Stopping")?;
    let errors = super::execute(g, engine, &plan, &p);
    p.finish();
    for e in &errors {
        eprintln!("{e}");
    }
    Ok(if errors.is_empty() { 0 } else { 1 })
}

pub fn stop(g: &Global, a: StopArgs) -> anyhow::Result<i32> {
    let mut engine = super::engine(g, &[])?;
    engine.stop_timeout = a.timeout.map(Duration::from_secs);
    selected(&engine, &a.services)?;
    stop_services(g, &engine, &a.services)
}

pub fn restart(g: &Global, a: StopArgs) -> anyhow::Result<i32> {
    let mut engine = super::engine(g, &[])?;
    engine.stop_timeout = a.timeout.map(Duration::from_secs);
    selected(&engine, &a.services)?;
    let code = stop_services(g, &engine, &a.services)?;
    if code != 0 {
        return Ok(code);
    }
    start(
        g,
        Services {
            services: a.services,
        },
    )
}

pub fn kill(g: &Global, a: KillArgs) -> anyhow::Result<i32> {
    let engine = super::engine(g, &[])?;
    let cs = selected(&engine, &a.services)?;
    let _ = a.remove_orphans;
    let mut code = 0;
    for c in cs.iter().filter(|c| c.state.status.is_active()) {
        if let Err(e) = engine.runtime.kill(&c.config.id, &a.signal) {
            eprintln!("{e}");
            code = 1;
        }
    }
    Ok(code)
}

pub fn rm(g: &Global, a: RmArgs) -> anyhow::Result<i32> {
    let engine = super::engine(g, &[])?;
    if a.stop {
        stop_services(g, &engine, &a.services)?;
    }
    let cs: Vec<Container> = selected(&engine, &a.services)?
        .into_iter()
        .filter(|c| !c.state.status.is_active())
        .collect();
    if cs.is_empty() {
        eprintln!("No stopped containers");
        return Ok(0);
    }
    if !a.force {
        let names: Vec<&str> = cs.iter().map(|c| c.config.name.as_str()).collect();
        eprint!(
            "Going to remove {}\n? Are you sure? [yN] ",
            names.join(", ")
        );
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        if std::io::stdin().is_terminal() {
            std::io::stdin().lock().read_line(&mut answer)?;
        }
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Ok(0);
        }
    }
    let p = super::progress(g, "Removing")?;
    let mut code = 0;
    for c in &cs {
        let id = format!("Container {}", c.config.name);
        p.event(
            &id,
            crate::output::progress::Status::Working,
            "Removing",
            "",
        );
        match engine.remove_container(&service_of(c), &c.config.id, a.volumes) {
            Ok(()) => p.event(&id, crate::output::progress::Status::Done, "Removed", ""),
            Err(e) => {
                p.event(&id, crate::output::progress::Status::Error, "Error", &e);
                code = 1;
            }
        }
    }
    p.finish();
    Ok(code)
}

pub fn pause(g: &Global, a: Services, freeze: bool) -> anyhow::Result<i32> {
    let engine = super::engine(g, &[])?;
    let p = super::progress(g, if freeze { "Pausing" } else { "Unpausing" })?;
    let mut code = 0;
    for c in selected(&engine, &a.services)? {
        let wanted = if freeze {
            Status::Running
        } else {
            Status::Paused
        };
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
                crate::output::progress::Status::Done,
                if freeze { "Paused" } else { "Unpaused" },
                "",
            ),
            Err(e) => {
                p.event(
                    &id,
                    crate::output::progress::Status::Error,
                    "Error",
                    &e.to_string(),
                );
                code = 1;
            }
        }
    }
    p.finish();
    Ok(code)
}

#[derive(clap::Args, Debug)]
pub struct WaitArgs {
    /// Drops project when the first container stops
    #[arg(long)]
    down_project: bool,
    services: Vec<String>,
}

pub fn wait(g: &Global, a: WaitArgs) -> anyhow::Result<i32> {
    let engine = super::engine(g, &[])?;
    let cs = selected(&engine, &a.services)?;
    let mut code = 0;
    for c in &cs {
        let exit = engine.runtime.wait(&c.config.id)?;
        println!("{exit}");
        code = exit;
        if a.down_project {
            super::down::run(g, super::down::Args::default())?;
            break;
        }
    }
    Ok(code)
}
