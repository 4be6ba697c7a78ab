//! Reading the watched tree on the host without ever leaving it: every path
//! is opened below the tree's descriptor with `RESOLVE_BENEATH`, so a
//! symlink inside the tree that points elsewhere (`src/etc -> /etc`) is
//! never followed, and the last component is looked at without following
//! it (a symlink is synced as a symlink).

use std::ffi::OsString;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::stat::{FileStat, fstat, fstatat};

use crate::error::{Result, WatchError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    /// Sockets, fifos, devices: never synced.
    Other,
}

#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub kind: Kind,
    pub stat: FileStat,
}

/// What is at a path of the tree.
#[derive(Debug, Clone, Copy)]
pub enum Found {
    Entry(Entry),
    Missing,
    /// Reaching it would leave the tree through a symlink.
    Outside,
}

pub struct HostTree {
    base: PathBuf,
    dir: OwnedFd,
}

fn kind(st: &FileStat) -> Kind {
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => Kind::File,
        libc::S_IFDIR => Kind::Dir,
        libc::S_IFLNK => Kind::Symlink,
        _ => Kind::Other,
    }
}

fn rel_str(rel: &Path) -> &Path {
    if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    }
}

impl HostTree {
    /// Opens directory `base` (the rule's path, or the directory of a rule
    /// that watches one file).
    pub fn open(base: &Path) -> Result<HostTree> {
        let dir = nix::fcntl::open(
            base,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| WatchError::host(base, e))?;
        Ok(HostTree {
            base: base.to_owned(),
            dir,
        })
    }

    pub fn base(&self) -> &Path {
        &self.base
    }

    fn beneath(&self, rel: &Path, flags: OFlag) -> nix::Result<OwnedFd> {
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        loop {
            match openat2(&self.dir, rel_str(rel), how) {
                Err(Errno::EAGAIN | Errno::EINTR) => continue,
                r => return r,
            }
        }
    }

    fn parent_of<'r>(&self, rel: &'r Path) -> nix::Result<(OwnedFd, &'r std::ffi::OsStr)> {
        let name = rel.file_name().ok_or(Errno::EINVAL)?;
        let parent = rel.parent().unwrap_or(Path::new(""));
        Ok((
            self.beneath(parent, OFlag::O_PATH | OFlag::O_DIRECTORY)?,
            name,
        ))
    }

    /// What is at `rel` (relative to the base; empty for the base itself).
    pub fn find(&self, rel: &Path) -> Result<Found> {
        let st = if rel.as_os_str().is_empty() {
            fstat(&self.dir)
        } else {
            self.parent_of(rel)
                .and_then(|(p, name)| fstatat(&p, name, AtFlags::AT_SYMLINK_NOFOLLOW))
        };
        match st {
            Ok(stat) => Ok(Found::Entry(Entry {
                kind: kind(&stat),
                stat,
            })),
            Err(Errno::ENOENT | Errno::ENOTDIR) => Ok(Found::Missing),
            Err(Errno::EXDEV | Errno::ELOOP) => Ok(Found::Outside),
            Err(e) => Err(WatchError::host(self.base.join(rel), e)),
        }
    }

    /// Opens regular file `rel` for reading (`None` when it is gone).
    pub fn open_file(&self, rel: &Path) -> Result<Option<File>> {
        match self.beneath(rel, OFlag::O_RDONLY | OFlag::O_NOFOLLOW) {
            Ok(fd) => Ok(Some(File::from(fd))),
            Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP | Errno::EXDEV) => Ok(None),
            Err(e) => Err(WatchError::host(self.base.join(rel), e)),
        }
    }

    /// The target of symlink `rel`.
    pub fn read_link(&self, rel: &Path) -> Result<OsString> {
        self.parent_of(rel)
            .and_then(|(p, name)| nix::fcntl::readlinkat(&p, name))
            .map_err(|e| WatchError::host(self.base.join(rel), e))
    }

    /// The names in directory `rel`, sorted.
    pub fn list(&self, rel: &Path) -> Result<Vec<OsString>> {
        let err = |e| WatchError::host(self.base.join(rel), e);
        let fd = self
            .beneath(
                rel,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW,
            )
            .map_err(err)?;
        let mut d = nix::dir::Dir::from_fd(fd).map_err(err)?;
        let mut names = Vec::new();
        for e in d.iter() {
            let e = e.map_err(err)?;
            let n = e.file_name().to_bytes();
            if n != b"." && n != b".." {
                names.push(OsString::from_vec(n.to_vec()));
            }
        }
        names.sort();
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_out_of_the_tree_are_not_followed() {
        let t = tempfile::tempdir().unwrap();
        let base = t.path().join("src");
        std::fs::create_dir_all(base.join("a")).unwrap();
        std::fs::write(base.join("a/f.txt"), "x").unwrap();
        std::os::unix::fs::symlink("/etc", base.join("out")).unwrap();
        std::os::unix::fs::symlink("a", base.join("inside")).unwrap();
        let tree = HostTree::open(&base).unwrap();
        assert!(matches!(
            tree.find(Path::new("a/f.txt")).unwrap(),
            Found::Entry(Entry {
                kind: Kind::File,
                ..
            })
        ));
        assert!(matches!(
            tree.find(Path::new("out")).unwrap(),
            Found::Entry(Entry {
                kind: Kind::Symlink,
                ..
            })
        ));
        assert!(matches!(
            tree.find(Path::new("out/passwd")).unwrap(),
            Found::Outside
        ));
        assert!(tree.open_file(Path::new("out/passwd")).unwrap().is_none());
        assert!(tree.open_file(Path::new("inside/f.txt")).unwrap().is_some());
        assert!(matches!(
            tree.find(Path::new("gone")).unwrap(),
            Found::Missing
        ));
        assert_eq!(tree.read_link(Path::new("out")).unwrap(), "/etc");
        assert_eq!(
            tree.list(Path::new("")).unwrap(),
            vec!["a", "inside", "out"]
        );
    }
}
