//! The planner's view of the world: what the project wants ([`Desired`]), what
//! exists ([`Observed`]) and how the user asked to converge ([`Options`]).
//! These are plain data so the planner stays a pure function; the caller
//! derives them from the loaded Compose project and from berth's state store.

/// When a dependency counts as satisfied (Compose `depends_on.condition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Condition {
    Started,
    Healthy,
    CompletedSuccessfully,
}

impl Condition {
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Started => "service_started",
            Condition::Healthy => "service_healthy",
            Condition::CompletedSuccessfully => "service_completed_successfully",
        }
    }
}

/// One `depends_on` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    pub service: String,
    pub condition: Condition,
    /// `required: false` turns a missing or failed dependency into a warning.
    pub required: bool,
    /// `restart: true`: restart this service when the dependency is recreated.
    pub restart: bool,
}

/// A service as the planner needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredService {
    pub name: String,
    /// Number of containers wanted (scale / deploy.replicas / `--scale`).
    pub replicas: u32,
    /// Compose's config hash of the service.
    pub config_hash: String,
    /// Id of the image the containers must run, when known.
    pub image_id: Option<String>,
    pub container_name: Option<String>,
    pub depends_on: Vec<Dependency>,
    /// Services whose namespaces or volumes this one shares
    /// (`network_mode/ipc/pid: service:X`, `volumes_from: X`): recreating
    /// them forces recreating this one.
    pub namespace_parents: Vec<String>,
    /// Network keys the service is attached to.
    pub networks: Vec<String>,
    /// Named volume keys the service mounts.
    pub volumes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredNetwork {
    /// Key in the Compose file (`default`, `backend`).
    pub key: String,
    /// Real name (`myapp_default`).
    pub name: String,
    pub external: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredVolume {
    pub key: String,
    pub name: String,
    pub external: bool,
}

/// What the Compose project wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    pub project: String,
    /// Services in the file's order (the planner orders them by dependencies).
    pub services: Vec<DesiredService>,
    pub networks: Vec<DesiredNetwork>,
    pub volumes: Vec<DesiredVolume>,
}

/// Runtime state of an observed container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerState {
    Created,
    Running,
    Paused,
    Restarting,
    Exited,
    Dead,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedContainer {
    pub id: String,
    pub name: String,
    pub service: String,
    pub number: u32,
    pub config_hash: String,
    pub image_id: Option<String>,
    pub state: ContainerState,
    /// Network names the container is attached to.
    pub networks: Vec<String>,
    /// (network name, bridge) of each attachment: a network removed and
    /// created again has a new bridge.
    pub bridges: Vec<(String, String)>,
    /// Its published ports and DNS entry are in place. Starting a container
    /// does these after the process runs, so a start cut short (berth
    /// killed) leaves a running container that is not wired.
    pub wired: bool,
    /// Running with a stop requested: a `stop` or `down` signalled it and
    /// was cut short (berth killed), so it is about to exit with nobody left
    /// to finish the stop.
    pub stopping: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedNetwork {
    pub name: String,
    /// Its bridge exists. A reboot, or a creation cut short, can leave the
    /// record without it; creating the network again repairs it.
    pub intact: bool,
    pub bridge: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedVolume {
    pub name: String,
}

/// What exists for the project (containers of one-off `run`s excluded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    pub containers: Vec<ObservedContainer>,
    pub networks: Vec<ObservedNetwork>,
    pub volumes: Vec<ObservedVolume>,
}

/// `--force-recreate` / `--no-recreate` / default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Recreate {
    #[default]
    Diverged,
    Force,
    Never,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Services named on the command line (empty = all).
    pub services: Vec<String>,
    /// Policy for the targeted services.
    pub recreate: Recreate,
    /// Policy for their dependencies (`--always-recreate-deps` = Force).
    pub recreate_dependencies: Recreate,
    pub remove_orphans: bool,
    /// `--no-start`: create only.
    pub no_start: bool,
    /// `--no-deps`: do not touch dependencies of the targeted services.
    pub no_deps: bool,
}

/// Options of `down`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DownOptions {
    /// Services named on the command line (empty = all).
    pub services: Vec<String>,
    /// `-v`: remove named volumes declared by the project (never external ones).
    pub volumes: bool,
    pub remove_orphans: bool,
}
