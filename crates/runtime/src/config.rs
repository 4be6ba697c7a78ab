//! What to run: the serialisable description of a container, written once to
//! `<root>/containers/<id>/config.json` when the container is created. The
//! reconciler translates a Compose service into it; nothing here knows about
//! Compose.

use std::collections::BTreeMap;
use std::path::PathBuf;

use berth_net::attach::Attachment;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerConfig {
    /// 64 hex digits; filled by `Runtime::create` when empty.
    #[serde(default)]
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The reference the user asked for (`busybox:latest`) and the image id.
    pub image: String,
    #[serde(default)]
    pub image_id: String,
    /// Unpacked image layers, topmost first (overlayfs `lowerdir=` order).
    pub lower_dirs: Vec<PathBuf>,
    pub process: Process,
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub domainname: Option<String>,
    #[serde(default)]
    pub mounts: Vec<Mount>,
    #[serde(default)]
    pub resources: Resources,
    #[serde(default)]
    pub security: Security,
    #[serde(default)]
    pub ulimits: Vec<Ulimit>,
    #[serde(default)]
    pub sysctls: BTreeMap<String, String>,
    #[serde(default)]
    pub network: NetworkMode,
    /// Content of `/etc/hosts` (default: localhost lines and the hostname).
    #[serde(default)]
    pub hosts: Option<String>,
    /// Content of `/etc/resolv.conf` (default: the host's resolvers).
    #[serde(default)]
    pub resolv_conf: Option<String>,
    #[serde(default)]
    pub healthcheck: Option<Healthcheck>,
    #[serde(default)]
    pub restart: RestartPolicy,
    /// Signal sent by `stop` (default SIGTERM).
    #[serde(default)]
    pub stop_signal: Option<String>,
    /// Seconds between the stop signal and SIGKILL (default 10).
    #[serde(default)]
    pub stop_grace_period: Option<f64>,
    #[serde(default)]
    pub logging: Logging,
    /// Run a minimal init as pid 1 that forwards signals and reaps zombies.
    #[serde(default)]
    pub init: bool,
    /// Size of `/dev/shm` in bytes (default 64 MiB).
    #[serde(default)]
    pub shm_size: Option<u64>,
    /// Removed once it exits (`run --rm`). Its writable layer then needs no
    /// crash safety: the overlay is mounted `volatile`, so unmounting it at
    /// exit does not sync the host's whole file system (~15 ms when busy).
    #[serde(default)]
    pub auto_remove: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    /// Final argv (entrypoint + command already combined).
    pub args: Vec<String>,
    /// `KEY=value`, already layered (image env, then the service's).
    #[serde(default)]
    pub env: Vec<String>,
    /// Working directory in the container (default `/`).
    #[serde(default)]
    pub cwd: String,
    /// `user[:group]` as names or numbers, resolved in the image's files.
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub group_add: Vec<String>,
    #[serde(default)]
    pub tty: bool,
    #[serde(default)]
    pub stdin_open: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    #[default]
    Bind,
    Volume,
    Tmpfs,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    pub kind: MountKind,
    /// Host path (bind) or volume name (volume; `None` = anonymous, a name is
    /// chosen at create and written back here).
    #[serde(default)]
    pub source: Option<String>,
    pub target: String,
    #[serde(default)]
    pub read_only: bool,
    /// Bind: create a missing host directory (Compose's short syntax does).
    #[serde(default)]
    pub create_host_path: bool,
    /// Volume: do not copy the image's content into an empty volume.
    #[serde(default)]
    pub nocopy: bool,
    /// Tmpfs size in bytes.
    #[serde(default)]
    pub tmpfs_size: Option<u64>,
    /// Tmpfs mode (e.g. 0o1777).
    #[serde(default)]
    pub tmpfs_mode: Option<u32>,
    /// Bind propagation (`rprivate` default, `shared`, `slave`, …).
    #[serde(default)]
    pub propagation: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    pub memory: Option<i64>,
    /// Memory + swap, as Docker's `--memory-swap` (-1 = unlimited swap).
    pub memory_swap: Option<i64>,
    pub memory_reservation: Option<i64>,
    /// CPUs as a fraction (`1.5`).
    pub cpus: Option<f64>,
    pub cpu_shares: Option<u64>,
    pub cpuset: Option<String>,
    pub pids_limit: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Security {
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub read_only: bool,
    pub no_new_privileges: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "mode", content = "value")]
pub enum NetworkMode {
    /// A network namespace with only `lo`.
    #[default]
    None,
    /// The host's network namespace.
    Host,
    /// The network namespace of another container (by id).
    Container(String),
    /// A new namespace wired to berth networks.
    Bridge(Vec<Attachment>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Healthcheck {
    /// `["CMD", …]`, `["CMD-SHELL", cmd]` or `["NONE"]`.
    pub test: Vec<String>,
    pub interval: Option<f64>,
    pub timeout: Option<f64>,
    pub start_period: Option<f64>,
    pub start_interval: Option<f64>,
    pub retries: Option<u32>,
}

/// When the supervisor restarts the container after it exits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "name", content = "max")]
pub enum RestartPolicy {
    #[default]
    No,
    Always,
    UnlessStopped,
    /// With an optional maximum number of restarts.
    OnFailure(Option<u32>),
}

impl RestartPolicy {
    /// Parses Compose's `restart:` (`no`, `always`, `unless-stopped`,
    /// `on-failure[:N]`).
    pub fn parse(s: &str) -> Option<RestartPolicy> {
        Some(match s {
            "no" | "" => RestartPolicy::No,
            "always" => RestartPolicy::Always,
            "unless-stopped" => RestartPolicy::UnlessStopped,
            "on-failure" => RestartPolicy::OnFailure(None),
            s => RestartPolicy::OnFailure(Some(s.strip_prefix("on-failure:")?.parse().ok()?)),
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Logging {
    /// `json-file` (default), `local` (same here) or `none`.
    #[serde(default)]
    pub driver: Option<String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

impl Logging {
    pub fn enabled(&self) -> bool {
        self.driver.as_deref() != Some("none")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_policies_parse() {
        assert_eq!(RestartPolicy::parse("no"), Some(RestartPolicy::No));
        assert_eq!(
            RestartPolicy::parse("on-failure:2"),
            Some(RestartPolicy::OnFailure(Some(2)))
        );
        assert_eq!(
            RestartPolicy::parse("on-failure"),
            Some(RestartPolicy::OnFailure(None))
        );
        assert_eq!(RestartPolicy::parse("sometimes"), None);
    }

    #[test]
    fn config_round_trips_through_json() {
        let c = ContainerConfig {
            name: "x".into(),
            image: "busybox".into(),
            process: Process {
                args: vec!["true".into()],
                ..Default::default()
            },
            restart: RestartPolicy::OnFailure(Some(3)),
            network: NetworkMode::Container("abc".into()),
            ..Default::default()
        };
        let s = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<ContainerConfig>(&s).unwrap(), c);
    }
}
