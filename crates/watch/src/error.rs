//! The one error type of berth-watch, with the path or container it is about.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("{path}: {source}")]
    Host {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("container {container}: {path}: {source}")]
    Container {
        container: String,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("watch {path}: {message}")]
    Notify { path: PathBuf, message: String },
    #[error("{0}")]
    Rule(String),
}

pub type Result<T, E = WatchError> = std::result::Result<T, E>;

impl WatchError {
    pub fn host(path: impl Into<PathBuf>, source: impl Into<std::io::Error>) -> Self {
        WatchError::Host {
            path: path.into(),
            source: source.into(),
        }
    }

    pub fn container(container: &str, path: &str, source: impl Into<std::io::Error>) -> Self {
        WatchError::Container {
            container: container.to_owned(),
            path: path.to_owned(),
            source: source.into(),
        }
    }
}
