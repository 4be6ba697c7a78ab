//! The typed, canonical Compose project.

pub mod build;
pub mod deploy;
pub mod extra;
pub mod misc;
pub mod mounts;
pub mod ports;
pub mod resources;
pub mod service;
mod service_node;

use std::path::PathBuf;

use indexmap::IndexMap;
use serde::Serialize;

pub use build::Build;
pub use deploy::{Deploy, DeviceRequest, Placement, Resource, Resources, RestartPolicy};
pub use extra::{Develop, Hook, Trigger};
pub use misc::{
    Command, Dependency, Device, EnvFile, Extends, Healthcheck, HostsList, Logging, ServiceNetwork,
    Ulimit,
};
pub use mounts::{BindOptions, ServiceVolume, TmpfsOptions, VolumeOptions};
pub use ports::Port;
pub use resources::{FileObject, FileRef, Ipam, IpamPool, Model, Network, Volume};
pub use service::Service;

use crate::convert::Extensions;
use crate::serialize::sorted;

/// A loaded Compose project: what `berth config` prints and what the
/// reconciler works from.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Project {
    /// Normalised project name (`[a-z0-9][a-z0-9_-]*`).
    pub name: String,
    /// The project directory (absolute); relative paths were resolved against it.
    #[serde(skip)]
    pub working_dir: PathBuf,
    /// Enabled services, in file order (printed sorted).
    #[serde(serialize_with = "sorted")]
    pub services: IndexMap<String, Service>,
    #[serde(skip_serializing_if = "IndexMap::is_empty", serialize_with = "sorted")]
    pub networks: IndexMap<String, Network>,
    #[serde(skip_serializing_if = "IndexMap::is_empty", serialize_with = "sorted")]
    pub volumes: IndexMap<String, Volume>,
    #[serde(skip_serializing_if = "IndexMap::is_empty", serialize_with = "sorted")]
    pub secrets: IndexMap<String, FileObject>,
    #[serde(skip_serializing_if = "IndexMap::is_empty", serialize_with = "sorted")]
    pub configs: IndexMap<String, FileObject>,
    #[serde(skip_serializing_if = "IndexMap::is_empty", serialize_with = "sorted")]
    pub models: IndexMap<String, Model>,
    /// Top-level `x-*` fields.
    #[serde(flatten)]
    pub extensions: Extensions,
    /// The Compose files that were loaded, in order (absolute; `-` for stdin).
    #[serde(skip)]
    pub compose_files: Vec<PathBuf>,
    /// The environment used for interpolation (process env over `.env`).
    #[serde(skip)]
    pub environment: IndexMap<String, String>,
    /// Services left out because none of their profiles is active.
    #[serde(skip)]
    pub disabled_services: IndexMap<String, Service>,
    /// The active profiles.
    #[serde(skip)]
    pub profiles: Vec<String>,
}

impl Project {
    /// Service names, each after the services it depends on, ties by name
    /// (the order `docker compose config --services` prints and `up` starts).
    pub fn dependency_order(&self) -> Vec<String> {
        fn visit(p: &Project, n: &str, seen: &mut Vec<String>, out: &mut Vec<String>) {
            if seen.iter().any(|x| x == n) {
                return;
            }
            seen.push(n.to_owned());
            if let Some(s) = p.services.get(n) {
                for d in s.depends_on.keys() {
                    visit(p, d, seen, out);
                }
                out.push(n.to_owned());
            }
        }
        let mut names: Vec<&String> = self.services.keys().collect();
        names.sort();
        let (mut seen, mut out) = (Vec::new(), Vec::new());
        for n in names {
            visit(self, n, &mut seen, &mut out);
        }
        out
    }

    /// The image a service runs: its `image`, else `<project>-<service>`
    /// (the name Compose gives a built image).
    pub fn image_of(&self, s: &Service) -> String {
        s.image
            .clone()
            .unwrap_or_else(|| format!("{}-{}", self.name, s.name))
    }

    /// Every profile named by any service (enabled or not), sorted.
    pub fn all_profiles(&self) -> Vec<String> {
        let mut p: Vec<String> = self
            .services
            .values()
            .chain(self.disabled_services.values())
            .flat_map(|s| s.profiles.iter().cloned())
            .collect();
        p.sort();
        p.dedup();
        p
    }
}
