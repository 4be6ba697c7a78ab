//! `image save`: one tar that is both an OCI image layout (`index.json`,
//! `blobs/sha256/…`) and a `docker save` archive (`manifest.json`), as
//! Docker 25 and later write it. Blobs are written exactly as stored, so a
//! saved image loads back with the same id and manifest digest.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{self, Write};

use serde_json::{Value, json};

use super::{CONTAINERD_NAME, OCI_REF_NAME};
use crate::digest::digest_hex;
use crate::error::{ImageError, IoContext, Result};
use crate::reference::{Reference, familiar};
use crate::spec::media;
use crate::store::{ImageStore, Named};

impl ImageStore {
    /// Writes the images named by `references` (names or ids) to `out`.
    /// A name saves that name; an id saves the image with all of its tags.
    pub fn save(&self, references: &[&str], out: impl Write) -> Result<()> {
        let refs = self.refs()?;
        let mut tar = tar::Builder::new(out);
        let mut written = HashSet::new();
        let mut index_entries = Vec::new();
        let mut docker_entries: Vec<Value> = Vec::new();
        let mut docker_pos: BTreeMap<String, usize> = BTreeMap::new();
        for r in references {
            let (rec, named) = self
                .resolve_record(r)?
                .ok_or_else(|| ImageError::NotFound((*r).to_owned()))?;
            let names: Vec<String> = match &named {
                Named::Ref(key) if !key.contains('@') => vec![key.clone()],
                Named::Ref(_) => Vec::new(),
                Named::Id => refs
                    .iter()
                    .filter(|(k, v)| **v == rec.id && !k.contains('@'))
                    .map(|(k, _)| k.clone())
                    .collect(),
            };
            let mut blobs = vec![rec.manifest.digest.clone(), rec.id.clone()];
            blobs.extend(rec.layers.iter().map(|l| l.blob.digest.clone()));
            for d in blobs {
                if written.insert(d.clone()) {
                    let path = self.blob_path(&d)?;
                    let f = File::open(&path).at(&path)?;
                    let len = f.metadata().at(&path)?.len();
                    append(
                        &mut tar,
                        &format!("blobs/sha256/{}", digest_hex(&d, "blob")?),
                        len,
                        f,
                    )?;
                }
            }
            let mut desc = rec.manifest.clone();
            if desc.media_type.is_empty() {
                desc.media_type = media::OCI_MANIFEST.into();
            }
            if names.is_empty() {
                index_entries.push(serde_json::to_value(&desc).unwrap_or_default());
            }
            for n in &names {
                let mut d = desc.clone();
                d.annotations.insert(CONTAINERD_NAME.into(), n.clone());
                if let Ok(parsed) = Reference::parse(n)
                    && let Some(t) = parsed.tag
                {
                    d.annotations.insert(OCI_REF_NAME.into(), t);
                }
                index_entries.push(serde_json::to_value(&d).unwrap_or_default());
            }
            // One manifest.json entry per image, with every requested name.
            let tags: Vec<String> = names.iter().map(|n| familiar(n)).collect();
            match docker_pos.get(&rec.id) {
                Some(&i) => {
                    let arr = docker_entries[i]["RepoTags"].as_array_mut();
                    if let Some(a) = arr {
                        a.extend(tags.into_iter().map(Value::String));
                    }
                }
                None => {
                    docker_pos.insert(rec.id.clone(), docker_entries.len());
                    docker_entries.push(json!({
                        "Config": format!("blobs/sha256/{}", digest_hex(&rec.id, "image id")?),
                        "RepoTags": tags,
                        "Layers": rec.layers.iter()
                            .map(|l| Ok(format!("blobs/sha256/{}", digest_hex(&l.blob.digest, "layer")?)))
                            .collect::<Result<Vec<_>>>()?,
                    }));
                }
            }
        }
        let index = json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_INDEX,
            "manifests": index_entries,
        });
        let small = |v: &Value| serde_json::to_vec(v).unwrap_or_default();
        let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
        append(&mut tar, "oci-layout", layout.len() as u64, &layout[..])?;
        let index = small(&index);
        append(&mut tar, "index.json", index.len() as u64, &index[..])?;
        let manifest = small(&Value::Array(docker_entries));
        append(
            &mut tar,
            "manifest.json",
            manifest.len() as u64,
            &manifest[..],
        )?;
        tar.into_inner()
            .and_then(|mut w| w.flush())
            .map_err(|e| ImageError::io("<output>", e))
    }
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    len: u64,
    data: impl io::Read,
) -> Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_size(len);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut h, name, data)
        .map_err(|e| ImageError::io(format!("<output>: {name}"), e))
}
