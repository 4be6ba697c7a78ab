//! `image load`: OCI image layouts and `docker save` archives, plain or
//! compressed, with any number of images.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;

use serde::Deserialize;

use super::extract::Extracted;
use super::{CONTAINERD_NAME, OCI_REF_NAME};
use crate::digest::{digest_hex, sha256_digest, verify};
use crate::error::{ImageError, Result};
use crate::parallel;
use crate::platform::Platform;
use crate::reference::Reference;
use crate::spec::{ConfigFile, Descriptor, Index, Manifest, document_kind, media};
use crate::store::{ImageLayer, ImageRecord, ImageStore, LayerExpect, LayerInfo, Spool};

#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Which image of a multi-platform index to load (the host's by default).
    pub platform: Option<Platform>,
}

/// One image an archive held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedImage {
    pub id: String,
    /// Full names given to it (may be empty).
    pub names: Vec<String>,
}

/// `manifest.json` of a `docker save` archive.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// An image found in the archive, before its layers are ingested.
struct Pending {
    config_bytes: Vec<u8>,
    config: ConfigFile,
    /// Manifest bytes and descriptor as found (OCI); `None` = synthesize (docker).
    manifest: Option<(Vec<u8>, Descriptor)>,
    index: Option<Vec<u8>>,
    /// (archive path, descriptor if known)
    layers: Vec<(String, Option<Descriptor>)>,
    names: Vec<Reference>,
}

fn parse_json<T: for<'a> Deserialize<'a>>(data: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(data).map_err(|e| ImageError::json(what, e))
}

fn blob_path(d: &Descriptor) -> Result<String> {
    Ok(format!(
        "blobs/sha256/{}",
        digest_hex(&d.digest, "archive blob")?
    ))
}

impl ImageStore {
    /// Loads every image of an archive. `label` names it in errors.
    pub fn load(
        &self,
        input: impl Read,
        label: &str,
        opts: &LoadOptions,
    ) -> Result<Vec<LoadedImage>> {
        let _guard = self.ingest_guard()?;
        let ex = self.extract_archive(input, label)?;
        let pending = if ex.exists("index.json") {
            self.scan_oci(&ex, opts)?
        } else if ex.exists("manifest.json") {
            scan_docker(&ex)?
        } else {
            return Err(ImageError::bad_archive(
                label,
                "neither an OCI image layout (index.json) nor a docker save archive (manifest.json)",
            ));
        };
        // Each distinct layer file once, in parallel.
        let mut jobs: Vec<(String, Option<Descriptor>, String)> = Vec::new();
        for p in &pending {
            for (i, (path, desc)) in p.layers.iter().enumerate() {
                if !jobs.iter().any(|j| j.0 == *path) {
                    jobs.push((
                        path.clone(),
                        desc.clone(),
                        p.config.rootfs.diff_ids[i].clone(),
                    ));
                }
            }
        }
        let results = parallel::map(&jobs, parallel::cpus(), |(path, desc, diff_id)| {
            let file = ex.path(path)?;
            let src = File::open(&file).map_err(|e| ImageError::io(&file, e))?;
            let expect = LayerExpect {
                digest: desc.as_ref().map(|d| d.digest.as_str()),
                size: desc.as_ref().map(|d| d.size),
                diff_id: Some(diff_id),
                media_type: desc.as_ref().map(|d| d.media_type.as_str()),
                label: format!("{label}: layer {path}"),
            };
            self.ingest_layer(src, Spool::Prewritten(file), expect)
        });
        let mut done: HashMap<String, LayerInfo> = HashMap::new();
        for ((path, _, _), r) in jobs.into_iter().zip(results) {
            done.insert(path, r?);
        }
        let mut out = Vec::new();
        for p in pending {
            out.push(self.record_loaded(p, &done)?);
        }
        Ok(out)
    }

    fn record_loaded(&self, p: Pending, done: &HashMap<String, LayerInfo>) -> Result<LoadedImage> {
        let id = self.write_blob(&p.config_bytes, None, "image config")?;
        let layers: Vec<ImageLayer> = p
            .layers
            .iter()
            .map(|(path, _)| {
                let l = &done[path];
                ImageLayer {
                    diff_id: l.diff_id.clone(),
                    blob: l.blob.clone(),
                }
            })
            .collect();
        let (manifest_bytes, mut manifest) = match p.manifest {
            Some(m) => m,
            None => {
                let m = Manifest {
                    schema_version: 2,
                    media_type: media::OCI_MANIFEST.into(),
                    config: Descriptor::new(media::OCI_CONFIG, &id, p.config_bytes.len() as u64),
                    layers: layers.iter().map(|l| l.blob.clone()).collect(),
                    annotations: Default::default(),
                };
                let bytes = serde_json::to_vec(&m).map_err(|e| ImageError::json("manifest", e))?;
                let d = Descriptor::new(
                    media::OCI_MANIFEST,
                    &sha256_digest(&bytes),
                    bytes.len() as u64,
                );
                (bytes, d)
            }
        };
        manifest.annotations.clear();
        manifest.platform = None;
        self.write_blob(
            &manifest_bytes,
            Some((&manifest.digest, Some(manifest.size))),
            "manifest",
        )?;
        let mut extra_blobs = Vec::new();
        if let Some(index) = &p.index {
            extra_blobs.push(self.write_blob(index, None, "image index")?);
        }
        let size = layers
            .iter()
            .map(|l| {
                self.layer_record(&l.diff_id)
                    .ok()
                    .flatten()
                    .map_or(0, |r| r.size)
            })
            .sum();
        let rec = ImageRecord {
            id: id.clone(),
            manifest,
            layers,
            size,
            architecture: p.config.architecture.clone(),
            os: p.config.os.clone(),
            variant: p.config.variant.clone(),
            created: p.config.created.clone(),
            extra_blobs,
            last_tag_time: None,
        };
        self.write_image(rec, &p.names)?;
        Ok(LoadedImage {
            id,
            names: p.names.iter().map(|n| n.to_string()).collect(),
        })
    }

    fn scan_oci(&self, ex: &Extracted, opts: &LoadOptions) -> Result<Vec<Pending>> {
        let index: Index = parse_json(
            &ex.read("index.json")?,
            &format!("{}: index.json", ex.label),
        )?;
        let want = opts.platform.clone().unwrap_or_else(Platform::host);
        let mut out = Vec::new();
        for top in &index.manifests {
            let names = names_of(top);
            let read = |d: &Descriptor, what: &str| -> Result<Vec<u8>> {
                let data = ex.read(&blob_path(d)?)?;
                verify(
                    &format!("{}: {what} {}", ex.label, d.digest),
                    &d.digest,
                    Some(d.size),
                    &sha256_digest(&data),
                    data.len() as u64,
                )?;
                Ok(data)
            };
            let mut data = read(top, "manifest")?;
            let mut desc = top.clone();
            let mut index_bytes = None;
            if document_kind(&data, Some(&top.media_type)) == Some(media::OCI_INDEX) {
                let sub: Index = parse_json(&data, &format!("{}: index {}", ex.label, top.digest))?;
                let chosen =
                    sub.select(&want)
                        .cloned()
                        .ok_or_else(|| ImageError::NoMatchingPlatform {
                            reference: names.first().map_or(top.digest.clone(), |n| n.to_string()),
                            wanted: want.to_string(),
                            available: sub.platforms(),
                        })?;
                index_bytes = Some(data);
                data = read(&chosen, "manifest")?;
                desc = chosen;
            }
            if document_kind(&data, Some(&desc.media_type)) != Some(media::OCI_MANIFEST) {
                return Err(ImageError::bad_archive(
                    &ex.label,
                    format!("{} is not an image manifest", desc.digest),
                ));
            }
            let manifest: Manifest =
                parse_json(&data, &format!("{}: manifest {}", ex.label, desc.digest))?;
            if desc.media_type.is_empty() {
                desc.media_type = if manifest.media_type.is_empty() {
                    media::OCI_MANIFEST.into()
                } else {
                    manifest.media_type.clone()
                };
            }
            let config_bytes = read(&manifest.config, "config")?;
            let config: ConfigFile = parse_json(
                &config_bytes,
                &format!("{}: config {}", ex.label, manifest.config.digest),
            )?;
            check_layer_count(&ex.label, &config, manifest.layers.len())?;
            let layers = manifest
                .layers
                .iter()
                .map(|l| Ok((blob_path(l)?, Some(l.clone()))))
                .collect::<Result<_>>()?;
            out.push(Pending {
                config_bytes,
                config,
                manifest: Some((data, desc)),
                index: index_bytes,
                layers,
                names,
            });
        }
        Ok(out)
    }
}

fn check_layer_count(label: &str, config: &ConfigFile, layers: usize) -> Result<()> {
    if config.rootfs.diff_ids.len() != layers {
        return Err(ImageError::bad_archive(
            label,
            format!(
                "the config lists {} layers but the manifest {layers}",
                config.rootfs.diff_ids.len()
            ),
        ));
    }
    Ok(())
}

/// The image name of an index entry: containerd's annotation, else the OCI
/// ref name when it is a full reference (a bare tag like `latest` names nothing).
fn names_of(d: &Descriptor) -> Vec<Reference> {
    if let Some(n) = d.annotations.get(CONTAINERD_NAME)
        && let Ok(r) = Reference::parse(n)
    {
        return vec![r];
    }
    match d.annotations.get(OCI_REF_NAME) {
        Some(n) if n.contains(':') || n.contains('/') => Reference::parse(n).into_iter().collect(),
        _ => Vec::new(),
    }
}

fn scan_docker(ex: &Extracted) -> Result<Vec<Pending>> {
    let entries: Vec<DockerEntry> = parse_json(
        &ex.read("manifest.json")?,
        &format!("{}: manifest.json", ex.label),
    )?;
    let mut out = Vec::new();
    for e in entries {
        let config_bytes = ex.read(&e.config)?;
        let config: ConfigFile = parse_json(&config_bytes, &format!("{}: {}", ex.label, e.config))?;
        check_layer_count(&ex.label, &config, e.layers.len())?;
        let names = e
            .repo_tags
            .unwrap_or_default()
            .iter()
            .map(|t| Reference::parse(t))
            .collect::<Result<_>>()?;
        let layers = e.layers.into_iter().map(|l| (l, None)).collect();
        out.push(Pending {
            config_bytes,
            config,
            manifest: None,
            index: None,
            layers,
            names,
        });
    }
    Ok(out)
}
