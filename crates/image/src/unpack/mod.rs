//! Unpacks a layer tar into a directory that overlayfs can use as a lower
//! layer.
//!
//! Layer tars are hostile input. The rules:
//! - an entry path or hard-link target that is absolute or contains `..` is
//!   rejected;
//! - a write never goes through a symlink: every parent directory of an entry
//!   is checked with `lstat` (or opened with `O_NOFOLLOW`) to be a real
//!   directory inside the layer, and a parent that is a symlink rejects the
//!   archive; the entry itself replaces whatever was at its path (files are
//!   created with `O_CREAT|O_EXCL|O_NOFOLLOW`);
//! - hard links may only point at existing non-directories of the same layer.
//!
//! OCI whiteouts become overlayfs whiteouts: `.wh.NAME` a 0/0 character
//! device `NAME`, `.wh..wh..opq` the xattr `trusted.overlay.opaque=y` on its
//! directory. Both need root (CAP_MKNOD, CAP_SYS_ADMIN).

mod fsops;

use std::collections::HashSet;
use std::fs::{self, DirBuilder, File, FileTimes, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

pub(crate) use fsops::is_root;
pub use fsops::lgetxattr;

use crate::compress::{Compression, decompress};
use crate::digest::HashReader;
use crate::error::{ImageError, Result};

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// What an unpacked layer was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpacked {
    /// sha256 of the uncompressed tar.
    pub diff_id: String,
    /// Bytes of regular file content.
    pub size: u64,
    pub compression: Compression,
}

/// Decompresses (gzip, zstd or none, by magic) and unpacks `src` into `dest`
/// (an existing, empty directory). `label` names the layer in errors.
pub fn unpack_layer(src: impl Read, dest: &Path, label: &str) -> Result<Unpacked> {
    let (compression, reader) = decompress(src).map_err(|e| unpack_err(label, "", e))?;
    let (diff_id, size) = unpack_tar(reader, dest, label)?;
    Ok(Unpacked {
        diff_id,
        size,
        compression,
    })
}

/// Unpacks an uncompressed tar; returns (sha256 of the tar, content bytes).
pub fn unpack_tar(src: impl Read, dest: &Path, label: &str) -> Result<(String, u64)> {
    let mut archive = tar::Archive::new(HashReader::new(src));
    let mut u = Unpacker {
        dest,
        label,
        verified: HashSet::new(),
        dirs: Vec::new(),
        root: is_root(),
        size: 0,
    };
    let entries = archive.entries().map_err(|e| unpack_err(label, "", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| unpack_err(label, "", e))?;
        u.entry(entry)?;
    }
    u.finish_dirs()?;
    let mut hr = archive.into_inner();
    hr.drain().map_err(|e| unpack_err(label, "", e))?;
    Ok((hr.finish().0, u.size))
}

fn unpack_err(label: &str, entry: &str, source: io::Error) -> ImageError {
    ImageError::Unpack {
        layer: label.to_owned(),
        entry: entry.to_owned(),
        source,
    }
}

fn unsafe_entry(entry: &str, reason: impl Into<String>) -> ImageError {
    ImageError::UnsafeArchive {
        entry: entry.to_owned(),
        reason: reason.into(),
    }
}

/// A relative path with only normal components, or why not.
pub(crate) fn clean_path(p: &Path) -> std::result::Result<PathBuf, &'static str> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(x) => out.push(x),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => {
                return Err("absolute paths are not allowed in a layer");
            }
            Component::ParentDir => return Err("'..' would leave the layer directory"),
        }
    }
    Ok(out)
}

struct Meta {
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: Option<i64>,
    xattrs: Vec<(String, Vec<u8>)>,
}

struct Unpacker<'a> {
    dest: &'a Path,
    label: &'a str,
    /// Directories (relative) known to be real directories of this layer.
    verified: HashSet<PathBuf>,
    /// Directory metadata, applied at the end (children change mtimes, and a
    /// read-only directory must stay writable until its children exist).
    dirs: Vec<(PathBuf, Meta)>,
    root: bool,
    size: u64,
}

impl Unpacker<'_> {
    fn entry<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<()> {
        let raw = entry
            .path()
            .map_err(|e| unpack_err(self.label, "", e))?
            .into_owned();
        let name = raw.to_string_lossy().into_owned();
        let rel = clean_path(&raw).map_err(|r| unsafe_entry(&name, r))?;
        let h = entry.header();
        let kind = h.entry_type();
        let ioe = |e: io::Error| unpack_err(self.label, &name, e);
        let mut meta = Meta {
            mode: h.mode().map_err(ioe)? & 0o7777,
            // Empty numeric fields mean 0, as Go's archive/tar reads them.
            uid: h.uid().unwrap_or(0),
            gid: h.gid().unwrap_or(0),
            mtime: h.mtime().ok().map(|m| m as i64),
            xattrs: Vec::new(),
        };
        let (major, minor) = (
            h.device_major().ok().flatten().unwrap_or(0),
            h.device_minor().ok().flatten().unwrap_or(0),
        );
        if let Some(exts) = entry.pax_extensions().map_err(ioe)? {
            for ext in exts.flatten() {
                let Ok(key) = ext.key() else { continue };
                if let Some(x) = key.strip_prefix("SCHILY.xattr.") {
                    meta.xattrs.push((x.to_owned(), ext.value_bytes().to_vec()));
                } else if (key == "uid" || key == "gid")
                    && let Some(v) = ext.value().ok().and_then(|v| v.parse().ok())
                {
                    if key == "uid" {
                        meta.uid = v
                    } else {
                        meta.gid = v
                    }
                }
            }
        }
        let link = entry.link_name().map_err(ioe)?.map(|l| l.into_owned());

        let file_name = rel.file_name().map(|n| n.to_string_lossy().into_owned());
        if let Some(fname) = file_name
            .as_deref()
            .filter(|f| f.starts_with(WHITEOUT_PREFIX))
        {
            return self.whiteout(&rel, fname, &name);
        }
        use tar::EntryType as T;
        match kind {
            T::Directory => {
                if !rel.as_os_str().is_empty() {
                    self.ensure_parents(&rel, &name)?;
                    let path = self.dest.join(&rel);
                    match fs::symlink_metadata(&path) {
                        Ok(m) if m.is_dir() => {}
                        Ok(_) => {
                            self.clear(&rel).map_err(ioe)?;
                            mkdir(&path).map_err(ioe)?;
                        }
                        Err(_) => mkdir(&path).map_err(ioe)?,
                    }
                    self.verified.insert(rel.clone());
                }
                self.dirs.push((rel, meta));
            }
            T::Regular | T::Continuous | T::GNUSparse => {
                let path = self.prepare(&rel, &name)?;
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                    .open(&path)
                    .map_err(ioe)?;
                self.size += io::copy(&mut entry, &mut f).map_err(ioe)?;
                self.apply_file_meta(&f, &meta).map_err(ioe)?;
            }
            T::Symlink => {
                let target = link.ok_or_else(|| unsafe_entry(&name, "symlink without a target"))?;
                let path = self.prepare(&rel, &name)?;
                std::os::unix::fs::symlink(&target, &path).map_err(ioe)?;
                self.apply_path_meta(&path, &meta, false).map_err(ioe)?;
            }
            T::Link => {
                let target =
                    link.ok_or_else(|| unsafe_entry(&name, "hard link without a target"))?;
                self.hard_link(&rel, &target, &name)?;
            }
            T::Char | T::Block | T::Fifo => {
                let path = self.prepare(&rel, &name)?;
                let ty = match kind {
                    T::Char => libc::S_IFCHR,
                    T::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                fsops::mknod(&path, ty, meta.mode, major, minor).map_err(ioe)?;
                self.apply_path_meta(&path, &meta, true).map_err(ioe)?;
            }
            // Global pax headers and unknown types carry nothing to write.
            _ => {}
        }
        Ok(())
    }

    /// Checks parents, removes what is at `rel`, returns the full path.
    fn prepare(&mut self, rel: &Path, name: &str) -> Result<PathBuf> {
        if rel.as_os_str().is_empty() {
            return Err(unsafe_entry(
                name,
                "a non-directory entry for the layer root",
            ));
        }
        self.ensure_parents(rel, name)?;
        self.clear(rel)
            .map_err(|e| unpack_err(self.label, name, e))?;
        Ok(self.dest.join(rel))
    }

    /// Makes every parent of `rel` a real directory (creating missing ones),
    /// refusing to go through a symlink.
    fn ensure_parents(&mut self, rel: &Path, name: &str) -> Result<()> {
        let Some(parent) = rel.parent() else {
            return Ok(());
        };
        let mut prefix = PathBuf::new();
        for c in parent.components() {
            prefix.push(c);
            if self.verified.contains(&prefix) {
                continue;
            }
            let full = self.dest.join(&prefix);
            match fs::symlink_metadata(&full) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(unsafe_entry(
                        name,
                        format!(
                            "parent {} is a symlink; writing through it could leave the layer",
                            prefix.display()
                        ),
                    ));
                }
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(unsafe_entry(
                        name,
                        format!("parent {} is not a directory", prefix.display()),
                    ));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    mkdir(&full).map_err(|e| unpack_err(self.label, name, e))?;
                    self.dirs.push((
                        prefix.clone(),
                        Meta {
                            mode: 0o755,
                            uid: 0,
                            gid: 0,
                            mtime: None,
                            xattrs: Vec::new(),
                        },
                    ));
                }
                Err(e) => return Err(unpack_err(self.label, name, e)),
            }
            self.verified.insert(prefix.clone());
        }
        Ok(())
    }

    /// Removes whatever is at `rel` (a directory with its contents).
    fn clear(&mut self, rel: &Path) -> io::Result<()> {
        let path = self.dest.join(rel);
        match fs::symlink_metadata(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
            Ok(m) if m.is_dir() => {
                self.verified.retain(|p| !p.starts_with(rel));
                fs::remove_dir_all(&path)
            }
            Ok(_) => fs::remove_file(&path),
        }
    }

    fn whiteout(&mut self, rel: &Path, fname: &str, name: &str) -> Result<()> {
        let ioe = |e: io::Error| unpack_err(self.label, name, e);
        let parent = rel.parent().unwrap_or(Path::new(""));
        if fname == OPAQUE {
            self.ensure_parents(rel, name)?;
            if !self.root {
                return Err(unpack_err(
                    self.label,
                    name,
                    io::Error::other("an opaque directory needs root (trusted.* xattr)"),
                ));
            }
            return fsops::lsetxattr(&self.dest.join(parent), OPAQUE_XATTR, b"y").map_err(ioe);
        }
        if fname.starts_with(".wh..wh.") {
            // aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs): nothing to create.
            return Ok(());
        }
        let hidden = &fname[WHITEOUT_PREFIX.len()..];
        if hidden.is_empty() || hidden == "." || hidden == ".." || hidden.contains('/') {
            return Err(unsafe_entry(name, "invalid whiteout name"));
        }
        let target = parent.join(hidden);
        let path = self.prepare(&target, name)?;
        if !self.root {
            return Err(unpack_err(
                self.label,
                name,
                io::Error::other("a whiteout needs root (mknod)"),
            ));
        }
        fsops::mknod(&path, libc::S_IFCHR, 0, 0, 0).map_err(ioe)
    }

    fn hard_link(&mut self, rel: &Path, target: &Path, name: &str) -> Result<()> {
        let target =
            clean_path(target).map_err(|r| unsafe_entry(name, format!("hard link target: {r}")))?;
        if target.as_os_str().is_empty() {
            return Err(unsafe_entry(name, "hard link to the layer root"));
        }
        // The target's parents must be real directories of this layer too.
        let mut prefix = PathBuf::new();
        for c in target.parent().unwrap_or(Path::new("")).components() {
            prefix.push(c);
            let m = fs::symlink_metadata(self.dest.join(&prefix));
            if !matches!(&m, Ok(m) if m.is_dir()) {
                return Err(unsafe_entry(
                    name,
                    format!(
                        "hard link target {} leaves the layer or does not exist",
                        target.display()
                    ),
                ));
            }
        }
        let tpath = self.dest.join(&target);
        match fs::symlink_metadata(&tpath) {
            Ok(m) if m.is_dir() => return Err(unsafe_entry(name, "hard link to a directory")),
            Ok(_) => {}
            Err(_) => {
                return Err(unsafe_entry(
                    name,
                    format!(
                        "hard link target {} does not exist in the layer",
                        target.display()
                    ),
                ));
            }
        }
        if target == rel {
            return Ok(());
        }
        let path = self.prepare(rel, name)?;
        // linkat without AT_SYMLINK_FOLLOW: a symlink target is linked itself.
        fs::hard_link(&tpath, &path).map_err(|e| unpack_err(self.label, name, e))
    }

    fn apply_file_meta(&self, f: &File, m: &Meta) -> io::Result<()> {
        if self.root {
            std::os::unix::fs::fchown(f, Some(m.uid as u32), Some(m.gid as u32))?;
        }
        // After chown, which clears set-id bits.
        f.set_permissions(fs::Permissions::from_mode(m.mode))?;
        for (k, v) in &m.xattrs {
            set_xattr_tolerant(fsops::fsetxattr(f, k, v))?;
        }
        if let Some(t) = m.mtime {
            let t = SystemTime::UNIX_EPOCH + Duration::from_secs(t.max(0) as u64);
            f.set_times(FileTimes::new().set_accessed(t).set_modified(t))?;
        }
        Ok(())
    }

    /// Metadata of a symlink or device node, set by path without following
    /// the final component (its parents were checked by `prepare`).
    fn apply_path_meta(&self, path: &Path, m: &Meta, chmod: bool) -> io::Result<()> {
        if self.root {
            std::os::unix::fs::lchown(path, Some(m.uid as u32), Some(m.gid as u32))?;
        }
        if chmod {
            fs::set_permissions(path, fs::Permissions::from_mode(m.mode))?;
        }
        for (k, v) in &m.xattrs {
            set_xattr_tolerant(fsops::lsetxattr(path, k, v))?;
        }
        if let Some(t) = m.mtime {
            fsops::lutimes(path, t)?;
        }
        Ok(())
    }

    /// Applies directory metadata, opening each directory with `O_NOFOLLOW`
    /// at every step (a later entry may have replaced a parent).
    fn finish_dirs(&mut self) -> Result<()> {
        for (rel, m) in std::mem::take(&mut self.dirs) {
            let Ok(dir) = fsops::open_dir_beneath(self.dest, &rel) else {
                continue; // replaced by a later entry
            };
            let name = rel.display().to_string();
            let res = (|| {
                if self.root {
                    std::os::unix::fs::fchown(&dir, Some(m.uid as u32), Some(m.gid as u32))?;
                }
                dir.set_permissions(fs::Permissions::from_mode(m.mode))?;
                for (k, v) in &m.xattrs {
                    set_xattr_tolerant(fsops::fsetxattr(&dir, k, v))?;
                }
                if let Some(t) = m.mtime {
                    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(t.max(0) as u64);
                    dir.set_times(FileTimes::new().set_accessed(t).set_modified(t))?;
                }
                Ok::<(), io::Error>(())
            })();
            res.map_err(|e| unpack_err(self.label, &name, e))?;
        }
        Ok(())
    }
}

fn mkdir(path: &Path) -> io::Result<()> {
    DirBuilder::new().mode(0o755).create(path)
}

/// xattrs the file system or our privileges cannot hold (user.* on a
/// symlink, security.* without CAP_SYS_ADMIN) are skipped, as Docker does.
fn set_xattr_tolerant(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTSUP) | Some(libc::EPERM)) => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests;
