//! `pull`: manifest (and index) → config → layers in parallel, each
//! downloaded, verified and unpacked in one stream; interrupted downloads
//! resume from `tmp/partial/<hex>`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use berth_store::FileLock;

use super::RegistryClient;
use crate::digest::{digest_hex, sha256_digest, verify};
use crate::error::{ImageError, IoContext, Result};
use crate::parallel;
use crate::platform::Platform;
use crate::progress::{LayerStatus, PullEvent, PullObserver};
use crate::reference::Reference;
use crate::spec::{ConfigFile, Descriptor, Index, Manifest, document_kind, media};
use crate::store::{Image, ImageLayer, ImageRecord, ImageStore, LayerExpect, Spool};

const ATTEMPTS: u32 = 3;

#[derive(Debug, Clone)]
pub struct PullOptions {
    /// `None`: the host's platform from an index; a single-platform image
    /// is taken whatever its platform. `Some`: must match, or it is an error.
    pub platform: Option<Platform>,
    /// Registries (`host[:port]`) to reach over plain HTTP.
    pub insecure_registries: Vec<String>,
    /// Layers downloaded at once per image (Docker's default is 3).
    pub max_concurrent_downloads: usize,
    /// Images pulled at once by [`ImageStore::pull_many`].
    pub max_concurrent_images: usize,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            platform: None,
            insecure_registries: Vec::new(),
            max_concurrent_downloads: 3,
            max_concurrent_images: 4,
        }
    }
}

/// A blob body that appends what it reads to the partial download file and
/// reports progress. A failed read marks the error as a network one (worth
/// resuming).
struct Download<'a> {
    body: Box<dyn Read + Send>,
    out: File,
    done: u64,
    total: u64,
    net_failed: &'a AtomicBool,
    last: Instant,
    report: &'a dyn Fn(u64, u64),
}

impl Read for Download<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self
            .body
            .read(buf)
            .inspect_err(|_| self.net_failed.store(true, Ordering::Relaxed))?;
        self.out.write_all(&buf[..n])?;
        self.done += n as u64;
        if self.last.elapsed() > Duration::from_millis(100) || n == 0 {
            self.last = Instant::now();
            (self.report)(self.done, self.total);
        }
        Ok(n)
    }
}

impl ImageStore {
    /// Pulls `reference` from its registry. Returns the image, named by the
    /// reference (and by `name@digest`).
    pub fn pull(
        &self,
        reference: &str,
        opts: &PullOptions,
        progress: &dyn PullObserver,
    ) -> Result<Image> {
        let client = RegistryClient::new(&opts.insecure_registries)?;
        self.pull_with(&client, reference, opts, progress)
    }

    /// Pulls several references at once (up to `max_concurrent_images`);
    /// one result per reference, in order. Layers shared between them are
    /// downloaded once.
    pub fn pull_many(
        &self,
        references: &[String],
        opts: &PullOptions,
        progress: &dyn PullObserver,
    ) -> Vec<Result<Image>> {
        let client = match RegistryClient::new(&opts.insecure_registries) {
            Ok(c) => c,
            Err(e) => {
                let msg = e.to_string();
                return references
                    .iter()
                    .map(|_| {
                        Err(ImageError::Registry {
                            registry: "-".into(),
                            reason: msg.clone(),
                        })
                    })
                    .collect();
            }
        };
        parallel::map(references, opts.max_concurrent_images, |r| {
            self.pull_with(&client, r, opts, progress)
        })
    }

    /// [`pull`](Self::pull) with a client of the caller's (credentials, tokens).
    pub fn pull_with(
        &self,
        client: &RegistryClient,
        reference: &str,
        opts: &PullOptions,
        progress: &dyn PullObserver,
    ) -> Result<Image> {
        let r = Reference::parse(reference)?;
        let full = r.to_string();
        let _guard = self.ingest_guard()?;
        progress.event(PullEvent::Start { reference: &full });
        let (top, top_type) = client.manifest(&r, r.object())?;
        let top_digest = sha256_digest(&top);
        if let Some(d) = &r.digest {
            verify(&format!("manifest of {full}"), d, None, &top_digest, 0)?;
        }
        let (manifest_bytes, manifest_desc, index_bytes) =
            match document_kind(&top, top_type.as_deref()) {
                Some(media::OCI_INDEX) => {
                    let index: Index = serde_json::from_slice(&top)
                        .map_err(|e| ImageError::json(format!("index of {full}"), e))?;
                    let want = opts.platform.clone().unwrap_or_else(Platform::host);
                    let chosen = index.select(&want).cloned().ok_or_else(|| {
                        ImageError::NoMatchingPlatform {
                            reference: r.familiar(),
                            wanted: want.to_string(),
                            available: index.platforms(),
                        }
                    })?;
                    let (data, _) = client.manifest(&r, &chosen.digest)?;
                    verify(
                        &format!("manifest {} of {full}", chosen.digest),
                        &chosen.digest,
                        Some(chosen.size),
                        &sha256_digest(&data),
                        data.len() as u64,
                    )?;
                    (data, chosen, Some(top))
                }
                Some(_) => {
                    let d = Descriptor::new(
                        top_type
                            .as_deref()
                            .filter(|t| media::is_manifest(t))
                            .unwrap_or(media::OCI_MANIFEST),
                        &top_digest,
                        top.len() as u64,
                    );
                    (top, d, None)
                }
                None => {
                    return Err(ImageError::Unsupported(format!(
                        "manifest of {full} ({}; schema 1 and unknown kinds are not supported)",
                        top_type.unwrap_or_else(|| "no media type".into())
                    )));
                }
            };
        let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| ImageError::json(format!("manifest of {full}"), e))?;
        let mut manifest_desc = manifest_desc;
        if !manifest.media_type.is_empty() {
            manifest_desc.media_type = manifest.media_type.clone();
        }
        manifest_desc.platform = None;
        let config_bytes = client.small_blob(&r, &manifest.config.digest)?;
        verify(
            &format!("config of {full}"),
            &manifest.config.digest,
            Some(manifest.config.size),
            &sha256_digest(&config_bytes),
            config_bytes.len() as u64,
        )?;
        let config: ConfigFile = serde_json::from_slice(&config_bytes)
            .map_err(|e| ImageError::json(format!("config of {full}"), e))?;
        if let (Some(want), None) = (&opts.platform, &index_bytes) {
            let actual = config.platform();
            if !want.matches(&actual) {
                return Err(ImageError::WrongPlatform {
                    reference: r.familiar(),
                    wanted: want.to_string(),
                    actual: actual.to_string(),
                });
            }
        }
        let diff_ids = &config.rootfs.diff_ids;
        if diff_ids.len() != manifest.layers.len() {
            return Err(ImageError::Registry {
                registry: RegistryClient::display_host(&r.domain).to_owned(),
                reason: format!(
                    "{full}: the config lists {} layers but the manifest {}",
                    diff_ids.len(),
                    manifest.layers.len()
                ),
            });
        }
        let id = manifest.config.digest.clone();
        let pairs: Vec<(Descriptor, String)> = manifest
            .layers
            .iter()
            .cloned()
            .zip(diff_ids.iter().cloned())
            .collect();
        let mut todo: Vec<(Descriptor, String)> = Vec::new();
        for (desc, diff) in &pairs {
            if desc.media_type == media::DOCKER_FOREIGN_LAYER || !desc.urls.is_empty() {
                return Err(ImageError::Unsupported(format!(
                    "foreign layer {} of {full}",
                    desc.digest
                )));
            }
            if self.has_blob(&desc.digest) && self.has_layer(diff) {
                progress.event(PullEvent::Layer {
                    reference: &full,
                    digest: &desc.digest,
                    status: LayerStatus::Exists,
                });
            } else if !todo.iter().any(|(d, _)| d.digest == desc.digest) {
                progress.event(PullEvent::Layer {
                    reference: &full,
                    digest: &desc.digest,
                    status: LayerStatus::Waiting { size: desc.size },
                });
                todo.push((desc.clone(), diff.clone()));
            }
        }
        let up_to_date = todo.is_empty()
            && self
                .read_record(&id)?
                .is_some_and(|rec| rec.manifest.digest == manifest_desc.digest);
        let results = parallel::map(&todo, opts.max_concurrent_downloads, |(desc, diff)| {
            self.download_layer(client, &r, desc, diff, progress)
        });
        results.into_iter().collect::<Result<Vec<()>>>()?;

        self.write_blob(&config_bytes, Some((&id, None)), "config")?;
        self.write_blob(
            &manifest_bytes,
            Some((&manifest_desc.digest, None)),
            "manifest",
        )?;
        let mut extra_blobs = Vec::new();
        if let Some(ix) = &index_bytes {
            extra_blobs.push(self.write_blob(ix, None, "index")?);
        }
        let layers: Vec<ImageLayer> = pairs
            .into_iter()
            .map(|(blob, diff_id)| ImageLayer { diff_id, blob })
            .collect();
        let size = layers
            .iter()
            .map(|l| {
                self.layer_record(&l.diff_id)
                    .ok()
                    .flatten()
                    .map_or(0, |x| x.size)
            })
            .sum();
        let rec = ImageRecord {
            id: id.clone(),
            manifest: manifest_desc,
            layers,
            size,
            architecture: config.architecture.clone(),
            os: config.os.clone(),
            variant: config.variant.clone(),
            created: config.created.clone(),
            extra_blobs,
            last_tag_time: None,
        };
        let mut names = vec![Reference {
            digest: Some(top_digest.clone()),
            tag: None,
            ..r.clone()
        }];
        if r.digest.is_none() {
            names.push(r.clone());
        }
        self.write_image(rec, &names)?;
        progress.event(PullEvent::Done {
            reference: &full,
            digest: &top_digest,
            id: &id,
            up_to_date,
        });
        self.get(&id)
    }

    fn download_layer(
        &self,
        client: &RegistryClient,
        r: &Reference,
        desc: &Descriptor,
        diff_id: &str,
        progress: &dyn PullObserver,
    ) -> Result<()> {
        let full = r.to_string();
        let partial: PathBuf = self
            .dir()
            .join("tmp/partial")
            .join(digest_hex(&desc.digest, "layer")?);
        // One download of a blob at a time, across processes.
        let _lock = FileLock::exclusive(&partial)?;
        if self.has_blob(&desc.digest) && self.has_layer(diff_id) {
            // Another pull finished it while we waited; drop the empty file
            // the lock created.
            if fs::metadata(&partial).is_ok_and(|m| m.len() == 0) {
                let _ = fs::remove_file(&partial);
            }
            progress.event(PullEvent::Layer {
                reference: &full,
                digest: &desc.digest,
                status: LayerStatus::Complete,
            });
            return Ok(());
        }
        let report = |done: u64, total: u64| {
            progress.event(PullEvent::Layer {
                reference: &full,
                digest: &desc.digest,
                status: LayerStatus::Downloading { done, total },
            });
        };
        let mut attempt = 1;
        loop {
            let mut have = fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
            if have > desc.size {
                File::create(&partial).at(&partial)?;
                have = 0;
            }
            let (body, offset): (Box<dyn Read + Send>, u64) = if have == desc.size {
                (Box::new(io::empty()), have)
            } else {
                client.blob(r, &desc.digest, have)?
            };
            if offset == 0 && have > 0 {
                // The server ignored the range: start over.
                File::create(&partial).at(&partial)?;
            }
            let net_failed = AtomicBool::new(false);
            let out = OpenOptions::new()
                .append(true)
                .open(&partial)
                .at(&partial)?;
            let prefix = File::open(&partial).at(&partial)?.take(offset);
            let dl = Download {
                body,
                out,
                done: offset,
                total: desc.size,
                net_failed: &net_failed,
                last: Instant::now(),
                report: &report,
            };
            let expect = LayerExpect {
                digest: Some(&desc.digest),
                size: Some(desc.size),
                diff_id: Some(diff_id),
                media_type: Some(&desc.media_type),
                label: format!("layer {} of {}", desc.digest, r.familiar()),
            };
            match self.ingest_layer(prefix.chain(dl), Spool::Prewritten(partial.clone()), expect) {
                Ok(_) => {
                    progress.event(PullEvent::Layer {
                        reference: &full,
                        digest: &desc.digest,
                        status: LayerStatus::Complete,
                    });
                    return Ok(());
                }
                Err(_) if net_failed.load(Ordering::Relaxed) && attempt < ATTEMPTS => {
                    attempt += 1;
                    progress.event(PullEvent::Layer {
                        reference: &full,
                        digest: &desc.digest,
                        status: LayerStatus::Retrying { attempt },
                    });
                    std::thread::sleep(Duration::from_millis(200 * attempt as u64));
                }
                Err(e) if net_failed.load(Ordering::Relaxed) => {
                    // Keep what arrived: the next pull resumes from there.
                    return Err(ImageError::Unreachable {
                        registry: RegistryClient::display_host(&r.domain).to_owned(),
                        reason: format!("downloading {}: {e}", desc.digest),
                    });
                }
                Err(e) => {
                    // Bad content: never resume from it.
                    let _ = fs::remove_file(&partial);
                    return Err(e);
                }
            }
        }
    }
}
