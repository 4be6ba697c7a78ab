//! The engine: a loaded Compose project wired to berth's image store,
//! runtime and networks. It observes what exists, and implements the
//! executor's [`Backend`] so a plan can be carried out for real.

pub mod addresses;
mod backend;
mod build;
pub mod health;
mod images;
pub mod labels;
mod observe;
mod sweep;
pub mod translate;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use berth_image::{Image, ImageStore};
use berth_net::network::Networks;
use berth_runtime::{Container, Runtime};
use berth_spec::Project;
use berth_store::{FileLock, Root};

pub use build::BuildMode;
pub use images::{PullPolicy, by_platform};

use crate::plan::{Desired, Observed};

/// Errors of the engine, with the resource they are about.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Runtime(#[from] berth_runtime::RuntimeError),
    #[error(transparent)]
    Image(#[from] berth_image::ImageError),
    #[error(transparent)]
    Net(#[from] berth_net::network::NetError),
    #[error(transparent)]
    Store(#[from] berth_store::StoreError),
    #[error(transparent)]
    Plan(#[from] crate::plan::PlanError),
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// The image a service runs: resolved, with its unpacked layers.
#[derive(Debug, Clone)]
pub struct ServiceImage {
    pub reference: String,
    pub image: Image,
    pub lower_dirs: Vec<PathBuf>,
}

pub struct Engine {
    pub root: Root,
    pub project: Project,
    pub runtime: Runtime,
    pub nets: Networks,
    pub store: ImageStore,
    pub images: HashMap<String, ServiceImage>,
    /// `-t/--timeout` of stop operations.
    pub stop_timeout: Option<Duration>,
    /// Containers created are one-off (`run`): not part of the project's
    /// converged state.
    pub oneoff: bool,
    /// `up -V`: a recreated container gets fresh anonymous volumes instead
    /// of the old container's.
    pub renew_anon_volumes: bool,
    /// `--wait-timeout`: also bounds the waits on `depends_on` conditions.
    pub wait_timeout: Option<Duration>,
    /// Stopped containers may be started again right away (`up`,
    /// `restart`): a stop then waits for the container's shim to be gone.
    pub restarts_follow_stops: bool,
    /// Says the command was interrupted (Ctrl-C of a foreground `up`):
    /// waits on conditions end, so the plan finishes soon and `up` can
    /// stop what it started.
    pub cancel: Option<fn() -> bool>,
    /// Leases taken and given back in batches (see `addresses`).
    addresses: std::sync::Mutex<addresses::Addresses>,
}

impl Engine {
    pub fn new(root: &Root, project: Project) -> Result<Engine> {
        Ok(Engine {
            root: root.clone(),
            runtime: Runtime::open(root),
            nets: Networks::new(root),
            store: ImageStore::open(root)?,
            project,
            images: HashMap::new(),
            stop_timeout: None,
            oneoff: false,
            renew_anon_volumes: false,
            wait_timeout: None,
            restarts_follow_stops: false,
            cancel: None,
            addresses: addresses::Addresses::new(),
        })
    }

    /// Serialises `up`/`down` of one project: a second command waits.
    pub fn lock(&self) -> Result<FileLock> {
        Ok(FileLock::exclusive(
            &self
                .root
                .projects()
                .join(format!("{}.lock", self.project.name)),
        )?)
    }

    /// The project's containers (one-off runs excluded).
    pub fn containers(&self) -> Result<Vec<Container>> {
        Ok(observe::project_containers(
            self.runtime.list()?,
            &self.project.name,
        ))
    }

    /// Where the project notes the networks it set up completely.
    fn network_marks(&self) -> PathBuf {
        self.root
            .projects()
            .join(&self.project.name)
            .join("networks")
    }

    /// Notes (or forgets) that network `name` was set up completely. A
    /// network record without this mark may lack its rules (berth killed
    /// while creating it): the planner sets it up again.
    pub(crate) fn mark_network(&self, name: &str, done: bool) -> std::result::Result<(), String> {
        let path = self.network_marks().join(name);
        if done {
            Root::ensure_dir(&self.network_marks()).map_err(|e| e.to_string())?;
            std::fs::write(&path, b"").map_err(|e| format!("{}: {e}", path.display()))
        } else {
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(format!("{}: {e}", path.display()))
                }
                _ => Ok(()),
            }
        }
    }

    /// The project's one-off containers (`berth run`).
    pub fn oneoff_containers(&self) -> Result<Vec<Container>> {
        Ok(self
            .runtime
            .list()?
            .into_iter()
            .filter(|c| {
                observe::is_oneoff(c)
                    && c.config.labels.get(labels::PROJECT) == Some(&self.project.name)
            })
            .collect())
    }

    /// What exists for the project.
    pub fn observe(&self) -> Result<Observed> {
        let endpoints = self.endpoints()?;
        self.observe_from(self.runtime.list()?, &endpoints)
    }

    /// Every DNS entry of the root.
    fn endpoints(&self) -> Result<Vec<berth_net::dnsdb::Endpoint>> {
        Ok(berth_net::dnsdb::endpoints(&self.root).map_err(berth_net::network::NetError::from)?)
    }

    /// What exists for the project, after sweeping what an interrupted
    /// command left behind (see `sweep`). Call with the project lock held.
    pub fn observe_for_change(&self) -> Result<Observed> {
        self.observe_swept(false)
    }

    /// Like [`observe_for_change`](Self::observe_for_change), with the
    /// one-off containers of `run` too (`down --remove-orphans` removes
    /// them, as Compose does).
    pub fn observe_swept(&self, with_oneoffs: bool) -> Result<Observed> {
        let mut all = self.runtime.list()?;
        let mut endpoints = self.endpoints()?;
        for note in self.sweep(&mut all, &mut endpoints) {
            if std::env::var_os("BERTH_DEBUG_PLAN").is_some() {
                berth_store::errln!("sweep: {note}");
            }
        }
        let oneoffs: Vec<Container> = if with_oneoffs {
            all.iter()
                .filter(|c| {
                    observe::is_oneoff(c)
                        && c.config.labels.get(labels::PROJECT) == Some(&self.project.name)
                })
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        let mut observed = self.observe_from(all, &endpoints)?;
        let extra = observe::observed(
            &oneoffs,
            vec![],
            vec![],
            &Default::default(),
            &Default::default(),
        );
        observed.containers.extend(extra.containers);
        Ok(observed)
    }

    fn observe_from(
        &self,
        all: Vec<Container>,
        endpoints: &[berth_net::dnsdb::Endpoint],
    ) -> Result<Observed> {
        let containers = observe::project_containers(all, &self.project.name);
        let nets = self
            .nets
            .list()?
            .into_iter()
            .map(|n| {
                let intact = berth_net::netlink::index(&n.bridge).is_ok()
                    && self.network_marks().join(&n.name).exists();
                (n.name, intact, n.bridge)
            })
            .collect();
        let vols = self
            .runtime
            .volumes()
            .list()?
            .into_iter()
            .map(|v| v.name)
            .collect();
        let endpoints = endpoints.iter().map(|e| e.container_id.clone()).collect();
        let stopping = containers
            .iter()
            .filter(|c| {
                c.state.status == berth_runtime::Status::Running
                    && self.runtime.dir(&c.config.id).stop_marker().exists()
            })
            .map(|c| c.config.id.clone())
            .collect();
        Ok(observe::observed(
            &containers,
            nets,
            vols,
            &endpoints,
            &stopping,
        ))
    }

    /// What the project wants, with the image ids known so far.
    pub fn desired(&self, scale: &HashMap<String, u32>) -> Desired {
        let ids = self
            .images
            .iter()
            .map(|(s, i)| (s.clone(), i.image.id.clone()))
            .collect();
        crate::desired::desired(&self.project, &ids, scale)
    }
}
