//! The Compose commands (`up`, `down`, `ps`, `logs`, …): load the project,
//! open the engine, plan, execute, print like `docker compose`.

pub mod attach;
pub mod build;
pub mod cp;
pub mod down;
pub mod events;
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
    // A bad --progress is an error even when nothing is shown.
    Mode::parse(&g.progress, false).map_err(anyhow::Error::msg)?;
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

/// The progress lines of a `WaitService` node: one per container of the
/// service, as Compose shows them (none for `service_started`, which the
/// order alone satisfies).
fn wait_lines(engine: &Engine, op: &Op) -> Vec<String> {
    match op {
        Op::WaitService {
            service, condition, ..
        } if *condition != berth_compose::plan::Condition::Started => engine
            .service_containers(service)
            .unwrap_or_default()
            .into_iter()
            .map(|c| format!("Container {}", c.config.name))
            .collect(),
        _ => Vec::new(),
    }
}

/// Runs `plan`, showing progress; returns the error messages, in the order
/// the operations failed.
pub fn execute(g: &Global, engine: &Engine, plan: &Plan, p: &Progress) -> Vec<String> {
    let on = |e: Event| {
        let (node, status, text, msg) = match e {
            Event::Started(n) => (n, Status::Working, None, ""),
            Event::Done(n, _) => (n, Status::Done, None, ""),
            Event::Failed(n, m) => (n, Status::Error, Some("Error"), m),
            Event::Warning(n, m) => (n, Status::Warning, Some("Warning"), m),
            Event::Skipped(_) => return,
        };
        let Some((id, working, done)) = describe(plan, &node.op) else {
            return;
        };
        let text = text.unwrap_or(if status == Status::Working {
            working
        } else {
            done
        });
        if matches!(node.op, Op::WaitService { .. }) {
            for line in wait_lines(engine, &node.op) {
                p.event(&line, status, text, msg);
            }
            return;
        }
        p.event(&id, status, text, msg);
    };
    let out = executor::execute(plan, engine, parallel(g), &on);
    out.failed.into_iter().map(|(_, e)| e).collect()
}

/// The error a command ends with when operations failed: every message,
/// one per line (the progress view showed which resource each is about).
pub fn summary(errors: &[String]) -> anyhow::Error {
    match errors {
        [one] => anyhow::anyhow!("{one}"),
        many => anyhow::anyhow!("{} operations failed:\n  {}", many.len(), many.join("\n  ")),
    }
}
