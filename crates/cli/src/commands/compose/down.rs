//! `berth down`: stop and remove containers and networks (and volumes with
//! `-v`, never external ones; images with `--rmi`).

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use berth_compose::plan::{self, DownOptions};

use crate::global::Global;
use crate::output::progress::{Progress, Status};

#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// Remove named volumes declared in the "volumes" section of the Compose file and anonymous volumes attached to containers
    #[arg(short, long)]
    pub volumes: bool,
    /// Remove containers for services not defined in the Compose file
    #[arg(long)]
    pub remove_orphans: bool,
    /// Remove images used by services. "local" remove only images that don't have a custom tag ("local"|"all")
    #[arg(long)]
    pub rmi: Option<String>,
    /// Specify a shutdown timeout in seconds
    #[arg(short, long)]
    pub timeout: Option<u64>,
    pub services: Vec<String>,
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    if let Some(r) = a.rmi.as_deref()
        && r != "local"
        && r != "all"
    {
        anyhow::bail!("invalid value for --rmi: {r:?} (expected \"local\" or \"all\")");
    }
    let mut engine = super::engine(g, &[])?;
    engine.stop_timeout = a.timeout.map(Duration::from_secs);
    let _lock = engine.lock()?;
    let desired = engine.desired(&HashMap::new());
    let remove_orphans = a.remove_orphans
        || std::env::var("COMPOSE_REMOVE_ORPHANS")
            .is_ok_and(|v| matches!(v.as_str(), "1" | "true" | "True"));
    // With --remove-orphans the one-off containers of `run` go too.
    let observed = engine.observe_swept(remove_orphans && a.services.is_empty())?;
    let opts = DownOptions {
        services: a.services.clone(),
        volumes: a.volumes,
        remove_orphans,
    };
    let plan = plan::plan_down(&desired, &observed, &opts)?;
    for w in &plan.warnings {
        errln!("WARN[0000] {w}");
    }
    let p = super::progress(g, "Running")?;
    if a.services.is_empty() {
        // The addresses go back together, once the containers are gone.
        engine.defer_releases();
    }
    let mut errors = super::execute(g, &engine, &plan, &p);
    if let Err(e) = engine.release_deferred(None) {
        errors.push(e.to_string());
    }
    if let Some(rmi) = &a.rmi
        && a.services.is_empty()
    {
        errors.extend(remove_images(&engine, rmi, &p));
    }
    p.finish();
    if plan.is_empty() && a.rmi.is_none() {
        errln!(
            "WARN[0000] Warning: No resource found to remove for project {:?}.",
            engine.project.name
        );
    }
    if !errors.is_empty() {
        return Err(super::summary(&errors));
    }
    Ok(0)
}

/// `--rmi`: the images of the services (`local`: only those without an
/// `image:` of their own, i.e. built as `<project>-<service>`), unless
/// another container still uses them.
fn remove_images(engine: &berth_compose::engine::Engine, rmi: &str, p: &Progress) -> Vec<String> {
    let refs: BTreeSet<String> = engine
        .project
        .services
        .values()
        .filter(|svc| rmi == "all" || svc.image.is_none())
        .map(|svc| engine.image_ref(&svc.name))
        .collect();
    // Images that containers left after `down` still use stay.
    let users: std::collections::BTreeMap<String, String> = engine
        .runtime
        .list()
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c.config.image_id, c.config.name))
        .collect();
    let mut errors = Vec::new();
    for r in refs {
        match engine.store.resolve(&r) {
            Ok(Some(_)) => {}
            _ => continue,
        }
        let id = format!("Image {r}");
        p.event(&id, Status::Working, "Removing", "");
        match engine
            .store
            .remove(&r, berth_image::RemoveOptions { force: false }, &users)
        {
            Ok(_) => p.event(&id, Status::Done, "Removed", ""),
            Err(e) => {
                p.event(&id, Status::Error, "Error", &e.to_string());
                errors.push(e.to_string());
            }
        }
    }
    errors
}
