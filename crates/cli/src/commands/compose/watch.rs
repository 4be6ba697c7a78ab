//! `berth watch [SERVICE…]` and `berth up --watch`: apply `develop.watch`
//! rules as files change (sync into the running replicas, restart, rebuild,
//! exec), and reload the project when its own files change, applying only
//! the difference. Status lines are Compose's (`Watch enabled`, `Syncing
//! service "web" after 3 changes were detected`, …).

mod actions;
mod logs;
mod reload;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::bail;
use berth_compose::engine::Engine;
use berth_watch::project_rules::project_rules;
use berth_watch::rules::Rule;
use berth_watch::session::{ServiceWork, Session};

use super::up;
use crate::global::Global;
use crate::output::logprint::LogPrinter;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Do not build & start services before watching
    #[arg(long)]
    pub no_up: bool,
    /// Prune dangling images on rebuild
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub prune: bool,
    /// hide build output
    #[arg(long)]
    pub quiet: bool,
    pub services: Vec<String>,
}

/// Where watch status lines go: alone on stdout (`watch`), or among the
/// logs with Compose's ` ⦿ ` marker (`up --watch`).
pub enum Output {
    Plain,
    Logs {
        printer: Arc<LogPrinter>,
        pad: String,
    },
}

impl Output {
    pub fn line(&self, msg: &str) {
        match self {
            Output::Plain => {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{msg}");
                let _ = out.flush();
            }
            Output::Logs { printer, pad } => {
                for l in msg.lines() {
                    printer.status("", &format!("{pad} ⦿ {l}"));
                }
            }
        }
    }
}

/// What the loop needs to know besides the engine.
pub struct Opts {
    /// Services named on the command line (empty: all).
    pub services: Vec<String>,
    pub prune: bool,
    pub quiet: bool,
}

/// Go's `%q` of a list of strings, as Compose prints service lists.
pub fn quoted(names: &[String]) -> String {
    let q: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    format!("[{}]", q.join(" "))
}

fn interrupted() -> bool {
    up::INTERRUPTS.load(Ordering::SeqCst) > 0
}

/// `--env-file` flags, absolute (they are relative to where berth runs).
fn env_files(g: &Global) -> Vec<PathBuf> {
    let cwd = std::env::current_dir().unwrap_or_default();
    g.env_files.iter().map(|f| cwd.join(f)).collect()
}

fn check_rules(engine: &Engine, services: &[String]) -> anyhow::Result<Vec<Rule>> {
    for s in services {
        if !engine.project.services.contains_key(s) {
            bail!("no such service: {s}");
        }
    }
    let pr = project_rules(&engine.project, services)?;
    for w in &pr.warnings {
        errln!("WARN[0000] {w}");
    }
    if pr.rules.is_empty() {
        bail!(
            "none of the selected services is configured for watch, consider setting a 'develop' section"
        );
    }
    Ok(pr.rules)
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    let engine = super::engine(g, &a.services)?;
    let rules = check_rules(&engine, &a.services)?;
    let engine = if a.no_up {
        engine
    } else {
        // As Compose: services that are built and watched are built now, so
        // the containers run the code being watched.
        let build = engine.project.services.iter().any(|(n, s)| {
            (a.services.is_empty() || a.services.contains(n))
                && s.build.is_some()
                && s.develop.is_some()
        });
        let up_args = up::Args {
            services: a.services.clone(),
            build,
            quiet_pull: a.quiet,
            ..Default::default()
        };
        let (engine, errors) = up::converge(g, &up_args)?;
        if !errors.is_empty() {
            for e in &errors {
                errln!("Error response from daemon: {e}");
            }
            return Ok(1);
        }
        engine
    };
    up::catch_ctrl_c();
    let opts = Opts {
        services: a.services,
        prune: a.prune,
        quiet: a.quiet,
    };
    watch_loop(g, engine, rules, &opts, &Output::Plain)?;
    Ok(0)
}

/// `up --watch`: the logs of the attached services stream while watching;
/// Ctrl-C stops the stack as `up` does.
pub fn up_watch(
    g: &Global,
    engine: Engine,
    a: &up::Args,
    started_at: time::OffsetDateTime,
) -> anyhow::Result<i32> {
    let rules = check_rules(&engine, &a.services)?;
    up::catch_ctrl_c();
    let follower = logs::Follower::start(g, &engine, a, started_at)?;
    let out = Output::Logs {
        printer: follower.printer(),
        pad: " ".repeat(follower.width()),
    };
    let opts = Opts {
        services: a.services.clone(),
        prune: true,
        quiet: false,
    };
    let r = watch_loop(g, engine, rules, &opts, &out);
    follower.stop();
    r?;
    errln!("Gracefully stopping... (press Ctrl+C again to force)");
    let forced = std::thread::spawn(|| {
        while up::INTERRUPTS.load(Ordering::SeqCst) < 2 {
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let mut e = super::engine(g, &[])?;
    e.stop_timeout = a.timeout.map(Duration::from_secs);
    if forced.is_finished() {
        e.stop_timeout = Some(Duration::ZERO);
    }
    super::lifecycle::stop_services(g, &e, &[])?;
    Ok(130)
}

/// Watches until Ctrl-C.
fn watch_loop(
    g: &Global,
    mut engine: Engine,
    rules: Vec<Rule>,
    opts: &Opts,
    out: &Output,
) -> anyhow::Result<()> {
    for r in rules.iter().filter(|r| r.initial_sync && r.action.syncs()) {
        if let Some(hit) = r.hit(&r.path) {
            for e in actions::sync(&engine, r, &[hit], true) {
                errln!("WARN[0000] initial sync of service {:?}: {e}", r.service);
            }
        }
    }
    let sources = berth_watch::sources::project_sources(&engine.project, &env_files(g));
    let mut session = Session::start(rules, sources)?;
    out.line("Watch enabled");
    while !interrupted() {
        let Some(work) = session.next(Duration::from_millis(100)) else {
            continue;
        };
        for e in &work.errors {
            errln!("WARN[0000] watch: {e}");
        }
        if !work.project.is_empty() {
            reload::reload(g, &mut engine, &mut session, opts, &work.project, out);
        }
        apply(g, &mut engine, session.rules(), &work.services, opts, out);
    }
    out.line("Watch disabled");
    Ok(())
}

/// Carries out one batch, in Compose's order: rebuild, sync, restart, exec.
fn apply(
    g: &Global,
    engine: &mut Engine,
    rules: &[Rule],
    work: &[ServiceWork],
    opts: &Opts,
    out: &Output,
) {
    let rebuild: Vec<String> = work
        .iter()
        .filter(|w| w.rebuild)
        .map(|w| w.service.clone())
        .collect();
    if !rebuild.is_empty() {
        actions::rebuild(g, engine, &rebuild, opts, out);
    }
    for w in work.iter().filter(|w| !w.syncs.is_empty()) {
        out.line(&format!(
            "Syncing service {:?} after {} changes were detected",
            w.service,
            w.changes()
        ));
        for (i, hits) in &w.syncs {
            for e in actions::sync(engine, &rules[*i], hits, false) {
                out.line(&format!("Error syncing service {:?}: {e}", w.service));
            }
        }
    }
    let restart: Vec<String> = work
        .iter()
        .filter(|w| w.restart && !w.rebuild)
        .map(|w| w.service.clone())
        .collect();
    if !restart.is_empty() {
        match actions::restart(engine, &restart) {
            Ok(()) => out.line(&format!("service(s) {} restarted", quoted(&restart))),
            Err(e) => out.line(&format!("Error restarting {}: {e}", quoted(&restart))),
        }
    }
    for w in work {
        for i in &w.exec {
            if let Some(hook) = &rules[*i].exec {
                for e in actions::exec(engine, &w.service, hook) {
                    out.line(&format!(
                        "Error running exec for service {:?}: {e}",
                        w.service
                    ));
                }
            }
        }
    }
}
