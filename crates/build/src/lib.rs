//! Dockerfile builds on berth's own runtime: [`dockerfile`] parses,
//! [`builder`] runs the steps (RUN in a berth container on the build
//! network, see [`run_network`]; COPY/ADD straight from the context), each
//! filesystem change becoming a layer of a normal image in the store, with
//! a cache keyed by parent, instruction and content. [`sweep`] removes what
//! a killed build left.

pub mod builder;
mod cache;
mod copy;
pub mod dockerfile;
pub mod ignore;
mod layer;
mod meta;
pub mod progress;
pub mod run_network;
mod sources;
mod steps;
pub mod sweep;

pub use builder::{BuildOptions, Builder};
pub use progress::{Console, Event, Mode};
pub use run_network::BUILD_NETWORK;

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
    /// The network of RUN steps (which network, and what failed).
    #[error("{0}")]
    Network(String),
    /// A RUN step failed: which line, the command, and its output.
    #[error(
        "{file}:{line}: {instruction}: process \"{command}\" did not complete successfully: exit code: {code}{}",
        if output.is_empty() { String::new() } else { format!("\n{}", output.trim_end()) }
    )]
    Run {
        file: String,
        line: usize,
        instruction: String,
        command: String,
        code: i32,
        output: String,
    },
}
