//! `facenet train`: fine-tune (or train from scratch) FaceNet with triplet loss or softmax +
//! center loss, writing checkpoints, logs and a model package at OUT/model.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use facenet_train::optim::Kind;
use facenet_train::train::{self, InitFrom, LogRow, Loss, Progress, TrainOptions};
use indicatif::{ProgressBar, ProgressStyle};

use crate::commands::Context;
use crate::exit;

#[derive(Clone, Copy, ValueEnum)]
enum LossArg {
    Triplet,
    SoftmaxCenter,
}

#[derive(Clone, Copy, ValueEnum)]
enum InitArg {
    Pretrained,
    Scratch,
}

#[derive(Clone, Copy, ValueEnum)]
enum DeviceArg {
    Cpu,
    /// burn's wgpu backend; needs a build with `--features gpu`.
    Gpu,
}

#[derive(Clone, Copy, ValueEnum)]
#[value(rename_all = "UPPER")]
enum OptimizerArg {
    Adagrad,
    Adadelta,
    Adam,
    Rmsprop,
    Mom,
}

#[derive(Args)]
pub struct TrainArgs {
    /// Aligned dataset (`facenet align` output): one folder of face crops per person.
    #[arg(long, value_name = "ALIGNED_DIR")]
    data_dir: PathBuf,
    /// Run directory: checkpoint/, metrics.jsonl|csv, training.png|svg and the package model/.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    #[arg(long, value_enum)]
    loss: LossArg,
    /// Start from the --model package's weights, or from random ones (with batch norm).
    #[arg(long, value_enum, default_value = "pretrained")]
    init: InitArg,
    /// Stop after this many steps in all.
    #[arg(long)]
    max_steps: Option<u64>,
    /// Number of epochs (default: one, unless --max-steps is given).
    #[arg(long)]
    epochs: Option<u64>,
    /// Steps per epoch.
    #[arg(long, default_value_t = 1000)]
    epoch_size: u64,
    /// Learning rate when no schedule is given (default 0.001 from pretrained, 0.1 from scratch).
    #[arg(long)]
    learning_rate: Option<f64>,
    /// Learning-rate schedule file: `epoch: rate` lines, `#` comments, -1 stops.
    #[arg(long, value_name = "FILE")]
    lr_schedule: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "ADAGRAD")]
    optimizer: OptimizerArg,
    /// L2 weight decay on kernels and the bottleneck.
    #[arg(long, default_value_t = 0.0)]
    weight_decay: f32,
    /// Triplet loss: people per batch (clamped to the people the data has).
    #[arg(long, default_value_t = 10)]
    people_per_batch: usize,
    /// Triplet loss: images per person (clamped to what each person has).
    #[arg(long, default_value_t = 6)]
    images_per_person: usize,
    /// Softmax: images per batch.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Triplet margin.
    #[arg(long, default_value_t = 0.2)]
    alpha: f32,
    /// Bottleneck size (from scratch only; the pretrained model has 512).
    #[arg(long, default_value_t = 512)]
    embedding_size: usize,
    /// Dropout keep probability before the bottleneck.
    #[arg(long, default_value_t = 1.0)]
    keep_probability: f64,
    #[arg(long, default_value_t = 0.0)]
    center_loss_factor: f32,
    #[arg(long, default_value_t = 0.95)]
    center_loss_alfa: f32,
    #[arg(long, default_value_t = 0.0)]
    prelogits_norm_loss_factor: f32,
    #[arg(long, default_value_t = 1.0)]
    prelogits_norm_p: f32,
    /// Turn off the random 160 px crop (a larger alignment is then centre-cropped).
    #[arg(long)]
    no_random_crop: bool,
    #[arg(long)]
    no_random_flip: bool,
    /// Fraction of the identities held out for the validation loss.
    #[arg(long, default_value_t = 0.0)]
    validation_split: f64,
    #[arg(long, default_value_t = 666)]
    seed: u64,
    /// Aligned LFW for evaluation (with --lfw-pairs).
    #[arg(long, value_name = "DIR")]
    lfw_dir: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    lfw_pairs: Option<PathBuf>,
    /// Evaluate every N epochs (and at the end).
    #[arg(long, default_value_t = 1)]
    eval_every: u64,
    /// Checkpoint every N epochs (and at the end).
    #[arg(long, default_value_t = 1)]
    checkpoint_every: u64,
    /// Continue from OUT/checkpoint.
    #[arg(long)]
    resume: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Where the network trains.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceArg,
}

struct Bar(ProgressBar);

impl Progress for Bar {
    fn begin(&mut self, first: u64, total: u64) {
        self.0.set_length(total);
        self.0.set_position(first);
        self.0.reset_eta();
    }
    fn step(&mut self, row: &LogRow) {
        let loss = row.loss.map_or_else(|| "-".into(), |l| format!("{l:.4}"));
        self.0
            .set_message(format!("loss {loss}, {:.1} images/s", row.images_per_s));
        self.0.set_position(row.step);
    }
    fn eval(&mut self, row: &LogRow) {
        let mut parts = vec![format!("step {}", row.step)];
        if let Some(v) = row.val_loss {
            parts.push(format!("validation loss {v:.4}"));
        }
        if let (Some(a), Some(s)) = (row.lfw_accuracy, row.lfw_accuracy_std) {
            parts.push(format!("LFW accuracy {a:.5} ± {s:.5}"));
        }
        self.0.println(parts.join(", "));
    }
    fn note(&mut self, msg: &str) {
        self.0.println(msg);
    }
    fn end(&mut self) {
        self.0.finish_and_clear();
    }
}

pub fn run(ctx: &Context, a: &TrainArgs) -> anyhow::Result<u8> {
    let loss = match a.loss {
        LossArg::Triplet => Loss::Triplet,
        LossArg::SoftmaxCenter => Loss::SoftmaxCenter,
    };
    let init = match a.init {
        InitArg::Pretrained => InitFrom::Pretrained,
        InitArg::Scratch => InitFrom::Scratch,
    };
    let mut o = TrainOptions::new(
        a.data_dir.clone(),
        a.out.clone(),
        ctx.package_dir(),
        loss,
        init,
    );
    o.max_steps = a.max_steps;
    o.epochs = a.epochs;
    o.epoch_size = a.epoch_size;
    if let Some(lr) = a.learning_rate {
        o.learning_rate = lr;
    }
    o.lr_schedule = a.lr_schedule.clone();
    o.optimizer = match a.optimizer {
        OptimizerArg::Adagrad => Kind::Adagrad,
        OptimizerArg::Adadelta => Kind::Adadelta,
        OptimizerArg::Adam => Kind::Adam,
        OptimizerArg::Rmsprop => Kind::Rmsprop,
        OptimizerArg::Mom => Kind::Mom,
    };
    o.weight_decay = a.weight_decay;
    o.people_per_batch = a.people_per_batch;
    o.images_per_person = a.images_per_person;
    o.batch_size = a.batch_size;
    o.alpha = a.alpha;
    o.embedding_size = a.embedding_size;
    o.keep_probability = a.keep_probability;
    o.center_loss_factor = a.center_loss_factor;
    o.center_loss_alfa = a.center_loss_alfa;
    o.prelogits_norm_loss_factor = a.prelogits_norm_loss_factor;
    o.prelogits_norm_p = a.prelogits_norm_p;
    o.random_crop = !a.no_random_crop;
    o.random_flip = !a.no_random_flip;
    o.validation_split = a.validation_split;
    o.seed = a.seed;
    o.lfw_dir = a.lfw_dir.clone();
    o.lfw_pairs = a.lfw_pairs.clone();
    o.eval_every = a.eval_every;
    o.checkpoint_every = a.checkpoint_every;
    o.resume = a.resume;

    let bar = if a.quiet || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new(0);
        if let Ok(style) = ProgressStyle::with_template(
            "train {bar:40} {pos}/{len} steps, {msg}, {elapsed_precise} elapsed, ETA {eta}",
        ) {
            bar.set_style(style);
        }
        bar
    };
    let summary = match a.device {
        DeviceArg::Cpu => {
            train::train::<facenet_train::CpuAutodiff>(&o, &Default::default(), &mut Bar(bar))
        }
        DeviceArg::Gpu => train_on_gpu(&o, &mut Bar(bar))?,
    }
    .with_context(|| format!("training into {} failed", a.out.display()))?;
    println!(
        "trained {} steps ({:.1} images/s); model package: {}",
        summary.steps,
        summary.images_per_s,
        summary.package.display()
    );
    Ok(exit::OK)
}

#[cfg(feature = "gpu")]
fn train_on_gpu(
    o: &TrainOptions,
    bar: &mut Bar,
) -> anyhow::Result<facenet_train::Result<train::Summary>> {
    Ok(train::train::<facenet_train::GpuAutodiff>(
        o,
        &Default::default(),
        bar,
    ))
}

#[cfg(not(feature = "gpu"))]
fn train_on_gpu(
    _: &TrainOptions,
    _: &mut Bar,
) -> anyhow::Result<facenet_train::Result<train::Summary>> {
    anyhow::bail!("this facenet was built without GPU training; rebuild with `--features gpu`")
}
