//! `berth exec SERVICE COMMAND…`: a command in a running service container;
//! its exit code is berth's.

use berth_compose::engine::labels;
use berth_runtime::exec::{ExecSpec, reexec_helper};

use crate::global::Global;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    detach: bool,
    /// Set environment variables
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value = "1")]
    index: u32,
    /// Disable pseudo-TTY allocation
    #[arg(short = 'T', long = "no-TTY")]
    no_tty: bool,
    /// Run the command as this user
    #[arg(short, long)]
    user: Option<String>,
    /// Path to workdir directory for this command
    #[arg(short, long)]
    workdir: Option<String>,
    /// Give extended privileges to the process
    #[arg(long)]
    privileged: bool,
    service: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    command: Vec<String>,
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    use std::io::IsTerminal;
    let engine = super::engine(g, &[])?;
    if !engine.project.services.contains_key(&a.service) {
        anyhow::bail!("service \"{}\" is not running", a.service);
    }
    let c = engine
        .containers()?
        .into_iter()
        .find(|c| {
            c.config.labels.get(labels::SERVICE) == Some(&a.service)
                && c.config
                    .labels
                    .get(labels::NUMBER)
                    .is_some_and(|n| *n == a.index.to_string())
                && c.state.status.is_active()
        })
        .ok_or_else(|| anyhow::anyhow!("service \"{}\" is not running", a.service))?;
    let spec = ExecSpec {
        args: a.command,
        env: a.env,
        user: a.user,
        cwd: a.workdir,
        tty: !a.no_tty && std::io::stdin().is_terminal() && std::io::stdout().is_terminal(),
    };
    let _ = a.privileged;
    if a.detach {
        anyhow::bail!("exec -d is not supported yet");
    }
    drop(engine);
    match reexec_helper(&g.root(), &c.config.id, &spec)? {}
}
