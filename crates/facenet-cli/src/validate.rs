//! `facenet validate`: the LFW protocol of `validate_on_lfw.py` over this pipeline.
//!
//! Raw photos go through detection and alignment; a directory of already aligned crops (each
//! exactly the model's input size) is embedded as it is. An image where MTCNN finds no face gets
//! the reference run's fallback: a centred crop of the median crop size, so no pair is lost.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use clap::Args;
use facenet_core::image::{imageops, RgbImage};
use facenet_core::Pipeline;
use facenet_eval::pairs::PairsFile;
use facenet_eval::{Distance, EvalOptions};

use crate::commands::Context;
use crate::exit;
use crate::MetricArg;

#[derive(Args)]
pub struct ValidateArgs {
    /// LFW images: `<name>/<name>_NNNN.jpg` (raw photos) or `.png` (aligned crops).
    #[arg(long, value_name = "DIR")]
    lfw_dir: PathBuf,
    /// The pairs file (10 folds of 300 same and 300 different pairs for LFW).
    #[arg(long, value_name = "FILE")]
    pairs: PathBuf,
    /// `l2`: squared Euclidean (facenet's distance 0); `cosine`: arccos(cos)/pi (distance 1).
    #[arg(long, value_enum, default_value = "l2")]
    metric: MetricArg,
    /// Concatenate the embedding of the mirrored face (1024-d).
    #[arg(long)]
    flip: bool,
    /// Subtract the training folds' mean embedding before the distance.
    #[arg(long)]
    subtract_mean: bool,
    #[arg(long)]
    json: bool,
    /// Write the ROC curve (.png or .svg).
    #[arg(long, value_name = "FILE")]
    roc: Option<PathBuf>,
}

/// Images prepared and embedded together; bounds the crops held in memory.
const CHUNK: usize = 256;

enum Prepared {
    Crop(RgbImage, [u32; 2]),
    NoFace,
    Failed(String),
}

pub fn run(ctx: &Context, args: &ValidateArgs) -> anyhow::Result<u8> {
    let start = Instant::now();
    // A bad pairs file or a missing image is the caller's input: exit 3, like an unreadable photo.
    let input = PairsFile::read(&args.pairs).and_then(|p| {
        let r = p.resolve(&args.lfw_dir)?;
        Ok((p, r))
    });
    let (pairs, resolved) = match input {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::BAD_INPUT);
        }
    };
    let mut index: BTreeMap<PathBuf, usize> = BTreeMap::new();
    for (a, b) in &resolved {
        for p in [a, b] {
            let n = index.len();
            index.entry(p.clone()).or_insert(n);
        }
    }
    let mut paths = vec![PathBuf::new(); index.len()];
    for (p, &i) in &index {
        paths[i] = p.clone();
    }
    let p = ctx.pipeline()?;
    let mut embeddings: Vec<Option<Vec<f32>>> = vec![None; paths.len()];
    let mut no_face = Vec::new();
    let mut failed = Vec::new();
    let mut crop_sizes = Vec::new();
    for (c, chunk) in paths.chunks(CHUNK).enumerate() {
        let prepared = p.map(chunk, |p, path| prepare(p, path));
        let mut crops = Vec::new();
        for (k, prep) in prepared.into_iter().enumerate() {
            let i = c * CHUNK + k;
            match prep {
                Prepared::Crop(crop, size) => {
                    crop_sizes.push(size);
                    crops.push((i, crop));
                }
                Prepared::NoFace => no_face.push(i),
                Prepared::Failed(e) => failed.push((i, e)),
            }
        }
        for (i, e) in embed(&p, crops, args.flip)? {
            embeddings[i] = Some(e);
        }
        eprint!(
            "\rvalidate: {}/{} images",
            (c * CHUNK + chunk.len()),
            paths.len()
        );
    }
    eprintln!();
    let fallback = fallback_crops(&p, &paths, &no_face, &crop_sizes);
    for (i, e) in embed(&p, fallback, args.flip)? {
        embeddings[i] = Some(e);
    }

    let mut emb1 = Vec::new();
    let mut emb2 = Vec::new();
    let mut issame = Vec::new();
    for (pair, (a, b)) in pairs.pairs.iter().zip(&resolved) {
        if let (Some(x), Some(y)) = (&embeddings[index[a]], &embeddings[index[b]]) {
            emb1.push(x.as_slice());
            emb2.push(y.as_slice());
            issame.push(pair.issame);
        }
    }
    let opts = EvalOptions {
        distance: match args.metric {
            MetricArg::L2 => Distance::SquaredL2,
            MetricArg::Cosine => Distance::Angular,
        },
        subtract_mean: args.subtract_mean,
        ..EvalOptions::default()
    };
    let report = facenet_eval::evaluate(&emb1, &emb2, &issame, &opts)?;
    if let Some(roc) = &args.roc {
        facenet_eval::roc_plot(&report, roc)?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let failed_images: Vec<String> = failed
        .iter()
        .map(|(i, e)| {
            let shown = paths[*i].display().to_string();
            if e.starts_with(&shown) {
                e.clone()
            } else {
                format!("{shown}: {e}")
            }
        })
        .collect();
    let fallback_images: Vec<String> = no_face
        .iter()
        .map(|&i| paths[i].display().to_string())
        .collect();
    if args.json {
        let mut v = serde_json::to_value(&report)?;
        if let Some(o) = v.as_object_mut() {
            for k in ["thresholds", "tpr", "fpr"] {
                o.remove(k);
            }
            o.insert("threshold".into(), report.threshold_mean.into());
            o.insert(
                "failed_images".into(),
                serde_json::to_value(&failed_images)?,
            );
            o.insert(
                "no_face_fallback".into(),
                serde_json::to_value(&fallback_images)?,
            );
            o.insert("pairs_total".into(), pairs.pairs.len().into());
            o.insert("images".into(), paths.len().into());
            o.insert("flip".into(), args.flip.into());
            o.insert("seconds".into(), seconds.into());
        }
        crate::commands::emit(&(serde_json::to_string(&v)? + "\n"))?;
    } else {
        let mut text = format!("{report}\n");
        text += &format!(
            "{} pairs of {} evaluated, {} images, {} without a face (centred fallback crop), {} unreadable, {seconds:.1} s\n",
            report.pairs,
            pairs.pairs.len(),
            paths.len(),
            fallback_images.len(),
            failed_images.len()
        );
        for f in &failed_images {
            text += &format!("  unreadable: {f}\n");
        }
        crate::commands::emit(&text)?;
    }
    // Pairs with an unreadable image were left out of the figures: the caller must know.
    Ok(if failed_images.is_empty() {
        exit::OK
    } else {
        exit::BAD_INPUT
    })
}

/// The aligned crop of an image's main face (or the image itself when it already is one).
fn prepare(p: &Pipeline, path: &Path) -> Prepared {
    let img = match p.decode(path) {
        Ok(d) => d.image,
        Err(e) => return Prepared::Failed(e.to_string()),
    };
    let size = p.embedder.input_size;
    if img.dimensions() == (size, size) {
        return Prepared::Crop(img, [size, size]);
    }
    let faces = match p.detect(&img) {
        Ok(f) => f,
        Err(e) => return Prepared::Failed(e.to_string()),
    };
    let Some(i) = p.select(&img, &faces) else {
        return Prepared::NoFace;
    };
    let bb = faces[i].crop_box;
    match p.aligned(&img, &faces[i]) {
        Some(crop) => Prepared::Crop(crop, [bb[2] - bb[0], bb[3] - bb[1]]),
        None => Prepared::NoFace,
    }
}

/// Embeds crops in batches; with `flip`, each embedding is followed by its mirror's.
fn embed(
    p: &Pipeline,
    crops: Vec<(usize, RgbImage)>,
    flip: bool,
) -> anyhow::Result<Vec<(usize, Vec<f32>)>> {
    let images: Vec<RgbImage> = crops.iter().map(|(_, c)| c.clone()).collect();
    let mut embs = p.embedder.embed(&images).context("embedding failed")?;
    if flip {
        let mirrored: Vec<RgbImage> = images.iter().map(imageops::flip_horizontal).collect();
        for (e, m) in embs.iter_mut().zip(p.embedder.embed(&mirrored)?) {
            e.extend(m);
        }
    }
    Ok(crops.into_iter().map(|(i, _)| i).zip(embs).collect())
}

/// Centred crops of the median crop size for the images without a face.
fn fallback_crops(
    p: &Pipeline,
    paths: &[PathBuf],
    no_face: &[usize],
    sizes: &[[u32; 2]],
) -> Vec<(usize, RgbImage)> {
    let median = |k: usize| {
        let mut v: Vec<u32> = sizes.iter().map(|s| s[k]).collect();
        v.sort_unstable();
        v.get(v.len() / 2).copied()
    };
    let (Some(w), Some(h)) = (median(0), median(1)) else {
        return Vec::new();
    };
    let size = p.embedder.input_size;
    no_face
        .iter()
        .filter_map(|&i| {
            let img = p.decode(&paths[i]).ok()?.image;
            let (cw, ch) = (w.min(img.width()), h.min(img.height()));
            let (x0, y0) = ((img.width() - cw) / 2, (img.height() - ch) / 2);
            let crop = facenet_core::align::align(&img, [x0, y0, x0 + cw, y0 + ch], size)?;
            Some((i, crop))
        })
        .collect()
}
