//! The runtime's error type: every variant says which container (or file)
//! it is about.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Store(#[from] berth_store::StoreError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    #[error(
        "Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name."
    )]
    NameInUse { name: String, id: String },
    #[error("invalid container name {0:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName(String),
    #[error("container {name}: {message}")]
    Container { name: String, message: String },
    #[error("{0}")]
    Other(String),
}

impl RuntimeError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        RuntimeError::Io {
            path: path.into(),
            source,
        }
    }

    pub fn container(name: &str, message: impl Into<String>) -> Self {
        RuntimeError::Container {
            name: name.to_owned(),
            message: message.into(),
        }
    }
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;
