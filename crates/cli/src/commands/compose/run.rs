//! `berth run SERVICE [COMMAND…]`: a one-off container of a service, after
//! its dependencies are up (and their `depends_on` conditions met). Its
//! output is berth's, signals are passed on to it, and its exit code is
//! berth's.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use berth_compose::engine::health::Readiness;
use berth_compose::engine::{BuildMode, Engine};
use berth_compose::executor::Backend;
use berth_compose::plan::{self, Condition, Options, Recreate};

use crate::global::Global;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Run container in background and print container ID
    #[arg(short, long)]
    detach: bool,
    /// Automatically remove the container when it exits
    #[arg(long)]
    rm: bool,
    /// Assign a name to the container
    #[arg(long)]
    name: Option<String>,
    /// Set environment variables
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Add or override a label
    #[arg(short, long = "label")]
    label: Vec<String>,
    /// Publish a container's port(s) to the host
    #[arg(short, long = "publish")]
    publish: Vec<String>,
    /// Run command with all service's ports enabled and mapped to the host
    #[arg(short = 'P', long)]
    service_ports: bool,
    /// Don't start linked services
    #[arg(long)]
    no_deps: bool,
    /// Override the entrypoint of the image
    #[arg(long)]
    entrypoint: Option<String>,
    /// Run as specified username or uid
    #[arg(short, long)]
    user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    workdir: Option<String>,
    /// Bind mount a volume
    #[arg(short, long = "volume")]
    volume: Vec<String>,
    /// Add Linux capabilities
    #[arg(long)]
    cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long)]
    cap_drop: Vec<String>,
    /// Build image before starting container
    #[arg(long)]
    build: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    remove_orphans: bool,
    /// Pull without printing progress information
    #[arg(long)]
    quiet_pull: bool,
    /// Disable pseudo-TTY allocation (default: auto-detected)
    #[arg(short = 'T', long = "no-TTY")]
    no_tty: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    interactive: bool,
    service: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// `-p [[IP:]HOST:]CONTAINER[/PROTO]`
fn parse_port(s: &str) -> anyhow::Result<berth_spec::Port> {
    let (rest, proto) = s.rsplit_once('/').unwrap_or((s, "tcp"));
    let parts: Vec<&str> = rest.rsplitn(3, ':').collect();
    let (target, published, host_ip) = match parts.as_slice() {
        [t] => (*t, None, None),
        [t, p] => (*t, Some(*p), None),
        [t, p, ip] => (*t, Some(*p), Some(*ip)),
        _ => anyhow::bail!("invalid port {s:?}"),
    };
    Ok(berth_spec::Port {
        target: target
            .parse()
            .map_err(|_| anyhow::anyhow!("-p {s:?}: invalid container port {target:?}"))?,
        published: published.filter(|p| !p.is_empty()).map(str::to_owned),
        host_ip: host_ip.map(str::to_owned),
        protocol: proto.to_owned(),
        mode: "ingress".into(),
        ..Default::default()
    })
}

/// `-v SRC:DST[:ro]`: a bind mount when SRC is a path, else a volume.
fn parse_volume(v: &str) -> anyhow::Result<berth_spec::ServiceVolume> {
    let (src, rest) = v
        .split_once(':')
        .ok_or_else(|| anyhow::anyhow!("-v {v:?}: expected SRC:DST[:ro]"))?;
    let (dst, ro) = match rest.split_once(':') {
        Some((d, m)) => (d, m.split(',').any(|o| o == "ro")),
        None => (rest, false),
    };
    let bind = src.starts_with('/') || src.starts_with('.') || src.starts_with('~');
    Ok(berth_spec::ServiceVolume {
        kind: if bind { "bind".into() } else { "volume".into() },
        source: Some(if bind {
            std::path::absolute(src)?.display().to_string()
        } else {
            src.to_owned()
        }),
        target: dst.to_owned(),
        read_only: ro,
        ..Default::default()
    })
}

/// The service as the command line changes it for the one-off container.
fn apply(a: &Args, s: &mut berth_spec::Service) -> anyhow::Result<()> {
    if !a.command.is_empty() {
        s.command = Some(a.command.clone());
    }
    if let Some(e) = &a.entrypoint {
        let words = berth_spec::model::misc::shell_split(e)
            .map_err(|err| anyhow::anyhow!("--entrypoint {e:?}: {err}"))?;
        s.entrypoint = Some(words);
    }
    for e in &a.env {
        let (k, v) = match e.split_once('=') {
            Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
            None => (e.clone(), std::env::var(e).ok()),
        };
        s.environment.0.insert(k, v);
    }
    for l in &a.label {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        s.labels.0.insert(k.to_owned(), v.to_owned());
    }
    if a.user.is_some() {
        s.user = a.user.clone();
    }
    if a.workdir.is_some() {
        s.working_dir = a.workdir.clone();
    }
    for v in &a.volume {
        s.volumes.push(parse_volume(v)?);
    }
    s.cap_add.extend(a.cap_add.iter().cloned());
    s.cap_drop.extend(a.cap_drop.iter().cloned());
    if !a.service_ports {
        s.ports.clear();
    }
    for p in &a.publish {
        s.ports.push(parse_port(p)?);
    }
    // A one-off container is never restarted, and its name is its own.
    s.restart = None;
    if let Some(d) = s.deploy.as_mut() {
        d.restart_policy = None;
    }
    s.container_name = None;
    Ok(())
}

/// Brings up what the service depends on, as `up` would, and waits for
/// their conditions.
fn dependencies(g: &Global, engine: &mut Engine, a: &Args) -> anyhow::Result<()> {
    let svc = engine.project.services[&a.service].clone();
    let deps: Vec<String> = if a.no_deps {
        vec![]
    } else {
        svc.depends_on
            .keys()
            .filter(|d| engine.project.services.contains_key(*d))
            .cloned()
            .collect()
    };
    let mut needed = deps.clone();
    needed.push(a.service.clone());
    let mode = if a.build {
        BuildMode::Always
    } else {
        BuildMode::Missing
    };
    engine.build_images(&needed, mode, &|_, l| errln!("{l}"))?;
    let observer = berth_image::progress::ConsoleProgress::new(if a.quiet_pull {
        berth_image::progress::ProgressMode::Quiet
    } else {
        berth_image::progress::ProgressMode::Plain
    });
    engine.ensure_images(&needed, None, &observer)?;
    let desired = engine.desired(&HashMap::new());
    let observed = engine.observe_for_change()?;
    let p = plan::plan_up(
        &desired,
        &observed,
        &Options {
            // Dependencies come up as `up` would bring them; the service
            // itself only needs its networks and volumes.
            services: if deps.is_empty() {
                vec![a.service.clone()]
            } else {
                deps.clone()
            },
            recreate: Recreate::Diverged,
            recreate_dependencies: Recreate::Diverged,
            remove_orphans: a.remove_orphans,
            ..Default::default()
        },
    )?;
    let p = if deps.is_empty() {
        p.filtered(|op| {
            matches!(
                op,
                plan::Op::CreateNetwork { .. } | plan::Op::CreateVolume { .. }
            )
        })
    } else {
        p
    };
    if !p.is_empty() {
        let prog = super::progress(g, "Running")?;
        let errors = super::execute(g, engine, &p, &prog);
        prog.finish();
        if !errors.is_empty() {
            return Err(super::summary(&errors));
        }
    }
    for (name, d) in svc.depends_on.iter().filter(|(n, _)| deps.contains(n)) {
        let condition = match d.condition.as_str() {
            "service_healthy" => Condition::Healthy,
            "service_completed_successfully" => Condition::CompletedSuccessfully,
            _ => continue,
        };
        if let Err(e) = engine.wait_ready(name, Readiness::Dependency(condition), None) {
            if d.required {
                anyhow::bail!("{e}");
            }
            errln!("WARN[0000] optional dependency {name:?}: {e}");
        }
    }
    Ok(())
}

static SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    SIGNAL.store(sig, Ordering::SeqCst);
}

/// Signals berth gets while attached are for the container.
fn forward_signals() {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let act = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for s in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        // SAFETY: the handler only stores into an atomic.
        unsafe {
            let _ = sigaction(s, &act);
        }
    }
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    let mut engine = super::engine(g, std::slice::from_ref(&a.service))?;
    if !engine.project.services.contains_key(&a.service) {
        anyhow::bail!("no such service: {}", a.service);
    }
    let (id, name) = {
        // Held until the one-off container exists, so a concurrent `up` or
        // `down` never sweeps its address lease as stale.
        let _lock = engine.lock()?;
        dependencies(g, &mut engine, &a)?;
        let s = engine.project.services.get_mut(&a.service).unwrap();
        apply(&a, s)?;
        let slug = berth_store::new_id();
        let name = a.name.clone().unwrap_or_else(|| {
            format!("{}-{}-run-{}", engine.project.name, a.service, &slug[..12])
        });
        engine.oneoff = true;
        let id = engine
            .create_container(&a.service, 1, &name, None)
            .map_err(anyhow::Error::msg)?;
        if let Err(e) = engine.start_container(&a.service, &id) {
            let _ = engine.remove_container(&a.service, &id, true);
            anyhow::bail!("{e}");
        }
        (id, name)
    };
    if a.detach {
        println!("{id}");
        return Ok(0);
    }
    let _ = (a.no_tty, a.interactive, name);
    forward_signals();
    let c = engine.runtime.inspect(&id)?;
    let mut tail = super::logs::Tail::new(&c, &g.root(), false);
    let print = |tail: &mut super::logs::Tail| {
        use std::io::Write;
        for l in tail.read_lines() {
            if l.stream == "stderr" {
                errln!("{}", l.text);
            } else {
                println!("{}", l.text);
            }
        }
        let _ = std::io::stdout().flush();
    };
    let code = loop {
        print(&mut tail);
        let sig = SIGNAL.swap(0, Ordering::SeqCst);
        if sig != 0 {
            let _ = engine.runtime.kill(&id, &sig.to_string());
        }
        if !engine.runtime.inspect(&id)?.state.status.is_active() {
            let code = engine.runtime.wait(&id)?;
            print(&mut tail);
            break code;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if a.rm {
        engine
            .remove_container(&a.service, &id, true)
            .map_err(anyhow::Error::msg)?;
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_and_volume_flags() {
        let p = parse_port("127.0.0.1:8080:80/udp").unwrap();
        assert_eq!(
            (p.target, p.published.as_deref(), p.host_ip.as_deref()),
            (80, Some("8080"), Some("127.0.0.1"))
        );
        assert_eq!(p.protocol, "udp");
        assert_eq!(parse_port("80").unwrap().published, None);
        assert!(parse_port("x").unwrap_err().to_string().contains("\"x\""));
        let v = parse_volume("data:/data:ro").unwrap();
        assert_eq!((v.kind.as_str(), v.read_only), ("volume", true));
        assert_eq!(parse_volume("/tmp:/h").unwrap().kind, "bind");
        assert!(parse_volume("nocolon").is_err());
    }
}
