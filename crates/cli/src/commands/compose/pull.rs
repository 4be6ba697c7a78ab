//! `berth pull [SERVICE…]`: every service image, in parallel.

use std::io::IsTerminal;

use berth_image::progress::{ConsoleProgress, ProgressMode};

use crate::global::Global;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Pull without printing progress information
    #[arg(short, long)]
    quiet: bool,
    /// Ignore images that can be built
    #[arg(long)]
    ignore_buildable: bool,
    /// Pull what it can and ignores images with pull failures
    #[arg(long)]
    ignore_pull_failures: bool,
    /// Also pull services declared as dependencies
    #[arg(long)]
    include_deps: bool,
    services: Vec<String>,
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    let engine = super::engine(g, &a.services)?;
    let mut refs = Vec::new();
    for (name, svc) in &engine.project.services {
        if !a.services.is_empty() && !a.services.contains(name) && !a.include_deps {
            continue;
        }
        match &svc.image {
            Some(img) if !(a.ignore_buildable && svc.build.is_some()) => refs.push(img.clone()),
            _ => {}
        }
    }
    refs.sort();
    refs.dedup();
    let mode = if a.quiet {
        ProgressMode::Quiet
    } else if std::io::stderr().is_terminal() {
        ProgressMode::Tty
    } else {
        ProgressMode::Plain
    };
    let results = engine
        .store
        .pull_many(&refs, &Default::default(), &ConsoleProgress::new(mode));
    let mut code = 0;
    for (r, res) in refs.iter().zip(results) {
        if let Err(e) = res {
            eprintln!("Error pulling {r}: {e}");
            if !a.ignore_pull_failures {
                code = 1;
            }
        }
    }
    Ok(code)
}
