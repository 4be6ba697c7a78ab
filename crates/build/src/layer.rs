//! Layer tars: from the upper directory of a RUN step's overlay (overlayfs
//! whiteouts turned into OCI ones), and from files copied into the image.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Paths the runtime creates as mount points; not part of what a step made.
fn is_mount_artifact(rel: &Path, meta: &fs::Metadata) -> bool {
    let s = rel.to_string_lossy();
    if ["proc", "sys", "dev"].contains(&s.as_ref()) && meta.is_dir() {
        return true;
    }
    if ["proc/", "sys/", "dev/"].iter().any(|p| s.starts_with(p)) {
        return true;
    }
    ["etc/hosts", "etc/resolv.conf", "etc/hostname"].contains(&s.as_ref()) && meta.len() == 0
}

fn header_from(meta: &fs::Metadata) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_mode(meta.mode() & 0o7777);
    h.set_uid(meta.uid() as u64);
    h.set_gid(meta.gid() as u64);
    h.set_mtime(meta.mtime().max(0) as u64);
    h
}

/// Tars the changes of an overlay upper dir as an OCI layer. `lower` are
/// the layers below (topmost first): a directory that overlayfs only copied
/// up (to hold a mount point, say) and that is unchanged is left out, so
/// `RUN true` gives an empty layer.
pub fn from_upper(upper: &Path, lower: &[PathBuf]) -> io::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut pending = Vec::new();
    walk(upper, upper, lower, &mut pending, &mut tar)?;
    tar.into_inner()
}

/// Whether `rel` is a directory below with the same owner and mode.
fn same_dir_below(rel: &Path, meta: &fs::Metadata, lower: &[PathBuf]) -> bool {
    lower
        .iter()
        .find_map(|l| fs::symlink_metadata(l.join(rel)).ok())
        .is_some_and(|m| {
            m.is_dir() && m.mode() == meta.mode() && m.uid() == meta.uid() && m.gid() == meta.gid()
        })
}

/// Walks `dir`; directory entries wait in `pending` until something below
/// them is written (or they are a change themselves).
fn walk(
    base: &Path,
    dir: &Path,
    lower: &[PathBuf],
    pending: &mut Vec<(PathBuf, tar::Header)>,
    tar: &mut tar::Builder<Vec<u8>>,
) -> io::Result<()> {
    let flush = |pending: &mut Vec<(PathBuf, tar::Header)>, tar: &mut tar::Builder<Vec<u8>>| {
        for (rel, mut h) in pending.drain(..) {
            tar.append_data(&mut h, &rel, io::empty())?;
        }
        Ok::<(), io::Error>(())
    };
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let rel = path.strip_prefix(base).unwrap().to_owned();
        let meta = fs::symlink_metadata(&path)?;
        if is_mount_artifact(&rel, &meta) {
            continue;
        }
        let ft = meta.file_type();
        if ft.is_char_device() && meta.rdev() == 0 {
            // overlayfs whiteout → `.wh.<name>`
            flush(pending, tar)?;
            let name = format!(".wh.{}", rel.file_name().unwrap().to_string_lossy());
            let wh = rel.with_file_name(name);
            let mut h = tar::Header::new_gnu();
            h.set_size(0);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut h, wh, io::empty())?;
            continue;
        }
        let mut h = header_from(&meta);
        if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            let opaque = xattr_get(&path, "trusted.overlay.opaque").is_some_and(|v| v == b"y");
            let depth = pending.len();
            pending.push((rel.clone(), h));
            if opaque || !same_dir_below(&rel, &meta, lower) {
                flush(pending, tar)?;
            }
            if opaque {
                let mut o = tar::Header::new_gnu();
                o.set_size(0);
                o.set_mode(0o644);
                tar.append_data(&mut o, rel.join(".wh..wh..opq"), io::empty())?;
            }
            walk(base, &path, lower, pending, tar)?;
            // Nothing below was written: the copied-up directory stays out.
            pending.truncate(depth);
            continue;
        }
        flush(pending, tar)?;
        if ft.is_symlink() {
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            tar.append_link(&mut h, &rel, fs::read_link(&path)?)?;
        } else if ft.is_file() {
            h.set_size(meta.len());
            tar.append_data(&mut h, &rel, fs::File::open(&path)?)?;
        }
    }
    Ok(())
}

fn xattr_get(path: &Path, name: &str) -> Option<Vec<u8>> {
    let p = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    let n = std::ffi::CString::new(name).ok()?;
    let mut buf = [0u8; 16];
    // SAFETY: valid C strings and buffer.
    let r = unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (r >= 0).then(|| buf[..r as usize].to_vec())
}

/// One file to put into a COPY layer.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Path inside the image, relative (`app/main.py`).
    pub dest: PathBuf,
    /// Source on the host (`None` for a directory to create).
    pub source: Option<PathBuf>,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

/// Tars `entries` (directories first as given), with owner and mode
/// overrides (`--chown`, `--chmod`).
pub fn from_entries(entries: &[Entry]) -> io::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    for e in entries {
        let (mut h, src) = match &e.source {
            Some(s) => (header_from(&fs::symlink_metadata(s)?), Some(s)),
            None => {
                let mut h = tar::Header::new_gnu();
                h.set_mode(0o755);
                h.set_mtime(0);
                h.set_entry_type(tar::EntryType::Directory);
                (h, None)
            }
        };
        if let Some(u) = e.uid {
            h.set_uid(u as u64);
        }
        if let Some(g) = e.gid {
            h.set_gid(g as u64);
        }
        if let Some(m) = e.mode {
            h.set_mode(m);
        }
        match src {
            None => {
                h.set_size(0);
                tar.append_data(&mut h, &e.dest, io::empty())?;
            }
            Some(s) => {
                let meta = fs::symlink_metadata(s)?;
                if meta.is_dir() {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    tar.append_data(&mut h, &e.dest, io::empty())?;
                } else if meta.file_type().is_symlink() {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    tar.append_link(&mut h, &e.dest, fs::read_link(s)?)?;
                } else {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(meta.len());
                    tar.append_data(&mut h, &e.dest, fs::File::open(s)?)?;
                }
            }
        }
    }
    tar.into_inner()
}

/// Every path below `dir` (files, links, dirs), depth first, sorted;
/// symlinks are not followed.
pub fn tree(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut rd: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    rd.sort_by_key(|e| e.file_name());
    for e in rd {
        let p = e.path();
        out.push(p.clone());
        if e.file_type()?.is_dir() {
            out.extend(tree(&p)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tar_bytes: &[u8]) -> Vec<String> {
        let mut a = tar::Archive::new(tar_bytes);
        a.entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn upper_dir_changes_become_a_layer() {
        let tmp = tempfile::tempdir().unwrap();
        let u = tmp.path();
        fs::create_dir_all(u.join("app")).unwrap();
        fs::write(u.join("app/x"), b"1").unwrap();
        fs::create_dir_all(u.join("proc")).unwrap();
        fs::create_dir_all(u.join("etc")).unwrap();
        fs::write(u.join("etc/hosts"), b"").unwrap();
        let n = names(&from_upper(u, &[]).unwrap());
        assert_eq!(n, vec!["app", "app/x", "etc"], "etc is new: no layer below");
        // With etc below, unchanged, only the real change is left.
        let low = tempfile::tempdir().unwrap();
        fs::create_dir_all(low.path().join("etc")).unwrap();
        let meta = fs::metadata(u.join("etc")).unwrap();
        fs::set_permissions(low.path().join("etc"), meta.permissions()).unwrap();
        let n = names(&from_upper(u, &[low.path().to_owned()]).unwrap());
        assert_eq!(n, vec!["app", "app/x"]);
    }

    #[test]
    fn copy_entries_take_owner_and_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("f");
        fs::write(&f, b"data").unwrap();
        let t = from_entries(&[
            Entry {
                dest: "app".into(),
                source: None,
                mode: None,
                uid: None,
                gid: None,
            },
            Entry {
                dest: "app/f".into(),
                source: Some(f),
                mode: Some(0o600),
                uid: Some(1000),
                gid: Some(1000),
            },
        ])
        .unwrap();
        let mut a = tar::Archive::new(&t[..]);
        let e: Vec<_> = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap().header().clone())
            .collect();
        assert_eq!(e[1].mode().unwrap(), 0o600);
        assert_eq!(e[1].uid().unwrap(), 1000);
    }
}
