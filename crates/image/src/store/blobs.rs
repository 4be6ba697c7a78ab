//! Blobs by digest, temporary work directories, and the sync that makes a
//! finished image durable before its record is written.

use std::fs;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::ImageStore;
use crate::digest::{digest_hex, sha256_digest, verify};
use crate::error::{ImageError, IoContext, Result};

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A directory under `images/tmp`, removed on drop unless kept.
#[derive(Debug)]
pub(crate) struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

impl ImageStore {
    pub(crate) fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        Ok(self
            .dir
            .join("blobs/sha256")
            .join(digest_hex(digest, "blob")?))
    }

    pub fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).is_ok_and(|p| p.is_file())
    }

    /// Reads a (small) blob and checks it still has its digest.
    pub(crate) fn read_blob(&self, digest: &str) -> Result<Vec<u8>> {
        let path = self.blob_path(digest)?;
        let data = fs::read(&path).at(&path)?;
        verify(
            &format!("blob {}", path.display()),
            digest,
            None,
            &sha256_digest(&data),
            0,
        )?;
        Ok(data)
    }

    /// Stores `data` as a blob; if `expected` is given it must match (digest
    /// and, when known, size). Returns the digest.
    pub(crate) fn write_blob(
        &self,
        data: &[u8],
        expected: Option<(&str, Option<u64>)>,
        what: &str,
    ) -> Result<String> {
        let digest = sha256_digest(data);
        if let Some((d, size)) = expected {
            verify(what, d, size, &digest, data.len() as u64)?;
        }
        let path = self.blob_path(&digest)?;
        if !path.exists() {
            let tmp = self.tmp_file_path("blob");
            fs::write(&tmp, data).at(&tmp)?;
            fs::rename(&tmp, &path).map_err(|e| {
                let _ = fs::remove_file(&tmp);
                ImageError::io(&path, e)
            })?;
        }
        Ok(digest)
    }

    /// Moves a verified file into place as blob `digest`.
    pub(crate) fn commit_blob_file(&self, file: &Path, digest: &str) -> Result<()> {
        let path = self.blob_path(digest)?;
        if path.exists() {
            let _ = fs::remove_file(file);
            return Ok(());
        }
        fs::rename(file, &path).at(&path)
    }

    pub(crate) fn tmp_file_path(&self, kind: &str) -> PathBuf {
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        self.dir
            .join("tmp")
            .join(format!("{}-{n}-{kind}", std::process::id()))
    }

    /// A fresh work directory, named with our pid so that `prune` can tell
    /// leftovers of dead processes.
    pub(crate) fn temp_dir(&self, kind: &str) -> Result<TempDir> {
        let path = self.tmp_file_path(kind);
        fs::create_dir(&path).at(&path)?;
        Ok(TempDir { path })
    }

    /// Flushes the store's file system, so that a record written next never
    /// points at data a power cut could lose.
    pub(crate) fn sync(&self) -> Result<()> {
        let f = fs::File::open(&self.dir).at(&self.dir)?;
        // SAFETY: a valid fd.
        if unsafe { libc::syncfs(f.as_raw_fd()) } < 0 {
            return Err(ImageError::io(&self.dir, io::Error::last_os_error()));
        }
        Ok(())
    }
}
