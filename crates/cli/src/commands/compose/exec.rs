//! `berth exec SERVICE COMMAND…`: a command in a running service container;
//! its exit code is berth's (126 when it cannot run, 127 when not found).

use std::io::IsTerminal;
use std::process::{Command, Stdio};

use berth_compose::engine::labels;
use berth_runtime::exec::{ExecSpec, reexec_helper_with};

use crate::global::Global;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Detached mode: Run command in the background
    #[arg(short, long)]
    detach: bool,
    /// Set environment variables
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value = "1")]
    index: u32,
    /// Disable pseudo-TTY allocation. By default `berth exec` allocates a TTY.
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

/// `-e NAME` takes the value from berth's environment (left out if unset).
fn environment(env: &[String]) -> Vec<String> {
    env.iter()
        .filter_map(|e| {
            if e.contains('=') {
                Some(e.clone())
            } else {
                std::env::var(e).ok().map(|v| format!("{e}={v}"))
            }
        })
        .collect()
}

pub fn run(g: &Global, a: Args) -> anyhow::Result<i32> {
    let engine = super::engine(g, &[])?;
    if !engine.project.services.contains_key(&a.service) {
        anyhow::bail!("no such service: {}", a.service);
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
    let env = environment(&a.env);
    if a.detach {
        // The same command, attached to nothing, left running on its own.
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.arg("--root")
            .arg(g.root().path())
            .args(["container", "exec"]);
        for e in &env {
            cmd.args(["-e", e]);
        }
        if let Some(u) = &a.user {
            cmd.args(["-u", u]);
        }
        if let Some(w) = &a.workdir {
            cmd.args(["-w", w]);
        }
        if a.privileged {
            cmd.arg("--privileged");
        }
        cmd.arg(&c.config.id)
            .args(&a.command)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        use std::os::unix::process::CommandExt;
        cmd.spawn()?;
        return Ok(0);
    }
    let spec = ExecSpec {
        args: a.command,
        env,
        user: a.user,
        cwd: a.workdir,
        tty: !a.no_tty && std::io::stdin().is_terminal() && std::io::stdout().is_terminal(),
    };
    drop(engine);
    match reexec_helper_with(&g.root(), &c.config.id, &spec, a.privileged)? {}
}
