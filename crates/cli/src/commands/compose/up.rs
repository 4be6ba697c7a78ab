//! `berth up`: converge the project, then (unless `-d`) stream logs until
//! the containers exit or Ctrl-C stops them (see `attach`). Also `create`.

use std::collections::{BTreeSet, HashMap};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use berth_compose::engine::health::Readiness;
use berth_compose::engine::{BuildMode, Engine, PullPolicy};
use berth_compose::plan::{self, Condition, Options, Recreate};

use crate::global::Global;
use crate::output::progress::Status;

#[derive(clap::Args, Debug, Default, Clone)]
// `-V` is --renew-anon-volumes here, as in Compose.
#[command(disable_version_flag = true)]
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
    /// Pull image before running ("always"|"missing"|"never"|"build"; default: each service's pull_policy)
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
    /// Stops all containers if any container was stopped. Incompatible with -d
    #[arg(long)]
    pub abort_on_container_exit: bool,
    /// Return the exit code of the selected service container. Implies --abort-on-container-exit
    #[arg(long)]
    pub exit_code_from: Option<String>,
    /// Use this timeout in seconds for container shutdown when attached or when containers are already running
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
    /// Stops all containers if any container exited with failure. Incompatible with -d
    #[arg(long)]
    pub abort_on_container_failure: bool,
    /// Recreate dependent containers. Incompatible with --no-recreate.
    #[arg(long)]
    pub always_recreate_deps: bool,
    /// Recreate anonymous volumes instead of retrieving data from the previous containers
    #[arg(short = 'V', long)]
    pub renew_anon_volumes: bool,
    /// Automatically attach to log output of dependent services
    #[arg(long)]
    pub attach_dependencies: bool,
    /// Suppress the build output
    #[arg(long)]
    pub quiet_build: bool,
    pub services: Vec<String>,
}

pub(super) static INTERRUPTS: AtomicUsize = AtomicUsize::new(0);

/// A foreground `up` is still converging: a second Ctrl-C then ends berth
/// at once (a pull or a build may be under way; the next `up` or `down`
/// converges what it left).
static CONVERGING: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    let n = INTERRUPTS.fetch_add(1, Ordering::SeqCst) + 1;
    if n > 1 && CONVERGING.load(Ordering::SeqCst) {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(130) };
    }
}

/// Ctrl-C was pressed (see `Engine::cancel`).
fn interrupted() -> bool {
    INTERRUPTS.load(Ordering::SeqCst) > 0
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

/// Compose's checks of flag combinations (`cmd/compose/up.go`).
fn validate(a: &mut Args) -> anyhow::Result<()> {
    if a.exit_code_from.is_some() && !a.abort_on_container_failure {
        a.abort_on_container_exit = true;
    }
    if a.abort_on_container_exit && a.abort_on_container_failure {
        bail!("--abort-on-container-failure cannot be combined with --abort-on-container-exit");
    }
    if a.wait {
        if a.attach_dependencies || a.abort_on_container_exit || !a.attach.is_empty() {
            bail!(
                "--wait cannot be combined with --abort-on-container-exit, --attach or --attach-dependencies"
            );
        }
        a.detach = true;
    }
    if a.build && a.no_build {
        bail!("--build and --no-build are incompatible");
    }
    if a.detach
        && (a.attach_dependencies
            || a.abort_on_container_exit
            || a.abort_on_container_failure
            || !a.attach.is_empty())
    {
        bail!(
            "--detach cannot be combined with --abort-on-container-exit, --abort-on-container-failure, --attach, --attach-dependencies or --watch"
        );
    }
    if a.renew_anon_volumes && a.no_recreate {
        bail!("--no-recreate and --renew-anon-volumes are incompatible");
    }
    if a.force_recreate && a.no_recreate {
        bail!("--force-recreate and --no-recreate are incompatible");
    }
    if a.always_recreate_deps && a.no_recreate {
        bail!("--always-recreate-deps and --no-recreate are incompatible");
    }
    if !a.attach.is_empty() && a.attach_dependencies {
        bail!("cannot combine --attach and --attach-dependencies");
    }
    Ok(())
}

/// The named services and, unless `--no-deps`, what they depend on.
fn scope(engine: &Engine, a: &Args) -> Vec<String> {
    let services = &engine.project.services;
    if a.services.is_empty() {
        return services.keys().cloned().collect();
    }
    let mut out: Vec<String> = a.services.clone();
    let mut i = 0;
    while i < out.len() && !a.no_deps {
        let svc = &services[&out[i]];
        let parents = svc
            .depends_on
            .keys()
            .cloned()
            .chain(berth_compose::desired::namespace_parents(svc));
        for d in parents {
            if services.contains_key(&d) && !out.contains(&d) {
                out.push(d);
            }
        }
        i += 1;
    }
    out
}

/// Converges the project (`up` without the attach part, also used by
/// `create` and `watch`). Returns the engine and the errors of the plan.
pub fn converge(g: &Global, a: &Args) -> anyhow::Result<(Engine, Vec<String>)> {
    let mut engine = super::engine(g, &a.services)?;
    engine.stop_timeout = a.timeout.map(Duration::from_secs);
    engine.renew_anon_volumes = a.renew_anon_volumes;
    // restart: true dependents are stopped and started again in one plan.
    engine.restarts_follow_stops = true;
    engine.wait_timeout = a.wait_timeout.filter(|t| *t > 0).map(Duration::from_secs);
    if CONVERGING.load(Ordering::SeqCst) {
        engine.cancel = Some(interrupted);
    }
    for s in a.services.iter().chain(a.exit_code_from.iter()) {
        if !engine.project.services.contains_key(s) {
            bail!("no such service: {s}");
        }
    }
    let scale = scale(a)?;
    for s in scale.keys() {
        if !engine.project.services.contains_key(s) {
            bail!("--scale: no such service: {s}");
        }
    }
    let pull = match a.pull.as_deref() {
        None | Some("policy") => None,
        Some(p) => Some(PullPolicy::parse(p).ok_or_else(|| {
            anyhow::anyhow!("--pull {p:?}: expected always, missing, never, build or policy")
        })?),
    };
    let _lock = engine.lock()?;
    let services = scope(&engine, a);
    let mode = if a.no_build {
        BuildMode::Never
    } else if a.build {
        BuildMode::Always
    } else {
        BuildMode::Missing
    };
    // Build output: plain lines, or on a terminal each step on one line
    // with its RUN output folded away when it succeeds.
    let console = berth_build::Console::new(if a.quiet_build {
        berth_build::Mode::Quiet
    } else {
        berth_build::Mode::from_flags(&g.progress, &g.ansi)
    });
    engine.build_images_with(&services, mode, &|svc, ev| console.event(svc, ev))?;
    let tty = std::io::stderr().is_terminal();
    let mode = if a.quiet_pull || g.progress == "quiet" {
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
    let desired = engine.desired(&scale);
    let observed = engine.observe_for_change()?;
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
        } else if a.always_recreate_deps {
            Recreate::Force
        } else {
            Recreate::Diverged
        },
        remove_orphans: a.remove_orphans || env_flag("COMPOSE_REMOVE_ORPHANS"),
        no_start: a.no_start,
        no_deps: a.no_deps,
    };
    let plan = plan::plan_up(&desired, &observed, &opts)?;
    if std::env::var_os("BERTH_DEBUG_PLAN").is_some() {
        // A debugging aid: what was seen and what will be done.
        for c in &observed.containers {
            errln!(
                "observed: {} #{} {} {:?}",
                c.name,
                c.number,
                &c.id[..12],
                c.state
            );
        }
        eprint!("{plan}");
    }
    if !env_flag("COMPOSE_IGNORE_ORPHANS") {
        for w in &plan.warnings {
            errln!("WARN[0000] {w}");
        }
    }
    // Interrupted while building or pulling: nothing more is started.
    if plan.is_empty() || engine.cancel.is_some_and(|cancelled| cancelled()) {
        return Ok((engine, Vec::new()));
    }
    let p = super::progress(g, "Running")?;
    engine.reserve(&plan);
    let errors = super::execute(g, &engine, &plan, &p);
    engine.release_unused();
    p.finish();
    Ok((engine, errors))
}

/// A boolean environment variable as Compose reads them (`1`, `true`…).
fn env_flag(name: &str) -> bool {
    std::env::var(name)
        .is_ok_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "y"))
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    let started_at = time::OffsetDateTime::now_utc();
    if a.watch && (a.detach || a.wait) {
        bail!("--watch and --detach are incompatible");
    }
    let mut a = a;
    validate(&mut a)?;
    let offsets = if a.detach {
        Default::default()
    } else {
        super::attach::log_offsets(g)
    };
    let foreground = !a.detach && !a.no_start && !a.watch;
    if foreground {
        // Ctrl-C while converging stops the project as it does once the
        // logs stream (Compose's behaviour), instead of killing berth and
        // leaving what it started running.
        catch_ctrl_c();
        CONVERGING.store(true, Ordering::SeqCst);
    }
    let converged = converge(g, &a);
    CONVERGING.store(false, Ordering::SeqCst);
    let (engine, errors) = converged?;
    if foreground && interrupted() {
        // The waits it cut short are not errors: the stop follows.
        return super::attach::run(g, &engine, &a, started_at, &offsets);
    }
    if !errors.is_empty() {
        return Err(super::summary(&errors));
    }
    if a.wait {
        return wait(g, &engine, &a);
    }
    if a.detach || a.no_start {
        return Ok(0);
    }
    if a.watch {
        return super::watch::up_watch(g, engine, &a, started_at);
    }
    super::attach::run(g, &engine, &a, started_at, &offsets)
}

/// What `--wait` waits for: a service that others wait on to complete
/// successfully must complete, every other one be running (healthy when it
/// has a healthcheck).
fn wait_readiness(engine: &Engine, service: &str) -> Readiness {
    let completes = engine.project.services.values().any(|s| {
        s.depends_on
            .get(service)
            .is_some_and(|d| d.condition == Condition::CompletedSuccessfully.as_str())
    });
    if completes {
        Readiness::Dependency(Condition::CompletedSuccessfully)
    } else {
        Readiness::RunningOrHealthy
    }
}

/// `--wait`: every service of the project ready, in parallel, with one
/// progress line per container.
fn wait(g: &Global, engine: &Engine, a: &Args) -> anyhow::Result<i32> {
    let deadline = a
        .wait_timeout
        .filter(|t| *t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t));
    let services: BTreeSet<String> = scope(engine, a).into_iter().collect();
    let p = super::progress(g, "Running")?;
    let errors = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for svc in &services {
            let (p, errors) = (&p, &errors);
            s.spawn(move || {
                let names: Vec<String> = engine
                    .service_containers(svc)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|c| format!("Container {}", c.config.name))
                    .collect();
                for n in &names {
                    p.event(n, Status::Working, "Waiting", "");
                }
                let readiness = wait_readiness(engine, svc);
                match engine.wait_ready(svc, readiness, deadline) {
                    Ok(()) => {
                        let text = match readiness {
                            Readiness::Dependency(Condition::CompletedSuccessfully) => "Exited",
                            _ => "Healthy",
                        };
                        for n in &names {
                            p.event(n, Status::Done, text, "");
                        }
                    }
                    Err(e) => {
                        for n in &names {
                            p.event(n, Status::Error, "Error", &e);
                        }
                        errors.lock().unwrap().push(e);
                    }
                }
            });
        }
    });
    p.finish();
    let errors = errors.into_inner().unwrap();
    if errors.is_empty() {
        return Ok(0);
    }
    if deadline.is_some_and(|d| Instant::now() >= d) {
        bail!(
            "application not healthy after {}s",
            a.wait_timeout.unwrap_or(0)
        );
    }
    Err(super::summary(&errors))
}

/// `berth create`: like `up --no-start`.
pub fn create(g: &Global, mut a: Args) -> anyhow::Result<i32> {
    a.no_start = true;
    validate(&mut a)?;
    let (_engine, errors) = converge(g, &a)?;
    if !errors.is_empty() {
        return Err(super::summary(&errors));
    }
    Ok(0)
}
