//! Writing a new image from a config and layers already in the store (the
//! Dockerfile builder and `image import` use this).

use serde_json::{Map, Value};

use super::{Image, ImageLayer, ImageRecord, ImageStore, now_rfc3339};
use crate::digest::sha256_digest;
use crate::error::{ImageError, Result};
use crate::platform::Platform;
use crate::reference::Reference;
use crate::spec::{ConfigFile, Descriptor, History, ImageConfig, Manifest, RootFs, media};

/// An image to write with [`ImageStore::commit`].
#[derive(Debug, Clone)]
pub struct NewImage {
    pub config: ImageConfig,
    pub platform: Platform,
    /// RFC 3339; `None` = now.
    pub created: Option<String>,
    pub author: Option<String>,
    /// Diff ids, bottom first; every one must be a layer of the store
    /// (from a base image or [`ImageStore::add_layer`]).
    pub layers: Vec<String>,
    /// One entry per build step (`empty_layer: true` for steps without a layer).
    pub history: Vec<History>,
    /// Names to give it (`app:latest`, `localhost:5000/x:1`).
    pub tags: Vec<String>,
    /// More top-level config fields (e.g. `"comment"`), written as given.
    pub extra: Map<String, Value>,
}

impl NewImage {
    /// A new image on top of `base` (its config, layers and history), or
    /// from scratch for the host platform.
    pub fn from_base(base: Option<&Image>) -> NewImage {
        match base {
            Some(b) => NewImage {
                config: b.config.clone(),
                platform: b.platform(),
                created: None,
                author: None,
                layers: b.layers.iter().map(|l| l.diff_id.clone()).collect(),
                history: b.history.clone(),
                tags: Vec::new(),
                extra: Map::new(),
            },
            None => NewImage {
                config: ImageConfig::default(),
                platform: Platform::host(),
                created: None,
                author: None,
                layers: Vec::new(),
                history: Vec::new(),
                tags: Vec::new(),
                extra: Map::new(),
            },
        }
    }
}

/// OCI media type for a layer blob whatever type it was stored under.
fn oci_layer_type(m: &str) -> &str {
    match m {
        media::DOCKER_LAYER_GZIP => media::OCI_LAYER_GZIP,
        media::DOCKER_LAYER => media::OCI_LAYER,
        other => other,
    }
}

impl ImageStore {
    /// Writes config and manifest blobs for `new` and records the image.
    pub fn commit(&self, new: NewImage) -> Result<Image> {
        let _guard = self.ingest_guard()?;
        let names = new
            .tags
            .iter()
            .map(|t| Reference::parse(t))
            .collect::<Result<Vec<_>>>()?;
        let mut layers = Vec::new();
        let mut size = 0;
        for diff_id in &new.layers {
            let rec = self.layer_record(diff_id)?.ok_or_else(|| {
                ImageError::NotFound(format!("layer {diff_id} (add it to the store first)"))
            })?;
            let mut blob = rec.blob.clone();
            blob.media_type = oci_layer_type(&blob.media_type).to_owned();
            size += rec.size;
            layers.push(ImageLayer {
                diff_id: diff_id.clone(),
                blob,
            });
        }
        let created = new.created.unwrap_or_else(now_rfc3339);
        let config = ConfigFile {
            created: Some(created.clone()),
            author: new.author,
            architecture: new.platform.architecture.clone(),
            os: new.platform.os.clone(),
            variant: new.platform.variant.clone(),
            config: new.config,
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: new.layers.clone(),
            },
            history: new.history,
            extra: new.extra,
        };
        let config_bytes =
            serde_json::to_vec(&config).map_err(|e| ImageError::json("new image config", e))?;
        let id = self.write_blob(&config_bytes, None, "image config")?;
        let manifest = Manifest {
            schema_version: 2,
            media_type: media::OCI_MANIFEST.into(),
            config: Descriptor::new(media::OCI_CONFIG, &id, config_bytes.len() as u64),
            layers: layers.iter().map(|l| l.blob.clone()).collect(),
            annotations: Default::default(),
        };
        let manifest_bytes =
            serde_json::to_vec(&manifest).map_err(|e| ImageError::json("new image manifest", e))?;
        let manifest_digest = self.write_blob(&manifest_bytes, None, "image manifest")?;
        debug_assert_eq!(manifest_digest, sha256_digest(&manifest_bytes));
        let rec = ImageRecord {
            id: id.clone(),
            manifest: Descriptor::new(
                media::OCI_MANIFEST,
                &manifest_digest,
                manifest_bytes.len() as u64,
            ),
            layers,
            size,
            architecture: config.architecture,
            os: config.os,
            variant: config.variant,
            created: Some(created),
            extra_blobs: Vec::new(),
            last_tag_time: None,
        };
        self.write_image(rec, &names)?;
        self.get(&id)
    }
}
