//! berth's images: a content-addressed store under `<root>/images`, archive
//! load/save/import, and a client for OCI distribution registries.
//!
//! # The contract other crates rely on
//!
//! ```no_run
//! # fn main() -> berth_image::Result<()> {
//! use berth_image::ImageStore;
//! let root = berth_store::Root::new("/var/lib/berth");
//! let store = ImageStore::open(&root)?;
//! // Names are normalised like Docker's (`redis` = `docker.io/library/redis:latest`);
//! // full ids, unique id prefixes and `name@sha256:…` work too.
//! if let Some(image) = store.resolve("redis")? {
//!     let _env = &image.config.env;             // typed ImageConfig
//!     let lower = store.layer_dirs(&image)?;     // topmost first, for `lowerdir=`
//!     let _opts = lower.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(":");
//! }
//! # Ok(()) }
//! ```
//!
//! - [`ImageStore::open`], [`ImageStore::resolve`] / [`get`](ImageStore::get) /
//!   [`exists`](ImageStore::exists), [`ImageStore::list`].
//! - [`Image`]: `id` (config digest), `repo_tags`, `repo_digests`,
//!   `architecture`/`os`/`variant`, `config` ([`ImageConfig`]: Env, Entrypoint,
//!   Cmd, WorkingDir, User, ExposedPorts, Volumes, Healthcheck, StopSignal,
//!   Labels, OnBuild, Shell), `layers`, `size`.
//! - [`ImageStore::layer_dirs`]: unpacked layer directories, topmost first,
//!   usable directly as overlayfs lower dirs; each layer is unpacked once and
//!   shared; whiteouts are already overlayfs whiteouts (0/0 char devices and
//!   `trusted.overlay.opaque=y`).
//! - Pulling: [`ImageStore::pull`] (one reference, optional platform),
//!   [`ImageStore::pull_many`] (several in parallel), with a
//!   [`progress::PullObserver`] ([`progress::ConsoleProgress`] draws bars on a
//!   TTY, plain lines otherwise, or nothing).
//! - Builder: [`ImageStore::hold`], [`ImageStore::add_layer`] (a tar stream →
//!   diff id, blob and unpacked dir), [`ImageStore::commit`] (a [`NewImage`]:
//!   config + layers + history + tags), [`ImageStore::save`] (an archive
//!   `docker load` accepts).
//! - Removal: [`ImageStore::remove`] and [`ImageStore::prune`] take an
//!   [`ImageUsers`] from the caller (image id → the container using it); the
//!   store never reads container state itself.
//!
//! # Guarantees
//! Every blob's digest and size are verified before it is stored; layers are
//! unpacked into a temporary directory and renamed into place; an image record
//! is written (after a `syncfs`) only when everything it names exists. Layer
//! tars are treated as hostile (see [`unpack`]).

pub mod archive;
pub mod compress;
pub mod digest;
pub mod error;
mod parallel;
pub mod platform;
pub mod progress;
pub mod reference;
pub mod registry;
pub mod spec;
pub mod store;
pub mod unpack;

pub use archive::{ImportOptions, LoadOptions, LoadedImage};
pub use error::{ImageError, Result};
pub use platform::Platform;
pub use reference::Reference;
pub use registry::{PullOptions, RegistryClient};
pub use spec::{HealthConfig, ImageConfig};
pub use store::{
    Image, ImageLayer, ImageStore, ImageUsers, LayerInfo, NewImage, PruneOptions, PruneReport,
    RemoveAction, RemoveOptions,
};
