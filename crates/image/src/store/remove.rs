//! `image rm`, `image prune` and garbage collection of blobs and layers.
//!
//! The store never reads container state: callers say which images are in
//! use through [`ImageUsers`] (the runtime knows its containers).

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::Path;

use berth_store::{FileLock, short_id};

use super::{ImageRecord, ImageStore, Named};
use crate::error::{ImageError, IoContext, Result};
use crate::reference::familiar;

/// Which images containers use. `user_of(image id)` returns a name for the
/// message ("container web-1 is using it"), or `None` when unused.
pub trait ImageUsers {
    fn user_of(&self, image_id: &str) -> Option<String>;
}

/// Nothing is in use.
impl ImageUsers for () {
    fn user_of(&self, _: &str) -> Option<String> {
        None
    }
}

impl<F: Fn(&str) -> Option<String>> ImageUsers for F {
    fn user_of(&self, image_id: &str) -> Option<String> {
        self(image_id)
    }
}

/// Image id → a container that uses it.
impl ImageUsers for BTreeMap<String, String> {
    fn user_of(&self, image_id: &str) -> Option<String> {
        self.get(image_id).cloned()
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct RemoveOptions {
    /// Untag an image referenced in several repositories, or one in use
    /// (whose data then stays, as a dangling image, for its containers).
    pub force: bool,
}

/// One line of `image rm` / `image prune` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoveAction {
    /// A name removed, in Docker's short form.
    Untagged(String),
    /// An image id deleted.
    Deleted(String),
}

#[derive(Debug, Clone, Copy, Default)]
pub struct PruneOptions {
    /// Remove every image no container uses, not only dangling ones.
    pub all: bool,
}

#[derive(Debug, Clone, Default)]
pub struct PruneReport {
    pub actions: Vec<RemoveAction>,
    /// Bytes freed (blobs plus unpacked layer content).
    pub reclaimed: u64,
}

impl ImageStore {
    /// Removes a name or an image, as `docker image rm` does: a name is
    /// untagged, and the image is deleted when no tag is left; an id deletes
    /// the image with all of its names. An image a container uses is refused
    /// (with `force`, it is only untagged and its data kept).
    pub fn remove(
        &self,
        reference_or_id: &str,
        opts: RemoveOptions,
        users: &dyn ImageUsers,
    ) -> Result<Vec<RemoveAction>> {
        let (rec, named) = self
            .resolve_record(reference_or_id)?
            .ok_or_else(|| ImageError::NotFound(reference_or_id.to_owned()))?;
        let id = rec.id.clone();
        let user = users.user_of(&id);
        let mut actions = Vec::new();
        let delete = self.update_refs(|refs| {
            let names: Vec<String> = refs
                .iter()
                .filter(|(_, v)| **v == id)
                .map(|(k, _)| k.clone())
                .collect();
            let tags: Vec<&String> = names.iter().filter(|n| !n.contains('@')).collect();
            if let Named::Ref(key) = &named {
                let other_tags = tags.iter().filter(|t| **t != key).count();
                if other_tags > 0 || key.contains('@') && !tags.is_empty() {
                    // Other names keep the image: only this one goes, and the
                    // repo digests of its repository if no tag of it is left.
                    refs.remove(key);
                    actions.push(RemoveAction::Untagged(familiar(key)));
                    let repo = repo_of(key);
                    if !tags.iter().any(|t| *t != key && repo_of(t) == repo) {
                        for n in names.iter().filter(|n| n.contains('@') && repo_of(n) == repo) {
                            refs.remove(n);
                            actions.push(RemoveAction::Untagged(familiar(n)));
                        }
                    }
                    return Ok(false);
                }
                if let Some(c) = &user
                    && !opts.force {
                        return Err(ImageError::Conflict(format!(
                            "unable to remove repository reference \"{}\" (must force) - container {c} is using its referenced image {}",
                            familiar(key),
                            short_id(&id)
                        )));
                    }
            } else {
                let repos: HashSet<&str> = tags.iter().map(|t| repo_of(t)).collect();
                if repos.len() > 1 && !opts.force {
                    return Err(ImageError::Conflict(format!(
                        "unable to delete {} (must be forced) - image is referenced in multiple repositories",
                        short_id(&id)
                    )));
                }
                if let Some(c) = &user
                    && !opts.force {
                        return Err(ImageError::Conflict(format!(
                            "unable to delete {} (must be forced) - image is being used by container {c}",
                            short_id(&id)
                        )));
                    }
            }
            for n in &names {
                refs.remove(n);
                actions.push(RemoveAction::Untagged(familiar(n)));
            }
            Ok(user.is_none())
        })?;
        if delete {
            self.delete_record(&id)?;
            actions.push(RemoveAction::Deleted(id));
            // Free the space now if no pull is running; else `prune` will.
            if let Some(lock) = FileLock::try_exclusive(&self.dir.join("gc.lock"))? {
                self.collect_garbage(&lock)?;
            }
        }
        Ok(actions)
    }

    /// Removes dangling images (or, with `all`, every unused image), then
    /// every blob, layer and temporary file no image needs.
    pub fn prune(&self, opts: PruneOptions, users: &dyn ImageUsers) -> Result<PruneReport> {
        let lock = FileLock::exclusive(&self.dir.join("gc.lock"))?;
        let mut report = PruneReport::default();
        let refs = self.refs()?;
        for rec in self.all_records()? {
            let tagged = refs.iter().any(|(k, v)| *v == rec.id && !k.contains('@'));
            if (tagged && !opts.all) || users.user_of(&rec.id).is_some() {
                continue;
            }
            let names: Vec<String> = self.update_refs(|refs| {
                let names: Vec<String> = refs
                    .iter()
                    .filter(|(_, v)| **v == rec.id)
                    .map(|(k, _)| k.clone())
                    .collect();
                for n in &names {
                    refs.remove(n);
                }
                Ok(names)
            })?;
            report
                .actions
                .extend(names.iter().map(|n| RemoveAction::Untagged(familiar(n))));
            self.delete_record(&rec.id)?;
            report.actions.push(RemoveAction::Deleted(rec.id.clone()));
        }
        report.reclaimed = self.collect_garbage(&lock)?;
        Ok(report)
    }

    /// Deletes blobs and layers no record references, and leftovers of dead
    /// processes in `tmp/`. Needs the exclusive gc lock. Returns bytes freed.
    fn collect_garbage(&self, _gc: &FileLock) -> Result<u64> {
        let records: Vec<ImageRecord> = self.all_records()?;
        let mut blobs = HashSet::new();
        let mut layers = HashSet::new();
        for r in &records {
            blobs.insert(hex_of(&r.id));
            blobs.insert(hex_of(&r.manifest.digest));
            blobs.extend(r.extra_blobs.iter().map(|d| hex_of(d)));
            for l in &r.layers {
                blobs.insert(hex_of(&l.blob.digest));
                layers.insert(hex_of(&l.diff_id));
            }
        }
        // A kept layer keeps the blob it was unpacked from, so that a new
        // image committed on top of it can always name a blob for it.
        for hex in &layers {
            let rec = self.dir.join("layers").join(hex).join("layer.json");
            if let Ok(Some(l)) = berth_store::read_json_opt::<super::layers::LayerRecord>(&rec) {
                blobs.insert(hex_of(&l.blob.digest));
            }
        }
        let mut freed = 0;
        let bdir = self.dir.join("blobs/sha256");
        for e in fs::read_dir(&bdir).at(&bdir)? {
            let e = e.at(&bdir)?;
            let name = e.file_name().to_string_lossy().into_owned();
            if !blobs.contains(&name) {
                freed += e.metadata().map(|m| m.len()).unwrap_or(0);
                fs::remove_file(e.path()).at(e.path())?;
            }
        }
        let ldir = self.dir.join("layers");
        for e in fs::read_dir(&ldir).at(&ldir)? {
            let e = e.at(&ldir)?;
            let name = e.file_name().to_string_lossy().into_owned();
            if !layers.contains(&name) {
                let size = berth_store::read_json_opt::<super::layers::LayerRecord>(
                    &e.path().join("layer.json"),
                )
                .ok()
                .flatten()
                .map_or(0, |r| r.size);
                // Rename first so a half-deleted layer never looks complete.
                let doomed = self.tmp_file_path("gc");
                fs::rename(e.path(), &doomed).at(e.path())?;
                fs::remove_dir_all(&doomed).at(&doomed)?;
                freed += size;
            }
        }
        freed += self.clean_tmp()?;
        Ok(freed)
    }

    /// Removes work directories of processes that are gone, and resumable
    /// downloads nobody is using.
    fn clean_tmp(&self) -> Result<u64> {
        let mut freed = 0;
        let tdir = self.dir.join("tmp");
        for e in fs::read_dir(&tdir).at(&tdir)? {
            let e = e.at(&tdir)?;
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(pid) = name.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
                continue;
            };
            if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
                continue;
            }
            let _ = fs::remove_dir_all(e.path()).or_else(|_| fs::remove_file(e.path()));
        }
        let pdir = tdir.join("partial");
        for e in fs::read_dir(&pdir).at(&pdir)? {
            let e = e.at(&pdir)?;
            if let Ok(Some(_held)) = FileLock::try_exclusive(&e.path()) {
                freed += e.metadata().map(|m| m.len()).unwrap_or(0);
                let _ = fs::remove_file(e.path());
            }
        }
        Ok(freed)
    }
}

fn hex_of(digest: &str) -> String {
    digest.trim_start_matches("sha256:").to_owned()
}

/// `docker.io/library/redis` of `…redis:7` or `…redis@sha256:…`.
fn repo_of(key: &str) -> &str {
    if let Some((name, _)) = key.split_once('@') {
        return name;
    }
    let slash = key.rfind('/').unwrap_or(0);
    match key[slash..].rfind(':') {
        Some(i) => &key[..slash + i],
        None => key,
    }
}
