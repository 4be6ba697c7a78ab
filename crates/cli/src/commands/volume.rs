//! `berth volume` (in progress).

use crate::global::Global;

#[derive(clap::Subcommand, Debug)]
pub enum VolumeCommand {
    /// (in progress)
    Placeholder,
}

pub fn run(_g: &Global, _cmd: VolumeCommand) -> anyhow::Result<i32> {
    anyhow::bail!("not built yet")
}
