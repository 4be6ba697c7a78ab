use std::path::PathBuf;

/// Everything that can go wrong in the image store, archives and registry
/// client. Every message names what it was about: the file, the image, the
/// registry or the archive entry.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] berth_store::StoreError),
    #[error("{what}: invalid JSON: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("invalid reference format: {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },
    #[error("invalid platform {platform:?}: expected os/arch[/variant], e.g. linux/amd64")]
    InvalidPlatform { platform: String },
    #[error("No such image: {0}")]
    NotFound(String),
    #[error("image id prefix {0:?} is ambiguous: it matches several images")]
    Ambiguous(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{what}: size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        what: String,
        expected: u64,
        actual: u64,
    },
    #[error("unsafe layer archive: entry {entry:?}: {reason}")]
    UnsafeArchive { entry: String, reason: String },
    #[error("{layer}: unpacking entry {entry:?}: {source}")]
    Unpack {
        layer: String,
        entry: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{archive}: {reason}")]
    BadArchive { archive: String, reason: String },
    #[error("invalid --change {change:?}: {reason}")]
    InvalidChange { change: String, reason: String },
    #[error("{0}: unsupported")]
    Unsupported(String),
    #[error("registry {registry} is unreachable: {reason}")]
    Unreachable { registry: String, reason: String },
    #[error("{registry}: authentication refused: {reason}")]
    AuthRefused { registry: String, reason: String },
    #[error(
        "pull access denied for {reference}: repository does not exist or may require 'docker login'"
    )]
    UnknownImage { reference: String },
    #[error("manifest for {reference} not found: manifest unknown")]
    UnknownTag { reference: String },
    #[error(
        "no matching manifest for {wanted} in the manifest list entries of {reference} (available: {available})"
    )]
    NoMatchingPlatform {
        reference: String,
        wanted: String,
        available: String,
    },
    #[error(
        "image with reference {reference} was found but does not match the specified platform: wanted {wanted}, actual: {actual}"
    )]
    WrongPlatform {
        reference: String,
        wanted: String,
        actual: String,
    },
    #[error("{registry}: {reason}")]
    Registry { registry: String, reason: String },
}

pub type Result<T, E = ImageError> = std::result::Result<T, E>;

impl ImageError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ImageError::Io {
            path: path.into(),
            source,
        }
    }

    pub fn json(what: impl Into<String>, source: serde_json::Error) -> Self {
        ImageError::Json {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn bad_archive(archive: impl std::fmt::Display, reason: impl Into<String>) -> Self {
        ImageError::BadArchive {
            archive: archive.to_string(),
            reason: reason.into(),
        }
    }
}

/// `map_err` helper: attach a path to an I/O error.
pub(crate) trait IoContext<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|e| ImageError::io(path, e))
    }
}
