//! The Compose project model: load Compose files exactly as `docker compose`
//! does and give the canonical, typed [`Project`].
//!
//! Pipeline (compose-go's order): find the files → read `.env` → parse each
//! file with line/column ([`yaml`]) → interpolate ([`interpolate`]) → long
//! forms ([`canonical`]) → `extends` → `include` → merge the files
//! ([`merge`]) → type ([`model`]) → normalise → profiles → validate.
//!
//! Entry points: [`load`] with [`LoadOptions`] gives a [`Loaded`] (the
//! [`Project`] and the warnings to print); [`service_hash`] is the config
//! hash Compose labels containers with; [`to_yaml`] / [`to_json`] print a
//! project exactly as `docker compose config` does. The loader reads files
//! but never the process environment or the current directory: the caller
//! passes both in [`LoadOptions`].
//!
//! ```no_run
//! let opts = berth_spec::LoadOptions {
//!     working_dir: std::env::current_dir().unwrap(),
//!     environment: std::env::vars().collect(),
//!     ..Default::default()
//! };
//! let loaded = berth_spec::load(&opts)?;
//! for w in &loaded.warnings {
//!     eprintln!("WARN {w}");
//! }
//! println!("{}", berth_spec::to_yaml(&loaded.project));
//! # Ok::<(), berth_spec::SpecError>(())
//! ```

pub mod canonical;
pub mod convert;
pub mod dotenv;
pub mod error;
mod extends;
mod hash;
mod include;
pub mod interpolate;
mod loader;
pub mod merge;
pub mod model;
mod normalize;
mod options;
mod paths;
mod profiles;
mod project;
pub mod serialize;
pub mod units;
mod validate;
pub mod yaml;

pub use error::{Location, SpecError, Warning};
pub use hash::service_hash;
pub use loader::{DEFAULT_FILES, OVERRIDE_FILES, load, normalize_project_name};
pub use model::*;
pub use options::{LoadOptions, Loaded};
pub use serialize::{to_json, to_json_with, to_yaml, to_yaml_with};
pub use units::{Bytes, Duration};
