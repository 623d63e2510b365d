//! `facenet align`: align_dataset_mtcnn.py over a `<class>/<image>` tree.

use clap::Args;

use crate::commands::Context;

#[derive(Args)]
pub struct AlignArgs {}

pub fn run(_ctx: &Context, _args: &AlignArgs) -> anyhow::Result<u8> {
    anyhow::bail!("facenet align is being written")
}
