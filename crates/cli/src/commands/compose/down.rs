//! `berth down`: stop and remove containers and networks (and volumes with
//! `-v`, never external ones).

use std::collections::HashMap;
use std::time::Duration;

use berth_compose::plan::{self, DownOptions};

use crate::global::Global;

#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// Remove named volumes declared in the "volumes" section of the Compose file and anonymous volumes attached to containers
    #[arg(short, long)]
    volumes: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    remove_orphans: bool,
    /// Remove images used by services. "local" remove only images that don't have a custom tag ("local"|"all")
    #[arg(long)]
    rmi: Option<String>,
    /// Specify a shutdown timeout in seconds
    #[arg(short, long)]
    timeout: Option<u64>,
    services: Vec<String>,
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    let mut engine = super::engine(g, &[])?;
    engine.stop_timeout = a.timeout.map(Duration::from_secs);
    let _lock = engine.lock()?;
    let desired = engine.desired(&HashMap::new());
    let observed = engine.observe()?;
    let opts = DownOptions {
        services: a.services.clone(),
        volumes: a.volumes,
        remove_orphans: a.remove_orphans,
    };
    let plan = plan::plan_down(&desired, &observed, &opts)?;
    for w in &plan.warnings {
        eprintln!("WARN[0000] {w}");
    }
    let p = super::progress(g, "Running")?;
    let errors = super::execute(g, &engine, &plan, &p);
    p.finish();
    if let Some(rmi) = &a.rmi {
        for svc in engine.project.services.values() {
            let custom = svc.image.is_some();
            if rmi == "all" || (rmi == "local" && !custom) {
                let r = engine.image_ref(&svc.name);
                if engine.store.resolve(&r)?.is_some() {
                    let _ =
                        engine
                            .store
                            .remove(&r, berth_image::RemoveOptions { force: false }, &());
                    p.event(
                        &format!("Image {r}"),
                        crate::output::progress::Status::Done,
                        "Removed",
                        "",
                    );
                }
            }
        }
    }
    for e in &errors {
        eprintln!("{e}");
    }
    Ok(if errors.is_empty() { 0 } else { 1 })
}
