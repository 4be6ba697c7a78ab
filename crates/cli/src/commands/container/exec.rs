//! `container exec`: a command in a running container; its exit code is
//! berth's (126 when it cannot be run, 127 when it is not found).

use berth_runtime::Runtime;
use berth_runtime::exec::{ExecSpec, reexec_helper_with};

use super::flags;
use crate::global::Global;

#[derive(clap::Args, Debug)]
pub struct ExecArgs {
    /// Set environment variables
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    env_file: Vec<String>,
    /// Keep STDIN open even if not attached (stdin is always passed on)
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short, long)]
    user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    workdir: Option<String>,
    /// Give extended privileges to the command
    #[arg(long)]
    privileged: bool,
    container: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    command: Vec<String>,
}

pub fn run(g: &Global, rt: &Runtime, a: ExecArgs) -> anyhow::Result<i32> {
    let c = rt.inspect(&a.container)?;
    if !c.state.status.is_active() {
        anyhow::bail!("container {} is not running", c.config.id);
    }
    let _ = a.interactive;
    let spec = ExecSpec {
        args: a.command,
        env: flags::environment(&a.env, &a.env_file)?,
        user: a.user,
        cwd: a.workdir,
        tty: a.tty,
    };
    match reexec_helper_with(&g.root(), &c.config.id, &spec, a.privileged)? {}
}
