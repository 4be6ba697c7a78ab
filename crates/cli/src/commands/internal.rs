//! `berth internal` (in progress).

use crate::global::Global;

#[derive(clap::Subcommand, Debug)]
pub enum InternalCommand {
    /// (in progress)
    Placeholder,
}

pub fn run(_g: &Global, _cmd: InternalCommand) -> anyhow::Result<i32> {
    anyhow::bail!("not built yet")
}
