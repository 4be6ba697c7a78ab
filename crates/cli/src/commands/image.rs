//! `berth image` (in progress).

use crate::global::Global;

#[derive(clap::Subcommand, Debug)]
pub enum ImageCommand {
    /// (in progress)
    Placeholder,
}

pub fn run(_g: &Global, _cmd: ImageCommand) -> anyhow::Result<i32> {
    anyhow::bail!("not built yet")
}
