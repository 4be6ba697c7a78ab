//! `berth config` (in progress).

use crate::global::Global;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_g: &Global, _args: Args) -> anyhow::Result<i32> {
    anyhow::bail!("not built yet")
}
