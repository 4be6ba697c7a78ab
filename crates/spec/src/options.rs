//! What the caller tells the loader, and what it gets back.

use std::path::PathBuf;

use indexmap::IndexMap;

use crate::error::Warning;
use crate::model::Project;

/// Inputs of [`crate::load`]. The loader never reads the process
/// environment or the current directory itself: the caller passes both, so
/// loading is reproducible and testable.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// `-f` files in order; `-` reads [`LoadOptions::stdin`]. Empty: use
    /// `COMPOSE_FILE`, else look for `compose.yaml` & co. in `working_dir`
    /// and its parents (plus the matching `*.override.*` file).
    pub files: Vec<PathBuf>,
    /// The content of standard input, for a `-` file.
    pub stdin: Option<String>,
    /// The directory relative paths given on the command line start from
    /// (the process's current directory). Must be absolute.
    pub working_dir: PathBuf,
    /// `-p`.
    pub project_name: Option<String>,
    /// `--project-directory`.
    pub project_directory: Option<PathBuf>,
    /// `--env-file` (repeatable); replaces the project directory's `.env`.
    pub env_files: Vec<PathBuf>,
    /// `--profile` (repeatable). Empty: `COMPOSE_PROFILES`.
    pub profiles: Vec<String>,
    /// The process environment (it takes precedence over `.env`).
    pub environment: IndexMap<String, String>,
    /// Services named on the command line: their profiles are enabled.
    pub services: Vec<String>,
    /// `--no-interpolate`: leave `${…}` as written.
    pub no_interpolate: bool,
    /// Do not read `env_file`s into `environment` (`--no-env-resolution`).
    pub no_env_resolution: bool,
}

impl LoadOptions {
    /// Options for the given files with everything else empty.
    pub fn for_files(working_dir: impl Into<PathBuf>, files: &[&str]) -> Self {
        LoadOptions {
            working_dir: working_dir.into(),
            files: files.iter().map(PathBuf::from).collect(),
            ..Default::default()
        }
    }
}

/// The result of [`crate::load`]: the project, and the warnings the CLI
/// should print (unset variables, obsolete `version`, …).
#[derive(Clone, Debug)]
pub struct Loaded {
    pub project: Project,
    pub warnings: Vec<Warning>,
}
