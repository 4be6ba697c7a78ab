//! `image import`: a root file system tarball becomes a one-layer image.

use std::io::Read;

use serde_json::{Map, Value};

use super::change::apply_change;
use crate::error::Result;
use crate::platform::Platform;
use crate::spec::{History, ImageConfig};
use crate::store::{Image, ImageStore, NewImage, now_rfc3339};

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `name[:tag]` to give the image.
    pub reference: Option<String>,
    /// Dockerfile instructions applied to an empty config (`CMD ["sh"]`).
    pub changes: Vec<String>,
    /// The history comment (`docker import -m`).
    pub message: Option<String>,
    /// Platform to record; the host's by default.
    pub platform: Option<Platform>,
    /// Where the tarball came from, for the history ("-" for stdin).
    pub source: String,
}

impl ImageStore {
    /// Imports a rootfs tarball (plain, gzip or zstd).
    pub fn import(&self, tarball: impl Read, opts: ImportOptions) -> Result<Image> {
        let mut config = ImageConfig::default();
        for c in &opts.changes {
            apply_change(&mut config, c)?;
        }
        // Validate the name before any work.
        if let Some(r) = &opts.reference {
            crate::reference::Reference::parse(r)?;
        }
        // Keep the new layer safe from a concurrent prune until committed.
        let _hold = self.hold()?;
        let layer = self.add_layer(tarball)?;
        let created = now_rfc3339();
        let comment = opts
            .message
            .clone()
            .unwrap_or_else(|| format!("Imported from {}", opts.source));
        let mut extra = Map::new();
        if let Some(m) = &opts.message {
            extra.insert("comment".into(), Value::String(m.clone()));
        }
        let new = NewImage {
            config,
            platform: opts.platform.unwrap_or_else(Platform::host),
            created: Some(created.clone()),
            author: None,
            layers: vec![layer.diff_id],
            history: vec![History {
                created: Some(created),
                comment: Some(comment),
                ..Default::default()
            }],
            tags: opts.reference.into_iter().collect(),
            extra,
        };
        self.commit(new)
    }
}
