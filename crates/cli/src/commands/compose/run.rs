//! `berth run SERVICE [COMMAND…]`: a one-off container of a service.

use std::collections::HashMap;
use std::time::Duration;

use berth_compose::engine::labels;
use berth_compose::executor::Backend;
use berth_compose::plan::{self, Options};

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
    /// Disable pseudo-TTY allocation
    #[arg(short = 'T', long = "no-TTY")]
    no_tty: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    interactive: bool,
    service: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

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
            .map_err(|_| anyhow::anyhow!("-p {s:?}: invalid container port"))?,
        published: published.filter(|p| !p.is_empty()).map(str::to_owned),
        host_ip: host_ip.map(str::to_owned),
        protocol: proto.to_owned(),
        mode: "ingress".into(),
        ..Default::default()
    })
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    let mut engine = super::engine(g, std::slice::from_ref(&a.service))?;
    let Some(svc) = engine.project.services.get(&a.service).cloned() else {
        anyhow::bail!("no such service: {}", a.service);
    };
    let deps: Vec<String> = if a.no_deps {
        vec![]
    } else {
        svc.depends_on.keys().cloned().collect()
    };
    {
        let _lock = engine.lock()?;
        let mut needed = deps.clone();
        needed.push(a.service.clone());
        engine.build_images(
            &needed,
            berth_compose::engine::BuildMode::Missing,
            &|_, l| eprintln!("{l}"),
        )?;
        engine.ensure_images(&needed, None, &berth_image::progress::NoProgress)?;
        // Dependencies come up as `up` would bring them; the service itself
        // is not created by the plan.
        let desired = engine.desired(&HashMap::new());
        let observed = engine.observe()?;
        let p = plan::plan_up(
            &desired,
            &observed,
            &Options {
                services: if deps.is_empty() {
                    vec![a.service.clone()]
                } else {
                    deps.clone()
                },
                no_deps: a.no_deps,
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
        let prog = super::progress(g, "Running")?;
        let errors = super::execute(g, &engine, &p, &prog);
        prog.finish();
        if let Some(e) = errors.first() {
            anyhow::bail!("{e}");
        }
    }
    // The one-off container: the service with the command line's overrides.
    let s = engine.project.services.get_mut(&a.service).unwrap();
    if !a.command.is_empty() {
        s.command = Some(a.command.clone());
    }
    if let Some(e) = &a.entrypoint {
        s.entrypoint = Some(if e.is_empty() {
            vec![]
        } else {
            vec![e.clone()]
        });
    }
    for e in &a.env {
        let (k, v) = match e.split_once('=') {
            Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
            None => (e.clone(), std::env::var(e).ok()),
        };
        s.environment.0.insert(k, v);
    }
    if a.user.is_some() {
        s.user = a.user.clone();
    }
    if a.workdir.is_some() {
        s.working_dir = a.workdir.clone();
    }
    for v in &a.volume {
        let (src, rest) = v
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("-v {v:?}: expected SRC:DST[:ro]"))?;
        let (dst, ro) = match rest.split_once(':') {
            Some((d, m)) => (d, m == "ro"),
            None => (rest, false),
        };
        let bind = src.starts_with('/') || src.starts_with('.');
        s.volumes.push(berth_spec::ServiceVolume {
            kind: if bind { "bind".into() } else { "volume".into() },
            source: Some(if bind {
                std::path::absolute(src)?.display().to_string()
            } else {
                src.to_owned()
            }),
            target: dst.to_owned(),
            read_only: ro,
            ..Default::default()
        });
    }
    if !a.service_ports {
        s.ports.clear();
    }
    for p in &a.publish {
        s.ports.push(parse_port(p)?);
    }
    s.restart = None;
    if let Some(d) = s.deploy.as_mut() {
        d.restart_policy = None;
    }
    let _ = (a.no_tty, a.interactive);
    let suffix = &berth_store::new_id()[..12];
    let name = a
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-{}-run-{suffix}", engine.project.name, a.service));
    engine.oneoff = true;
    let id = engine
        .create_container(&a.service, 1, &name, None)
        .map_err(anyhow::Error::msg)?;
    engine
        .start_container(&a.service, &id)
        .map_err(anyhow::Error::msg)?;
    if a.detach {
        println!("{name}");
        return Ok(0);
    }
    let c = engine.runtime.inspect(&id)?;
    let mut tail = super::logs::Tail::new(&c, &g.root(), false);
    let code = loop {
        for (_, text) in tail.read() {
            println!("{text}");
        }
        if !engine.runtime.inspect(&id)?.state.status.is_active() {
            let code = engine.runtime.wait(&id)?;
            for (_, text) in tail.read() {
                println!("{text}");
            }
            break code;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if a.rm {
        engine
            .remove_container(&a.service, &id, true)
            .map_err(anyhow::Error::msg)?;
    }
    let _ = labels::ONEOFF;
    Ok(code)
}
