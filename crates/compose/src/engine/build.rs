//! Building the images of services that have `build:`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use berth_build::{BuildOptions, Builder, Event};

use super::{Engine, EngineError, Result};

/// When `up` builds: Compose's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildMode {
    /// Only images that are missing (and `pull_policy: build`).
    Missing,
    /// `--build`: every service with `build:`.
    Always,
    /// `--no-build`
    Never,
}

impl Engine {
    /// The build options of a service (`None` without `build:`).
    pub fn build_options(
        &self,
        service: &str,
        extra_args: &BTreeMap<String, String>,
        no_cache: bool,
        pull: bool,
    ) -> Option<BuildOptions> {
        let svc = &self.project.services[service];
        let b = svc.build.as_ref()?;
        let context = b
            .context
            .as_deref()
            .map(PathBuf::from)
            .unwrap_or_else(|| self.project.working_dir.clone());
        // An arg without a value takes it from the environment, and is
        // left out when that has none (as Compose does).
        let mut args: BTreeMap<String, String> = b
            .args
            .0
            .iter()
            .filter_map(|(k, v)| {
                v.clone()
                    .or_else(|| std::env::var(k).ok())
                    .map(|v| (k.clone(), v))
            })
            .collect();
        args.extend(extra_args.clone());
        let mut tags = vec![self.image_ref(service)];
        tags.extend(b.tags.0.iter().cloned());
        let extra_hosts = b
            .extra_hosts
            .0
            .iter()
            .flat_map(|(h, ips)| ips.iter().map(move |ip| (h.clone(), ip.clone())))
            .collect();
        Some(BuildOptions {
            dockerfile: b.dockerfile.as_deref().map(PathBuf::from),
            inline: b.dockerfile_inline.clone(),
            context,
            args,
            target: b.target.clone(),
            labels: b.labels.0.clone(),
            tags,
            no_cache: no_cache || b.no_cache,
            pull: pull || b.pull,
            network: b.network.clone(),
            extra_hosts,
            shm_size: b.shm_size.and_then(|s| u64::try_from(s.0).ok()),
        })
    }

    /// Builds what `mode` says among `services`; `out` gets each service's
    /// build output as plain lines.
    pub fn build_images(
        &self,
        services: &[String],
        mode: BuildMode,
        out: &dyn Fn(&str, &str),
    ) -> Result<Vec<String>> {
        self.build_images_with(services, mode, &|svc, ev| out(svc, &ev.to_string()))
    }

    /// Like [`build_images`](Self::build_images), with the build events
    /// (for a [`berth_build::Console`], which folds RUN output on a terminal).
    pub fn build_images_with(
        &self,
        services: &[String],
        mode: BuildMode,
        out: &dyn Fn(&str, &Event),
    ) -> Result<Vec<String>> {
        if mode == BuildMode::Never {
            return Ok(Vec::new());
        }
        let mut built = Vec::new();
        let builder = Builder::new(&self.root).map_err(|e| EngineError::Other(e.to_string()))?;
        for name in services {
            let svc = &self.project.services[name];
            if svc.build.is_none() {
                continue;
            }
            let present = self.store.resolve(&self.image_ref(name))?.is_some();
            let policy_build = svc.pull_policy.as_deref() == Some("build");
            if mode == BuildMode::Missing && present && !policy_build {
                continue;
            }
            let opts = self
                .build_options(name, &BTreeMap::new(), false, false)
                .expect("service has build");
            builder
                .build(&opts, &|ev| out(name, ev))
                .map_err(|e| EngineError::Other(format!("failed to build service {name}: {e}")))?;
            built.push(name.clone());
        }
        Ok(built)
    }
}
