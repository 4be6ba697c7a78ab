//! `berth`: Compose projects on berth's own runtime.
//!
//! This file only parses the command line and dispatches; every command group
//! lives in its own module under `commands/`, and the work itself lives in the
//! library crates. `anyhow` is used here, at the binary's edge, and nowhere else.

mod commands;
mod global;
mod output;

use clap::{Parser, Subcommand};

use crate::global::Global;

#[derive(Parser, Debug)]
#[command(
    name = "berth",
    version,
    about = "Run Compose projects on berth's own container runtime, without a daemon",
    propagate_version = true,
    disable_help_subcommand = true
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create and start containers
    Up(commands::compose::up::Args),
    /// Stop and remove containers, networks
    Down(commands::compose::down::Args),
    /// List containers
    Ps(commands::compose::ps::Args),
    /// View output from containers
    Logs(commands::compose::logs::Args),
    /// Execute a command in a running container
    Exec(commands::compose::exec::Args),
    /// Build or rebuild services
    Build(commands::compose::build::Args),
    /// Parse, resolve and render the Compose file in canonical format
    Config(commands::config::Args),
    /// Manage images (load, save, import, ls, inspect, rm, prune, pull, tag)
    #[command(subcommand)]
    Image(commands::image::ImageCommand),
    /// Manage single containers directly, outside a Compose project
    #[command(subcommand)]
    Container(commands::container::ContainerCommand),
    /// Manage networks
    #[command(subcommand)]
    Network(commands::network::NetworkCommand),
    /// Manage volumes
    #[command(subcommand)]
    Volume(commands::volume::VolumeCommand),
    /// Internal entry points of berth's helper processes (not for users)
    #[command(hide = true, name = "__internal", subcommand)]
    Internal(commands::internal::InternalCommand),
}

fn main() {
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("Error: {}", format_error(&err));
            1
        }
    };
    std::process::exit(code);
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    let g = &cli.global;
    match cli.command {
        Command::Up(a) => commands::compose::up::run(g, a),
        Command::Down(a) => commands::compose::down::run(g, a),
        Command::Ps(a) => commands::compose::ps::run(g, a),
        Command::Logs(a) => commands::compose::logs::run(g, a),
        Command::Exec(a) => commands::compose::exec::run(g, a),
        Command::Build(a) => commands::compose::build::run(g, a),
        Command::Config(args) => commands::config::run(g, args),
        Command::Image(cmd) => commands::image::run(g, cmd),
        Command::Container(cmd) => commands::container::run(g, cmd),
        Command::Network(cmd) => commands::network::run(g, cmd),
        Command::Volume(cmd) => commands::volume::run(g, cmd),
        Command::Internal(cmd) => commands::internal::run(g, cmd),
    }
}

/// One line per cause, outermost first, without repeating a cause that the
/// message above already contains.
fn format_error(err: &anyhow::Error) -> String {
    let mut out = err.to_string();
    for cause in err.chain().skip(1) {
        let c = cause.to_string();
        if !out.contains(&c) {
            out.push_str(": ");
            out.push_str(&c);
        }
    }
    out
}
