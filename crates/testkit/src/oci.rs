//! Writes OCI image archives (`oci-archive` as skopeo names it: an OCI image
//! layout in a tar) from layer tars and a config, for loading and pushing in tests.

use std::io::{self, Write};
use std::path::Path;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub fn sha256_hex(data: &[u8]) -> String {
    let d = Sha256::digest(data);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// How a layer blob is compressed in the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
}

/// One image to put in an archive.
#[derive(Debug, Clone)]
pub struct TestImage {
    /// Uncompressed layer tars, bottom first.
    pub layers: Vec<Vec<u8>>,
    pub compression: Compression,
    /// The `config` object of the image config (Env, Cmd, Entrypoint, …).
    pub config: Value,
    pub architecture: String,
    pub os: String,
    pub variant: Option<String>,
}

impl TestImage {
    /// The busybox image: one layer, `Cmd ["sh"]`, a PATH.
    pub fn busybox() -> io::Result<Self> {
        Ok(TestImage {
            layers: vec![crate::busybox::rootfs_tar()?],
            compression: Compression::Gzip,
            config: json!({
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Cmd": ["sh"],
            }),
            architecture: "amd64".into(),
            os: "linux".into(),
            variant: None,
        })
    }
}

/// Blobs of one image, ready to be written into a layout.
pub struct Built {
    pub blobs: Vec<(String, Vec<u8>)>,
    pub manifest_digest: String,
    pub manifest_size: usize,
    pub config_digest: String,
    pub platform: Value,
}

fn gzip(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data)?;
    enc.finish()
}

/// Builds the blobs (layers, config, manifest) of `img`.
pub fn build(img: &TestImage) -> io::Result<Built> {
    let mut blobs = Vec::new();
    let mut layer_descs = Vec::new();
    let mut diff_ids = Vec::new();
    for layer in &img.layers {
        diff_ids.push(format!("sha256:{}", sha256_hex(layer)));
        let (blob, media) = match img.compression {
            Compression::None => (layer.clone(), "application/vnd.oci.image.layer.v1.tar"),
            Compression::Gzip => (gzip(layer)?, "application/vnd.oci.image.layer.v1.tar+gzip"),
        };
        let digest = format!("sha256:{}", sha256_hex(&blob));
        layer_descs.push(json!({"mediaType": media, "digest": digest, "size": blob.len()}));
        blobs.push((digest, blob));
    }
    let mut config = json!({
        "architecture": img.architecture,
        "os": img.os,
        "config": img.config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": img.layers.iter().map(|_| json!({"created_by": "berth-testkit"})).collect::<Vec<_>>(),
    });
    if let Some(v) = &img.variant {
        config["variant"] = json!(v);
    }
    let config_bytes = serde_json::to_vec(&config)?;
    let config_digest = format!("sha256:{}", sha256_hex(&config_bytes));
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_bytes.len()},
        "layers": layer_descs,
    });
    blobs.push((config_digest.clone(), config_bytes));
    let manifest_bytes = serde_json::to_vec(&manifest)?;
    let manifest_digest = format!("sha256:{}", sha256_hex(&manifest_bytes));
    let manifest_size = manifest_bytes.len();
    blobs.push((manifest_digest.clone(), manifest_bytes));
    let mut platform = json!({"architecture": img.architecture, "os": img.os});
    if let Some(v) = &img.variant {
        platform["variant"] = json!(v);
    }
    Ok(Built {
        blobs,
        manifest_digest,
        manifest_size,
        config_digest,
        platform,
    })
}

/// What goes into `index.json` for one reference name.
pub enum Entry {
    /// A single-platform image.
    Image(TestImage),
    /// A multi-platform index over several images.
    Index(Vec<TestImage>),
}

/// Writes an OCI archive holding `entries`, each tagged with its
/// `org.opencontainers.image.ref.name` (what `skopeo copy oci-archive:FILE:NAME`
/// selects).
pub fn write_archive(path: &Path, entries: Vec<(String, Entry)>) -> io::Result<()> {
    let mut blobs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut manifests = Vec::new();
    for (name, entry) in entries {
        match entry {
            Entry::Image(img) => {
                let b = build(&img)?;
                manifests.push(json!({
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": b.manifest_digest, "size": b.manifest_size,
                    "annotations": {"org.opencontainers.image.ref.name": name},
                }));
                blobs.extend(b.blobs);
            }
            Entry::Index(imgs) => {
                let mut sub = Vec::new();
                for img in &imgs {
                    let b = build(img)?;
                    sub.push(json!({
                        "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "digest": b.manifest_digest, "size": b.manifest_size,
                        "platform": b.platform,
                    }));
                    blobs.extend(b.blobs);
                }
                let index = serde_json::to_vec(&json!({
                    "schemaVersion": 2,
                    "mediaType": "application/vnd.oci.image.index.v1+json",
                    "manifests": sub,
                }))?;
                let digest = format!("sha256:{}", sha256_hex(&index));
                manifests.push(json!({
                    "mediaType": "application/vnd.oci.image.index.v1+json",
                    "digest": digest, "size": index.len(),
                    "annotations": {"org.opencontainers.image.ref.name": name},
                }));
                blobs.push((digest, index));
            }
        }
    }
    let index = serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": manifests}))?;
    let file = std::fs::File::create(path)?;
    let mut tar = tar::Builder::new(file);
    append(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    append(&mut tar, "index.json", &index)?;
    let mut seen = std::collections::HashSet::new();
    for (digest, data) in blobs {
        if seen.insert(digest.clone()) {
            let hex = digest.trim_start_matches("sha256:");
            append(&mut tar, &format!("blobs/sha256/{hex}"), &data)?;
        }
    }
    tar.into_inner()?.flush()
}

fn append<W: Write>(tar: &mut tar::Builder<W>, name: &str, data: &[u8]) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_cksum();
    tar.append_data(&mut h, name, data)
}

/// Writes `busybox` as a one-image OCI archive tagged `name`.
pub fn busybox_archive(path: &Path, name: &str) -> io::Result<()> {
    write_archive(
        path,
        vec![(name.to_owned(), Entry::Image(TestImage::busybox()?))],
    )
}

/// Tars a directory as a layer: numeric root ownership, mtime 0, sorted names,
/// symlinks kept as symlinks.
pub fn tar_dir(dir: &Path) -> io::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(false);
    let mut entries = Vec::new();
    collect(dir, dir, &mut entries)?;
    entries.sort();
    for rel in entries {
        let full = dir.join(&rel);
        let meta = std::fs::symlink_metadata(&full)?;
        let mut h = tar::Header::new_gnu();
        h.set_metadata(&meta);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&full)?;
            h.set_size(0);
            tar.append_link(&mut h, &rel, target)?;
        } else if meta.is_dir() {
            h.set_size(0);
            tar.append_data(&mut h, &rel, io::empty())?;
        } else {
            let f = std::fs::File::open(&full)?;
            tar.append_data(&mut h, &rel, f)?;
        }
    }
    tar.into_inner()
}

fn collect(base: &Path, dir: &Path, out: &mut Vec<std::path::PathBuf>) -> io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let p = e.path();
        out.push(p.strip_prefix(base).unwrap().to_owned());
        if e.file_type()?.is_dir() {
            collect(base, &p, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busybox_archive_is_a_valid_layout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bb.tar");
        busybox_archive(&path, "busybox:test").unwrap();
        let mut ar = tar::Archive::new(std::fs::File::open(&path).unwrap());
        let mut names = Vec::new();
        let mut index = Value::Null;
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            if name == "index.json" {
                index = serde_json::from_reader(&mut e).unwrap();
            } else if let Some(hex) = name.strip_prefix("blobs/sha256/") {
                let mut data = Vec::new();
                io::Read::read_to_end(&mut e, &mut data).unwrap();
                assert_eq!(sha256_hex(&data), hex, "blob digest matches its name");
            }
            names.push(name);
        }
        assert!(names.contains(&"oci-layout".to_string()));
        assert_eq!(
            index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
            "busybox:test"
        );
        assert_eq!(names.iter().filter(|n| n.starts_with("blobs/")).count(), 3);
    }
}
