//! Writing into a running container's filesystem from the host.
//!
//! The container's root is opened through `/proc/<pid>/root` of its init
//! process, and every path below it is resolved with `openat2(2)` and
//! `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`: absolute symlinks and `..`
//! inside the container stay inside it, and `/proc/…` magic links are
//! refused, so nothing the image contains can send a write to the host.
//! Only the last component of a path is then operated on, relative to its
//! parent's descriptor, with calls that never follow it (`renameat`,
//! `unlinkat`, `mkdirat`, `O_NOFOLLOW`). Lookups below the root cross the
//! container's own mounts (volumes, bind mounts), as a process inside would.
//! Nothing runs inside the container, so images without a shell or any
//! tools are synced too. The work is done in this (multi-threaded) process
//! without `setns`, which needs no fork.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};

use berth_store::ProcessIdentity;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, OpenHow, ResolveFlag, openat, openat2, renameat};
use nix::sys::stat::{FileStat, Mode, fchmod, fstat, fstatat, futimens, mkdirat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, fchownat, symlinkat, unlinkat};

use crate::error::{Result, WatchError};
use crate::users;

/// Owner given to what sync creates: the container's user, as
/// `docker cp -a` and Compose's sync do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

/// One container's filesystem, seen from the host.
pub struct ContainerFs {
    name: String,
    root: OwnedFd,
    owner: Owner,
}

static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

fn in_root() -> ResolveFlag {
    ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS
}

fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// The components of a container path: empty ones and `.` dropped, `..`
/// kept (the kernel clamps it at the root).
fn components(path: &str) -> Vec<&str> {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect()
}

fn relative(comps: &[&str]) -> String {
    if comps.is_empty() {
        ".".into()
    } else {
        comps.join("/")
    }
}

fn is_dir(st: &FileStat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

impl ContainerFs {
    /// Opens the root of the container whose init is `pid`; `user` is the
    /// container's `user:` (`uid[:gid]` or names from its `/etc/passwd`).
    pub fn open(name: &str, pid: ProcessIdentity, user: &str) -> Result<ContainerFs> {
        let p = format!("/proc/{}/root", pid.pid);
        let root = nix::fcntl::open(
            p.as_str(),
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| WatchError::container(name, "/", e))?;
        // The pid may have been reused between reading the state and the
        // open: the descriptor is only trusted if the same process still runs.
        if ProcessIdentity::of(pid.pid) != Some(pid) {
            return Err(WatchError::container(
                name,
                "/",
                io::Error::other("the container is not running"),
            ));
        }
        let mut fs = ContainerFs {
            name: name.to_owned(),
            root,
            owner: Owner::default(),
        };
        let passwd = fs.read_small("/etc/passwd").unwrap_or_default();
        let group = fs.read_small("/etc/group").unwrap_or_default();
        let (uid, gid) = users::resolve(user, &passwd, &group);
        fs.owner = Owner { uid, gid };
        Ok(fs)
    }

    pub fn owner(&self) -> Owner {
        self.owner
    }

    fn err(&self, path: &str, e: impl Into<io::Error>) -> WatchError {
        WatchError::container(&self.name, path, e)
    }

    fn resolve(&self, comps: &[&str], flags: OFlag) -> nix::Result<OwnedFd> {
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC)
            .resolve(in_root());
        loop {
            match openat2(&self.root, relative(comps).as_str(), how) {
                // openat2 asks to retry when a rename raced the lookup.
                Err(Errno::EAGAIN) | Err(Errno::EINTR) => continue,
                r => return r,
            }
        }
    }

    /// Reads a small file (at most 1 MiB) of the container.
    pub fn read_small(&self, path: &str) -> io::Result<String> {
        let fd = self.resolve(&components(path), OFlag::O_RDONLY)?;
        let mut s = String::new();
        File::from(fd).take(1 << 20).read_to_string(&mut s)?;
        Ok(s)
    }

    fn open_dir(&self, comps: &[&str]) -> nix::Result<OwnedFd> {
        self.resolve(comps, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
    }

    /// Opens directory `comps`, creating what is missing (mode 0755, owned
    /// by the container's user).
    fn ensure_dir(&self, comps: &[&str]) -> nix::Result<OwnedFd> {
        match self.open_dir(comps) {
            Err(Errno::ENOENT) if !comps.is_empty() => {
                let (last, parent) = comps.split_last().expect("not empty");
                let pfd = self.ensure_dir(parent)?;
                match mkdirat(&pfd, *last, Mode::from_bits_truncate(0o755)) {
                    Ok(()) => self.chown_at(&pfd, last)?,
                    Err(Errno::EEXIST) => {}
                    Err(e) => return Err(e),
                }
                self.open_dir(comps)
            }
            r => r,
        }
    }

    fn chown_at(&self, dir: &OwnedFd, name: &str) -> nix::Result<()> {
        fchownat(
            dir,
            name,
            Some(Uid::from_raw(self.owner.uid)),
            Some(Gid::from_raw(self.owner.gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
    }

    /// The parent directory of `path` (created if missing) and its last
    /// component.
    fn parent<'p>(&self, path: &'p str, create: bool) -> Result<Option<(OwnedFd, &'p str)>> {
        let comps = components(path);
        let Some((name, parent)) = comps.split_last() else {
            return Err(self.err(path, io::Error::other("refusing to replace the root")));
        };
        if *name == ".." {
            return Err(self.err(path, io::Error::other("path ends in ..")));
        }
        let r = if create {
            self.ensure_dir(parent)
        } else {
            self.open_dir(parent)
        };
        match r {
            Ok(fd) => Ok(Some((fd, name))),
            Err(Errno::ENOENT | Errno::ENOTDIR) if !create => Ok(None),
            Err(e) => Err(self.err(path, e)),
        }
    }

    fn temp_name() -> String {
        format!(
            ".berth-sync.{}.{}",
            std::process::id(),
            TEMP_SEQ.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Renames `tmp` over `name` in `dir`; a directory in the way is removed
    /// first (the host now has something else there).
    fn replace(&self, dir: &OwnedFd, tmp: &str, name: &str) -> nix::Result<()> {
        match renameat(dir, tmp, dir, name) {
            Err(Errno::EISDIR | Errno::ENOTEMPTY | Errno::EEXIST) => {
                remove_tree(dir, &cstr(name).map_err(|_| Errno::EINVAL)?)?;
                renameat(dir, tmp, dir, name)
            }
            r => r,
        }
    }

    /// Writes regular file `path` with the content of `src`, the mode and
    /// times of `st`. Readers in the container see the old or the new
    /// content, never a partial file (a temporary file renamed over it).
    pub fn write_file(&self, path: &str, src: &File, st: &FileStat) -> Result<()> {
        let Some((dir, name)) = self.parent(path, true)? else {
            unreachable!("created")
        };
        let tmp = Self::temp_name();
        let fd = openat(
            &dir,
            tmp.as_str(),
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        )
        .map_err(|e| self.err(path, e))?;
        let mut out = File::from(fd);
        let r = self.fill(&mut out, src, st);
        drop(out);
        let r = r.and_then(|()| self.replace(&dir, &tmp, name).map_err(io::Error::from));
        match r {
            Ok(()) => Ok(()),
            // A file bind-mounted over `name` cannot be replaced: write it in place.
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                let _ = unlinkat(&dir, tmp.as_str(), UnlinkatFlags::NoRemoveDir);
                let fd = openat(
                    &dir,
                    name,
                    OFlag::O_WRONLY | OFlag::O_TRUNC | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| self.err(path, e))?;
                let mut out = File::from(fd);
                let mut r = src;
                r.seek(SeekFrom::Start(0))
                    .and_then(|_| io::copy(&mut r, &mut out))
                    .map(drop)
                    .map_err(|e| self.err(path, e))
            }
            Err(e) => {
                let _ = unlinkat(&dir, tmp.as_str(), UnlinkatFlags::NoRemoveDir);
                Err(self.err(path, e))
            }
        }
    }

    fn fill(&self, out: &mut File, src: &File, st: &FileStat) -> io::Result<()> {
        let mut r = src;
        r.seek(SeekFrom::Start(0))?;
        io::copy(&mut r, out)?;
        fchown(
            out.as_fd(),
            Some(Uid::from_raw(self.owner.uid)),
            Some(Gid::from_raw(self.owner.gid)),
        )?;
        // After chown, which clears set-id bits.
        fchmod(out.as_fd(), Mode::from_bits_truncate(st.st_mode & 0o7777))?;
        futimens(
            out.as_fd(),
            &TimeSpec::new(st.st_atime, st.st_atime_nsec),
            &TimeSpec::new(st.st_mtime, st.st_mtime_nsec),
        )?;
        Ok(())
    }

    /// Makes `path` a symlink to `target` (copied as is: it means something
    /// inside the container only).
    pub fn symlink(&self, path: &str, target: &OsStr) -> Result<()> {
        let Some((dir, name)) = self.parent(path, true)? else {
            unreachable!("created")
        };
        let tmp = Self::temp_name();
        let r = symlinkat(target, &dir, tmp.as_str())
            .and_then(|()| self.chown_at(&dir, &tmp))
            .and_then(|()| self.replace(&dir, &tmp, name));
        if r.is_err() {
            let _ = unlinkat(&dir, tmp.as_str(), UnlinkatFlags::NoRemoveDir);
        }
        r.map_err(|e| self.err(path, e))
    }

    /// Makes `path` a directory with `mode` (what is there and is not a
    /// directory is replaced).
    pub fn mkdir(&self, path: &str, mode: u32) -> Result<()> {
        if components(path).is_empty() {
            return Ok(());
        }
        let Some((dir, name)) = self.parent(path, true)? else {
            unreachable!("created")
        };
        let e = |e: Errno| self.err(path, e);
        match fstatat(&dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) if is_dir(&st) => {}
            Ok(_) => {
                unlinkat(&dir, name, UnlinkatFlags::NoRemoveDir).map_err(e)?;
                mkdirat(&dir, name, Mode::from_bits_truncate(0o700)).map_err(e)?;
                self.chown_at(&dir, name).map_err(e)?;
            }
            Err(Errno::ENOENT) => {
                mkdirat(&dir, name, Mode::from_bits_truncate(0o700)).map_err(e)?;
                self.chown_at(&dir, name).map_err(e)?;
            }
            Err(x) => return Err(e(x)),
        }
        let fd = openat(
            &dir,
            name,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(e)?;
        fchmod(&fd, Mode::from_bits_truncate(mode & 0o7777)).map_err(e)
    }

    /// Removes `path` (a whole tree for a directory); nothing there is fine.
    pub fn remove(&self, path: &str) -> Result<()> {
        let Some((dir, name)) = self.parent(path, false)? else {
            return Ok(());
        };
        let e = |e: Errno| self.err(path, e);
        match fstatat(&dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Err(Errno::ENOENT) => Ok(()),
            Err(x) => Err(e(x)),
            Ok(st) if is_dir(&st) => {
                remove_tree(&dir, &cstr(name).map_err(|x| self.err(path, x))?).map_err(e)
            }
            Ok(_) => match unlinkat(&dir, name, UnlinkatFlags::NoRemoveDir) {
                Err(Errno::ENOENT) => Ok(()),
                r => r.map_err(e),
            },
        }
    }

    /// The status of `path` without following its last component (`None`
    /// when missing).
    pub fn lstat(&self, path: &str) -> Result<Option<FileStat>> {
        let comps = components(path);
        if comps.is_empty() {
            return self
                .open_dir(&[])
                .and_then(|fd| fstat(&fd))
                .map(Some)
                .map_err(|e| self.err(path, e));
        }
        let Some((dir, name)) = self.parent(path, false)? else {
            return Ok(None);
        };
        match fstatat(&dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(st)),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(self.err(path, e)),
        }
    }
}

/// Removes directory `name` of `dir` and everything below it, never
/// following a symlink.
fn remove_tree(dir: &OwnedFd, name: &std::ffi::CStr) -> nix::Result<()> {
    let fd = openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let mut d = nix::dir::Dir::from_fd(fd.try_clone().map_err(|_| Errno::EMFILE)?)?;
    let mut children = Vec::new();
    for e in d.iter() {
        let e = e?;
        let n = e.file_name();
        if n.to_bytes() == b"." || n.to_bytes() == b".." {
            continue;
        }
        children.push((n.to_owned(), e.file_type()));
    }
    drop(d);
    for (n, t) in children {
        let dir_child = match t {
            Some(nix::dir::Type::Directory) => true,
            Some(_) => false,
            None => fstatat(&fd, n.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
                .map(|st| is_dir(&st))
                .unwrap_or(false),
        };
        if dir_child {
            remove_tree(&fd, &n)?;
        } else {
            match unlinkat(&fd, n.as_c_str(), UnlinkatFlags::NoRemoveDir) {
                Ok(()) | Err(Errno::ENOENT) => {}
                Err(e) => return Err(e),
            }
        }
    }
    match unlinkat(dir, name, UnlinkatFlags::RemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_drop_dots_but_keep_parent_refs() {
        assert_eq!(components("/app//./src/"), vec!["app", "src"]);
        assert_eq!(components("/a/../b"), vec!["a", "..", "b"]);
        assert!(components("/").is_empty());
        assert_eq!(relative(&[]), ".");
    }
}
