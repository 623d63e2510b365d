//! `facenet classify train|predict`: classifier.py over embeddings.
//!
//! The dataset is a `<class>/<image>` tree of raw photos or aligned crops: an image that is
//! exactly the model's input size is taken as an aligned crop and embedded as it is (as
//! `validate` does), anything else goes through detection, main-face selection and alignment.
//! The classifier itself (training, the JSON model file, the split) is
//! `facenet_eval::classify`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use facenet_core::image::RgbImage;
use facenet_core::Pipeline;
use facenet_eval::classify::{self, ClassifierModel, EmbeddingModel, TrainOptions};
use serde::Serialize;

use crate::commands::Context;
use crate::exit;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Embed the dataset and write a classifier model.
    Train,
    /// Classify the dataset's images with a model; accuracy against the folder names.
    Predict,
}

#[derive(Args)]
pub struct ClassifyArgs {
    #[arg(value_enum)]
    mode: Mode,
    /// `<class>/<image>` tree of photos or 160x160 aligned crops.
    data_dir: PathBuf,
    /// The classifier model file (JSON), written by `train`, read by `predict`.
    model_file: PathBuf,
    /// Leave out classes with fewer images (with or without --split).
    #[arg(long, default_value_t = 1, value_name = "N")]
    min_images_per_class: usize,
    /// With --split: the first N images of each class (by name) train, the rest test.
    #[arg(long, default_value_t = 10, value_name = "N")]
    images_per_class_for_training: usize,
    /// Train on the training part of each class, or predict on the test part (classifier.py's
    /// --use_split_dataset); without it every image is used.
    #[arg(long)]
    split: bool,
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Context, args: &ClassifyArgs) -> anyhow::Result<u8> {
    let start = Instant::now();
    let classes = list_dataset(&args.data_dir)?;
    let classes: Vec<(String, Vec<PathBuf>)> = if args.split {
        let split = classify::split_dataset(
            &classes,
            args.min_images_per_class,
            args.images_per_class_for_training,
        );
        match args.mode {
            Mode::Train => split.train,
            Mode::Predict => split.test,
        }
    } else {
        classes
            .into_iter()
            .filter(|(_, v)| v.len() >= args.min_images_per_class)
            .collect()
    };
    let paths: Vec<PathBuf> = classes.iter().flat_map(|(_, v)| v.clone()).collect();
    let labels: Vec<usize> = classes
        .iter()
        .enumerate()
        .flat_map(|(k, (_, v))| std::iter::repeat_n(k, v.len()))
        .collect();
    if paths.is_empty() {
        anyhow::bail!(
            "no images to use in {} (classes need at least {} images{})",
            args.data_dir.display(),
            args.min_images_per_class,
            if args.split && args.mode == Mode::Predict {
                " and more than --images-per-class-for-training for a test part"
            } else {
                ""
            }
        );
    }
    let model = match args.mode {
        Mode::Predict => Some(ClassifierModel::load(&args.model_file)?),
        Mode::Train => None,
    };
    let p = ctx.pipeline()?;
    let embedding_model = EmbeddingModel {
        name: p.package.manifest.name.clone(),
        version: p.package.manifest.version.clone(),
        embedding_size: p.embedder.embedding_size,
    };
    if let Some(m) = &model {
        if m.embedding_model != embedding_model {
            anyhow::bail!(
                "{} was trained on embeddings of {} {} ({}-d), but the loaded model package is {} {} ({}-d); retrain it",
                args.model_file.display(),
                m.embedding_model.name,
                m.embedding_model.version,
                m.embedding_model.embedding_size,
                embedding_model.name,
                embedding_model.version,
                embedding_model.embedding_size
            );
        }
    }
    let outcomes = embed_main_faces(&p, &paths, "classify")?;
    let failed: Vec<Failed> = paths
        .iter()
        .zip(&outcomes)
        .filter_map(|(path, o)| match o {
            Outcome::Embedded(_) => None,
            Outcome::Failed { code, message } => Some(Failed {
                path: path.display().to_string(),
                error: code.clone(),
                message: message.clone(),
            }),
        })
        .collect();
    let class_names: Vec<String> = classes.iter().map(|(n, _)| n.clone()).collect();
    match model {
        None => train(
            args,
            &outcomes,
            &labels,
            class_names,
            embedding_model,
            failed,
            start,
        ),
        Some(model) => predict(
            args,
            &model,
            &paths,
            &outcomes,
            &labels,
            &class_names,
            failed,
            start,
        ),
    }
}

#[derive(Serialize)]
struct Failed {
    path: String,
    error: String,
    message: String,
}

fn train(
    args: &ClassifyArgs,
    outcomes: &[Outcome],
    labels: &[usize],
    class_names: Vec<String>,
    embedding_model: EmbeddingModel,
    failed: Vec<Failed>,
    start: Instant,
) -> anyhow::Result<u8> {
    let mut x = Vec::new();
    let mut y = Vec::new();
    for (o, &l) in outcomes.iter().zip(labels) {
        if let Outcome::Embedded(e) = o {
            x.push(e.clone());
            y.push(l);
        }
    }
    let model = classify::train(
        &x,
        &y,
        class_names,
        embedding_model,
        &TrainOptions::default(),
    )
    .context("training the classifier failed")?;
    model.save(&args.model_file)?;
    let seconds = start.elapsed().as_secs_f64();
    if args.json {
        #[derive(Serialize)]
        struct TrainOut<'a> {
            model_file: String,
            classes: &'a [String],
            images_per_class: &'a [usize],
            images: usize,
            failed: Vec<Failed>,
            seconds: f64,
        }
        let out = TrainOut {
            model_file: args.model_file.display().to_string(),
            classes: &model.classes,
            images_per_class: &model.training.images_per_class,
            images: model.training.images,
            failed,
            seconds,
        };
        println!("{}", serde_json::to_string(&out)?);
    } else {
        for f in &failed {
            println!("skipped {}: {}", f.path, f.message);
        }
        println!(
            "Trained on {} images of {} classes ({} skipped) in {seconds:.1} s",
            model.training.images,
            model.classes.len(),
            failed.len()
        );
        println!(
            "Saved classifier model to file \"{}\"",
            args.model_file.display()
        );
    }
    Ok(exit::OK)
}

#[derive(Serialize)]
struct PredictionOut {
    path: String,
    /// The folder name, when the model knows that class.
    true_class: Option<String>,
    class: String,
    probability: f64,
}

#[allow(clippy::too_many_arguments)]
fn predict(
    args: &ClassifyArgs,
    model: &ClassifierModel,
    paths: &[PathBuf],
    outcomes: &[Outcome],
    labels: &[usize],
    class_names: &[String],
    failed: Vec<Failed>,
    start: Instant,
) -> anyhow::Result<u8> {
    let mut predictions = Vec::new();
    let mut unknown = std::collections::BTreeSet::new();
    let mut correct = 0usize;
    let mut evaluated = 0usize;
    for ((path, o), &l) in paths.iter().zip(outcomes).zip(labels) {
        let Outcome::Embedded(e) = o else { continue };
        let pred = model.predict(e)?;
        let folder = &class_names[l];
        let true_class = model.classes.iter().find(|c| *c == folder).cloned();
        match &true_class {
            Some(t) => {
                evaluated += 1;
                if *t == model.classes[pred.class] {
                    correct += 1;
                }
            }
            None => {
                unknown.insert(folder.clone());
            }
        }
        predictions.push(PredictionOut {
            path: path.display().to_string(),
            true_class,
            class: model.classes[pred.class].clone(),
            probability: pred.probability,
        });
    }
    let accuracy = (evaluated > 0).then(|| correct as f64 / evaluated as f64);
    let seconds = start.elapsed().as_secs_f64();
    if args.json {
        #[derive(Serialize)]
        struct PredictOut {
            predictions: Vec<PredictionOut>,
            /// Over the images whose folder is one of the model's classes.
            accuracy: Option<f64>,
            correct: usize,
            evaluated: usize,
            unknown_classes: Vec<String>,
            failed: Vec<Failed>,
            seconds: f64,
        }
        let out = PredictOut {
            predictions,
            accuracy,
            correct,
            evaluated,
            unknown_classes: unknown.into_iter().collect(),
            failed,
            seconds,
        };
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!(
            "Loaded classifier model from file \"{}\"",
            args.model_file.display()
        );
        for (i, p) in predictions.iter().enumerate() {
            println!("{i:4}  {}: {:.3}  {}", p.class, p.probability, p.path);
        }
        for f in &failed {
            println!("skipped {}: {}", f.path, f.message);
        }
        if !unknown.is_empty() {
            let u: Vec<String> = unknown.into_iter().collect();
            println!("classes unknown to the model: {}", u.join(", "));
        }
        match accuracy {
            Some(a) => println!("Accuracy: {a:.3} ({correct}/{evaluated}, {seconds:.1} s)"),
            None => println!("Accuracy: n/a (no image of a class the model knows)"),
        }
    }
    Ok(exit::OK)
}

/// `<class>/<image>` with classes and images sorted by name; hidden entries are skipped.
fn list_dataset(dir: &Path) -> anyhow::Result<Vec<(String, Vec<PathBuf>)>> {
    let mut classes = Vec::new();
    for class_dir in sorted_entries(dir)? {
        if !class_dir.is_dir() {
            continue;
        }
        let name = class_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let images: Vec<PathBuf> = sorted_entries(&class_dir)?
            .into_iter()
            .filter(|p| p.is_file())
            .collect();
        if !images.is_empty() {
            classes.push((name, images));
        }
    }
    if classes.is_empty() {
        anyhow::bail!(
            "{} holds no class folder with images (expected <class>/<image>)",
            dir.display()
        );
    }
    Ok(classes)
}

/// A directory's entries, sorted, without hidden ones.
pub(crate) fn sorted_entries(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let e = e.with_context(|| format!("cannot read {}", dir.display()))?;
        if !e.file_name().to_string_lossy().starts_with('.') {
            out.push(e.path());
        }
    }
    out.sort();
    Ok(out)
}

/// What became of one image.
pub(crate) enum Outcome {
    Embedded(Vec<f32>),
    /// `code` is the core error code, or `no_face`.
    Failed {
        code: String,
        message: String,
    },
}

enum Prepared {
    Crop(RgbImage),
    Failed(String, String),
    /// The runtime or the model failed, not the image.
    Fatal(String),
}

/// Images decoded and aligned together before one batched embedding; bounds the crops held.
const CHUNK: usize = 128;

/// The embedding of each image's main face, or of the image itself when it already is an aligned
/// crop. Input problems become `Failed` entries; a failing model stops everything.
pub(crate) fn embed_main_faces(
    p: &Pipeline,
    paths: &[PathBuf],
    what: &str,
) -> anyhow::Result<Vec<Outcome>> {
    let mut out = Vec::with_capacity(paths.len());
    for (c, chunk) in paths.chunks(CHUNK).enumerate() {
        let prepared = p.map(chunk, |p, path| prepare(p, path));
        let mut crops = Vec::new();
        let mut slots = Vec::with_capacity(chunk.len());
        for prep in prepared {
            match prep {
                Prepared::Crop(img) => {
                    crops.push(img);
                    slots.push(None);
                }
                Prepared::Failed(code, message) => {
                    slots.push(Some(Outcome::Failed { code, message }))
                }
                Prepared::Fatal(message) => anyhow::bail!(message),
            }
        }
        let mut embs = p
            .embedder
            .embed(&crops)
            .context("embedding failed")?
            .into_iter();
        for s in slots {
            match s {
                Some(f) => out.push(f),
                None => match embs.next() {
                    Some(e) => out.push(Outcome::Embedded(e)),
                    None => anyhow::bail!("the embedder returned fewer embeddings than crops"),
                },
            }
        }
        eprint!(
            "\r{what}: {}/{} images",
            c * CHUNK + chunk.len(),
            paths.len()
        );
    }
    eprintln!();
    Ok(out)
}

fn prepare(p: &Pipeline, path: &Path) -> Prepared {
    let fail = |e: facenet_core::Error| {
        if e.is_input_error() {
            Prepared::Failed(e.code().into(), e.to_string())
        } else {
            Prepared::Fatal(format!("{}: {e}", path.display()))
        }
    };
    let img = match p.decode(path) {
        Ok(d) => d.image,
        Err(e) => return fail(e),
    };
    let size = p.embedder.input_size;
    if img.dimensions() == (size, size) {
        return Prepared::Crop(img);
    }
    let faces = match p.detect(&img) {
        Ok(f) => f,
        Err(e) => return fail(e),
    };
    let no_face = || Prepared::Failed("no_face".into(), "no face found".into());
    let Some(i) = p.select(&img, &faces) else {
        return no_face();
    };
    match p.aligned(&img, &faces[i]) {
        Some(crop) => Prepared::Crop(crop),
        None => no_face(),
    }
}
