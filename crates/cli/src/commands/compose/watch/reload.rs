//! The project's own files changed: load it again, plan against what runs,
//! apply only the difference (services whose configuration changed are
//! recreated, the others are left alone). A file that does not load leaves
//! everything running as it is; the error names the file, line and column.

use std::collections::HashMap;
use std::path::PathBuf;

use berth_compose::engine::{BuildMode, Engine, labels};
use berth_compose::plan::{self, Options, Recreate};
use berth_image::progress::{ConsoleProgress, ProgressMode};
use berth_watch::project_rules::project_rules;
use berth_watch::session::Session;
use berth_watch::sources::project_sources;

use super::{Opts, Output};
use crate::global::Global;

fn names(files: &[PathBuf]) -> String {
    files
        .iter()
        .map(|f| {
            f.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| f.display().to_string())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn reload(
    g: &Global,
    engine: &mut Engine,
    session: &mut Session,
    opts: &Opts,
    changed: &[PathBuf],
    out: &Output,
) {
    out.line(&format!("Project changed ({}): reloading", names(changed)));
    match load_and_apply(g, engine, opts, out) {
        Ok((new, rules, warnings)) => {
            for w in warnings {
                errln!("WARN[0000] {w}");
            }
            let sources = project_sources(&new.project, &super::env_files(g));
            if let Err(e) = session.replace(rules, sources) {
                out.line(&format!("Error watching the new rules: {e}"));
            }
            *engine = new;
        }
        Err(e) => {
            errln!("{e:#}");
            out.line("The project is invalid: the running services are left as they are until it is fixed");
        }
    }
}

type Loaded = (Engine, Vec<berth_watch::rules::Rule>, Vec<String>);

fn load_and_apply(
    g: &Global,
    engine: &Engine,
    opts: &Opts,
    out: &Output,
) -> anyhow::Result<Loaded> {
    let lo = super::super::super::config::load_options(g, &opts.services, false)?;
    let loaded = super::super::super::config::load(&lo)?;
    // Rules are checked before anything changes, so a bad rule is an error
    // like a bad file.
    let pr = project_rules(&loaded.project, &opts.services)?;
    let mut new = Engine::new(&g.root(), loaded.project)?;
    new.stop_timeout = engine.stop_timeout;
    let _lock = new.lock()?;
    let all: Vec<String> = new.project.services.keys().cloned().collect();
    let quiet = opts.quiet;
    new.build_images(&all, BuildMode::Missing, &|_svc, line| {
        if !quiet {
            out.line(line);
        }
    })?;
    new.ensure_images(&all, None, &ConsoleProgress::new(ProgressMode::Quiet))?;
    // Keep the replica counts of services that run (`up --scale`).
    let mut scale: HashMap<String, u32> = HashMap::new();
    for c in new.containers()? {
        if let Some(s) = c.config.labels.get(labels::SERVICE) {
            *scale.entry(s.clone()).or_insert(0) += 1;
        }
    }
    scale.retain(|s, _| {
        new.project.services.get(s).is_some_and(|svc| {
            svc.deploy.as_ref().and_then(|d| d.replicas).is_none() && svc.scale.is_none()
        })
    });
    let desired = new.desired(&scale);
    let observed = new.observe()?;
    let plan = plan::plan_up(
        &desired,
        &observed,
        &Options {
            services: opts.services.clone(),
            recreate: Recreate::Diverged,
            recreate_dependencies: Recreate::Diverged,
            ..Default::default()
        },
    )?;
    for w in &plan.warnings {
        errln!("WARN[0000] {w}");
    }
    if plan.is_empty() {
        out.line("Project reloaded: nothing to change");
    } else {
        let p = super::super::progress(g, "Running")?;
        let errors = super::super::execute(g, &new, &plan, &p);
        p.finish();
        if !errors.is_empty() {
            anyhow::bail!("applying the new project: {}", errors.join("; "));
        }
        out.line("Project reloaded");
    }
    Ok((new, pr.rules, pr.warnings))
}
