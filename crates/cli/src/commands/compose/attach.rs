//! The foreground part of `up`: stream the logs of the attached containers
//! with Compose's prefixes, report exits, and stop on Ctrl-C (a second
//! Ctrl-C kills), on `--abort-on-container-exit|failure` or when every
//! container is gone.

use std::collections::{HashMap, HashSet};
use std::io::{IsTerminal, Write};
use std::sync::atomic::Ordering;
use std::time::Duration;

use berth_compose::engine::{Engine, labels};
use berth_runtime::Container;

use super::logs::Tail;
use super::up::{Args, INTERRUPTS, catch_ctrl_c};
use crate::global::Global;
use crate::output::logprint::{LogFormat, LogPrinter};
use crate::output::style::Style;

/// When attached `up` ends on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnExit {
    Ignore,
    /// `--abort-on-container-exit` (and `--exit-code-from`).
    Stop,
    /// `--abort-on-container-failure`
    Fail,
}

fn service(c: &Container) -> &str {
    c.config
        .labels
        .get(labels::SERVICE)
        .map(String::as_str)
        .unwrap_or("")
}

/// The services whose logs are shown: `--attach`, else the ones named on the
/// command line (all when none), with their dependencies under
/// `--attach-dependencies`, minus `attach: false` and `--no-attach`.
pub fn attach_set(engine: &Engine, a: &Args) -> anyhow::Result<HashSet<String>> {
    let project = &engine.project;
    let mut set: HashSet<String> = if !a.attach.is_empty() {
        for s in &a.attach {
            if !project.services.contains_key(s) {
                anyhow::bail!("cannot attach to services not included in up: {s}");
            }
        }
        a.attach.iter().cloned().collect()
    } else {
        let mut names: Vec<String> = if a.services.is_empty() {
            project.services.keys().cloned().collect()
        } else {
            a.services.clone()
        };
        if a.attach_dependencies {
            let mut i = 0;
            while i < names.len() {
                for d in project.services[&names[i]].depends_on.keys() {
                    if project.services.contains_key(d) && !names.contains(d) {
                        names.push(d.clone());
                    }
                }
                i += 1;
            }
        }
        names
            .into_iter()
            .filter(|n| project.services[n].attach.unwrap_or(true))
            .collect()
    };
    for s in &a.no_attach {
        set.remove(s);
    }
    Ok(set)
}

/// A container followed by the attached `up`.
struct Followed {
    id: String,
    service: String,
    tail: Tail,
    /// Shown (its logs streamed), or only watched for its exit.
    shown: bool,
    exited: bool,
    restarts: u32,
}

impl Followed {
    fn drain(&mut self, printer: &LogPrinter) {
        if !self.shown {
            return;
        }
        for l in self.tail.read_lines() {
            printer.line_on(&self.tail.name, &l.time, &l.stream, &l.text);
        }
    }
}

/// Runs until the containers exit or the user interrupts; returns the exit
/// code of `up`.
/// How far each container's log goes now (container id → bytes): lines
/// written before this `up` are not shown again when it restarts them.
pub fn log_offsets(g: &Global) -> HashMap<String, u64> {
    let root = g.root();
    berth_runtime::Runtime::open(&root)
        .list()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| {
            let log = root.container(&c.config.id).join("container.log");
            let len = std::fs::metadata(log).ok()?.len();
            Some((c.config.id, len))
        })
        .collect()
}

pub fn run(
    g: &Global,
    engine: &Engine,
    a: &Args,
    started_at: time::OffsetDateTime,
    offsets: &HashMap<String, u64>,
) -> anyhow::Result<i32> {
    catch_ctrl_c();
    let on_exit = if a.abort_on_container_failure {
        OnExit::Fail
    } else if a.abort_on_container_exit || a.exit_code_from.is_some() {
        OnExit::Stop
    } else {
        OnExit::Ignore
    };
    let shown = attach_set(engine, a)?;
    let in_scope =
        |c: &Container| a.services.is_empty() || a.services.iter().any(|s| s == service(c));
    let mut cs: Vec<Container> = engine.containers()?.into_iter().filter(in_scope).collect();
    cs.sort_by(|x, y| x.config.name.cmp(&y.config.name));
    let style = if a.no_color {
        Style::plain()
    } else {
        Style::from_flag(&g.ansi, std::io::stdout().is_terminal())
    };
    let attached: Vec<&Container> = cs.iter().filter(|c| shown.contains(service(c))).collect();
    let names: Vec<String> = attached.iter().map(|c| super::logs::prefix(c)).collect();
    if !names.is_empty() {
        println!("Attaching to {}", names.join(", "));
        let _ = std::io::stdout().flush();
    }
    let printer = LogPrinter::stdout(
        style,
        LogFormat {
            no_prefix: a.no_log_prefix,
            timestamps: a.timestamps,
        },
        &names,
    );
    let root = g.root();
    let mut followed: Vec<Followed> = cs
        .iter()
        .map(|c| {
            // Containers started by this `up` are shown from what they
            // wrote since it began, the others from now on. (Times are
            // compared parsed: RFC 3339 strings with fractions of varying
            // length do not sort.)
            let rfc = &time::format_description::well_known::Rfc3339;
            let fresh = c
                .state
                .started_at
                .as_deref()
                .and_then(|s| time::OffsetDateTime::parse(s, rfc).ok())
                .is_some_and(|t| t >= started_at);
            let mut tail = Tail::new(c, &root, !fresh);
            if fresh && let Some(&at) = offsets.get(&c.config.id) {
                tail.offset = at;
            }
            Followed {
                id: c.config.id.clone(),
                service: service(c).to_owned(),
                tail,
                shown: shown.contains(service(c)),
                exited: false,
                restarts: c.state.restart_count,
            }
        })
        .collect();
    // Exit code: the first container to exit (with an abort policy), then
    // the first of `--exit-code-from`'s service to exit, even while stopping.
    let mut code = 0;
    let mut exit_from_seen = false;
    let mut stopping: Option<std::thread::JoinHandle<()>> = None;
    let mut killed = false;
    let mut interrupted = false;
    loop {
        for f in &mut followed {
            f.drain(&printer);
        }
        let interrupts = INTERRUPTS.load(Ordering::SeqCst);
        if interrupts > 0 && stopping.is_none() {
            interrupted = true;
            errln!("Gracefully stopping... (press Ctrl+C again to force)");
            stopping = Some(stop_in_background(g, a));
        }
        if interrupts > 1 && !killed {
            killed = true;
            for f in &followed {
                let _ = engine.runtime.kill(&f.id, "SIGKILL");
            }
            // Anything of the project the stop has not reached yet.
            for c in engine.containers()?.iter().filter(|c| in_scope(c)) {
                if c.state.status.is_active() {
                    let _ = engine.runtime.kill(&c.config.id, "SIGKILL");
                }
            }
        }
        let mut all_done = true;
        for f in &mut followed {
            let Ok(c) = engine.runtime.inspect(&f.id) else {
                // Removed under us (`down` from another terminal).
                f.exited = true;
                continue;
            };
            let st = &c.state;
            if st.restart_count > f.restarts {
                // Restarted by its policy between two looks.
                f.restarts = st.restart_count;
                f.drain(&printer);
                printer.status(
                    &f.tail.name,
                    &format!(
                        "{} exited with code {} (restarting)",
                        f.tail.name,
                        st.exit_code.unwrap_or(0)
                    ),
                );
            }
            if st.status.is_active() {
                all_done = false;
                f.exited = false;
                continue;
            }
            if f.exited {
                continue;
            }
            f.exited = true;
            f.drain(&printer);
            let exit = st.exit_code.unwrap_or(0);
            if f.shown {
                printer.status(
                    &f.tail.name,
                    &format!("{} exited with code {exit}", f.tail.name),
                );
            }
            if a.exit_code_from.as_deref() == Some(f.service.as_str()) && !exit_from_seen {
                exit_from_seen = true;
                code = exit;
            }
            let aborts = match on_exit {
                OnExit::Ignore => false,
                OnExit::Stop => true,
                OnExit::Fail => exit != 0,
            };
            if aborts && stopping.is_none() {
                if !exit_from_seen {
                    code = exit;
                }
                errln!("Aborting on container exit...");
                stopping = Some(stop_in_background(g, a));
            }
        }
        if let Some(h) = &stopping
            && h.is_finished()
        {
            let _ = stopping.take().map(|h| h.join());
            for f in &mut followed {
                f.drain(&printer);
            }
            if let Some(svc) = &a.exit_code_from
                && !exit_from_seen
                && let Some(c) = followed.iter().find(|f| &f.service == svc)
                && let Ok(c) = engine.runtime.inspect(&c.id)
            {
                code = c.state.exit_code.unwrap_or(0);
            }
            // Interrupted: Compose's exit status for a cancelled command.
            return Ok(if interrupted { 130 } else { code });
        }
        if all_done && stopping.is_none() {
            return Ok(code);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stops the services of this `up` (in reverse dependency order) in a
/// thread, so logs keep streaming and a second Ctrl-C can still kill.
fn stop_in_background(g: &Global, a: &Args) -> std::thread::JoinHandle<()> {
    let g = g.clone();
    let services = a.services.clone();
    let timeout = a.timeout;
    std::thread::spawn(move || {
        let stop = || -> anyhow::Result<()> {
            let mut e = super::engine(&g, &[])?;
            e.stop_timeout = timeout.map(Duration::from_secs);
            super::lifecycle::stop_services(&g, &e, &services)?;
            Ok(())
        };
        if let Err(e) = stop() {
            errln!("Error: {e}");
        }
    })
}
