//! `berth network` (in progress).

use crate::global::Global;

#[derive(clap::Subcommand, Debug)]
pub enum NetworkCommand {
    /// (in progress)
    Placeholder,
}

pub fn run(_g: &Global, _cmd: NetworkCommand) -> anyhow::Result<i32> {
    anyhow::bail!("not built yet")
}
