//! A spare shim: started by the monitor before any container asks for it,
//! so that `start` costs neither the shim's own start-up nor, on cgroup v1,
//! a cgroup migration. Moving a process into a cgroup waits for an RCU grace
//! period (~10 ms here, more than everything else of a start together);
//! a v1 cgroup can be renamed for free instead. So the spare clones a
//! container process ahead of time, places it in a cgroup `spare-<pid>`,
//! and when told which container it is, renames that cgroup after it.
//! On cgroup v2 the container process is born in its cgroup
//! (`CLONE_INTO_CGROUP`) and nothing is prepared.

use std::io::{BufRead, BufReader};
use std::os::fd::OwnedFd;

use berth_store::Root;

use crate::cgroups::{Cgroup, Layout, detect, parent_for};
use crate::spawn::{self, Prepared};

/// Name of the cgroup of the spare shim `pid`.
pub fn cgroup_name(pid: u32) -> String {
    format!("spare-{pid}")
}

/// A container process waiting in a spare cgroup.
pub struct Spare {
    pub cgroup: Cgroup,
    pub prepared: Prepared,
}

impl Spare {
    /// Prepares one (v1 hosts only; `None` elsewhere or on any failure:
    /// the container is then started the ordinary way).
    pub fn make(root: &Root) -> Option<Spare> {
        let layout = detect();
        if !matches!(layout, Layout::V1(_)) {
            return None;
        }
        let cg =
            Cgroup::create(&layout, &parent_for(root), &cgroup_name(std::process::id())).ok()?;
        let made = cg.restrict_devices(false).ok().and_then(|_| {
            let p = spawn::prepare(true, None).ok()?;
            match cg.add(p.pid) {
                Ok(()) => Some(p),
                Err(_) => {
                    p.discard();
                    None
                }
            }
        });
        match made {
            Some(prepared) => Some(Spare {
                cgroup: cg,
                prepared,
            }),
            None => {
                cg.remove();
                None
            }
        }
    }

    pub fn discard(self) {
        self.prepared.discard();
        self.cgroup.remove();
    }
}

/// Priority of spares while they prepare: they must not slow down the
/// container that was just started with the previous spare.
pub const PREPARE_NICE: i32 = 19;

/// Back to the monitor's priority, for the shim and its prepared process,
/// once the spare has a container to run.
pub fn restore_priority(spare: Option<&Spare>) {
    // SAFETY: getpriority/setpriority have no memory-safety preconditions.
    unsafe {
        let prio = libc::getpriority(libc::PRIO_PROCESS, libc::getppid() as libc::id_t);
        libc::setpriority(libc::PRIO_PROCESS, 0, prio);
        if let Some(s) = spare {
            libc::setpriority(libc::PRIO_PROCESS, s.prepared.pid as libc::id_t, prio);
        }
    }
}

/// Waits for the monitor's order: the id of the container to run, or
/// `None` when the monitor closed the pipe (it is exiting).
pub fn wait_for_order(order: OwnedFd) -> Option<String> {
    let mut line = String::new();
    BufReader::new(std::fs::File::from(order))
        .read_line(&mut line)
        .ok()?;
    let id = line.trim();
    (!id.is_empty()).then(|| id.to_owned())
}
