//! Copying files into and out of a running container (`cp`, `watch` sync).
//! The helper process joins the container's mount namespace, whose root is
//! the container's root: every path, and every symlink met on the way, is
//! resolved inside the container, never on the host. It works on images
//! that have no shell or tools at all. Data crosses as a tar stream.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use nix::sched::{CloneFlags, setns};

use crate::error::{Result, RuntimeError};

fn enter(pid: i32) -> Result<()> {
    let p = format!("/proc/{pid}/ns/mnt");
    let ns = File::open(&p).map_err(|e| RuntimeError::io(&p, e))?;
    setns(&ns, CloneFlags::CLONE_NEWNS)
        .map_err(|e| RuntimeError::Other(format!("join the container's mount namespace: {e}")))?;
    std::env::set_current_dir("/").map_err(|e| RuntimeError::io("/", e))
}

/// In the helper: writes `path` of the container (a file or a tree; links
/// copied as links) as a tar to `out`, named by its last component.
pub fn tar_out(pid: i32, path: &str, out: impl Write) -> Result<()> {
    enter(pid)?;
    let p = Path::new(path);
    let name = p
        .file_name()
        .map(|n| n.to_owned())
        .unwrap_or_else(|| ".".into());
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    let meta = std::fs::symlink_metadata(p).map_err(|e| {
        RuntimeError::Other(format!("Could not find the file {path} in container: {e}"))
    })?;
    let r = if meta.is_dir() {
        tar.append_dir_all(&name, p)
    } else {
        tar.append_path_with_name(p, &name)
    };
    r.and_then(|_| tar.finish())
        .map_err(|e| RuntimeError::Other(format!("{path}: {e}")))
}

/// In the helper: unpacks the tar read from `input` into directory `dest` of
/// the container (created if missing), after deleting the `delete` paths.
pub fn tar_in(pid: i32, dest: &str, delete: &[String], input: impl Read) -> Result<()> {
    enter(pid)?;
    for d in delete {
        let p = Path::new(d);
        let r = match std::fs::symlink_metadata(p) {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
            Ok(_) => std::fs::remove_file(p),
            Err(_) => Ok(()),
        };
        r.map_err(|e| RuntimeError::io(p, e))?;
    }
    std::fs::create_dir_all(dest).map_err(|e| RuntimeError::io(dest, e))?;
    let mut a = tar::Archive::new(input);
    a.set_preserve_permissions(true);
    a.set_overwrite(true);
    for e in a
        .entries()
        .map_err(|e| RuntimeError::Other(e.to_string()))?
    {
        let mut e = e.map_err(|e| RuntimeError::Other(e.to_string()))?;
        if !e
            .unpack_in(dest)
            .map_err(|err| RuntimeError::Other(format!("{dest}: {err}")))?
        {
            return Err(RuntimeError::Other(format!(
                "refusing an entry that leaves {dest}"
            )));
        }
    }
    Ok(())
}

/// Where a copy into the container lands: into `dest` when it is an
/// existing directory, else as `dest` itself (the tar's top entry renamed).
pub fn tar_in_auto(pid: i32, dest: &str, input: impl Read) -> Result<()> {
    enter(pid)?;
    let d = Path::new(dest);
    if d.is_dir() {
        return unpack(dest, input, None);
    }
    let parent = d
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/".into());
    let name = d
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    unpack(&parent, input, Some(&name))
}

fn unpack(dest: &str, input: impl Read, rename_top: Option<&str>) -> Result<()> {
    std::fs::create_dir_all(dest).map_err(|e| RuntimeError::io(dest, e))?;
    let mut a = tar::Archive::new(input);
    for e in a
        .entries()
        .map_err(|e| RuntimeError::Other(e.to_string()))?
    {
        let mut e = e.map_err(|e| RuntimeError::Other(e.to_string()))?;
        let path = e
            .path()
            .map_err(|e| RuntimeError::Other(e.to_string()))?
            .into_owned();
        let target = match rename_top {
            Some(n) => {
                let mut c = path.components();
                c.next();
                // Joining an empty rest would add a trailing slash, which
                // makes a file entry unpack as a directory.
                match c.as_path() {
                    rest if rest.as_os_str().is_empty() => Path::new(n).to_path_buf(),
                    rest => Path::new(n).join(rest),
                }
            }
            None => path,
        };
        let full = Path::new(dest).join(&target);
        if target
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(RuntimeError::Other(format!(
                "refusing entry {}",
                target.display()
            )));
        }
        e.set_preserve_permissions(true);
        e.unpack(&full)
            .map_err(|err| RuntimeError::Other(format!("{}: {err}", full.display())))?;
    }
    Ok(())
}
