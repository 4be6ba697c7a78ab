use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Result, StoreError};

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = format!(
        ".{name}.tmp.{}.{}",
        std::process::id(),
        crate::id::counter()
    );
    path.with_file_name(tmp)
}

fn write_temp(path: &Path, data: &[u8], durable: bool) -> Result<PathBuf> {
    let tmp = temp_path(path);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| StoreError::io(&tmp, e))?;
    let res = f
        .write_all(data)
        .and_then(|_| if durable { f.sync_all() } else { Ok(()) });
    if let Err(e) = res {
        let _ = fs::remove_file(&tmp);
        return Err(StoreError::io(&tmp, e));
    }
    Ok(tmp)
}

/// Replaces `path` with `data` so that readers see either the old or the new
/// content, never a mix: write a temporary file beside it, then rename.
/// Survives a crash of the process; use [`atomic_write_durable`] where it must
/// also survive a power cut.
pub fn atomic_write(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = write_temp(path, data, false)?;
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        StoreError::io(path, e)
    })
}

/// Like [`atomic_write`], with the data and the directory entry synced to disk.
pub fn atomic_write_durable(path: &Path, data: &[u8]) -> Result<()> {
    let tmp = write_temp(path, data, true)?;
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        StoreError::io(path, e)
    })?;
    if let Some(dir) = path.parent()
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Writes `value` as pretty JSON, atomically.
pub fn write_json<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let data = serde_json::to_vec_pretty(value).map_err(|source| StoreError::Json {
        path: path.to_owned(),
        source,
    })?;
    atomic_write(path, &data)
}

/// Reads a JSON file.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let data = fs::read(path).map_err(|e| StoreError::io(path, e))?;
    serde_json::from_slice(&data).map_err(|source| StoreError::Json {
        path: path.to_owned(),
        source,
    })
}

/// Reads a JSON file, `None` when it does not exist.
pub fn read_json_opt<T: DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match read_json(path) {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Asks the filesystem to spread the directories created in `dir` over its
/// allocation groups, as it does for top-level directories (ext4's
/// `chattr +T`; elsewhere a no-op). Why: ext4 does not reuse an inode freed
/// in the last minutes, and skips over each such one when it allocates in
/// the same group. Every container creates and removes dozens of files, so
/// with all container directories in one group (a busy /tmp, or
/// /var/lib/berth after many runs) each file creation walked thousands of
/// recently freed inodes — a start took twice as long.
pub fn spread_subdirs(dir: &Path) {
    const FS_IOC_GETFLAGS: libc::c_ulong = 0x8008_6601;
    const FS_IOC_SETFLAGS: libc::c_ulong = 0x4008_6602;
    const FS_TOPDIR_FL: libc::c_int = 0x0002_0000;
    let Ok(f) = std::fs::File::open(dir) else {
        return;
    };
    let fd = std::os::fd::AsRawFd::as_raw_fd(&f);
    let mut flags: libc::c_int = 0;
    // SAFETY: the ioctls read or write one int through a valid pointer.
    unsafe {
        if libc::ioctl(fd, FS_IOC_GETFLAGS, &mut flags) == 0 && flags & FS_TOPDIR_FL == 0 {
            flags |= FS_TOPDIR_FL;
            libc::ioctl(fd, FS_IOC_SETFLAGS, &flags);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        atomic_write(&p, b"one").unwrap();
        atomic_write_durable(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
    }

    #[test]
    fn json_round_trip_and_missing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("v.json");
        assert!(read_json_opt::<Vec<u32>>(&p).unwrap().is_none());
        write_json(&p, &vec![1u32, 2, 3]).unwrap();
        assert_eq!(read_json::<Vec<u32>>(&p).unwrap(), vec![1, 2, 3]);
        fs::write(&p, b"{").unwrap();
        let err = read_json::<Vec<u32>>(&p).unwrap_err().to_string();
        assert!(
            err.contains("v.json") && err.contains("invalid JSON"),
            "{err}"
        );
    }

    #[test]
    fn subdirectories_are_spread_on_ext4() {
        let dir = tempfile::tempdir().unwrap();
        spread_subdirs(dir.path());
        spread_subdirs(dir.path()); // already set: nothing to do, no error
        // SAFETY: statfs on a valid path into a zeroed struct.
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        let path = std::ffi::CString::new(dir.path().as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::statfs(path.as_ptr(), &mut st) }, 0);
        if st.f_type != 0xEF53 {
            return; // not ext4 (tmpfs /tmp): the flag does not exist there
        }
        let f = File::open(dir.path()).unwrap();
        let mut flags: libc::c_int = 0;
        // SAFETY: FS_IOC_GETFLAGS writes one int.
        let r =
            unsafe { libc::ioctl(std::os::fd::AsRawFd::as_raw_fd(&f), 0x8008_6601, &mut flags) };
        assert_eq!(r, 0);
        assert_ne!(flags & 0x0002_0000, 0, "FS_TOPDIR_FL not set: {flags:#x}");
    }
}
