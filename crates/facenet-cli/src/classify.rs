//! `facenet classify train|predict`: classifier.py over embeddings.

use clap::Args;

use crate::commands::Context;

#[derive(Args)]
pub struct ClassifyArgs {}

pub fn run(_ctx: &Context, _args: &ClassifyArgs) -> anyhow::Result<u8> {
    anyhow::bail!("facenet classify is being written")
}
