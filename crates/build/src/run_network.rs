//! The network of RUN steps, as `docker build --network` gives it. By
//! default each RUN container has a network namespace of its own on
//! [`BUILD_NETWORK`], a bridge network berth creates on first use (a subnet
//! from the usual pool, so never one of the host's routes; NAT out through
//! the host; berth's DNS on its gateway, which forwards to the host's
//! resolvers) and removes once no build uses it. `host` keeps the host's
//! namespace, `none` gives only loopback, and any other name attaches to
//! that existing network.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Mutex;

use berth_net::attach::Attachment;
use berth_net::files;
use berth_net::network::{NetError, Network, NetworkSpec, Networks};
use berth_runtime::{NetworkMode, Runtime};
use berth_store::{FileLock, Root};

use crate::BuildError;

/// The network berth creates for RUN steps.
pub const BUILD_NETWORK: &str = "berth_build";
/// Label marking [`BUILD_NETWORK`] as berth's own (removed when unused).
const OWN_LABEL: &str = "berth.build.network";

/// Where a RUN step's container is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RunNetwork {
    /// Its own namespace on [`BUILD_NETWORK`].
    Build,
    Host,
    /// Its own namespace with only `lo`.
    None,
    /// Its own namespace on this existing network.
    Named(String),
}

impl RunNetwork {
    /// `build.network` (or a `RUN --network`): `default` and `bridge` are
    /// the build network, as in Docker.
    pub fn parse(s: Option<&str>) -> RunNetwork {
        match s.unwrap_or("default") {
            "" | "default" | "bridge" => RunNetwork::Build,
            "host" => RunNetwork::Host,
            "none" => RunNetwork::None,
            other => RunNetwork::Named(other.to_owned()),
        }
    }

    /// What the cache key of a RUN step records (not addresses, which
    /// change from run to run).
    pub fn cache_key(&self) -> String {
        match self {
            RunNetwork::Build => "network:default".into(),
            RunNetwork::Host => "network:host".into(),
            RunNetwork::None => "network:none".into(),
            RunNetwork::Named(n) => format!("network:{n}"),
        }
    }
}

/// What a RUN container gets from its network.
pub(crate) struct StepNetwork {
    pub mode: NetworkMode,
    pub hosts: String,
    /// `None`: the runtime's default (the host's resolvers).
    pub resolv_conf: Option<String>,
    /// Set when berth's DNS could not be started (the host's resolvers are used).
    pub warning: Option<String>,
}

/// The networks of a builder's builds: the shared lock that keeps the
/// build network from being removed while they may still run steps on it,
/// and which networks already have the DNS server listening. Dropping it
/// removes the build network if no other build holds it.
pub(crate) struct Session {
    root: Root,
    nets: Networks,
    hold: Mutex<Option<FileLock>>,
    dns_ready: Mutex<HashSet<String>>,
}

/// Held shared by every build using [`BUILD_NETWORK`], exclusively by
/// whoever removes it.
fn use_lock(root: &Root) -> std::path::PathBuf {
    root.builds().join("network.lock")
}

fn net_err(e: NetError) -> BuildError {
    BuildError::Network(e.to_string())
}

impl Session {
    pub fn new(root: &Root) -> Session {
        Session {
            root: root.clone(),
            nets: Networks::new(root),
            hold: Mutex::new(None),
            dns_ready: Mutex::new(HashSet::new()),
        }
    }

    pub fn networks(&self) -> &Networks {
        &self.nets
    }

    /// Fails early, before any step runs, for a network that does not exist.
    pub fn check(&self, net: &RunNetwork) -> Result<(), BuildError> {
        if let RunNetwork::Named(name) = net
            && self.nets.get(name).map_err(net_err)?.is_none()
        {
            return Err(not_found(name));
        }
        Ok(())
    }

    /// The build network, created if missing (again, if someone removed it
    /// since this build last used it).
    fn build_network(&self) -> Result<Network, BuildError> {
        let mut hold = self.hold.lock().unwrap_or_else(|p| p.into_inner());
        if hold.is_none() {
            *hold = Some(
                FileLock::shared(&use_lock(&self.root))
                    .map_err(|e| BuildError::Network(format!("lock of the build network: {e}")))?,
            );
        }
        if let Some(n) = self.nets.get(BUILD_NETWORK).map_err(net_err)? {
            return Ok(n);
        }
        let spec = NetworkSpec {
            name: BUILD_NETWORK.into(),
            labels: [(OWN_LABEL.to_owned(), "true".to_owned())].into(),
            ..Default::default()
        };
        self.nets.ensure(&spec).map_err(net_err)
    }

    /// Leases an address for container `cid` on `net` (a bridge network);
    /// returns the network as it is now.
    fn lease(&self, net: &RunNetwork, cid: &str) -> Result<(Network, Attachment), BuildError> {
        // A `berth network prune` between our check and our lease removes
        // an unused build network: make it again and retry.
        for _ in 0..3 {
            let name = match net {
                RunNetwork::Build => self.build_network()?.name,
                RunNetwork::Named(n) => n.clone(),
                _ => unreachable!("only bridge networks are leased on"),
            };
            match self.nets.lease(&name, cid, None, None) {
                Ok(lease) => {
                    // Held by our lease now, it cannot go away.
                    let n = self
                        .nets
                        .get(&name)
                        .map_err(net_err)?
                        .ok_or_else(|| not_found(&name))?;
                    let att = Networks::attachment_for(&n, cid, 0, &lease, true, None);
                    return Ok((n, att));
                }
                Err(NetError::NotFound(_)) if *net == RunNetwork::Build => continue,
                Err(NetError::NotFound(n)) => return Err(not_found(&n)),
                Err(e) => return Err(net_err(e)),
            }
        }
        Err(BuildError::Network(format!(
            "network {BUILD_NETWORK} keeps being removed while the build uses it"
        )))
    }

    /// Makes sure berth's DNS server answers on the network's gateway.
    fn dns(&self, n: &Network) -> Result<(), String> {
        let mut ready = self.dns_ready.lock().unwrap_or_else(|p| p.into_inner());
        if ready.contains(&n.id) {
            return Ok(());
        }
        let root = self.root.clone();
        berth_net::dns::ensure_running(&self.root, |args| {
            // The monitor runs the daemon with its own `--root`.
            let req = berth_runtime::monitor::Request::Daemon {
                name: "dns".into(),
                args: args[2..].to_vec(),
            };
            let reply =
                berth_runtime::monitor::request(&root, &req).map_err(std::io::Error::other)?;
            if reply.ok {
                Ok(())
            } else {
                Err(std::io::Error::other(reply.message))
            }
        })
        .map_err(|e| e.to_string())?;
        ready.insert(n.id.clone());
        Ok(())
    }

    /// The network of RUN container `cid`. For a bridge network this leases
    /// an address: the caller releases it with [`release`] when the step
    /// ends, whatever happens.
    pub fn step(
        &self,
        net: &RunNetwork,
        cid: &str,
        extra_hosts: &[(String, String)],
    ) -> Result<StepNetwork, BuildError> {
        let hosts = |addresses: &[IpAddr], gateway: Option<IpAddr>| {
            files::hosts(&files::HostsInput {
                hostname: &cid[..12],
                domainname: None,
                container_name: "",
                addresses,
                extra_hosts,
                host_gateway: gateway,
            })
            .map_err(|e| BuildError::Network(format!("extra_hosts: {e}")))
        };
        match net {
            RunNetwork::Host => Ok(StepNetwork {
                mode: NetworkMode::Host,
                hosts: hosts(&[], Some(IpAddr::from([127, 0, 0, 1])))?,
                resolv_conf: None,
                warning: None,
            }),
            RunNetwork::None => Ok(StepNetwork {
                mode: NetworkMode::None,
                hosts: hosts(&[], None)?,
                resolv_conf: None,
                warning: None,
            }),
            RunNetwork::Build | RunNetwork::Named(_) => {
                let (n, att) = self.lease(net, cid)?;
                let made = (|| {
                    let own: Vec<IpAddr> = att.addresses.iter().map(|(ip, _)| *ip).collect();
                    let hosts = hosts(&own, Some(IpAddr::V4(n.gateway)))?;
                    let (resolv_conf, warning) = match self.dns(&n) {
                        Ok(()) => {
                            let host = std::fs::read_to_string(files::host_resolv_conf_path())
                                .unwrap_or_default();
                            let r = files::resolv_conf(&files::ResolvInput {
                                gateway: Some(IpAddr::V4(n.gateway)),
                                host: &host,
                                ..Default::default()
                            });
                            (Some(r), None)
                        }
                        Err(e) => (
                            None,
                            Some(format!(
                                "RUN uses the host's name servers: berth's DNS server did not start: {e}"
                            )),
                        ),
                    };
                    Ok(StepNetwork {
                        mode: NetworkMode::Bridge(vec![att.clone()]),
                        hosts,
                        resolv_conf,
                        warning,
                    })
                })();
                if made.is_err() {
                    release(&self.nets, cid, &[att]);
                }
                made
            }
        }
    }

    /// Lets the build network go: removed now if no other build uses it.
    pub fn finish(&self) {
        let held = self.hold.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(held);
        remove_if_unused(&self.root);
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.finish();
    }
}

fn not_found(name: &str) -> BuildError {
    BuildError::Network(format!(
        "network {name} not found: build.network names an existing network by its full name \
         (e.g. <project>_<network>), or is default, host or none"
    ))
}

/// Removes a RUN container's interfaces and gives its addresses back.
pub(crate) fn release(nets: &Networks, cid: &str, atts: &[Attachment]) {
    let _ = berth_net::attach::detach(atts);
    for a in atts {
        let _ = nets.release(&a.network, cid);
    }
}

/// Removes [`BUILD_NETWORK`] when no build holds it and no container is
/// attached: its bridge, rules and record (the DNS server exits with the
/// last network). Leases of containers that do not exist are what a build
/// killed between leasing and creating its container left; with the lock
/// held exclusively no build is in that window, so they are released.
/// Returns whether it was removed.
pub fn remove_if_unused(root: &Root) -> bool {
    let Ok(Some(_only_us)) = FileLock::try_exclusive(&use_lock(root)) else {
        return false;
    };
    let nets = Networks::new(root);
    let Ok(Some(n)) = nets.get(BUILD_NETWORK) else {
        return false;
    };
    if n.labels.get(OWN_LABEL).map(String::as_str) != Some("true") {
        return false;
    }
    let rt = Runtime::open(root);
    for id in n.endpoints() {
        if rt.inspect(&id).is_err() && !root.container(&id).exists() {
            let _ = nets.release(BUILD_NETWORK, &id);
        }
    }
    nets.remove(BUILD_NETWORK).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_names_map_to_modes() {
        assert_eq!(RunNetwork::parse(None), RunNetwork::Build);
        for s in ["default", "bridge", ""] {
            assert_eq!(RunNetwork::parse(Some(s)), RunNetwork::Build, "{s}");
        }
        assert_eq!(RunNetwork::parse(Some("host")), RunNetwork::Host);
        assert_eq!(RunNetwork::parse(Some("none")), RunNetwork::None);
        assert_eq!(
            RunNetwork::parse(Some("app_front")),
            RunNetwork::Named("app_front".into())
        );
    }

    #[test]
    fn cache_keys_name_the_mode_not_addresses() {
        let keys: HashSet<String> = ["default", "host", "none", "app_front"]
            .iter()
            .map(|s| RunNetwork::parse(Some(s)).cache_key())
            .collect();
        assert_eq!(keys.len(), 4);
        assert_eq!(
            RunNetwork::parse(Some("bridge")).cache_key(),
            RunNetwork::Build.cache_key()
        );
    }

    #[test]
    fn unknown_networks_are_named_in_the_error() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Session::new(&Root::new(tmp.path()));
        assert!(s.check(&RunNetwork::Build).is_ok());
        let e = s
            .check(&RunNetwork::Named("nosuch".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("network nosuch not found"), "{e}");
    }
}
