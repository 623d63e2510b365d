//! `facenet bench`: throughput figures for the README and the closing notes.
//!
//! Every figure is printed beside the original Python pipeline's, measured on this machine class
//! and recorded in the shared reference README, and beside a baseline measured in this same run
//! (batch 1 for the embedder), because these machines are shared and noisy.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use clap::Args;
use facenet_core::image::RgbImage;

use crate::commands::Context;
use crate::exit;

#[derive(Args)]
pub struct BenchArgs {
    /// LFW image tree (`<name>/<name>_NNNN.jpg`).
    #[arg(long, default_value = "../shared/data/lfw/images")]
    lfw: PathBuf,
    /// WIDER FACE validation images.
    #[arg(long, default_value = "../shared/data/wider-val/images")]
    wider: PathBuf,
    /// LFW images to run end to end.
    #[arg(long, default_value_t = 200)]
    lfw_images: usize,
    /// WIDER images to run end to end.
    #[arg(long, default_value_t = 30)]
    wider_images: usize,
    /// Faces to embed at each batch size.
    #[arg(long, default_value_t = 128)]
    faces: usize,
}

/// The original pipeline's figures on this machine class (shared/reference/README.md).
const TF_BATCH1_MS: f64 = 24.2;
const TF_BATCH32_MS: f64 = 10.0;
const ORIG_MTCNN_LFW_MS: f64 = 26.8;
const ORIG_MTCNN_WIDER_MS: f64 = 157.0;
/// decode+detect+align at 26.2 ms plus embedding at 10.0 ms per face, batched.
const ORIG_E2E_LFW_MS: f64 = 36.2;

pub fn run(ctx: &Context, args: &BenchArgs) -> anyhow::Result<u8> {
    let p = ctx.pipeline()?;
    let lfw = list_images(&args.lfw, args.lfw_images)?;
    let wider = list_images(&args.wider, args.wider_images)?;
    println!(
        "facenet bench: {} LFW images, {} WIDER images, {} faces per embedding run, {} cores",
        lfw.len(),
        wider.len(),
        args.faces,
        std::thread::available_parallelism().map_or(1, usize::from)
    );

    let crops = aligned_crops(&p, &lfw, args.faces)?;
    let b1 = time_embed(&p, &crops, 1)?;
    let b32 = time_embed(&p, &crops, 32)?;
    println!("embedding, batch 1 : {:7.2} ms/face {:7.1} faces/s  (original TF {TF_BATCH1_MS} ms: {:.2}x)", b1, 1000.0 / b1, TF_BATCH1_MS / b1);
    println!("embedding, batch 32: {:7.2} ms/face {:7.1} faces/s  (original TF {TF_BATCH32_MS} ms: {:.2}x; vs batch 1 in this run: {:.2}x)", b32, 1000.0 / b32, TF_BATCH32_MS / b32, b1 / b32);

    for (name, set, orig) in [
        ("LFW", &lfw, ORIG_MTCNN_LFW_MS),
        ("WIDER", &wider, ORIG_MTCNN_WIDER_MS),
    ] {
        let images = decode_all(&p, set)?;
        let t = Instant::now();
        let mut stages = [0.0; 3];
        let mut counts = [0usize; 2];
        for img in &images {
            let mut trace = facenet_core::mtcnn::Trace::default();
            p.detector.detect_traced(img, &mut trace)?;
            for (s, t) in stages.iter_mut().zip(trace.seconds) {
                *s += t * 1000.0 / images.len() as f64;
            }
            counts[0] += trace.stage1.len();
            counts[1] += trace.stage2.len();
        }
        let one = t.elapsed().as_secs_f64() * 1000.0 / images.len().max(1) as f64;
        let t = Instant::now();
        for r in p.map(&images, |p, img| p.detect(img)) {
            r?;
        }
        let many = t.elapsed().as_secs_f64() * 1000.0 / images.len().max(1) as f64;
        println!(
            "MTCNN detect, {name:5}: {one:7.2} ms/image one at a time (original {orig} ms: {:.2}x), {many:7.2} ms/image with {} workers ({:.2}x)",
            orig / one,
            p.workers(),
            orig / many
        );
        println!(
            "  stages: P-Net {:.2} ms, R-Net {:.2} ms ({} crops/image), O-Net {:.2} ms ({} crops/image)",
            stages[0],
            stages[1],
            counts[0] / images.len().max(1),
            stages[2],
            counts[1] / images.len().max(1)
        );
    }

    for (name, set) in [("LFW", &lfw), ("WIDER", &wider)] {
        let t = Instant::now();
        let results = p.analyse(set, facenet_core::pipeline::Embed::All);
        let s = t.elapsed().as_secs_f64();
        let mut faces = 0usize;
        for r in results {
            faces += r?.embeddings.iter().flatten().count();
        }
        let per = s * 1000.0 / set.len().max(1) as f64;
        print!("end to end (decode+detect+align+embed, {} workers), {name:5}: {:7.1} images/s, {per:7.2} ms/image, {faces} faces", p.workers(), set.len() as f64 / s);
        if name == "LFW" {
            print!(
                "  (original ~{ORIG_E2E_LFW_MS} ms/image: {:.2}x)",
                ORIG_E2E_LFW_MS / per
            );
        }
        println!();
    }
    Ok(exit::OK)
}

fn list_images(dir: &Path, limit: usize) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries =
            std::fs::read_dir(&d).with_context(|| format!("cannot list {}", d.display()))?;
        for e in entries {
            let path = e?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "jpg" || x == "png") {
                out.push(path);
            }
        }
    }
    out.sort();
    // A spread over the whole set rather than the first few people.
    let step = (out.len() / limit.max(1)).max(1);
    Ok(out.into_iter().step_by(step).take(limit).collect())
}

fn decode_all(p: &facenet_core::Pipeline, paths: &[PathBuf]) -> anyhow::Result<Vec<RgbImage>> {
    paths.iter().map(|x| Ok(p.decode(x)?.image)).collect()
}

fn aligned_crops(
    p: &facenet_core::Pipeline,
    paths: &[PathBuf],
    n: usize,
) -> anyhow::Result<Vec<RgbImage>> {
    let mut crops = Vec::new();
    for path in paths {
        let img = p.decode(path)?.image;
        for f in p.detect(&img)? {
            crops.extend(p.aligned(&img, &f));
        }
        if crops.len() >= n {
            break;
        }
    }
    anyhow::ensure!(
        !crops.is_empty(),
        "no faces found to benchmark the embedder"
    );
    while crops.len() < n {
        crops.push(crops[crops.len() % crops.len().max(1)].clone());
    }
    crops.truncate(n);
    Ok(crops)
}

/// Milliseconds per face at the given batch size, after one warm-up batch.
fn time_embed(p: &facenet_core::Pipeline, crops: &[RgbImage], batch: usize) -> anyhow::Result<f64> {
    p.embedder.embed(&crops[..batch.min(crops.len())])?;
    let t = Instant::now();
    for chunk in crops.chunks(batch) {
        p.embedder.embed(chunk)?;
    }
    Ok(t.elapsed().as_secs_f64() * 1000.0 / crops.len() as f64)
}
