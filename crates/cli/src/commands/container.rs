//! `berth container` (in progress).

use crate::global::Global;

#[derive(clap::Subcommand, Debug)]
pub enum ContainerCommand {
    /// (in progress)
    Placeholder,
}

pub fn run(_g: &Global, _cmd: ContainerCommand) -> anyhow::Result<i32> {
    anyhow::bail!("not built yet")
}
