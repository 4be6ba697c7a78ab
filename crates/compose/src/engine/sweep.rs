//! What a berth killed half-way through `up` or `down` leaves behind, swept
//! before planning: records of containers whose creation was cut short, and
//! address leases, DNS entries and published ports of containers that no
//! longer exist. (A container that exists is converged by the plan itself.)

use std::collections::{HashMap, HashSet};

use berth_net::{dnsdb, ports};
use berth_runtime::Container;

use super::{Engine, labels};
use crate::desired::network_name;

impl Engine {
    /// Releases what belongs to no container. `all` is every container of
    /// the root. Call with the project lock held: leases are only released on
    /// the project's own networks, where only this project creates
    /// containers. DNS entries and published ports are written after their
    /// container's record, so one without a record is always stale.
    pub(crate) fn sweep(
        &self,
        all: &mut Vec<Container>,
        endpoints: &mut Vec<dnsdb::Endpoint>,
    ) -> Vec<String> {
        let mut notes = Vec::new();
        // A record with a config but no readable state is a creation cut
        // short: invisible to listings, yet holding its name. A record
        // without its root file system directories is a removal cut short:
        // it can never start again.
        let listed: HashMap<&str, &Container> =
            all.iter().map(|c| (c.config.id.as_str(), c)).collect();
        let ours = |labels: &std::collections::BTreeMap<String, String>| {
            labels.get(labels::PROJECT) == Some(&self.project.name)
        };
        let mut gone: HashSet<String> = HashSet::new();
        for id in self.runtime.records().ids().unwrap_or_default() {
            let d = self.runtime.dir(&id);
            let broken = match listed.get(id.as_str()) {
                Some(c) if !ours(&c.config.labels) => false,
                Some(c) => {
                    let dirs = d.rootfs().is_dir() && d.upper().is_dir();
                    !c.state.status.is_active() && !dirs
                }
                None => d.read_config().is_ok_and(|c| ours(&c.labels)) && d.read_state().is_err(),
            };
            if broken {
                match self.runtime.records().delete(&id) {
                    Ok(()) => notes.push(format!("removed the broken container record {id}")),
                    Err(e) => notes.push(format!("remove the broken container record {id}: {e}")),
                }
                gone.insert(id);
            }
        }
        all.retain(|c| !gone.contains(&c.config.id));
        let ids: HashSet<&str> = all.iter().map(|c| c.config.id.as_str()).collect();
        for (key, n) in &self.project.networks {
            if n.external {
                continue;
            }
            let name = network_name(&self.project, key);
            let Ok(Some(net)) = self.nets.get(&name) else {
                continue;
            };
            for id in net.endpoints() {
                if !ids.contains(id.as_str()) {
                    match self.nets.release(&name, &id) {
                        Ok(()) => notes.push(format!("released the address of {id} on {name}")),
                        Err(e) => notes.push(format!("release {id} on {name}: {e}")),
                    }
                }
            }
        }
        endpoints.retain(|e| {
            if ids.contains(e.container_id.as_str()) {
                return true;
            }
            let _ = dnsdb::remove_endpoint(&self.root, &e.container_id);
            notes.push(format!("removed the DNS entry of {}", e.container_name));
            false
        });
        for (id, _) in ports::all(&self.root).unwrap_or_default() {
            if !ids.contains(id.as_str()) {
                match ports::unpublish(&self.root, &id) {
                    Ok(()) => notes.push(format!("unpublished the ports of {id}")),
                    Err(e) => notes.push(format!("unpublish the ports of {id}: {e}")),
                }
            }
        }
        notes
    }
}
