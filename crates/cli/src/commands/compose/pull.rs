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
    // (platform, reference): a service's `platform:` picks the manifest of
    // an index, so the same reference may be pulled for two platforms.
    let mut refs: Vec<(Option<String>, String)> = Vec::new();
    for (name, svc) in &engine.project.services {
        if !a.services.is_empty() && !a.services.contains(name) && !a.include_deps {
            continue;
        }
        match &svc.image {
            Some(img) if !(a.ignore_buildable && svc.build.is_some()) => {
                refs.push((svc.platform.clone(), img.clone()))
            }
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
    let progress = ConsoleProgress::new(mode);
    let mut code = 0;
    for (platform, batch) in berth_compose::engine::by_platform(&refs) {
        let opts = berth_image::PullOptions {
            platform: match platform {
                Some(p) => Some(berth_image::Platform::parse(p)?),
                None => None,
            },
            ..Default::default()
        };
        let results = engine.store.pull_many(&batch, &opts, &progress);
        for (r, res) in batch.iter().zip(results) {
            if let Err(e) = res {
                errln!("Error pulling {r}: {e}");
                if !a.ignore_pull_failures {
                    code = 1;
                }
            }
        }
    }
    Ok(code)
}
