//! `berth build [SERVICE…]`: build the images of services with `build:`.

use std::collections::BTreeMap;

use berth_build::Builder;

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
    #[arg(long = "build-arg")]
    build_arg: Vec<String>,
    /// Suppress the build output
    #[arg(short, long)]
    quiet: bool,
    services: Vec<String>,
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    let engine = super::engine(g, &a.services)?;
    let args: BTreeMap<String, String> = a
        .build_arg
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (kv.clone(), std::env::var(kv).unwrap_or_default()),
        })
        .collect();
    let names: Vec<String> = if a.services.is_empty() {
        engine.project.services.keys().cloned().collect()
    } else {
        a.services.clone()
    };
    let builder = Builder::new(&g.root())?;
    for name in &names {
        if !engine.project.services.contains_key(name) {
            anyhow::bail!("no such service: {name}");
        }
        let Some(mut opts) = engine.build_options(name, &args, a.no_cache, a.pull) else {
            continue;
        };
        opts.quiet = a.quiet;
        let started = std::time::Instant::now();
        let img = builder.build(&opts, &|line| eprintln!("{line}"))?;
        if !a.quiet {
            eprintln!(
                " ✔ Service {name}  Built  {:.1}s",
                started.elapsed().as_secs_f64()
            );
        } else {
            println!("{}", img.id);
        }
    }
    Ok(0)
}
