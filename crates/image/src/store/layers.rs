//! Layers: each is unpacked once, into `layers/<diff id hex>/root`, and shared
//! by every image that lists its diff id.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ImageStore;
use crate::compress::decompress;
use crate::digest::{HashReader, digest_hex, verify};
use crate::error::{ImageError, IoContext, Result};
use crate::spec::Descriptor;
use crate::unpack::unpack_layer;

/// `layers/<hex>/layer.json`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LayerRecord {
    pub diff_id: String,
    /// Bytes of file content.
    pub size: u64,
    /// The blob the layer was first unpacked from.
    pub blob: Descriptor,
}

/// A layer in the store, as [`ImageStore::add_layer`] returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// sha256 of the uncompressed tar: what goes into `rootfs.diff_ids`.
    pub diff_id: String,
    /// The stored blob (as given: compressed or not) for a manifest.
    pub blob: Descriptor,
    /// Bytes of file content.
    pub size: u64,
    /// The unpacked directory (an overlayfs lower dir).
    pub dir: PathBuf,
}

/// What an incoming layer blob must turn out to be.
#[derive(Debug, Default)]
pub(crate) struct LayerExpect<'a> {
    pub digest: Option<&'a str>,
    pub size: Option<u64>,
    pub diff_id: Option<&'a str>,
    pub media_type: Option<&'a str>,
    /// Names the layer in errors.
    pub label: String,
}

/// Where the blob bytes end up while they are read.
pub(crate) enum Spool {
    /// Copy them into a temporary file of the store.
    Tee,
    /// The reader itself writes them to this file (a download), or they
    /// already are in it (an extracted archive).
    Prewritten(PathBuf),
}

struct TeeReader<R> {
    inner: R,
    out: Option<File>,
}

impl<R: Read> Read for TeeReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(out) = &mut self.out {
            out.write_all(&buf[..n])?;
        }
        Ok(n)
    }
}

impl ImageStore {
    pub(crate) fn layer_dir(&self, diff_id: &str) -> Result<PathBuf> {
        Ok(self.dir.join("layers").join(digest_hex(diff_id, "layer")?))
    }

    pub(crate) fn layer_record(&self, diff_id: &str) -> Result<Option<LayerRecord>> {
        let path = self.layer_dir(diff_id)?.join("layer.json");
        Ok(berth_store::read_json_opt(&path)?)
    }

    /// True when layer `diff_id` is unpacked in the store.
    pub fn has_layer(&self, diff_id: &str) -> bool {
        self.layer_record(diff_id).is_ok_and(|r| r.is_some())
    }

    /// Adds a layer from a tar stream (plain, gzip or zstd): the stream is
    /// stored as a blob and unpacked. For the Dockerfile builder; the layer
    /// is unreferenced (and so prunable) until an image that lists it is
    /// committed with [`ImageStore::commit`].
    pub fn add_layer(&self, tar: impl Read) -> Result<LayerInfo> {
        let _guard = self.ingest_guard()?;
        let expect = LayerExpect {
            label: "new layer".into(),
            ..Default::default()
        };
        self.ingest_layer(tar, Spool::Tee, expect)
    }

    /// Streams one layer blob: hashes it, unpacks it into a temporary
    /// directory (or, when the layer is already unpacked, only checks its
    /// diff id), verifies every expectation, then moves blob and layer into
    /// place. On any error nothing of it is left in the store.
    pub(crate) fn ingest_layer(
        &self,
        src: impl Read,
        spool: Spool,
        expect: LayerExpect<'_>,
    ) -> Result<LayerInfo> {
        let tmp = self.temp_dir("layer")?;
        let root = tmp.path().join("root");
        let (spool_path, spool_file) = match spool {
            Spool::Tee => {
                let p = tmp.path().join("blob");
                let f = File::create(&p).at(&p)?;
                (p, Some(f))
            }
            Spool::Prewritten(p) => (p, None),
        };
        let existing = match expect.diff_id {
            Some(d) => self.layer_record(d)?,
            None => None,
        };
        let label = expect.label.as_str();
        let mut hr = HashReader::new(TeeReader {
            inner: src,
            out: spool_file,
        });
        let res = if let Some(rec) = &existing {
            (|| {
                let (c, mut r) = decompress(&mut hr).map_err(|e| read_err(label, e))?;
                let mut dh = HashReader::new(&mut r);
                dh.drain().map_err(|e| read_err(label, e))?;
                Ok((dh.finish().0, rec.size, c))
            })()
        } else {
            fs::create_dir(&root).at(&root)?;
            unpack_layer(&mut hr, &root, label).map(|u| (u.diff_id, u.size, u.compression))
        };
        let (diff_id, size, compression) = match res {
            Ok(v) => v,
            Err(e) => {
                // A blob that does not even decompress is most likely not the
                // blob asked for: say so when its digest proves it.
                if let Some(d) = expect.digest
                    && hr.drain().is_ok()
                {
                    let (actual, n) = hr.finish();
                    verify(label, d, expect.size, &actual, n)?;
                }
                return Err(e);
            }
        };
        hr.drain().map_err(|e| read_err(label, e))?;
        if let Some(f) = &mut hr.inner_mut().out {
            f.flush().at(&spool_path)?;
        }
        let (digest, blob_size) = hr.finish();
        if let Some(d) = expect.digest {
            verify(label, d, expect.size, &digest, blob_size)?;
        }
        if let Some(d) = expect.diff_id {
            verify(&format!("{label} (uncompressed)"), d, None, &diff_id, 0)?;
        }
        let media_type = expect
            .media_type
            .unwrap_or(compression.oci_layer_type())
            .to_owned();
        let blob = Descriptor::new(&media_type, &digest, blob_size);
        self.commit_blob_file(&spool_path, &digest)?;
        let dir = self.layer_dir(&diff_id)?;
        if existing.is_none() && !dir.join("layer.json").exists() {
            let rec = LayerRecord {
                diff_id: diff_id.clone(),
                size,
                blob: blob.clone(),
            };
            berth_store::write_json(&tmp.path().join("layer.json"), &rec)?;
            // Another process may have finished the same layer first: then
            // the rename fails and ours is dropped with `tmp`.
            if let Err(e) = fs::rename(tmp.path(), &dir)
                && !dir.join("layer.json").exists()
            {
                return Err(ImageError::io(&dir, e));
            }
        }
        Ok(LayerInfo {
            dir: dir.join("root"),
            diff_id,
            blob,
            size,
        })
    }
}

fn read_err(label: &str, e: io::Error) -> ImageError {
    ImageError::Unpack {
        layer: label.to_owned(),
        entry: String::new(),
        source: e,
    }
}
