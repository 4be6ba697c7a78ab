//! `berth container …`: single containers, Docker-style, outside any Compose
//! project. Handy for trying an image and for measuring the runtime alone.

mod exec;
mod flags;
mod run;
mod show;

use std::time::Duration;

use berth_runtime::Runtime;

use crate::global::Global;

#[derive(clap::Subcommand, Debug)]
pub enum ContainerCommand {
    /// Create and start a container from an image
    Run(run::RunArgs),
    /// Create a container without starting it
    Create(run::RunArgs),
    /// Start one or more stopped containers
    Start { containers: Vec<String> },
    /// Stop one or more running containers
    Stop {
        /// Seconds to wait before killing the container
        #[arg(short = 't', long = "time")]
        time: Option<u64>,
        containers: Vec<String>,
    },
    /// Send a signal to one or more running containers
    Kill {
        #[arg(short = 's', long = "signal", default_value = "KILL")]
        signal: String,
        containers: Vec<String>,
    },
    /// Remove one or more containers
    #[command(alias = "remove")]
    Rm {
        /// Force the removal of a running container (uses SIGKILL)
        #[arg(short, long)]
        force: bool,
        /// Remove anonymous volumes associated with the container
        #[arg(short, long)]
        volumes: bool,
        containers: Vec<String>,
    },
    /// Rename a container
    Rename { container: String, new_name: String },
    /// Block until one or more containers stop, then print their exit codes
    Wait { containers: Vec<String> },
    /// List containers
    #[command(alias = "ps", alias = "list")]
    Ls(show::LsArgs),
    /// Display detailed information on one or more containers
    Inspect { containers: Vec<String> },
    /// Fetch the logs of a container
    Logs(show::LogsArgs),
    /// Execute a command in a running container
    Exec(exec::ExecArgs),
    /// Pause all processes within one or more containers
    Pause { containers: Vec<String> },
    /// Unpause all processes within one or more containers
    Unpause { containers: Vec<String> },
}

pub fn run(g: &Global, cmd: ContainerCommand) -> anyhow::Result<i32> {
    let rt = Runtime::open(&g.root());
    let each =
        |names: &[String], f: &dyn Fn(&str) -> berth_runtime::Result<()>| -> anyhow::Result<i32> {
            let mut code = 0;
            for n in names {
                match f(n) {
                    Ok(()) => println!("{n}"),
                    Err(e) => {
                        errln!("Error response from daemon: {e}");
                        code = 1;
                    }
                }
            }
            Ok(code)
        };
    match cmd {
        ContainerCommand::Run(a) => run::run(g, &rt, a, true),
        ContainerCommand::Create(a) => run::run(g, &rt, a, false),
        ContainerCommand::Start { containers } => each(&containers, &|c| rt.start(c)),
        ContainerCommand::Stop { time, containers } => {
            each(&containers, &|c| rt.stop(c, time.map(Duration::from_secs)))
        }
        ContainerCommand::Kill { signal, containers } => {
            each(&containers, &|c| rt.kill(c, &signal))
        }
        ContainerCommand::Rm {
            force,
            volumes,
            containers,
        } => each(&containers, &|c| rt.remove(c, force, volumes)),
        ContainerCommand::Rename {
            container,
            new_name,
        } => {
            rt.rename(&container, &new_name)?;
            Ok(0)
        }
        ContainerCommand::Wait { containers } => {
            for c in &containers {
                println!("{}", rt.wait(c)?);
            }
            Ok(0)
        }
        ContainerCommand::Ls(a) => show::ls(&rt, a),
        ContainerCommand::Inspect { containers } => show::inspect(&rt, &containers),
        ContainerCommand::Logs(a) => show::logs(&rt, a),
        ContainerCommand::Exec(a) => exec::run(g, &rt, a),
        ContainerCommand::Pause { containers } => each(&containers, &|c| rt.pause(c)),
        ContainerCommand::Unpause { containers } => each(&containers, &|c| rt.unpause(c)),
    }
}
