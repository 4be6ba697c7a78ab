//! Dockerfile builds on berth's own runtime (in progress).

pub mod dockerfile;
pub mod ignore;

/// Errors of the builder; each names the Dockerfile line or the file involved.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{file}:{line}: {message}")]
    Dockerfile {
        file: String,
        line: usize,
        message: String,
    },
    #[error("{file}:{line}: {message}")]
    Ignore {
        file: String,
        line: usize,
        message: String,
    },
}
