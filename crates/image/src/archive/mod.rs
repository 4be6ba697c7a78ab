//! Image archives: `load` (OCI layout and `docker save` archives), `save`
//! (an archive both `docker load` and OCI tools accept) and `import`.

pub mod change;
mod extract;
mod import;
mod load;
mod save;

pub use import::ImportOptions;
pub use load::{LoadOptions, LoadedImage};

/// The annotation containerd and Docker put the full image name in.
pub const CONTAINERD_NAME: &str = "io.containerd.image.name";
/// The OCI annotation for a reference name (often just a tag).
pub const OCI_REF_NAME: &str = "org.opencontainers.image.ref.name";
