//! Dockerfile builds on berth's own runtime: [`dockerfile`] parses,
//! [`builder`] runs the steps (RUN in a berth container, COPY/ADD straight
//! from the context), each filesystem change becoming a layer of a normal
//! image in the store, with a cache keyed by parent, instruction and content.

pub mod builder;
mod cache;
pub mod dockerfile;
pub mod ignore;
mod layer;
mod sources;
mod steps;

pub use builder::{BuildOptions, Builder};

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
    #[error("{0}")]
    Io(String),
    #[error(transparent)]
    Image(#[from] berth_image::ImageError),
    #[error(transparent)]
    Runtime(#[from] berth_runtime::RuntimeError),
    /// A step failed: which one, and its output.
    #[error(
        "failed to solve: process \"{command}\" did not complete successfully: exit code: {code}\n{output}"
    )]
    Run {
        command: String,
        code: i32,
        output: String,
    },
}
