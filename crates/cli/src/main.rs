//! `berth`: Compose projects on berth's own runtime.
//!
//! This file only parses the command line and dispatches; every command group
//! lives in its own module under `commands/`, and the work itself lives in the
//! library crates. `anyhow` is used here, at the binary's edge, and nowhere else.

// `errln!` (stderr lines in one write) for every module of the binary.
#[macro_use]
extern crate berth_store;

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

// Parsed once per process: the size of its variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum Command {
    /// Create and start containers
    Up(Box<commands::compose::up::Args>),
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
    /// Creates containers for a service
    Create(Box<commands::compose::up::Args>),
    /// Start services
    Start(commands::compose::lifecycle::StartArgs),
    /// Stop services
    Stop(commands::compose::lifecycle::StopArgs),
    /// Restart service containers
    Restart(commands::compose::lifecycle::RestartArgs),
    /// Force stop service containers
    Kill(commands::compose::lifecycle::KillArgs),
    /// Removes stopped service containers
    Rm(commands::compose::lifecycle::RmArgs),
    /// Pause services
    Pause(commands::compose::lifecycle::Services),
    /// Unpause services
    Unpause(commands::compose::lifecycle::Services),
    /// Block until containers of all (or specified) services stop
    Wait(commands::compose::lifecycle::WaitArgs),
    /// Run a one-off command on a service
    Run(commands::compose::run::Args),
    /// Pull service images
    Pull(commands::compose::pull::Args),
    /// Print the public port for a port binding
    Port(commands::compose::info::PortArgs),
    /// Display the running processes
    Top { services: Vec<String> },
    /// List running compose projects
    Ls(commands::compose::info::LsArgs),
    /// List images used by the created containers
    Images(commands::compose::info::ImagesArgs),
    /// Receive real time events from containers
    Events(commands::compose::events::EventsArgs),
    /// Copy files/folders between a service container and the local filesystem
    Cp(commands::compose::cp::Args),
    /// Show the berth version information
    Version(commands::compose::info::VersionArgs),
    /// Watch build context for service and rebuild/refresh containers when files are updated
    Watch(commands::compose::watch::Args),
    /// Generate shell completions (bash, zsh, fish)
    Completion { shell: clap_complete::Shell },
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
        // The reader went away (`berth ps | head`): nothing to report.
        Err(err)
            if err
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            0
        }
        Err(err) => {
            errln!("Error: {}", format_error(&err));
            1
        }
    };
    std::process::exit(code);
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    let g = &cli.global;
    match cli.command {
        Command::Up(a) => commands::compose::up::run(g, *a),
        Command::Down(a) => commands::compose::down::run(g, a),
        Command::Ps(a) => commands::compose::ps::run(g, a),
        Command::Logs(a) => commands::compose::logs::run(g, a),
        Command::Exec(a) => commands::compose::exec::run(g, a),
        Command::Build(a) => commands::compose::build::run(g, a),
        Command::Create(a) => commands::compose::up::create(g, *a),
        Command::Start(a) => commands::compose::lifecycle::start(g, a),
        Command::Stop(a) => commands::compose::lifecycle::stop(g, a),
        Command::Restart(a) => commands::compose::lifecycle::restart(g, a),
        Command::Kill(a) => commands::compose::lifecycle::kill(g, a),
        Command::Rm(a) => commands::compose::lifecycle::rm(g, a),
        Command::Pause(a) => commands::compose::lifecycle::pause(g, a, true),
        Command::Unpause(a) => commands::compose::lifecycle::pause(g, a, false),
        Command::Wait(a) => commands::compose::lifecycle::wait(g, a),
        Command::Run(a) => commands::compose::run::run(g, a),
        Command::Pull(a) => commands::compose::pull::run(g, a),
        Command::Port(a) => commands::compose::info::port(g, a),
        Command::Top { services } => commands::compose::info::top(g, services),
        Command::Ls(a) => commands::compose::info::ls(g, a),
        Command::Images(a) => commands::compose::info::images(g, a),
        Command::Events(a) => commands::compose::events::events(g, a),
        Command::Cp(a) => commands::compose::cp::run(g, a),
        Command::Version(a) => commands::compose::info::version(a),
        Command::Watch(a) => commands::compose::watch::run(g, a),
        Command::Completion { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "berth", &mut std::io::stdout());
            Ok(0)
        }
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
