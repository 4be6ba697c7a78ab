//! Named and anonymous volumes: `<root>/volumes/<name>/_data` plus a small
//! record. A volume is never deleted unless the user asks (`volume rm`,
//! `down -v`, `rm -v` for anonymous ones), and never while a container uses it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use berth_store::Root;
use serde::{Deserialize, Serialize};

use crate::error::{Result, RuntimeError};
use crate::records::remove_tree;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub created_at: String,
    /// Created for a container (image VOLUME or `- /path`), not by name.
    #[serde(default)]
    pub anonymous: bool,
}

#[derive(Debug, Clone)]
pub struct Volumes {
    dir: PathBuf,
}

impl Volumes {
    pub fn new(root: &Root) -> Volumes {
        Volumes {
            dir: root.volumes(),
        }
    }

    pub fn data(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("_data")
    }

    fn record(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("volume.json")
    }

    pub fn get(&self, name: &str) -> Result<Option<Volume>> {
        Ok(berth_store::read_json_opt(&self.record(name))?)
    }

    /// Creates the volume if it does not exist; returns it either way.
    pub fn ensure(
        &self,
        name: &str,
        labels: BTreeMap<String, String>,
        anonymous: bool,
    ) -> Result<Volume> {
        if let Some(v) = self.get(name)? {
            return Ok(v);
        }
        if !crate::records::valid_name(name) {
            return Err(RuntimeError::Other(format!(
                "\"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed"
            )));
        }
        Root::ensure_dir(&self.data(name))?;
        let v = Volume {
            name: name.to_owned(),
            labels,
            created_at: crate::state::now_rfc3339(),
            anonymous,
        };
        berth_store::write_json(&self.record(name), &v)?;
        Ok(v)
    }

    /// A new anonymous volume with a random 64-hex name.
    pub fn anonymous(&self) -> Result<Volume> {
        self.ensure(&berth_store::new_id(), BTreeMap::new(), true)
    }

    pub fn list(&self) -> Result<Vec<Volume>> {
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(RuntimeError::io(&self.dir, e)),
        };
        let mut out = Vec::new();
        for e in rd.flatten() {
            if let Some(v) = self.get(&e.file_name().to_string_lossy())? {
                out.push(v);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Removes a volume; `users` are the containers that mount it.
    pub fn remove(&self, name: &str, users: &[String]) -> Result<()> {
        if self.get(name)?.is_none() {
            return Err(RuntimeError::Other(format!("get {name}: no such volume")));
        }
        if !users.is_empty() {
            return Err(RuntimeError::Other(format!(
                "remove {name}: volume is in use - [{}]",
                users.join(", ")
            )));
        }
        remove_tree(&self.dir.join(name))
    }
}

/// Creates the missing host directories of bind mounts that ask for it, as
/// Compose's short syntax does (`./data:/data` creates `./data`). A missing
/// source of any other bind mount is an error naming it.
pub fn create_host_paths(config: &crate::config::ContainerConfig) -> Result<()> {
    use crate::config::MountKind;
    for m in config.mounts.iter().filter(|m| m.kind == MountKind::Bind) {
        let Some(src) = m.source.as_deref() else {
            continue;
        };
        let p = std::path::Path::new(src);
        if p.symlink_metadata().is_ok() {
            continue;
        }
        if !m.create_host_path {
            return Err(RuntimeError::container(
                &config.name,
                format!(
                    "invalid mount config for type \"bind\": bind source path does not exist: {src}"
                ),
            ));
        }
        std::fs::create_dir_all(p).map_err(|e| RuntimeError::io(p, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ensure_list_remove() {
        let tmp = tempfile::tempdir().unwrap();
        let v = Volumes::new(&Root::new(tmp.path()));
        v.ensure("data", BTreeMap::new(), false).unwrap();
        std::fs::write(v.data("data").join("f"), b"x").unwrap();
        v.ensure("data", BTreeMap::new(), false).unwrap();
        assert_eq!(
            std::fs::read(v.data("data").join("f")).unwrap(),
            b"x",
            "ensure keeps data"
        );
        let a = v.anonymous().unwrap();
        assert!(a.anonymous);
        assert_eq!(v.list().unwrap().len(), 2);
        let err = v.remove("data", &["web".into()]).unwrap_err().to_string();
        assert_eq!(err, "remove data: volume is in use - [web]");
        v.remove("data", &[]).unwrap();
        assert!(v.get("data").unwrap().is_none());
        assert!(v.ensure("bad/name", BTreeMap::new(), false).is_err());
    }
}
