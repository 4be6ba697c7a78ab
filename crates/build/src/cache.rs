//! The build cache: a step's key (parent key, instruction, the content of
//! the files it reads) → the layer it produced, in `<root>/builds/cache/`.

use std::path::PathBuf;

use berth_store::Root;
use sha2::{Digest, Sha256};

pub struct Cache {
    dir: PathBuf,
}

pub fn key(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

impl Cache {
    pub fn new(root: &Root) -> Cache {
        Cache {
            dir: root.builds().join("cache"),
        }
    }

    /// The diff id recorded for `key`.
    pub fn get(&self, key: &str) -> Option<String> {
        std::fs::read_to_string(self.dir.join(key))
            .ok()
            .map(|s| s.trim().to_owned())
    }

    pub fn put(&self, key: &str, diff_id: &str) {
        if Root::ensure_dir(&self.dir).is_ok() {
            let _ = berth_store::atomic_write(&self.dir.join(key), diff_id.as_bytes());
        }
    }
}
