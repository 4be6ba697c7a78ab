//! The Compose commands (`up`, `down`, `ps`, `logs`, …): load the project,
//! open the engine, plan, execute, print like `docker compose`.

pub mod build;
pub mod cp;
pub mod down;
pub mod exec;
pub mod info;
pub mod lifecycle;
pub mod logs;
pub mod ps;
pub mod pull;
pub mod run;
pub mod up;
pub mod watch;

use std::io::IsTerminal;
use std::sync::Arc;

use berth_compose::engine::Engine;
use berth_compose::executor::{self, Event};
use berth_compose::plan::{ContainerRef, Op, Plan};

use crate::global::Global;
use crate::output::progress::{Mode, Progress, Status};
use crate::output::style::Style;

/// Loads the project (warnings printed) and opens the engine.
pub fn engine(g: &Global, services: &[String]) -> anyhow::Result<Engine> {
    let opts = super::config::load_options(g, services, false)?;
    let loaded = super::config::load(&opts)?;
    Ok(Engine::new(&g.root(), loaded.project)?)
}

pub fn progress(g: &Global, operation: &str) -> anyhow::Result<Arc<Progress>> {
    let tty = std::io::stderr().is_terminal();
    let mode = Mode::parse(&g.progress, tty).map_err(anyhow::Error::msg)?;
    Ok(Progress::stderr(
        mode,
        operation,
        Style::from_flag(&g.ansi, tty),
    ))
}

/// How many operations at once: `--parallel`/`COMPOSE_PARALLEL_LIMIT`, else
/// unlimited (0) as Compose.
pub fn parallel(g: &Global) -> usize {
    match g.parallel {
        Some(n) if n > 0 => n as usize,
        _ => 0,
    }
}

/// The name shown for a container node (a recreated container is shown
/// under its final name, not the temporary one).
fn container_name(plan: &Plan, r: &ContainerRef) -> String {
    match r {
        ContainerRef::Existing { name, .. } => name.clone(),
        ContainerRef::Created(n) => match &plan.node(*n).op {
            Op::CreateContainer {
                name,
                inherit_from: Some(_),
                ..
            } => name
                .split_once('_')
                .map(|(_, n)| n.to_owned())
                .unwrap_or(name.clone()),
            Op::CreateContainer { name, .. } => name.clone(),
            _ => String::new(),
        },
    }
}

/// (resource shown, text while working, text when done) of a node.
fn describe(plan: &Plan, op: &Op) -> Option<(String, &'static str, &'static str)> {
    Some(match op {
        Op::CreateNetwork { name, .. } => (format!("Network {name}"), "Creating", "Created"),
        Op::RemoveNetwork { name, .. } => (format!("Network {name}"), "Removing", "Removed"),
        Op::CreateVolume { name, .. } => (format!("Volume {name}"), "Creating", "Created"),
        Op::RemoveVolume { name, .. } => (format!("Volume {name}"), "Removing", "Removed"),
        Op::CreateContainer {
            name, inherit_from, ..
        } => {
            let shown = if inherit_from.is_some() {
                name.split_once('_')
                    .map(|(_, n)| n.to_owned())
                    .unwrap_or(name.clone())
            } else {
                name.clone()
            };
            if inherit_from.is_some() {
                (format!("Container {shown}"), "Recreate", "Recreated")
            } else {
                (format!("Container {shown}"), "Creating", "Created")
            }
        }
        Op::StartContainer { container, .. } => (
            format!("Container {}", container_name(plan, container)),
            "Starting",
            "Started",
        ),
        Op::StopContainer { container, .. } => (
            format!("Container {}", container_name(plan, container)),
            "Stopping",
            "Stopped",
        ),
        Op::RemoveContainer { container, .. } => (
            format!("Container {}", container_name(plan, container)),
            "Removing",
            "Removed",
        ),
        Op::RenameContainer { .. } => return None,
        Op::WaitService {
            service, condition, ..
        } => {
            let done = match condition {
                berth_compose::plan::Condition::Healthy => "Healthy",
                berth_compose::plan::Condition::CompletedSuccessfully => "Exited",
                berth_compose::plan::Condition::Started => "Started",
            };
            (format!("Service {service}"), "Waiting", done)
        }
    })
}

/// Runs `plan`, showing progress; returns the error messages.
pub fn execute(g: &Global, engine: &Engine, plan: &Plan, p: &Progress) -> Vec<String> {
    let on = |e: Event| match e {
        Event::Started(n) => {
            if let Some((id, working, _)) = describe(plan, &n.op) {
                p.event(&id, Status::Working, working, "");
            }
        }
        Event::Done(n, _) => {
            if let Some((id, _, done)) = describe(plan, &n.op) {
                p.event(&id, Status::Done, done, "");
            }
        }
        Event::Failed(n, msg) => {
            if let Some((id, _, _)) = describe(plan, &n.op) {
                p.event(&id, Status::Error, "Error", msg);
            }
        }
        Event::Warning(n, msg) => {
            if let Some((id, _, _)) = describe(plan, &n.op) {
                p.event(&id, Status::Warning, "Warning", msg);
            }
        }
        Event::Skipped(_) => {}
    };
    let out = executor::execute(plan, engine, parallel(g), &on);
    out.failed.into_iter().map(|(_, e)| e).collect()
}
