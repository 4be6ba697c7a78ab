//! `berth build [SERVICE…]`: build the images of services with `build:`.

use std::collections::BTreeMap;

use berth_build::{Builder, Console, Mode};

use crate::global::Global;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Do not use cache when building the image
    #[arg(long)]
    no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pull: bool,
    /// Set build-time variables for services (KEY=VALUE)
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    build_arg: Vec<String>,
    /// Don't print anything to STDOUT
    #[arg(short, long)]
    quiet: bool,
    /// Also build dependencies (transitively)
    #[arg(long)]
    with_dependencies: bool,
    services: Vec<String>,
}

/// `--build-arg K=V`, or `--build-arg K` taking K from the environment
/// (left out when it is not set, as Compose does).
fn build_args(raw: &[String]) -> BTreeMap<String, String> {
    raw.iter()
        .filter_map(|kv| match kv.split_once('=') {
            Some((k, v)) => Some((k.to_owned(), v.to_owned())),
            None => std::env::var(kv).ok().map(|v| (kv.clone(), v)),
        })
        .collect()
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    let engine = super::engine(g, &a.services)?;
    let args = build_args(&a.build_arg);
    for name in &a.services {
        if !engine.project.services.contains_key(name) {
            anyhow::bail!("no such service: {name}");
        }
    }
    let mut names: Vec<String> = if a.services.is_empty() {
        engine.project.services.keys().cloned().collect()
    } else {
        a.services.clone()
    };
    if a.with_dependencies {
        let mut i = 0;
        while i < names.len() {
            let deps: Vec<String> = engine.project.services[&names[i]]
                .depends_on
                .keys()
                .cloned()
                .collect();
            for d in deps {
                if !names.contains(&d) && engine.project.services.contains_key(&d) {
                    names.push(d);
                }
            }
            i += 1;
        }
    }
    let console = Console::new(if a.quiet {
        Mode::Quiet
    } else {
        Mode::from_flags(&g.progress, &g.ansi)
    });
    let builder = Builder::new(&g.root())?;
    for name in &names {
        let Some(opts) = engine.build_options(name, &args, a.no_cache, a.pull) else {
            continue;
        };
        let started = std::time::Instant::now();
        builder
            .build(&opts, &|ev| console.event(name, ev))
            .map_err(|e| anyhow::anyhow!("failed to build service {name}: {e}"))?;
        if console.mode() != Mode::Quiet {
            errln!(
                " ✔ Service {name}  Built  {:.1}s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(0)
}
