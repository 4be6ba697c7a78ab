//! The content-addressed image store under `<root>/images`:
//!
//! ```text
//! images/
//!   lock                     flock: record and name updates
//!   gc.lock                  flock: shared while ingesting, exclusive while collecting garbage
//!   repositories.json        "docker.io/library/redis:latest" / "…redis@sha256:…" → image id
//!   records/<id hex>.json    one per image: manifest, layers, platform, size
//!   blobs/sha256/<hex>       manifests, configs and layer blobs exactly as pulled or loaded
//!   layers/<diff id hex>/    layer.json + root/ (the unpacked layer, an overlayfs lower dir)
//!   tmp/                     work in progress; tmp/partial/<hex> are resumable downloads
//! ```
//!
//! Everything becomes visible by a rename: a blob after its digest and size
//! were checked, a layer directory after it was fully unpacked and its diff id
//! checked, an image record after all of its blobs and layers exist (and were
//! synced to disk). A crash at any point leaves at most unreferenced blobs,
//! layers and temporary files, which `prune` removes; it never leaves a record
//! that points at something missing.

mod blobs;
mod commit;
mod layers;
mod records;
mod remove;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use berth_store::{FileLock, Root};
use serde::{Deserialize, Serialize};

pub(crate) use blobs::TempDir;
pub use commit::NewImage;
pub(crate) use layers::LayerExpect;
pub use layers::LayerInfo;
pub(crate) use layers::Spool;
pub use remove::{ImageUsers, PruneOptions, PruneReport, RemoveAction, RemoveOptions};

use crate::digest::digest_hex;
use crate::error::{ImageError, IoContext, Result};
use crate::platform::Platform;
use crate::reference::{Reference, familiar};
use crate::spec::{ConfigFile, Descriptor, History, ImageConfig};

/// The image store of one berth root. Cheap to clone; every method reads the
/// files anew, so several processes can use one store at once.
#[derive(Debug, Clone)]
pub struct ImageStore {
    dir: PathBuf,
}

/// One layer of an image, bottom first in [`Image::layers`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageLayer {
    /// sha256 of the uncompressed layer tar (the config's `rootfs.diff_ids`).
    pub diff_id: String,
    /// The blob as the manifest names it (compressed or not).
    pub blob: Descriptor,
}

/// An image in the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// `sha256:<hex>` of the config blob, as Docker's image id.
    pub id: String,
    /// Full names: `docker.io/library/redis:latest`. Use
    /// [`crate::reference::familiar`] for Docker's short form.
    pub repo_tags: Vec<String>,
    /// `docker.io/library/redis@sha256:…` for images pulled from a registry.
    pub repo_digests: Vec<String>,
    /// The manifest this image was pulled or loaded with (or written with).
    pub manifest: Descriptor,
    pub architecture: String,
    pub os: String,
    pub variant: Option<String>,
    /// RFC 3339 creation time from the config, if any.
    pub created: Option<String>,
    pub author: Option<String>,
    /// What containers of this image run.
    pub config: ImageConfig,
    pub history: Vec<History>,
    /// Bottom layer first.
    pub layers: Vec<ImageLayer>,
    /// Bytes of file content over all layers.
    pub size: u64,
    /// When a name was last given to the image (RFC 3339).
    pub last_tag_time: Option<String>,
}

impl Image {
    pub fn platform(&self) -> Platform {
        Platform::new(&self.os, &self.architecture, self.variant.as_deref())
    }

    /// `repo_tags` in Docker's short form (`redis:latest`).
    pub fn familiar_tags(&self) -> Vec<String> {
        self.repo_tags.iter().map(|t| familiar(t)).collect()
    }

    /// The 12-digit id shown in tables.
    pub fn short_id(&self) -> &str {
        berth_store::short_id(&self.id)
    }
}

/// What `records/<id>.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ImageRecord {
    pub id: String,
    pub manifest: Descriptor,
    pub layers: Vec<ImageLayer>,
    pub size: u64,
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Blobs kept for this image beyond manifest, config and layers (the
    /// index it was selected from).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_blobs: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_tag_time: Option<String>,
}

/// How a user named an image when it was resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Named {
    /// By a key of repositories.json (`name:tag` or `name@digest`).
    Ref(String),
    /// By id or id prefix.
    Id,
}

impl ImageStore {
    /// Opens (creating if needed) the store of `root`.
    pub fn open(root: &Root) -> Result<ImageStore> {
        Self::open_dir(root.images())
    }

    /// Opens the store in `dir` (normally `<root>/images`).
    pub fn open_dir(dir: impl Into<PathBuf>) -> Result<ImageStore> {
        let dir = dir.into();
        for sub in ["records", "blobs/sha256", "layers", "tmp/partial"] {
            let p = dir.join(sub);
            std::fs::create_dir_all(&p).at(&p)?;
        }
        Ok(ImageStore { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn lock(&self) -> Result<FileLock> {
        Ok(FileLock::exclusive(&self.dir.join("lock"))?)
    }

    /// Held (shared) while blobs and layers are being added, so garbage
    /// collection never removes what an unfinished pull just wrote.
    pub(crate) fn ingest_guard(&self) -> Result<FileLock> {
        Ok(FileLock::shared(&self.dir.join("gc.lock"))?)
    }

    /// Keeps garbage collection (`prune`, the cleanup after `remove`) away
    /// while the returned lock lives. A builder holds it from its first
    /// [`add_layer`](Self::add_layer) until [`commit`](Self::commit), so that
    /// layers no image references yet are not collected.
    pub fn hold(&self) -> Result<FileLock> {
        self.ingest_guard()
    }

    /// Finds an image by name (`redis`, `redis:7`, `localhost:5000/a@sha256:…`),
    /// full id (`sha256:…` or 64 hex digits) or unique id prefix.
    /// `Ok(None)` when nothing matches; an error when a prefix is ambiguous.
    pub fn resolve(&self, reference_or_id: &str) -> Result<Option<Image>> {
        match self.resolve_record(reference_or_id)? {
            Some((rec, _)) => self.image_from_record(rec, &self.refs()?).map(Some),
            None => Ok(None),
        }
    }

    /// Like [`resolve`](Self::resolve), with "No such image: X" when absent.
    pub fn get(&self, reference_or_id: &str) -> Result<Image> {
        self.resolve(reference_or_id)?
            .ok_or_else(|| ImageError::NotFound(reference_or_id.to_owned()))
    }

    /// True when `reference_or_id` names an image of the store.
    pub fn exists(&self, reference_or_id: &str) -> Result<bool> {
        Ok(self.resolve_record(reference_or_id)?.is_some())
    }

    pub(crate) fn resolve_record(&self, s: &str) -> Result<Option<(ImageRecord, Named)>> {
        let hexpart = s.strip_prefix("sha256:").unwrap_or(s);
        let is_hex = !hexpart.is_empty() && hexpart.bytes().all(|b| b.is_ascii_hexdigit());
        if is_hex && hexpart.len() == 64 {
            let id = format!("sha256:{}", hexpart.to_ascii_lowercase());
            return Ok(self.read_record(&id)?.map(|r| (r, Named::Id)));
        }
        if !s.starts_with("sha256:")
            && let Ok(r) = Reference::parse(s)
        {
            let refs = self.refs()?;
            let key = r.digested().or_else(|| r.tagged()).unwrap_or_default();
            if let Some(id) = refs.get(&key)
                && let Some(rec) = self.read_record(id)?
            {
                return Ok(Some((rec, Named::Ref(key))));
            }
        }
        if !is_hex {
            return Ok(None);
        }
        let prefix = hexpart.to_ascii_lowercase();
        let mut found = None;
        for id in self.record_ids()? {
            if id.trim_start_matches("sha256:").starts_with(&prefix) {
                if found.is_some() {
                    return Err(ImageError::Ambiguous(s.to_owned()));
                }
                found = Some(id);
            }
        }
        match found {
            Some(id) => Ok(self.read_record(&id)?.map(|r| (r, Named::Id))),
            None => Ok(None),
        }
    }

    /// Every image, newest first.
    pub fn list(&self) -> Result<Vec<Image>> {
        let refs = self.refs()?;
        let mut out = Vec::new();
        for id in self.record_ids()? {
            if let Some(rec) = self.read_record(&id)? {
                out.push(self.image_from_record(rec, &refs)?);
            }
        }
        out.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// The unpacked layer directories of `image`, **topmost first** (the order
    /// overlayfs `lowerdir=` wants). Whiteouts are already in overlayfs form.
    pub fn layer_dirs(&self, image: &Image) -> Result<Vec<PathBuf>> {
        let mut dirs = Vec::with_capacity(image.layers.len());
        for l in image.layers.iter().rev() {
            let root = self.layer_root(&l.diff_id)?;
            if !root.is_dir() {
                return Err(ImageError::NotFound(format!(
                    "layer {} of image {} (its files are missing; pull or load the image again)",
                    l.diff_id, image.id
                )));
            }
            dirs.push(root);
        }
        Ok(dirs)
    }

    /// Gives `target` (a name, `name:tag`) to the image `source` names.
    pub fn tag(&self, source: &str, target: &str) -> Result<()> {
        let target = Reference::parse(target)?;
        if target.digest.is_some() {
            return Err(ImageError::InvalidReference {
                reference: target.to_string(),
                reason: "refusing to create a tag with a digest reference".into(),
            });
        }
        let (rec, _) = self
            .resolve_record(source)?
            .ok_or_else(|| ImageError::NotFound(source.to_owned()))?;
        self.set_names(&rec.id, &[target])
    }

    pub(crate) fn image_from_record(
        &self,
        rec: ImageRecord,
        refs: &BTreeMap<String, String>,
    ) -> Result<Image> {
        let config = self.read_config(&rec.id)?;
        let mut repo_tags = Vec::new();
        let mut repo_digests = Vec::new();
        for (k, v) in refs {
            if *v == rec.id {
                if k.contains('@') {
                    repo_digests.push(k.clone());
                } else {
                    repo_tags.push(k.clone());
                }
            }
        }
        Ok(Image {
            id: rec.id,
            repo_tags,
            repo_digests,
            manifest: rec.manifest,
            architecture: rec.architecture,
            os: rec.os,
            variant: rec.variant,
            created: rec.created,
            author: config.author,
            config: config.config,
            history: config.history,
            layers: rec.layers,
            size: rec.size,
            last_tag_time: rec.last_tag_time,
        })
    }

    /// The parsed config blob of image `id`.
    pub fn read_config(&self, id: &str) -> Result<ConfigFile> {
        let data = self.read_blob(id)?;
        serde_json::from_slice(&data).map_err(|e| ImageError::json(format!("image config {id}"), e))
    }

    /// The raw config blob of `image` (what `inspect` and `save` need verbatim).
    pub fn config_bytes(&self, image: &Image) -> Result<Vec<u8>> {
        self.read_blob(&image.id)
    }

    /// The unpacked files of layer `diff_id`: an overlayfs lower dir.
    pub fn layer_root(&self, diff_id: &str) -> Result<PathBuf> {
        Ok(self
            .dir
            .join("layers")
            .join(digest_hex(diff_id, "layer")?)
            .join("root"))
    }
}

/// Now, as RFC 3339 UTC.
pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
