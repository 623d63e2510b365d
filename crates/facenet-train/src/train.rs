//! The training loops of `train_tripletloss.py` and `train_softmax.py`, checkpoints, evaluation
//! and the final export.
//!
//! One step draws a batch, runs it forward with gradients, computes the loss and updates the
//! weights. For the triplet loss the triplets are mined on that same forward pass (the batch's
//! detached embeddings), where the original embeds a whole people × images sample first and then
//! trains on the selected triplets in batches of 90: the selection rule is the same, the second
//! forward pass (which CPU training cannot afford) is saved, and a step's batch is the sample.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::{AutodiffModule, Module};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::optim::{GradientsParams, Optimizer};
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::Tensor;
use facenet_core::manifest::ModelPackage;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::data::{self, Augment, Class};
use crate::error::{io_err, Error, Result};
use crate::export::{self, to_vec, Provenance};
use crate::inception_resnet_v1::{Config, InceptionResnetV1, Init};
use crate::losses::{self, Centers};
use crate::optim::{Kind, TfOptimizer};
use crate::schedule::Schedule;
use crate::weights::PretrainedWeights;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    Triplet,
    SoftmaxCenter,
}

impl Loss {
    pub fn name(self) -> &'static str {
        match self {
            Loss::Triplet => "triplet",
            Loss::SoftmaxCenter => "softmax-center",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InitFrom {
    Pretrained,
    Scratch,
}

/// Everything a run is told; the defaults follow the original scripts where CPU training allows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainOptions {
    pub data_dir: PathBuf,
    pub out_dir: PathBuf,
    /// The package to start from and to take the ONNX graph and MTCNN files from.
    pub base_model: PathBuf,
    pub loss: Loss,
    pub init: InitFrom,
    /// Stop after this many steps in all (across resumes).
    pub max_steps: Option<u64>,
    /// `--max_nrof_epochs`.
    pub epochs: Option<u64>,
    /// `--epoch_size`: steps per epoch.
    pub epoch_size: u64,
    pub learning_rate: f64,
    pub lr_schedule: Option<PathBuf>,
    pub optimizer: Kind,
    pub weight_decay: f32,
    pub people_per_batch: usize,
    pub images_per_person: usize,
    /// Softmax batch size.
    pub batch_size: usize,
    pub alpha: f32,
    pub embedding_size: usize,
    pub keep_probability: f64,
    pub center_loss_factor: f32,
    pub center_loss_alfa: f32,
    pub prelogits_norm_loss_factor: f32,
    pub prelogits_norm_p: f32,
    pub random_crop: bool,
    pub random_flip: bool,
    /// Fraction of identities held out for the validation loss.
    pub validation_split: f64,
    pub seed: u64,
    pub lfw_dir: Option<PathBuf>,
    pub lfw_pairs: Option<PathBuf>,
    /// Evaluate (validation loss, LFW) every this many epochs, and at the end.
    pub eval_every: u64,
    pub checkpoint_every: u64,
    pub resume: bool,
}

impl TrainOptions {
    pub fn new(
        data_dir: PathBuf,
        out_dir: PathBuf,
        base_model: PathBuf,
        loss: Loss,
        init: InitFrom,
    ) -> Self {
        TrainOptions {
            data_dir,
            out_dir,
            base_model,
            loss,
            init,
            max_steps: None,
            epochs: None,
            epoch_size: 1000,
            // An ADAGRAD step moves a weight by up to the rate itself: at 0.01, three triplet
            // steps from the pretrained weights left a photo's embedding at cos 0.80 to its
            // pretrained one; fine-tuning wants a rate well below training from scratch.
            learning_rate: match init {
                InitFrom::Pretrained => 0.001,
                InitFrom::Scratch => 0.1,
            },
            lr_schedule: None,
            optimizer: Kind::Adagrad,
            weight_decay: 0.0,
            people_per_batch: 10,
            images_per_person: 6,
            batch_size: 32,
            alpha: losses::DEFAULT_ALPHA,
            embedding_size: 512,
            keep_probability: 1.0,
            center_loss_factor: 0.0,
            center_loss_alfa: 0.95,
            prelogits_norm_loss_factor: 0.0,
            prelogits_norm_p: 1.0,
            random_crop: true,
            random_flip: true,
            validation_split: 0.0,
            seed: 666,
            lfw_dir: None,
            lfw_pairs: None,
            eval_every: 1,
            checkpoint_every: 1,
            resume: false,
        }
    }
}

/// What the caller sees while a run goes (the CLI draws a progress bar from it).
pub trait Progress {
    fn begin(&mut self, _first_step: u64, _total_steps: u64) {}
    fn step(&mut self, _row: &LogRow) {}
    fn eval(&mut self, _row: &LogRow) {}
    fn note(&mut self, _msg: &str) {}
    fn end(&mut self) {}
}

/// A progress sink that only logs through `tracing`.
pub struct Quiet;
impl Progress for Quiet {}

/// One line of `metrics.jsonl` / `metrics.csv`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LogRow {
    pub step: u64,
    pub epoch: u64,
    pub lr: f64,
    pub loss: Option<f64>,
    /// Triplets selected (triplet loss) or center loss (softmax).
    pub triplets: Option<usize>,
    pub center_loss: Option<f64>,
    pub images: usize,
    pub images_per_s: f64,
    pub val_loss: Option<f64>,
    pub lfw_accuracy: Option<f64>,
    pub lfw_accuracy_std: Option<f64>,
}

/// The network plus, for softmax training, the `Logits` layer over the classes.
#[derive(Module, Debug)]
pub struct TrainNet<B: Backend> {
    pub net: InceptionResnetV1<B>,
    pub logits: Option<Linear<B>>,
}

/// Run state saved next to the records, for `--resume`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RunState {
    step: u64,
    epoch: u64,
    classes: Vec<String>,
    centers: Option<Vec<f32>>,
    config: Config,
    loss: Loss,
    init: InitFrom,
    optimizer: Kind,
}

pub struct Summary {
    pub steps: u64,
    pub epochs: u64,
    pub package: PathBuf,
    pub rows: Vec<LogRow>,
    pub images_per_s: f64,
}

const CHECKPOINT_DIR: &str = "checkpoint";
/// Where the package evaluated on LFW during a run is written (overwritten at each evaluation).
const EVAL_PACKAGE_DIR: &str = "eval-model";

fn recorder() -> NamedMpkFileRecorder<FullPrecisionSettings> {
    NamedMpkFileRecorder::<FullPrecisionSettings>::new()
}

fn ckpt_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Checkpoint {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Trains as `opts` says on `B` (an autodiff backend), then writes the model package to
/// `OUT/model`.
pub fn train<B: AutodiffBackend>(
    opts: &TrainOptions,
    device: &B::Device,
    progress: &mut dyn Progress,
) -> Result<Summary> {
    check_options(opts)?;
    std::fs::create_dir_all(&opts.out_dir).map_err(io_err(&opts.out_dir))?;
    let mut rng = StdRng::seed_from_u64(opts.seed);
    B::seed(device, opts.seed);
    let base_pkg = ModelPackage::open(&opts.base_model)?;
    let base = PretrainedWeights::open(&base_pkg.file_path(&base_pkg.manifest.files.embedder)?)?;

    let all = data::read_dataset(&opts.data_dir)?;
    let n_images: usize = all.iter().map(|c| c.images.len()).sum();
    let (train_set, val_set) = data::split_by_identity(all, opts.validation_split, &mut rng);
    if opts.loss == Loss::Triplet && !train_set.iter().any(|c| c.images.len() >= 2)
        || train_set.len() < 2
    {
        return Err(Error::Data {
            path: opts.data_dir.clone(),
            reason: "training needs at least two people, one of them with two images or more"
                .into(),
        });
    }
    let schedule = opts
        .lr_schedule
        .as_deref()
        .map(Schedule::read)
        .transpose()?;

    let cfg = Config {
        embedding_size: opts.embedding_size,
        dropout_keep_prob: opts.keep_probability,
        batch_norm: opts.init == InitFrom::Scratch,
    };
    if opts.init == InitFrom::Pretrained && cfg.embedding_size != base.embedding_size() {
        return Err(Error::Invalid(format!(
            "--embedding-size {} differs from the pretrained model's {}; use --init scratch",
            cfg.embedding_size,
            base.embedding_size()
        )));
    }
    let init = match opts.init {
        InitFrom::Pretrained => Init::Pretrained(&base),
        InitFrom::Scratch => Init::Scratch,
    };
    let net = InceptionResnetV1::<B>::new(&cfg, &init, device)?;
    let logits = (opts.loss == Loss::SoftmaxCenter).then(|| {
        LinearConfig::new(cfg.embedding_size, train_set.len())
            .with_initializer(Initializer::XavierUniform { gain: 1.0 })
            .init(device)
    });
    let mut model = TrainNet { net, logits };
    let mut optim = TfOptimizer {
        kind: opts.optimizer,
        weight_decay: opts.weight_decay,
    }
    .init::<B, TrainNet<B>>();
    let mut centers = (opts.loss == Loss::SoftmaxCenter)
        .then(|| Centers::new(train_set.len(), cfg.embedding_size));
    let mut step = 0u64;
    let ckpt = opts.out_dir.join(CHECKPOINT_DIR);
    let log_path = opts.out_dir.join("metrics.jsonl");
    let mut rows: Vec<LogRow> = Vec::new();
    if opts.resume && ckpt.join("state.json").is_file() {
        let state_path = ckpt.join("state.json");
        let text = std::fs::read_to_string(&state_path).map_err(io_err(&state_path))?;
        let state: RunState = serde_json::from_str(&text).map_err(|e| ckpt_err(&state_path, e))?;
        let names: Vec<String> = train_set.iter().map(|c| c.name.clone()).collect();
        if state.config != cfg
            || state.loss != opts.loss
            || state.optimizer != opts.optimizer
            || state.classes != names
        {
            return Err(ckpt_err(
                &state_path,
                "it was written by a run with another loss, optimizer, network or class list; start a new --out",
            ));
        }
        let rec = recorder()
            .load(ckpt.join("model"), device)
            .map_err(|e| ckpt_err(&ckpt, e))?;
        model = model.load_record(rec);
        let orec = recorder()
            .load(ckpt.join("optimizer"), device)
            .map_err(|e| ckpt_err(&ckpt, e))?;
        optim = optim.load_record(orec);
        if let (Some(c), Some(saved)) = (centers.as_mut(), state.centers) {
            c.data = saved;
        }
        step = state.step;
        rows = read_log(&log_path);
        rows.retain(|r| r.step <= step);
        progress.note(&format!("resumed at step {step} from {}", ckpt.display()));
        tracing::info!(step, "resumed");
    } else if !opts.resume {
        // A fresh run starts a fresh log.
        let _ = std::fs::remove_file(&log_path);
    }

    let total = total_steps(opts);
    let aug = Augment {
        random_crop: opts.random_crop,
        random_flip: opts.random_flip,
    };
    progress.begin(step, total);
    let started = Instant::now();
    let mut trained_images = 0usize;
    let mut last_epoch = step / opts.epoch_size.max(1);
    let mut last_lr = opts.learning_rate;
    while step < total {
        let epoch = step / opts.epoch_size.max(1);
        let lr = match &schedule {
            Some(s) => match s.rate(epoch) {
                Some(r) => r,
                None => {
                    progress.note(&format!(
                        "the learning-rate schedule stops at epoch {epoch}"
                    ));
                    break;
                }
            },
            None => opts.learning_rate,
        };
        last_lr = lr;
        let t0 = Instant::now();
        let sample = match opts.loss {
            Loss::Triplet => data::sample_people(
                &train_set,
                opts.people_per_batch,
                opts.images_per_person,
                &mut rng,
            ),
            Loss::SoftmaxCenter => data::sample_images(&train_set, opts.batch_size, &mut rng),
        };
        let faces = sample
            .paths
            .iter()
            .map(|p| data::load_face(p, aug, &mut rng))
            .collect::<Result<Vec<_>>>()?;
        let x = data::to_tensor::<B>(&faces, device);
        let out = model.net.forward(x);
        let mut row = LogRow {
            step: step + 1,
            epoch,
            lr,
            images: faces.len(),
            ..LogRow::default()
        };
        let loss = match opts.loss {
            Loss::Triplet => {
                let emb = to_vec(out.embeddings.clone().detach())?;
                let triplets = losses::select_triplets(
                    &emb,
                    cfg.embedding_size,
                    &sample.class_sizes,
                    opts.alpha,
                    &mut rng,
                );
                row.triplets = Some(triplets.len());
                losses::triplet_loss(&out.embeddings, &triplets, opts.alpha)
            }
            Loss::SoftmaxCenter => {
                let (Some(logits), Some(c)) = (model.logits.as_ref(), centers.as_mut()) else {
                    return Err(Error::Invalid(
                        "softmax training without a logits layer".into(),
                    ));
                };
                let mut loss =
                    losses::cross_entropy(&logits.forward(out.prelogits.clone()), &sample.labels);
                if opts.center_loss_factor > 0.0 {
                    let cl = losses::center_loss(&out.prelogits, c, &sample.labels);
                    row.center_loss = Some(f64::from(scalar(&cl)?));
                    loss = loss + cl.mul_scalar(opts.center_loss_factor);
                    c.update(
                        &sample.labels,
                        &to_vec(out.prelogits.clone().detach())?,
                        opts.center_loss_alfa,
                    );
                }
                if opts.prelogits_norm_loss_factor > 0.0 {
                    loss = loss
                        + losses::prelogits_norm(&out.prelogits, opts.prelogits_norm_p)
                            .mul_scalar(opts.prelogits_norm_loss_factor);
                }
                Some(loss)
            }
        };
        if let Some(loss) = loss {
            row.loss = Some(f64::from(scalar(&loss)?));
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(lr, model, grads);
        }
        step += 1;
        trained_images += faces.len();
        row.images_per_s = faces.len() as f64 / t0.elapsed().as_secs_f64().max(1e-9);
        tracing::info!(step, loss = ?row.loss, triplets = ?row.triplets, images_per_s = row.images_per_s, "step");
        let epoch_done = step.is_multiple_of(opts.epoch_size.max(1));
        let now_epoch = step / opts.epoch_size.max(1);
        let is_last = step >= total;
        let eval_due = is_last || (epoch_done && now_epoch.is_multiple_of(opts.eval_every.max(1)));
        if eval_due {
            let inner = model.valid();
            row.val_loss = validation_loss(&inner.net, &val_set, opts, &cfg, device, &mut rng)?;
            if let (Some(dir), Some(pairs)) = (&opts.lfw_dir, &opts.lfw_pairs) {
                // Evaluated on the exported package under ONNX Runtime: what is measured is what
                // `facenet serve` would run, at the serving runtime's speed (10× burn's forward).
                let prov = provenance(opts, &base_pkg, train_set.len(), n_images, step, lr)?;
                let pkg = export::write_package(
                    &inner.net,
                    &base_pkg,
                    &base,
                    &prov,
                    &opts.out_dir.join(EVAL_PACKAGE_DIR),
                )?;
                let (acc, std) = lfw_accuracy(&pkg, dir, pairs)?;
                row.lfw_accuracy = Some(acc);
                row.lfw_accuracy_std = Some(std);
            }
            progress.eval(&row);
        }
        progress.step(&row);
        append_log(&log_path, &row)?;
        rows.push(row);
        if is_last || (epoch_done && now_epoch.is_multiple_of(opts.checkpoint_every.max(1))) {
            save_checkpoint(
                &ckpt,
                &model,
                &optim,
                step,
                &train_set,
                centers.as_ref(),
                &cfg,
                opts,
            )?;
        }
        last_epoch = now_epoch;
    }
    progress.end();
    write_csv(&opts.out_dir.join("metrics.csv"), &rows)?;
    crate::plot::training_plot(&rows, &opts.out_dir.join("training.png"))?;
    crate::plot::training_plot(&rows, &opts.out_dir.join("training.svg"))?;

    let inner = model.valid();
    let provenance = provenance(opts, &base_pkg, train_set.len(), n_images, step, last_lr)?;
    let package = opts.out_dir.join("model");
    export::write_package(&inner.net, &base_pkg, &base, &provenance, &package)?;
    let secs = started.elapsed().as_secs_f64();
    Ok(Summary {
        steps: step,
        epochs: last_epoch,
        package,
        rows,
        images_per_s: trained_images as f64 / secs.max(1e-9),
    })
}

/// What the manifest of an exported package records about the run so far.
fn provenance(
    opts: &TrainOptions,
    base_pkg: &ModelPackage,
    classes: usize,
    images: usize,
    step: u64,
    lr: f64,
) -> Result<Provenance> {
    Ok(Provenance {
        tool: format!("facenet-train {}", env!("CARGO_PKG_VERSION")),
        loss: opts.loss.name().into(),
        init: match opts.init {
            InitFrom::Pretrained => "pretrained".into(),
            InitFrom::Scratch => "scratch".into(),
        },
        base_model: base_pkg.manifest.name.clone(),
        base_embedder_sha256: base_pkg.manifest.files.embedder.sha256.clone(),
        data_dir: opts.data_dir.display().to_string(),
        classes,
        images,
        steps: step,
        epochs: step / opts.epoch_size.max(1),
        optimizer: opts.optimizer.name().into(),
        learning_rate: lr,
        settings: serde_json::to_value(opts).map_err(|e| Error::Invalid(e.to_string()))?,
        finished_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    })
}

fn check_options(o: &TrainOptions) -> Result<()> {
    let bad = |m: String| Err(Error::Invalid(m));
    if o.people_per_batch < 2 || o.images_per_person < 2 {
        return bad("--people-per-batch and --images-per-person must be at least 2".into());
    }
    if o.batch_size == 0 || o.epoch_size == 0 {
        return bad("--batch-size and --epoch-size must be at least 1".into());
    }
    if !(o.keep_probability > 0.0 && o.keep_probability <= 1.0) {
        return bad(format!(
            "--keep-probability {} must be in (0, 1]",
            o.keep_probability
        ));
    }
    if !(o.learning_rate > 0.0 && o.learning_rate.is_finite()) {
        return bad(format!(
            "--learning-rate {} must be positive",
            o.learning_rate
        ));
    }
    if !(0.0..1.0).contains(&o.validation_split) {
        return bad(format!(
            "--validation-split {} must be in [0, 1)",
            o.validation_split
        ));
    }
    if o.lfw_dir.is_some() != o.lfw_pairs.is_some() {
        return bad("--lfw-dir and --lfw-pairs go together".into());
    }
    if o.embedding_size == 0 {
        return bad("--embedding-size must be at least 1".into());
    }
    Ok(())
}

/// `--epochs` and `--max-steps` each bound the run; with neither, one epoch.
fn total_steps(o: &TrainOptions) -> u64 {
    match (o.epochs, o.max_steps) {
        (Some(e), Some(m)) => e.saturating_mul(o.epoch_size).min(m),
        (Some(e), None) => e.saturating_mul(o.epoch_size),
        (None, Some(m)) => m,
        (None, None) => o.epoch_size,
    }
}

fn scalar<B: Backend>(t: &Tensor<B, 1>) -> Result<f32> {
    to_vec(t.clone())?
        .first()
        .copied()
        .ok_or_else(|| Error::Invalid("empty loss".into()))
}

/// Embeds aligned faces with the inference network, in batches.
pub fn embed_faces<B: Backend>(
    net: &InceptionResnetV1<B>,
    paths: &[PathBuf],
    device: &B::Device,
) -> Result<Vec<Vec<f32>>> {
    let mut out = Vec::with_capacity(paths.len());
    for chunk in paths.chunks(32) {
        let faces = data::load_centered(chunk)?;
        let e = to_vec(net.forward(data::to_tensor::<B>(&faces, device)).embeddings)?;
        let d = e.len() / faces.len().max(1);
        out.extend(e.chunks(d.max(1)).map(<[f32]>::to_vec));
    }
    Ok(out)
}

/// Triplet loss (with the same mining) on a sample of the held-out identities.
fn validation_loss<B: Backend>(
    net: &InceptionResnetV1<B>,
    val: &[Class],
    opts: &TrainOptions,
    cfg: &Config,
    device: &B::Device,
    rng: &mut StdRng,
) -> Result<Option<f64>> {
    if val.len() < 2 {
        return Ok(None);
    }
    let s = data::sample_people(val, opts.people_per_batch, opts.images_per_person, rng);
    let emb = embed_faces(net, &s.paths, device)?;
    let flat: Vec<f32> = emb.concat();
    let triplets =
        losses::select_triplets(&flat, cfg.embedding_size, &s.class_sizes, opts.alpha, rng);
    if triplets.is_empty() {
        return Ok(Some(0.0));
    }
    let n = flat.len() / cfg.embedding_size;
    let t = Tensor::<B, 2>::from_data(
        burn::tensor::TensorData::new(flat, [n, cfg.embedding_size]),
        device,
    );
    losses::triplet_loss(&t, &triplets, opts.alpha)
        .map(|l| scalar(&l).map(f64::from))
        .transpose()
}

/// LFW 10-fold accuracy (mean, std) of a model package on aligned LFW crops (centre 160 px), as
/// `validate_on_lfw.py`.
pub fn lfw_accuracy(pkg: &ModelPackage, lfw_dir: &Path, pairs: &Path) -> Result<(f64, f64)> {
    let eval_err = |e: facenet_eval::Error| Error::Data {
        path: pairs.to_path_buf(),
        reason: e.to_string(),
    };
    let pf = facenet_eval::pairs::PairsFile::read(pairs).map_err(eval_err)?;
    let paths = pf.resolve(lfw_dir).map_err(eval_err)?;
    let mut unique: Vec<PathBuf> = paths
        .iter()
        .flat_map(|(a, b)| [a.clone(), b.clone()])
        .collect();
    unique.sort();
    unique.dedup();
    let net = facenet_core::facenet::FaceNet::load(pkg, 0)?;
    let mut emb = Vec::with_capacity(unique.len());
    for chunk in unique.chunks(64) {
        emb.extend(net.embed(&data::load_centered(chunk)?)?);
    }
    let index = |p: &PathBuf| unique.binary_search(p).ok().map(|i| &emb[i]);
    let mut e1 = Vec::with_capacity(paths.len());
    let mut e2 = Vec::with_capacity(paths.len());
    for (a, b) in &paths {
        match (index(a), index(b)) {
            (Some(x), Some(y)) => {
                e1.push(x.as_slice());
                e2.push(y.as_slice());
            }
            _ => return Err(Error::Invalid("LFW pair image lookup failed".into())),
        }
    }
    // One fold per set the file declares (LFW's 10), so that every fold holds both kinds of pair.
    let default_folds = facenet_eval::EvalOptions::default().folds;
    let opts = facenet_eval::EvalOptions {
        folds: pf
            .header
            .first()
            .copied()
            .unwrap_or(default_folds)
            .clamp(2, default_folds)
            .min(paths.len().max(2)),
        ..facenet_eval::EvalOptions::default()
    };
    let report = facenet_eval::evaluate(&e1, &e2, &pf.issame(), &opts).map_err(eval_err)?;
    Ok((report.accuracy_mean, report.accuracy_std))
}

#[allow(clippy::too_many_arguments)]
fn save_checkpoint<B: AutodiffBackend, O: Optimizer<TrainNet<B>, B>>(
    dir: &Path,
    model: &TrainNet<B>,
    optim: &O,
    step: u64,
    classes: &[Class],
    centers: Option<&Centers>,
    cfg: &Config,
    opts: &TrainOptions,
) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    model
        .clone()
        .save_file(dir.join("model"), &recorder())
        .map_err(|e| ckpt_err(dir, e))?;
    recorder()
        .record(optim.to_record(), dir.join("optimizer"))
        .map_err(|e| ckpt_err(dir, e))?;
    let weights = dir.join("weights.safetensors");
    crate::checkpoint::write_safetensors(&model.valid().net, &weights)?;
    let state = RunState {
        step,
        epoch: step / opts.epoch_size.max(1),
        classes: classes.iter().map(|c| c.name.clone()).collect(),
        centers: centers.map(|c| c.data.clone()),
        config: cfg.clone(),
        loss: opts.loss,
        init: opts.init,
        optimizer: opts.optimizer,
    };
    let path = dir.join("state.json");
    let text = serde_json::to_string(&state).map_err(|e| ckpt_err(&path, e))?;
    // Written last, so a state.json always describes records that are complete.
    std::fs::write(&path, text).map_err(io_err(&path))
}

fn append_log(path: &Path, row: &LogRow) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io_err(path))?;
    let line = serde_json::to_string(row).map_err(|e| Error::Invalid(e.to_string()))?;
    writeln!(f, "{line}").map_err(io_err(path))
}

fn read_log(path: &Path) -> Vec<LogRow> {
    std::fs::read_to_string(path)
        .map(|t| {
            t.lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        })
        .unwrap_or_default()
}

fn write_csv(path: &Path, rows: &[LogRow]) -> Result<()> {
    let opt = |v: Option<f64>| v.map_or_else(String::new, |x| format!("{x}"));
    let mut s = String::from("step,epoch,lr,loss,triplets,center_loss,images,images_per_s,val_loss,lfw_accuracy,lfw_accuracy_std\n");
    for r in rows {
        s.push_str(&format!(
            "{},{},{},{},{},{},{},{:.3},{},{},{}\n",
            r.step,
            r.epoch,
            r.lr,
            opt(r.loss),
            r.triplets.map_or_else(String::new, |t| t.to_string()),
            opt(r.center_loss),
            r.images,
            r.images_per_s,
            opt(r.val_loss),
            opt(r.lfw_accuracy),
            opt(r.lfw_accuracy_std),
        ));
    }
    std::fs::write(path, s).map_err(io_err(path))
}
