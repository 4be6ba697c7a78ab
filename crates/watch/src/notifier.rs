//! File events from the kernel (inotify through `notify`), as changed paths
//! on a channel. Directories of rules are watched recursively; a rule's file,
//! a path that does not exist yet and the project's own files are watched
//! through their directory, so an editor that replaces a file by renaming a
//! new one over it is still seen. Symlinks are never followed into.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;

use notify::event::{AccessKind, AccessMode, EventKind};
use notify::{Config, INotifyWatcher, RecursiveMode, Watcher};

use crate::error::{Result, WatchError};

/// What the watcher reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsEvent {
    Changed(PathBuf),
    /// Events were lost (queue overflow): everything may have changed.
    Rescan,
    Error(String),
}

pub struct FsWatcher {
    _inner: INotifyWatcher,
}

/// Whether an event kind may mean new content. Opens and reads are not
/// (berth reads the files it syncs, which must not trigger another sync).
fn relevant(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// The nearest directory that exists at or above `p`.
fn existing_dir(p: &Path) -> Option<PathBuf> {
    p.ancestors().find(|a| a.is_dir()).map(Path::to_path_buf)
}

impl FsWatcher {
    /// Watches `trees` recursively and `files` through their directories.
    pub fn start(
        trees: &BTreeSet<PathBuf>,
        files: &BTreeSet<PathBuf>,
        tx: Sender<FsEvent>,
    ) -> Result<FsWatcher> {
        let handler = move |r: notify::Result<notify::Event>| {
            let msgs: Vec<FsEvent> = match r {
                Ok(ev) if ev.need_rescan() => vec![FsEvent::Rescan],
                Ok(ev) if relevant(&ev.kind) => {
                    ev.paths.into_iter().map(FsEvent::Changed).collect()
                }
                Ok(_) => Vec::new(),
                Err(e) => vec![FsEvent::Error(e.to_string())],
            };
            for m in msgs {
                let _ = tx.send(m);
            }
        };
        let mut w = INotifyWatcher::new(handler, Config::default().with_follow_symlinks(false))
            .map_err(|e| WatchError::Notify {
                path: PathBuf::new(),
                message: e.to_string(),
            })?;
        let mut recursive: Vec<PathBuf> = Vec::new();
        let mut flat: BTreeSet<PathBuf> = BTreeSet::new();
        for t in trees {
            if t.is_dir() {
                recursive.push(t.clone());
            } else if let Some(d) = t.parent().and_then(existing_dir) {
                // A file, or not there yet: its directory tells.
                flat.insert(d);
            }
        }
        for f in files {
            if let Some(d) = f.parent().and_then(existing_dir) {
                flat.insert(d);
            }
        }
        // A tree inside another one is watched already.
        recursive.sort();
        let mut kept: Vec<PathBuf> = Vec::new();
        for r in recursive {
            if !kept.iter().any(|k| r.starts_with(k)) {
                kept.push(r);
            }
        }
        for r in &kept {
            w.watch(r, RecursiveMode::Recursive)
                .map_err(|e| WatchError::Notify {
                    path: r.clone(),
                    message: e.to_string(),
                })?;
        }
        for d in flat
            .iter()
            .filter(|d| !kept.iter().any(|k| d.starts_with(k)))
        {
            w.watch(d, RecursiveMode::NonRecursive)
                .map_err(|e| WatchError::Notify {
                    path: d.clone(),
                    message: e.to_string(),
                })?;
        }
        Ok(FsWatcher { _inner: w })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    fn wait_for(rx: &mpsc::Receiver<FsEvent>, want: &Path) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(FsEvent::Changed(p)) = rx.recv_timeout(Duration::from_millis(100))
                && p == want
            {
                return true;
            }
        }
        false
    }

    #[test]
    fn sees_writes_in_trees_new_directories_and_replaced_files() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        std::fs::create_dir(&src).unwrap();
        let compose = t.path().join("compose.yaml");
        std::fs::write(&compose, "services: {}\n").unwrap();
        let (tx, rx) = mpsc::channel();
        let _w = FsWatcher::start(
            &[src.clone()].into_iter().collect(),
            &[compose.clone()].into_iter().collect(),
            tx,
        )
        .unwrap();
        std::fs::write(src.join("a.txt"), "a").unwrap();
        assert!(wait_for(&rx, &src.join("a.txt")));
        std::fs::create_dir(src.join("new")).unwrap();
        assert!(wait_for(&rx, &src.join("new")));
        // Give the watcher a moment to add the new directory, then write in it.
        std::thread::sleep(Duration::from_millis(100));
        std::fs::write(src.join("new/b.txt"), "b").unwrap();
        assert!(wait_for(&rx, &src.join("new/b.txt")));
        let tmp = t.path().join(".compose.yaml.tmp");
        std::fs::write(&tmp, "services: {a: {image: x}}\n").unwrap();
        std::fs::rename(&tmp, &compose).unwrap();
        assert!(wait_for(&rx, &compose));
    }
}
