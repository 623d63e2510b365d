//! `facenet cluster`: groups photos by person.

use clap::Args;

use crate::commands::Context;

#[derive(Args)]
pub struct ClusterArgs {}

pub fn run(_ctx: &Context, _args: &ClusterArgs) -> anyhow::Result<u8> {
    anyhow::bail!("facenet cluster is being written")
}
