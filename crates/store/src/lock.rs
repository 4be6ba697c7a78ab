use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::error::{Result, StoreError};

/// An advisory lock on a file (`flock`), released when dropped or when the
/// process dies, so a `kill -9` never leaves a stale lock behind.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

impl FileLock {
    fn open(path: &Path) -> Result<File> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        }
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| StoreError::io(path, e))
    }

    /// Waits for an exclusive lock.
    pub fn exclusive(path: &Path) -> Result<Self> {
        let file = Self::open(path)?;
        file.lock().map_err(|e| StoreError::io(path, e))?;
        Ok(FileLock {
            file,
            path: path.to_owned(),
        })
    }

    /// Waits for a shared lock.
    pub fn shared(path: &Path) -> Result<Self> {
        let file = Self::open(path)?;
        file.lock_shared().map_err(|e| StoreError::io(path, e))?;
        Ok(FileLock {
            file,
            path: path.to_owned(),
        })
    }

    /// Takes an exclusive lock if nobody holds one; `None` when it is held.
    pub fn try_exclusive(path: &Path) -> Result<Option<Self>> {
        let file = Self::open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(FileLock {
                file,
                path: path.to_owned(),
            })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(StoreError::io(path, e)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The locked file, e.g. to write a pid into it.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Makes the process `cmd` starts hold this lock too (it inherits the
    /// locked descriptor): if this process dies first, the lock stays held
    /// until that child is done with what it was doing under it.
    pub fn share_with(&self, cmd: &mut std::process::Command) {
        use std::os::fd::AsRawFd;
        use std::os::unix::process::CommandExt;

        let fd = self.file.as_raw_fd();
        // SAFETY: between fork and exec only fcntl runs, which is
        // async-signal-safe: it clears close-on-exec on the lock's descriptor.
        unsafe {
            cmd.pre_exec(move || {
                if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_blocks_try() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/x.lock");
        let held = FileLock::exclusive(&p).unwrap();
        assert!(FileLock::try_exclusive(&p).unwrap().is_none());
        drop(held);
        assert!(FileLock::try_exclusive(&p).unwrap().is_some());
    }

    #[test]
    fn a_shared_lock_outlives_its_taker_until_the_child_is_done() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.lock");
        let held = FileLock::exclusive(&p).unwrap();
        let mut cmd = std::process::Command::new("sleep");
        cmd.arg("0.3");
        held.share_with(&mut cmd);
        let mut child = cmd.spawn().unwrap();
        // As if the taker died: its descriptor closes, the child's stays.
        drop(held);
        assert!(FileLock::try_exclusive(&p).unwrap().is_none());
        child.wait().unwrap();
        assert!(FileLock::try_exclusive(&p).unwrap().is_some());
    }
}
