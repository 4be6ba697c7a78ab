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
}
