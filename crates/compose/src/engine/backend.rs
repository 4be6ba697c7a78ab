//! The executor's side effects, done for real.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Instant;

use berth_net::attach::Attachment;
use berth_net::dnsdb::{self, Endpoint, EndpointNetwork};
use berth_net::files;
use berth_net::ipam::PoolRequest;
use berth_net::network::{NetworkSpec, Networks};
use berth_net::ports::{self, PortRequest};
use berth_runtime::{MountKind, NetworkMode};
use berth_spec::Service;

use super::health::Readiness;
use super::{Engine, labels, translate};
use crate::desired::{network_name, service_ref};
use crate::executor::Backend;
use crate::plan::Condition;

type R<T = ()> = std::result::Result<T, String>;

fn s<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// A service's networks in attachment order: highest `priority` first, then
/// by name (Compose's order).
fn ordered_networks(svc: &Service) -> Vec<String> {
    let mut v: Vec<(&String, i64)> = svc
        .networks
        .iter()
        .map(|(k, o)| (k, o.as_ref().and_then(|o| o.priority).unwrap_or(0)))
        .collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    v.into_iter().map(|(k, _)| k.clone()).collect()
}

fn port_requests(svc: &Service) -> Vec<PortRequest> {
    svc.ports
        .iter()
        .map(|p| {
            let host_ports = p
                .published
                .as_deref()
                .filter(|s| !s.is_empty())
                .and_then(|s| match s.split_once('-') {
                    Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                    None => s.parse().ok().map(|n| (n, n)),
                });
            PortRequest {
                host_ip: p.host_ip.clone(),
                host_ports,
                container_port: p.target as u16,
                protocol: p.protocol.clone(),
            }
        })
        .collect()
}

impl Engine {
    fn service(&self, name: &str) -> R<&Service> {
        self.project
            .services
            .get(name)
            .ok_or_else(|| format!("no such service: {name}"))
    }

    fn dns_spawn(&self) -> R {
        berth_net::dns::ensure_running(&self.root, |args| {
            let req = berth_runtime::monitor::Request::Daemon {
                name: "dns".into(),
                args: args[2..].to_vec(),
            };
            let reply =
                berth_runtime::monitor::request(&self.root, &req).map_err(std::io::Error::other)?;
            if reply.ok {
                Ok(())
            } else {
                Err(std::io::Error::other(reply.message))
            }
        })
        .map_err(|e| format!("start the DNS server: {e}"))
    }

    /// Container network config: addresses leased on each network.
    fn network_mode(&self, svc: &Service, id: &str) -> R<(NetworkMode, Vec<Attachment>)> {
        match svc.network_mode.as_deref() {
            Some("none") => return Ok((NetworkMode::None, vec![])),
            Some("host") => return Ok((NetworkMode::Host, vec![])),
            Some(m) if service_ref(Some(m)).is_some() => {
                let parent = service_ref(Some(m)).unwrap();
                // The running container of the service, else (`--no-start`)
                // any: its namespace is joined when this one starts.
                let mut cs = self.service_containers(parent).map_err(s)?;
                cs.sort_by_key(|c| !c.state.status.is_active());
                let c = cs.into_iter().next().ok_or_else(|| {
                    format!("network_mode service:{parent}: no container of service {parent}")
                })?;
                return Ok((NetworkMode::Container(c.config.id), vec![]));
            }
            Some(m) if m.starts_with("container:") => {
                let other = self.runtime.resolve(&m["container:".len()..]).map_err(s)?;
                return Ok((NetworkMode::Container(other), vec![]));
            }
            _ => {}
        }
        let keys = ordered_networks(svc);
        let mut nets = Vec::new();
        for key in &keys {
            let name = network_name(&self.project, key);
            let net = self
                .nets
                .get(&name)
                .map_err(s)?
                .ok_or_else(|| format!("network {name} not found"))?;
            nets.push((net, svc.networks.get(key).cloned().flatten()));
        }
        // The default route: the non-internal network with the highest
        // gw_priority, the first one on a tie (Docker's choice).
        let gateway = nets
            .iter()
            .enumerate()
            .filter(|(_, (n, _))| !n.internal)
            .max_by_key(|(i, (_, o))| {
                let prio = o.as_ref().and_then(|o| o.gw_priority).unwrap_or(0);
                (prio, std::cmp::Reverse(*i))
            })
            .map(|(i, _)| i);
        let mut atts = Vec::new();
        for (i, (net, opts)) in nets.iter().enumerate() {
            let lease = (|| {
                let o = opts.as_ref();
                let v4 = o
                    .and_then(|o| o.ipv4_address.as_deref())
                    .map(|a| a.parse().map_err(|_| format!("invalid ipv4_address {a}")))
                    .transpose()?;
                let v6 = o
                    .and_then(|o| o.ipv6_address.as_deref())
                    .map(|a| a.parse().map_err(|_| format!("invalid ipv6_address {a}")))
                    .transpose()?;
                self.lease(&net.name, id, v4, v6).map_err(s)
            })();
            let lease = match lease {
                Ok(l) => l,
                Err(e) => {
                    self.release(id, &atts);
                    return Err(format!("service {}: {e}", svc.name));
                }
            };
            let mac = if i == 0 {
                svc.mac_address.clone()
            } else {
                opts.as_ref().and_then(|o| o.mac_address.clone())
            };
            let default_route = gateway == Some(i);
            atts.push(Networks::attachment_for(
                net,
                id,
                i,
                &lease,
                default_route,
                mac,
            ));
        }
        Ok((NetworkMode::Bridge(atts.clone()), atts))
    }

    fn release(&self, id: &str, atts: &[Attachment]) {
        for a in atts {
            self.give_back(&a.network, id);
        }
    }

    fn endpoint(&self, svc: &Service, id: &str, name: &str, atts: &[Attachment]) -> Endpoint {
        Endpoint {
            container_id: id.to_owned(),
            container_name: name.to_owned(),
            networks: atts
                .iter()
                .map(|a| {
                    let key = svc
                        .networks
                        .keys()
                        .find(|k| network_name(&self.project, k) == a.network)
                        .cloned()
                        .unwrap_or_default();
                    let mut aliases = vec![svc.name.clone()];
                    if let Some(Some(o)) = svc.networks.get(&key) {
                        aliases.extend(o.aliases.iter().cloned());
                    }
                    if let Some(h) = &svc.hostname {
                        aliases.push(h.clone());
                    }
                    EndpointNetwork {
                        network: a.network.clone(),
                        addresses: a.addresses.iter().map(|(ip, _)| *ip).collect(),
                        aliases,
                    }
                })
                .collect(),
            dns_servers: svc.dns.0.iter().filter_map(|d| d.parse().ok()).collect(),
        }
    }

    fn attachments(&self, id: &str) -> Vec<Attachment> {
        match self.runtime.inspect(id).map(|c| c.config.network) {
            Ok(NetworkMode::Bridge(a)) => a,
            _ => Vec::new(),
        }
    }
}

impl Backend for Engine {
    fn create_network(&self, key: &str, name: &str) -> R {
        let n = self.project.networks.get(key).cloned().unwrap_or_default();
        let mut labels: BTreeMap<String, String> = n.labels.0.clone();
        labels.insert(labels::PROJECT.into(), self.project.name.clone());
        labels.insert(labels::NETWORK.into(), key.into());
        let spec = NetworkSpec {
            name: name.to_owned(),
            driver: n.driver.clone(),
            driver_opts: n.driver_opts.0.clone(),
            pools: n
                .ipam
                .config
                .iter()
                .map(|c| PoolRequest {
                    subnet: c.subnet.clone(),
                    gateway: c.gateway.clone(),
                    ip_range: c.ip_range.clone(),
                })
                .collect(),
            enable_ipv6: n.enable_ipv6.unwrap_or(false),
            internal: n.internal,
            labels,
        };
        self.nets.ensure(&spec).map_err(s)?;
        self.dns_spawn()?;
        self.mark_network(name, true)
    }

    fn remove_network(&self, _key: &str, name: &str) -> R {
        self.mark_network(name, false)?;
        self.release_deferred(Some(name)).map_err(s)?;
        self.release_stopped(name).map_err(s)?;
        self.nets.remove(name).map_err(s)
    }

    fn create_volume(&self, key: &str, name: &str) -> R {
        let v = self.project.volumes.get(key).cloned().unwrap_or_default();
        let mut labels: BTreeMap<String, String> = v.labels.0.clone();
        labels.insert(labels::PROJECT.into(), self.project.name.clone());
        labels.insert(labels::VOLUME.into(), key.into());
        self.runtime
            .volumes()
            .ensure(name, labels, false)
            .map(|_| ())
            .map_err(s)
    }

    fn remove_volume(&self, _key: &str, name: &str) -> R {
        let users = self.runtime.volume_users(name).map_err(s)?;
        self.runtime.volumes().remove(name, &users).map_err(s)
    }

    fn create_container(
        &self,
        service: &str,
        number: u32,
        name: &str,
        inherit_from: Option<&str>,
    ) -> R<String> {
        let svc = self.service(service)?;
        let img = self
            .images
            .get(service)
            .ok_or_else(|| format!("service {service}: image not resolved"))?;
        let mut cfg = translate::container(
            &self.project,
            svc,
            &img.image,
            img.lower_dirs.clone(),
            &img.reference,
        );
        cfg.id = self.reserved_id(name).unwrap_or_else(berth_store::new_id);
        cfg.name = name.to_owned();
        cfg.labels = svc.labels.0.clone();
        for (k, v) in [
            (labels::PROJECT, self.project.name.clone()),
            (labels::SERVICE, service.to_owned()),
            (labels::NUMBER, number.to_string()),
            (
                labels::ONEOFF,
                if self.oneoff {
                    "True".into()
                } else {
                    "False".into()
                },
            ),
            (labels::CONFIG_HASH, berth_spec::service_hash(svc)),
            (
                labels::WORKING_DIR,
                self.project.working_dir.display().to_string(),
            ),
            (
                labels::CONFIG_FILES,
                self.project
                    .compose_files
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            (labels::IMAGE, img.image.id.clone()),
            (labels::VERSION, env!("CARGO_PKG_VERSION").into()),
        ] {
            cfg.labels.insert(k.into(), v);
        }
        let inherit = inherit_from.filter(|_| !self.renew_anon_volumes);
        if let Some(old) = inherit.and_then(|o| self.runtime.inspect(o).ok()) {
            // Recreating keeps the data of anonymous volumes (as Compose does).
            for m in cfg
                .mounts
                .iter_mut()
                .filter(|m| m.kind == MountKind::Volume && m.source.is_none())
            {
                if let Some(o) = old
                    .config
                    .mounts
                    .iter()
                    .find(|o| o.kind == MountKind::Volume && o.target == m.target)
                {
                    m.source = o.source.clone();
                }
            }
        }
        let (mode, atts) = self.network_mode(svc, &cfg.id)?;
        cfg.network = mode;
        if !atts.is_empty() {
            let hostname = svc
                .hostname
                .clone()
                .unwrap_or_else(|| cfg.id[..12].to_owned());
            let gw = atts.first().and_then(|a| a.gateways.first().copied());
            let extra: Vec<(String, String)> = svc
                .extra_hosts
                .0
                .iter()
                .flat_map(|(h, ips)| ips.iter().map(move |ip| (h.clone(), ip.clone())))
                .collect();
            let own: Vec<IpAddr> = atts
                .iter()
                .flat_map(|a| a.addresses.iter().map(|(ip, _)| *ip))
                .collect();
            let hosts = files::hosts(&files::HostsInput {
                hostname: &hostname,
                domainname: svc.domainname.as_deref(),
                container_name: name,
                addresses: &own,
                extra_hosts: &extra,
                host_gateway: gw,
            });
            cfg.hosts = Some(hosts.map_err(|e| format!("service {service}: extra_hosts: {e}"))?);
            let internal_only = atts.iter().all(|a| !a.default_route);
            let dns_gw = if internal_only {
                atts.first()
            } else {
                atts.iter().find(|a| a.default_route)
            }
            .and_then(|a| a.gateways.first().copied());
            let dns: Vec<IpAddr> = svc.dns.0.iter().filter_map(|d| d.parse().ok()).collect();
            let host = std::fs::read_to_string(files::host_resolv_conf_path()).unwrap_or_default();
            cfg.resolv_conf = Some(files::resolv_conf(&files::ResolvInput {
                gateway: dns_gw,
                dns: &dns,
                dns_search: &svc.dns_search.0,
                dns_opt: &svc.dns_opt,
                host: &host,
                host_network: false,
            }));
        }
        let id = cfg.id.clone();
        match self.runtime.create(cfg) {
            Ok(c) => Ok(c.id),
            Err(e) => {
                self.release(&id, &atts);
                Err(e.to_string())
            }
        }
    }

    fn start_container(&self, service: &str, id: &str) -> R {
        let svc = self.service(service)?;
        let atts = self.attachments(id);
        // Ports before the payload: a host port already in use fails the
        // start with nothing running. They go to the address on the
        // network of the default route, as in Docker.
        if let Some(a) = atts.iter().find(|a| a.default_route).or(atts.first()) {
            let v4 = a.addresses.iter().find_map(|(ip, _)| match ip {
                IpAddr::V4(v) => Some(*v),
                IpAddr::V6(_) => None,
            });
            let v6 = a.addresses.iter().find_map(|(ip, _)| match ip {
                IpAddr::V6(v) => Some(*v),
                IpAddr::V4(_) => None,
            });
            if let Some(v4) = v4 {
                ports::publish_for(&self.root, id, service, v4, v6, &port_requests(svc))
                    .map_err(s)?;
            }
        }
        if let Err(e) = self.runtime.start(id) {
            let _ = ports::unpublish(&self.root, id);
            return Err(e.to_string());
        }
        let c = self.runtime.inspect(id).map_err(s)?;
        if !atts.is_empty() {
            dnsdb::put_endpoint(&self.root, &self.endpoint(svc, id, &c.config.name, &atts))
                .map_err(s)?;
        }
        Ok(())
    }

    fn stop_container(&self, _service: &str, id: &str) -> R {
        let _ = dnsdb::remove_endpoint(&self.root, id);
        let shim = self
            .restarts_follow_stops
            .then(|| self.runtime.inspect(id).ok().and_then(|c| c.state.shim))
            .flatten();
        self.runtime.stop(id, self.stop_timeout).map_err(s)?;
        ports::unpublish(&self.root, id).map_err(s)?;
        // The shim records the exit before it removes the container's
        // cgroup; a start of the same container in between (restart, a
        // restart: true dependent) would lose its new cgroup to that
        // removal. So there a stop ends when the shim is gone.
        if let Some(shim) = shim {
            let deadline = Instant::now() + std::time::Duration::from_secs(5);
            while shim.is_running() && Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        }
        Ok(())
    }

    fn remove_container(&self, _service: &str, id: &str, volumes: bool) -> R {
        let atts = self.attachments(id);
        let _ = dnsdb::remove_endpoint(&self.root, id);
        ports::unpublish(&self.root, id).map_err(s)?;
        self.runtime.remove(id, true, volumes).map_err(s)?;
        let _ = berth_net::attach::detach(&atts);
        self.release(id, &atts);
        Ok(())
    }

    fn rename_container(&self, id: &str, name: &str) -> R {
        self.runtime.rename(id, name).map_err(s)?;
        if let Some(mut e) = dnsdb::endpoints(&self.root)
            .map_err(s)?
            .into_iter()
            .find(|e| e.container_id == id)
        {
            e.container_name = name.to_owned();
            dnsdb::put_endpoint(&self.root, &e).map_err(s)?;
        }
        Ok(())
    }

    fn wait_service(&self, service: &str, condition: Condition) -> R {
        let deadline = self.wait_timeout.map(|t| Instant::now() + t);
        self.wait_ready(service, Readiness::Dependency(condition), deadline)
    }
}
