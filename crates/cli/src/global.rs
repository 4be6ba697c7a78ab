//! Options that every command accepts, named as in `docker compose`. As in
//! Compose they go before the subcommand (`berth -f a.yaml up`), which leaves
//! `-f` free for subcommands that use it (`rm -f`, `logs -f`); only berth's own
//! `--root` is accepted anywhere.

use std::path::PathBuf;

use clap::Args;

#[derive(Args, Debug, Clone, Default)]
pub struct Global {
    /// Compose configuration files (repeatable; `-` reads standard input)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<String>,

    /// Project name
    #[arg(short = 'p', long = "project-name", value_name = "NAME")]
    pub project_name: Option<String>,

    /// Alternate working directory (default: the directory of the first Compose file)
    #[arg(long = "project-directory", value_name = "DIR")]
    pub project_directory: Option<PathBuf>,

    /// Alternate environment files (repeatable)
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_files: Vec<PathBuf>,

    /// Profiles to enable (repeatable)
    #[arg(long = "profile", value_name = "PROFILE")]
    pub profiles: Vec<String>,

    /// Control the progress output: auto, tty, plain, quiet, json
    #[arg(long, value_name = "MODE", default_value = "auto")]
    pub progress: String,

    /// Control when to print ANSI control characters: never, always, auto
    #[arg(long, value_name = "WHEN", default_value = "auto")]
    pub ansi: String,

    /// Maximum number of operations run at once (-1 for unlimited)
    #[arg(long, value_name = "N", env = "COMPOSE_PARALLEL_LIMIT")]
    pub parallel: Option<i64>,

    /// Where berth keeps images, containers, volumes and networks
    #[arg(long, global = true, value_name = "DIR", env = "BERTH_ROOT")]
    pub root: Option<PathBuf>,
}

impl Global {
    pub fn root(&self) -> berth_store::Root {
        berth_store::Root::from_flag(self.root.as_deref())
    }
}
