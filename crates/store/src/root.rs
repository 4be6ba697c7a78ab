use std::path::{Path, PathBuf};

use crate::error::{Result, StoreError};

/// The berth root directory and the places inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    path: PathBuf,
}

impl Root {
    pub const DEFAULT: &'static str = "/var/lib/berth";
    pub const ENV: &'static str = "BERTH_ROOT";

    pub fn new(path: impl Into<PathBuf>) -> Self {
        Root { path: path.into() }
    }

    /// `--root` if given, else `BERTH_ROOT`, else `/var/lib/berth`.
    pub fn from_flag(flag: Option<&Path>) -> Self {
        match flag {
            Some(p) => Root::new(p),
            None => match std::env::var_os(Self::ENV) {
                Some(p) if !p.is_empty() => Root::new(PathBuf::from(p)),
                _ => Root::new(Self::DEFAULT),
            },
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn images(&self) -> PathBuf {
        self.path.join("images")
    }
    pub fn containers(&self) -> PathBuf {
        self.path.join("containers")
    }
    pub fn container(&self, id: &str) -> PathBuf {
        self.containers().join(id)
    }
    pub fn volumes(&self) -> PathBuf {
        self.path.join("volumes")
    }
    pub fn networks(&self) -> PathBuf {
        self.path.join("networks")
    }
    pub fn projects(&self) -> PathBuf {
        self.path.join("projects")
    }
    pub fn builds(&self) -> PathBuf {
        self.path.join("builds")
    }
    pub fn run(&self) -> PathBuf {
        self.path.join("run")
    }

    /// Creates `dir` (and parents) if missing.
    pub fn ensure_dir(dir: &Path) -> Result<()> {
        // Looked up first: `mkdir` of an existing directory still takes its
        // parent's lock for writing, and dozens of threads doing so at once
        // (a `down` moving every record to the trash) queue behind each
        // other and behind every rename there.
        if dir.is_dir() {
            return Ok(());
        }
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_wins_over_default() {
        assert_eq!(
            Root::from_flag(Some(Path::new("/x"))).path(),
            Path::new("/x")
        );
        assert_eq!(
            Root::new("/r").container("abc"),
            PathBuf::from("/r/containers/abc")
        );
    }
}
