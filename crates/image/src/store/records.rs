//! Image records and names (`repositories.json`).

use std::collections::BTreeMap;
use std::fs;

use serde::{Deserialize, Serialize};

use super::{ImageRecord, ImageStore, now_rfc3339};
use crate::digest::digest_hex;
use crate::error::{IoContext, Result};
use crate::reference::Reference;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Repositories {
    /// `name:tag` and `name@digest` → image id.
    refs: BTreeMap<String, String>,
}

impl ImageStore {
    fn record_path(&self, id: &str) -> Result<std::path::PathBuf> {
        Ok(self
            .dir
            .join("records")
            .join(format!("{}.json", digest_hex(id, "image id")?)))
    }

    pub(crate) fn read_record(&self, id: &str) -> Result<Option<ImageRecord>> {
        Ok(berth_store::read_json_opt(&self.record_path(id)?)?)
    }

    pub(crate) fn record_ids(&self) -> Result<Vec<String>> {
        let dir = self.dir.join("records");
        let mut ids = Vec::new();
        for e in fs::read_dir(&dir).at(&dir)? {
            let name = e.at(&dir)?.file_name();
            let name = name.to_string_lossy();
            if let Some(hex) = name.strip_suffix(".json")
                && hex.len() == 64
                && !hex.starts_with('.')
            {
                ids.push(format!("sha256:{hex}"));
            }
        }
        Ok(ids)
    }

    pub(crate) fn all_records(&self) -> Result<Vec<ImageRecord>> {
        let mut out = Vec::new();
        for id in self.record_ids()? {
            if let Some(r) = self.read_record(&id)? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// All names: `name:tag` / `name@digest` → image id.
    pub(crate) fn refs(&self) -> Result<BTreeMap<String, String>> {
        let path = self.dir.join("repositories.json");
        Ok(berth_store::read_json_opt::<Repositories>(&path)?
            .unwrap_or_default()
            .refs)
    }

    /// Read-modify-write of the names under the store lock.
    pub(crate) fn update_refs<T>(
        &self,
        f: impl FnOnce(&mut BTreeMap<String, String>) -> Result<T>,
    ) -> Result<T> {
        let _lock = self.lock()?;
        let path = self.dir.join("repositories.json");
        let mut repos = berth_store::read_json_opt::<Repositories>(&path)?.unwrap_or_default();
        let out = f(&mut repos.refs)?;
        berth_store::write_json(&path, &repos)?;
        Ok(out)
    }

    /// Writes an image record whose blobs and layers are all in place (after
    /// syncing them to disk), then gives it `names`.
    pub(crate) fn write_image(&self, mut rec: ImageRecord, names: &[Reference]) -> Result<()> {
        self.sync()?;
        if !names.is_empty() {
            rec.last_tag_time = Some(now_rfc3339());
        } else if let Some(old) = self.read_record(&rec.id)? {
            rec.last_tag_time = old.last_tag_time;
        }
        berth_store::write_json(&self.record_path(&rec.id)?, &rec)?;
        self.put_refs(&rec.id, names)
    }

    /// Points every name in `names` at `id` (a tag moves from its old image,
    /// which stays as a dangling `<none>` image, as Docker's does).
    pub(crate) fn set_names(&self, id: &str, names: &[Reference]) -> Result<()> {
        self.put_refs(id, names)?;
        if let Some(mut rec) = self.read_record(id)? {
            rec.last_tag_time = Some(now_rfc3339());
            berth_store::write_json(&self.record_path(id)?, &rec)?;
        }
        Ok(())
    }

    fn put_refs(&self, id: &str, names: &[Reference]) -> Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        self.update_refs(|refs| {
            for r in names {
                if let Some(t) = r.tagged().filter(|_| r.digest.is_none()) {
                    refs.insert(t, id.to_owned());
                }
                if let Some(d) = r.digested() {
                    refs.insert(d, id.to_owned());
                }
            }
            Ok(())
        })
    }

    pub(crate) fn delete_record(&self, id: &str) -> Result<()> {
        let p = self.record_path(id)?;
        match fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).at(&p),
            _ => Ok(()),
        }
    }
}
