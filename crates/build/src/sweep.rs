//! What a build killed during a RUN leaves behind: the step's container
//! (still running under its shim), with its cgroup, overlay and address
//! lease. Every build holds a lock for its lifetime; a build container whose
//! build's lock nobody holds belongs to a dead build and is removed by the
//! next build. (Not by pid: a pid is reused, and a lock dies with its
//! process whatever killed it.)

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use berth_net::network::Networks;
use berth_runtime::{NetworkMode, Runtime};
use berth_store::{FileLock, Root};

use crate::BuildError;
use crate::run_network::release;

/// Label of every RUN container.
pub const BUILD_LABEL: &str = "berth.build";
/// Label naming the build a RUN container belongs to.
pub const BUILD_ID_LABEL: &str = "berth.build.id";

fn running_dir(root: &Root) -> PathBuf {
    root.builds().join("running")
}

fn lock_path(root: &Root, build: &str) -> Option<PathBuf> {
    // Only ids we make: never a path out of the directory.
    (!build.is_empty() && build.len() <= 64 && build.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| running_dir(root).join(format!("{build}.lock")))
}

/// The lock a build holds while it runs.
pub(crate) struct BuildLock {
    pub id: String,
    lock: Option<FileLock>,
}

fn same_file(lock: &FileLock, path: &Path) -> bool {
    match (lock.file().metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

impl BuildLock {
    pub fn take(root: &Root) -> Result<BuildLock, BuildError> {
        loop {
            let id = berth_store::new_id()[..16].to_owned();
            let path = lock_path(root, &id).expect("a hex id");
            let lock = FileLock::exclusive(&path)
                .map_err(|e| BuildError::Io(format!("build lock: {e}")))?;
            // A sweep may have found the new file unlocked and deleted it
            // before we locked it: then what we hold is not at the path.
            if same_file(&lock, &path) {
                return Ok(BuildLock {
                    id,
                    lock: Some(lock),
                });
            }
        }
    }
}

impl Drop for BuildLock {
    fn drop(&mut self) {
        if let Some(l) = self.lock.take() {
            let _ = std::fs::remove_file(l.path());
        }
    }
}

/// Whether the build `id` is still running (its lock is held).
fn alive(root: &Root, id: &str) -> bool {
    let Some(path) = lock_path(root, id) else {
        return false;
    };
    !matches!(FileLock::try_exclusive(&path), Ok(Some(_)))
}

/// Removes the RUN containers of builds that are no longer running, and the
/// lock files they left; returns what was removed, one note each.
pub fn sweep(root: &Root) -> Vec<String> {
    let rt = Runtime::open(root);
    let nets = Networks::new(root);
    let mut notes = Vec::new();
    for id in rt.records().ids().unwrap_or_default() {
        let d = rt.dir(&id);
        let Ok(config) = d.read_config() else {
            continue;
        };
        if config.labels.get(BUILD_LABEL).map(String::as_str) != Some("true") {
            continue;
        }
        // A container of an older berth has no build id: its build is over.
        if let Some(b) = config.labels.get(BUILD_ID_LABEL)
            && alive(root, b)
        {
            continue;
        }
        // A record without a state is a creation cut short.
        let removed = if d.read_state().is_ok() {
            rt.remove(&id, true, true).map_err(|e| e.to_string())
        } else {
            rt.records().delete(&id).map_err(|e| e.to_string())
        };
        if let NetworkMode::Bridge(atts) = &config.network {
            release(&nets, &id, atts);
        }
        match removed {
            Ok(()) => notes.push(format!(
                "removed {} left by an interrupted build",
                config.name
            )),
            Err(e) => notes.push(format!(
                "remove {} left by an interrupted build: {e}",
                config.name
            )),
        }
    }
    for e in std::fs::read_dir(running_dir(root))
        .into_iter()
        .flatten()
        .flatten()
    {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "lock")
            && let Ok(Some(_dead)) = FileLock::try_exclusive(&p)
        {
            let _ = std::fs::remove_file(&p);
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_is_alive_while_its_lock_is_held() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path());
        let lock = BuildLock::take(&root).unwrap();
        let id = lock.id.clone();
        assert!(alive(&root, &id));
        // A sweep leaves a live build's lock file alone.
        assert!(sweep(&root).is_empty());
        assert!(lock_path(&root, &id).unwrap().exists());
        assert!(alive(&root, &id));
        drop(lock);
        assert!(!alive(&root, &id));
        assert!(!alive(&root, "../../etc/passwd"));
        assert!(!alive(&root, ""));
    }

    #[test]
    fn lock_files_of_dead_builds_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path());
        let dead = lock_path(&root, "0123456789abcdef").unwrap();
        std::fs::create_dir_all(dead.parent().unwrap()).unwrap();
        std::fs::write(&dead, "").unwrap();
        let live = BuildLock::take(&root).unwrap();
        sweep(&root);
        assert!(!dead.exists());
        assert!(lock_path(&root, &live.id).unwrap().exists());
    }
}
