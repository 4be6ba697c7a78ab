//! `berth up`: converge, then (unless `-d`) stream logs until the
//! containers exit or Ctrl-C stops them.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use berth_compose::engine::{BuildMode, Engine, PullPolicy, labels};
use berth_compose::plan::{self, Options, Recreate};

use super::logs::Tail;
use crate::global::Global;
use crate::output::logprint::{LogFormat, LogPrinter};
use crate::output::style::Style;

#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// Detached mode: run containers in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Wait for services to be running|healthy. Implies detached mode.
    #[arg(long)]
    pub wait: bool,
    /// Maximum duration in seconds to wait for the project to be running|healthy
    #[arg(long)]
    pub wait_timeout: Option<u64>,
    /// Build images before starting containers
    #[arg(long)]
    pub build: bool,
    /// Don't build an image, even if it's policy
    #[arg(long)]
    pub no_build: bool,
    /// Pull image before running ("always"|"missing"|"never")
    #[arg(long)]
    pub pull: Option<String>,
    /// Recreate containers even if their configuration and image haven't changed
    #[arg(long)]
    pub force_recreate: bool,
    /// If containers already exist, don't recreate them
    #[arg(long)]
    pub no_recreate: bool,
    /// Don't start linked services
    #[arg(long)]
    pub no_deps: bool,
    /// Don't start the services after creating them
    #[arg(long)]
    pub no_start: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    pub remove_orphans: bool,
    /// Scale SERVICE to NUM instances (SERVICE=NUM)
    #[arg(long)]
    pub scale: Vec<String>,
    /// Stops all containers if any container was stopped
    #[arg(long)]
    pub abort_on_container_exit: bool,
    /// Return the exit code of the selected service container
    #[arg(long)]
    pub exit_code_from: Option<String>,
    /// Shutdown timeout in seconds
    #[arg(short, long)]
    pub timeout: Option<u64>,
    /// Restrict attaching to the specified services
    #[arg(long)]
    pub attach: Vec<String>,
    /// Do not attach (stream logs) to the specified services
    #[arg(long)]
    pub no_attach: Vec<String>,
    /// Pull without printing progress information
    #[arg(long)]
    pub quiet_pull: bool,
    /// Assume "yes" as answer to all prompts
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Produce monochrome output
    #[arg(long)]
    pub no_color: bool,
    /// Don't print prefix in logs
    #[arg(long)]
    pub no_log_prefix: bool,
    /// Show timestamps
    #[arg(long)]
    pub timestamps: bool,
    /// Watch source code and rebuild/refresh containers when files are updated.
    #[arg(short = 'w', long)]
    pub watch: bool,
    pub services: Vec<String>,
}

pub(super) static INTERRUPTS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTS.fetch_add(1, Ordering::SeqCst);
}

pub(super) fn catch_ctrl_c() {
    let act = nix::sys::signal::SigAction::new(
        nix::sys::signal::SigHandler::Handler(on_sigint),
        nix::sys::signal::SaFlags::SA_RESTART,
        nix::sys::signal::SigSet::empty(),
    );
    // SAFETY: the handler only touches an atomic.
    unsafe {
        let _ = nix::sys::signal::sigaction(nix::sys::signal::Signal::SIGINT, &act);
        let _ = nix::sys::signal::sigaction(nix::sys::signal::Signal::SIGTERM, &act);
    }
}

fn scale(a: &Args) -> anyhow::Result<HashMap<String, u32>> {
    a.scale
        .iter()
        .map(|s| {
            let (k, v) = s
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("--scale {s:?}: expected SERVICE=NUM"))?;
            Ok((
                k.to_owned(),
                v.parse()
                    .map_err(|_| anyhow::anyhow!("--scale {s:?}: {v:?} is not a number"))?,
            ))
        })
        .collect()
}

/// Converges the project (`up` without the attach part, also used by
/// `create`). Returns the engine and whether everything went well.
pub fn converge(g: &Global, a: &Args) -> anyhow::Result<(Engine, Vec<String>)> {
    if a.force_recreate && a.no_recreate {
        bail!("--force-recreate and --no-recreate are incompatible");
    }
    let mut engine = super::engine(g, &a.services)?;
    engine.stop_timeout = a.timeout.map(Duration::from_secs);
    for s in &a.services {
        if !engine.project.services.contains_key(s) {
            bail!("no such service: {s}");
        }
    }
    let pull =
        match a.pull.as_deref() {
            Some(p) => Some(PullPolicy::parse(p).ok_or_else(|| {
                anyhow::anyhow!("--pull {p:?}: expected always, missing or never")
            })?),
            None => None,
        };
    let _lock = engine.lock()?;
    let services: Vec<String> = engine.project.services.keys().cloned().collect();
    if a.build && a.no_build {
        bail!("--build and --no-build are incompatible");
    }
    let mode = if a.no_build {
        BuildMode::Never
    } else if a.build {
        BuildMode::Always
    } else {
        BuildMode::Missing
    };
    engine.build_images(&services, mode, &|_svc, line| eprintln!("{line}"))?;
    let tty = std::io::stderr().is_terminal();
    let mode = if a.quiet_pull {
        berth_image::progress::ProgressMode::Quiet
    } else if tty {
        berth_image::progress::ProgressMode::Tty
    } else {
        berth_image::progress::ProgressMode::Plain
    };
    engine.ensure_images(
        &services,
        pull,
        &berth_image::progress::ConsoleProgress::new(mode),
    )?;
    let desired = engine.desired(&scale(a)?);
    let observed = engine.observe()?;
    let opts = Options {
        services: a.services.clone(),
        recreate: if a.force_recreate {
            Recreate::Force
        } else if a.no_recreate {
            Recreate::Never
        } else {
            Recreate::Diverged
        },
        recreate_dependencies: if a.no_recreate {
            Recreate::Never
        } else {
            Recreate::Diverged
        },
        remove_orphans: a.remove_orphans,
        no_start: a.no_start,
        no_deps: a.no_deps,
    };
    let plan = plan::plan_up(&desired, &observed, &opts)?;
    for w in &plan.warnings {
        eprintln!("WARN[0000] {w}");
    }
    let p = super::progress(g, "Running")?;
    let errors = super::execute(g, &engine, &plan, &p);
    p.finish();
    Ok((engine, errors))
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    let started_at = time::OffsetDateTime::now_utc();
    if a.watch && (a.detach || a.wait) {
        bail!("--watch and --detach are incompatible");
    }
    let (engine, errors) = converge(g, &a)?;
    if !errors.is_empty() {
        for e in &errors {
            eprintln!("Error response from daemon: {e}");
        }
        return Ok(1);
    }
    if a.wait {
        return wait(&engine, &a);
    }
    if a.detach || a.no_start {
        return Ok(0);
    }
    if a.watch {
        return super::watch::up_watch(g, engine, &a, started_at);
    }
    attach(g, &engine, &a, started_at)
}

/// `--wait`: every container running (healthy when it has a healthcheck);
/// one-shot containers that exited 0 count as done.
fn wait(engine: &Engine, a: &Args) -> anyhow::Result<i32> {
    let deadline = a
        .wait_timeout
        .map(|t| Instant::now() + Duration::from_secs(t));
    loop {
        let cs = engine.containers()?;
        let mut ready = true;
        for c in &cs {
            let st = &c.state;
            if !st.status.is_active() {
                if st.exit_code.unwrap_or(0) != 0 {
                    eprintln!(
                        "container {} exited ({})",
                        c.config.name,
                        st.exit_code.unwrap_or(0)
                    );
                    return Ok(1);
                }
                continue;
            }
            match (
                c.config.healthcheck.is_some(),
                st.health.as_ref().map(|h| h.status.as_str()),
            ) {
                (false, _) | (true, Some("healthy")) => {}
                (true, Some("unhealthy")) => {
                    eprintln!("container {} is unhealthy", c.config.name);
                    return Ok(1);
                }
                _ => ready = false,
            }
        }
        if ready {
            return Ok(0);
        }
        if deadline.is_some_and(|d| Instant::now() > d) {
            eprintln!("timeout waiting for the project to be running|healthy");
            return Ok(1);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn stop_all(g: &Global, engine: &Engine) -> anyhow::Result<()> {
    // Ctrl-C stops; it does not remove.
    super::lifecycle::stop_services(g, engine, &[])?;
    Ok(())
}

fn attach(
    g: &Global,
    engine: &Engine,
    a: &Args,
    started_at: time::OffsetDateTime,
) -> anyhow::Result<i32> {
    catch_ctrl_c();
    let attached = |svc: &str| {
        (a.attach.is_empty() || a.attach.iter().any(|s| s == svc))
            && !a.no_attach.iter().any(|s| s == svc)
    };
    let cs: Vec<_> = engine
        .containers()?
        .into_iter()
        .filter(|c| {
            c.config
                .labels
                .get(labels::SERVICE)
                .is_some_and(|s| attached(s) && (a.services.is_empty() || a.services.contains(s)))
        })
        .collect();
    let tty = std::io::stdout().is_terminal();
    let style = if a.no_color {
        Style::plain()
    } else {
        Style::from_flag(&g.ansi, tty)
    };
    let names: Vec<String> = cs.iter().map(super::logs::prefix).collect();
    let printer = LogPrinter::stdout(
        style,
        LogFormat {
            no_prefix: a.no_log_prefix,
            timestamps: a.timestamps,
        },
        &names,
    );
    let started = started_at.format(&time::format_description::well_known::Rfc3339)?;
    // Containers started by this `up` are shown from their first line.
    let mut tails: Vec<(String, Tail, bool)> = cs
        .iter()
        .map(|c| {
            let fresh = c
                .state
                .started_at
                .as_deref()
                .is_some_and(|s| s >= started.as_str());
            (c.config.id.clone(), Tail::new(c, &g.root(), !fresh), false)
        })
        .collect();
    let mut code = 0;
    loop {
        for (_, t, _) in &mut tails {
            for (time, text) in t.read() {
                printer.line(&t.name, &time, &text);
            }
        }
        if INTERRUPTS.load(Ordering::SeqCst) > 0 {
            eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
            let forced = std::thread::spawn(|| {
                while INTERRUPTS.load(Ordering::SeqCst) < 2 {
                    std::thread::sleep(Duration::from_millis(50));
                }
            });
            let mut e = super::engine(g, &[])?;
            e.stop_timeout = a.timeout.map(Duration::from_secs);
            if forced.is_finished() {
                e.stop_timeout = Some(Duration::ZERO);
            }
            stop_all(g, &e)?;
            return Ok(130);
        }
        let mut all_done = true;
        for (id, t, reported) in &mut tails {
            let Ok(c) = engine.runtime.inspect(id) else {
                continue;
            };
            if c.state.status.is_active() {
                all_done = false;
                continue;
            }
            if !*reported {
                *reported = true;
                for (time, text) in t.read() {
                    printer.line(&t.name, &time, &text);
                }
                let exit = c.state.exit_code.unwrap_or(0);
                printer.status(&t.name, &format!("{} exited with code {exit}", t.name));
                let svc = c
                    .config
                    .labels
                    .get(labels::SERVICE)
                    .cloned()
                    .unwrap_or_default();
                if a.exit_code_from.as_deref() == Some(svc.as_str()) {
                    code = exit;
                }
                if a.abort_on_container_exit || a.exit_code_from.is_some() {
                    if a.exit_code_from.is_none() {
                        code = exit;
                    }
                    eprintln!("Aborting on container exit...");
                    stop_all(g, engine)?;
                    return Ok(code);
                }
            }
        }
        if all_done {
            return Ok(code);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `berth create`: like `up --no-start`.
pub fn create(g: &Global, mut a: Args) -> anyhow::Result<i32> {
    a.no_start = true;
    let (_engine, errors) = converge(g, &a)?;
    for e in &errors {
        eprintln!("Error response from daemon: {e}");
    }
    Ok(if errors.is_empty() { 0 } else { 1 })
}
