//! Addresses taken and given back in batches. A lease is a durable write
//! under the root's network lock; one per container made `up` and `down` of
//! a large project wait on each other. So `up` leases, at the first create
//! on a network, for every container the plan creates there; and a whole
//! project's `down` gives the addresses back once its containers are gone.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;

use berth_net::leases::Lease;
use berth_net::network::NetError;

use super::Engine;
use crate::desired::network_name;
use crate::plan::{Op, Plan};

type Request = (String, Option<Ipv4Addr>, Option<Ipv6Addr>);

#[derive(Debug, Default)]
pub struct Addresses {
    /// Container name → the id its create will use.
    ids: HashMap<String, String>,
    /// Network → requests not leased yet.
    pending: HashMap<String, Vec<Request>>,
    /// (network, container id) → lease.
    leased: HashMap<(String, String), Lease>,
    /// `down`: (network → container ids) whose lease goes back at the end.
    deferred: Option<HashMap<String, Vec<String>>>,
}

/// A static address of a service on a network (`ipv4_address`).
fn parse<T: std::str::FromStr>(what: &str, a: Option<&str>) -> Result<Option<T>, String> {
    a.map(|a| a.parse().map_err(|_| format!("invalid {what} {a}")))
        .transpose()
}

impl Engine {
    /// Chooses the ids of the containers `plan` creates and notes the
    /// addresses they will need, to lease them together.
    pub fn reserve(&self, plan: &Plan) {
        let mut r = self.addresses.lock().unwrap();
        for n in &plan.nodes {
            let Op::CreateContainer { service, name, .. } = &n.op else {
                continue;
            };
            let Some(svc) = self.project.services.get(service) else {
                continue;
            };
            if svc.network_mode.is_some() {
                continue;
            }
            let id = berth_store::new_id();
            for (key, opts) in &svc.networks {
                let o = opts.as_ref();
                let (Ok(v4), Ok(v6)) = (
                    parse("ipv4_address", o.and_then(|o| o.ipv4_address.as_deref())),
                    parse("ipv6_address", o.and_then(|o| o.ipv6_address.as_deref())),
                ) else {
                    continue; // reported by the create itself
                };
                r.pending
                    .entry(network_name(&self.project, key))
                    .or_default()
                    .push((id.clone(), v4, v6));
            }
            r.ids.insert(name.clone(), id);
        }
    }

    /// The id chosen for the container named `name`, if `reserve` chose one.
    pub(crate) fn reserved_id(&self, name: &str) -> Option<String> {
        self.addresses.lock().unwrap().ids.remove(name)
    }

    /// A lease on `network` for container `id`: from the batch taken for
    /// every pending container of the network, else on its own.
    pub(crate) fn lease(
        &self,
        network: &str,
        id: &str,
        v4: Option<Ipv4Addr>,
        v6: Option<Ipv6Addr>,
    ) -> Result<Lease, NetError> {
        let mut r = self.addresses.lock().unwrap();
        let key = (network.to_owned(), id.to_owned());
        if let Some(l) = r.leased.get(&key) {
            return Ok(*l);
        }
        let batch = r.pending.remove(network).unwrap_or_default();
        if batch.iter().any(|(i, ..)| i == id) {
            match self.nets.lease_many(network, &batch) {
                Ok(leases) => {
                    for ((i, ..), l) in batch.iter().zip(leases) {
                        r.leased.insert((network.to_owned(), i.clone()), l);
                    }
                    return Ok(r.leased[&key]);
                }
                Err(_) => {
                    // One bad request (a static address in use) must fail
                    // only its own container: the others lease one by one.
                    let rest: Vec<Request> = batch.into_iter().filter(|(i, ..)| i != id).collect();
                    r.pending.insert(network.to_owned(), rest);
                }
            }
        } else if !batch.is_empty() {
            r.pending.insert(network.to_owned(), batch);
        }
        drop(r);
        self.nets.lease(network, id, v4, v6)
    }

    /// Leases taken for containers that were never created go back.
    pub fn release_unused(&self) {
        let mut r = self.addresses.lock().unwrap();
        let unused: Vec<String> = r.ids.drain().map(|(_, id)| id).collect();
        let leased = std::mem::take(&mut r.leased);
        r.pending.clear();
        drop(r);
        let mut by_network: HashMap<String, Vec<String>> = HashMap::new();
        for ((net, id), _) in leased {
            if unused.contains(&id) || !self.runtime.records().dir(&id).config().exists() {
                by_network.entry(net).or_default().push(id);
            }
        }
        for (net, ids) in by_network {
            let _ = self.nets.release_many(&net, &ids);
        }
    }

    /// From now on removed containers keep their leases until
    /// [`Engine::release_deferred`] (or the removal of their network).
    pub fn defer_releases(&self) {
        self.addresses.lock().unwrap().deferred = Some(HashMap::new());
    }

    /// Gives back the lease of container `id` on `network`, now or, when
    /// deferred, with the others.
    pub(crate) fn give_back(&self, network: &str, id: &str) {
        let mut r = self.addresses.lock().unwrap();
        if let Some(d) = r.deferred.as_mut() {
            d.entry(network.to_owned()).or_default().push(id.to_owned());
            return;
        }
        drop(r);
        let _ = self.nets.release(network, id);
    }

    /// The deferred releases of `network` (all networks when `None`).
    pub fn release_deferred(&self, network: Option<&str>) -> Result<(), NetError> {
        let batches: Vec<(String, Vec<String>)> = {
            let mut r = self.addresses.lock().unwrap();
            let Some(d) = r.deferred.as_mut() else {
                return Ok(());
            };
            match network {
                Some(n) => d
                    .remove(n)
                    .map(|ids| (n.to_owned(), ids))
                    .into_iter()
                    .collect(),
                None => d.drain().collect(),
            }
        };
        for (net, ids) in batches {
            self.nets.release_many(&net, &ids)?;
        }
        Ok(())
    }
}

impl Engine {
    /// Gives back, in one write, the addresses on `network` of this
    /// project's containers that are not running (`down` removes the
    /// network while their records go; should berth die in between, their
    /// attachments name a bridge that is gone and `up` recreates them) and
    /// of containers that are gone.
    pub(crate) fn release_stopped(&self, network: &str) -> Result<(), NetError> {
        let Some(net) = self.nets.get(network)? else {
            return Ok(());
        };
        let done: Vec<String> = net
            .endpoints()
            .into_iter()
            .filter(|id| {
                // Gone first: looking up a removed id scans every record.
                if !self.runtime.records().dir(id).config().exists() {
                    return true;
                }
                match self.runtime.inspect(id) {
                    Ok(c) => {
                        c.config.labels.get(super::labels::PROJECT) == Some(&self.project.name)
                            && !c.state.status.is_active()
                    }
                    // Removed while we looked (its record moved to the trash).
                    Err(_) => !self.runtime.records().dir(id).config().exists(),
                }
            })
            .collect();
        if done.is_empty() {
            return Ok(());
        }
        self.nets.release_many(network, &done)
    }
}

impl Addresses {
    pub fn new() -> Mutex<Addresses> {
        Mutex::new(Addresses::default())
    }
}
