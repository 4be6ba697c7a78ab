//! Extracts an archive's files into a private work directory so that they
//! can be read in any order (`docker save` writes manifest.json last).
//! Archive paths are hostile input too: only plain relative paths are
//! accepted; symlinks and hard links (which `docker save` uses for repeated
//! layers) are remembered, not created, and must stay inside the archive.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use crate::compress::decompress;
use crate::error::{ImageError, IoContext, Result};
use crate::store::{ImageStore, TempDir};
use crate::unpack::clean_path;

pub(crate) struct Extracted {
    pub dir: TempDir,
    links: HashMap<PathBuf, PathBuf>,
    pub label: String,
}

/// `base/target` with `..` resolved lexically; `None` if it leaves the root
/// or is absolute.
fn join_inside(base: &Path, target: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in base.join(target).components() {
        match c {
            Component::Normal(x) => out.push(x),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

impl Extracted {
    /// The extracted file for archive path `rel`, following remembered links.
    pub fn path(&self, rel: &str) -> Result<PathBuf> {
        let mut p = clean_path(Path::new(rel))
            .map_err(|r| ImageError::bad_archive(&self.label, format!("{rel:?}: {r}")))?;
        for _ in 0..16 {
            match self.links.get(&p) {
                Some(t) => p = t.clone(),
                None => {
                    let full = self.dir.path().join(&p);
                    if !full.is_file() {
                        return Err(ImageError::bad_archive(
                            &self.label,
                            format!("{rel} is missing from the archive"),
                        ));
                    }
                    return Ok(full);
                }
            }
        }
        Err(ImageError::bad_archive(
            &self.label,
            format!("{rel}: too many links"),
        ))
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.path(rel).is_ok()
    }

    /// Reads a small file (a manifest or config) of the archive.
    pub fn read(&self, rel: &str) -> Result<Vec<u8>> {
        let p = self.path(rel)?;
        let len = fs::metadata(&p).at(&p)?.len();
        if len > 64 << 20 {
            return Err(ImageError::bad_archive(
                &self.label,
                format!("{rel} is too large"),
            ));
        }
        fs::read(&p).at(&p)
    }
}

impl ImageStore {
    pub(crate) fn extract_archive(&self, input: impl Read, label: &str) -> Result<Extracted> {
        let dir = self.temp_dir("load")?;
        let bad = |r: String| ImageError::bad_archive(label, r);
        let (_, reader) = decompress(input).map_err(|e| bad(e.to_string()))?;
        let mut ar = tar::Archive::new(reader);
        let mut links = HashMap::new();
        let read_err = |e: io::Error| bad(format!("not a valid tar archive: {e}"));
        for entry in ar.entries().map_err(read_err)? {
            let mut entry = entry.map_err(read_err)?;
            let raw = entry.path().map_err(read_err)?.into_owned();
            let rel =
                clean_path(&raw).map_err(|r| bad(format!("entry {:?}: {r}", raw.display())))?;
            if rel.as_os_str().is_empty() {
                continue;
            }
            let full = dir.path().join(&rel);
            match entry.header().entry_type() {
                tar::EntryType::Directory => fs::create_dir_all(&full).at(&full)?,
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let parent = full.parent().unwrap_or(dir.path());
                    fs::create_dir_all(parent).at(parent)?;
                    // A repeated name replaces the earlier file.
                    let _ = fs::remove_file(&full);
                    let mut f = File::create_new(&full).at(&full)?;
                    io::copy(&mut entry, &mut f).map_err(read_err)?;
                }
                kind @ (tar::EntryType::Symlink | tar::EntryType::Link) => {
                    let target = entry
                        .link_name()
                        .map_err(read_err)?
                        .ok_or_else(|| bad(format!("link {} has no target", rel.display())))?;
                    // Symlinks are relative to their directory, hard links to the root.
                    let base = if kind == tar::EntryType::Symlink {
                        rel.parent().unwrap_or(Path::new("")).to_owned()
                    } else {
                        PathBuf::new()
                    };
                    let resolved = join_inside(&base, &target).ok_or_else(|| {
                        bad(format!("link {} points outside the archive", rel.display()))
                    })?;
                    links.insert(rel, resolved);
                }
                _ => {}
            }
        }
        Ok(Extracted {
            dir,
            links,
            label: label.to_owned(),
        })
    }
}
