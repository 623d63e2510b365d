//! Training on real aligned LFW faces: gradient steps lower the loss, the exported package is
//! what burn computes (with and without batch norm to fold), and `train` runs end to end,
//! writes its logs, checkpoints and package, and resumes.

mod common;

use std::path::{Path, PathBuf};

use burn::module::AutodiffModule;
use burn::optim::{GradientsParams, Optimizer};
use facenet_core::facenet::FaceNet;
use facenet_core::manifest::ModelPackage;
use facenet_train::data::{self, Augment, Sample};
use facenet_train::export::{self, Provenance};
use facenet_train::inception_resnet_v1::{Config, InceptionResnetV1, Init};
use facenet_train::losses;
use facenet_train::optim::{Kind, TfOptimizer};
use facenet_train::train::{self, InitFrom, Loss, Quiet, TrainNet, TrainOptions};
use facenet_train::weights::PretrainedWeights;
use facenet_train::CpuAutodiff;
use rand::rngs::StdRng;
use rand::SeedableRng;

const PEOPLE: &[&str] = &[
    "Colin_Powell",
    "Donald_Rumsfeld",
    "George_W_Bush",
    "Tony_Blair",
];

fn aligned_set(shared: &Path, images: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    common::tiny_aligned_set(shared, PEOPLE, images, dir.path());
    dir
}

fn provenance(steps: u64) -> Provenance {
    Provenance {
        tool: "facenet-train test".into(),
        loss: "triplet".into(),
        init: "test".into(),
        base_model: "test".into(),
        base_embedder_sha256: String::new(),
        data_dir: String::new(),
        classes: PEOPLE.len(),
        images: 0,
        steps,
        epochs: 0,
        optimizer: "ADAGRAD".into(),
        learning_rate: 0.01,
        settings: serde_json::Value::Null,
        finished_unix: 0,
    }
}

fn sample(dir: &Path, per_person: usize) -> (Sample, Vec<image::RgbImage>) {
    let classes = data::read_dataset(dir).unwrap();
    assert_eq!(classes.len(), PEOPLE.len(), "every person aligned");
    let mut rng = StdRng::seed_from_u64(7);
    let s = data::sample_people(&classes, PEOPLE.len(), per_person, &mut rng);
    let faces = s
        .paths
        .iter()
        .map(|p| data::load_face(p, Augment::NONE, &mut rng).unwrap())
        .collect();
    (s, faces)
}

/// The lowest cosine, face by face, between ONNX Runtime on `pkg` and burn on `net`.
fn worst_cos_against_onnx(
    net: &InceptionResnetV1<facenet_train::CpuBackend>,
    pkg: &ModelPackage,
    paths: &[PathBuf],
    faces: &[image::RgbImage],
) -> f64 {
    let device = Default::default();
    let ort = FaceNet::load(pkg, 0).unwrap().embed(faces).unwrap();
    let burn = train::embed_faces(net, paths, &device).unwrap();
    assert_eq!(ort.len(), burn.len());
    ort.iter()
        .zip(&burn)
        .map(|(a, b)| common::cosine(a, b))
        .fold(1.0, f64::min)
}

/// Exports `net` as a package (into a temporary directory) and returns the lowest cosine between
/// ONNX Runtime on that package and burn on `net`.
fn export_worst_cos(
    net: &InceptionResnetV1<facenet_train::CpuBackend>,
    pkg: &ModelPackage,
    base: &PretrainedWeights,
    steps: u64,
    s: &Sample,
    faces: &[image::RgbImage],
) -> f64 {
    let out_dir = tempfile::tempdir().unwrap();
    let trained = export::write_package(
        net,
        pkg,
        base,
        &provenance(steps),
        &out_dir.path().join("model"),
    )
    .unwrap();
    worst_cos_against_onnx(net, &trained, &s.paths, faces)
}

fn base_weights(pkg: &ModelPackage) -> PretrainedWeights {
    PretrainedWeights::open(&pkg.file_path(&pkg.manifest.files.embedder).unwrap()).unwrap()
}

/// Triplet steps on one fixed batch of real faces: the loss over the batch's triplets falls at
/// every step, and the exported package embeds like burn does, and unlike the pretrained model.
#[test]
fn triplet_steps_lower_the_loss_and_the_export_matches_burn() {
    let Some(shared) =
        common::shared_dir("triplet_steps_lower_the_loss_and_the_export_matches_burn")
    else {
        return;
    };
    let set = aligned_set(&shared, 4);
    let (s, faces) = sample(set.path(), 4);
    let pkg = common::package();
    let base = base_weights(&pkg);
    let device = Default::default();
    let cfg = Config {
        dropout_keep_prob: 1.0,
        ..Config::default()
    };
    let net =
        InceptionResnetV1::<CpuAutodiff>::new(&cfg, &Init::Pretrained(&base), &device).unwrap();
    let mut model = TrainNet { net, logits: None };
    let mut optim = TfOptimizer {
        kind: Kind::Adagrad,
        weight_decay: 0.0,
    }
    .init::<CpuAutodiff, TrainNet<CpuAutodiff>>();

    // The pretrained model separates these people by more than the default margin of 0.2, so
    // the test mines with a wide one to have triplets to learn from.
    let alpha = 1.0;
    let x = data::to_tensor::<CpuAutodiff>(&faces, &device);
    let first = model.net.forward(x.clone()).embeddings;
    let emb = first.clone().detach().into_data().to_vec::<f32>().unwrap();
    let mut rng = StdRng::seed_from_u64(1);
    let triplets = losses::select_triplets(&emb, 512, &s.class_sizes, alpha, &mut rng);
    assert!(
        triplets.len() >= 4,
        "only {} triplets mined from {} faces",
        triplets.len(),
        faces.len()
    );
    let mut history = Vec::new();
    for _ in 0..3 {
        let out = model.net.forward(x.clone()).embeddings;
        let loss = losses::triplet_loss(&out, &triplets, alpha).unwrap();
        history.push(loss.clone().into_data().to_vec::<f32>().unwrap()[0]);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(0.002, model, grads);
    }
    let out = model.net.forward(x).embeddings;
    let last = losses::triplet_loss(&out, &triplets, alpha).unwrap();
    history.push(last.into_data().to_vec::<f32>().unwrap()[0]);
    eprintln!(
        "triplet loss over {} triplets, step by step: {history:?}",
        triplets.len()
    );
    assert!(history[0] > 0.05, "nothing to learn: {history:?}");
    assert!(
        history[1] < history[0],
        "the first step did not lower the loss: {history:?}"
    );
    assert!(
        history.windows(2).all(|w| w[1] <= w[0]),
        "the loss rose: {history:?}"
    );
    assert!(history[3] < 0.8 * history[0], "{history:?}");

    let inner = model.valid();
    let worst = export_worst_cos(&inner.net, &pkg, &base, 3, &s, &faces);
    eprintln!("after 3 steps, worst cos burn vs ONNX Runtime on the export: {worst:.7}");
    assert!(worst >= 0.9999, "worst cos {worst}");

    let moved = worst_cos_against_onnx(&inner.net, &pkg, &s.paths, &faces);
    eprintln!("worst cos trained vs pretrained: {moved:.7}");
    assert!(
        moved < 0.99999,
        "the export did not take the trained weights"
    );
    assert!(moved > 0.9, "3 small steps moved the embeddings too far");
}

/// A network with batch norm (training from scratch): one step updates the moving statistics,
/// and the export, with batch norm folded into the convolutions, still embeds like burn.
#[test]
fn scratch_step_exports_with_batch_norm_folded() {
    let Some(shared) = common::shared_dir("scratch_step_exports_with_batch_norm_folded") else {
        return;
    };
    let set = aligned_set(&shared, 2);
    let (s, faces) = sample(set.path(), 2);
    let pkg = common::package();
    let base = base_weights(&pkg);
    let device = Default::default();
    let cfg = Config {
        dropout_keep_prob: 1.0,
        batch_norm: true,
        ..Config::default()
    };
    <CpuAutodiff as burn::tensor::backend::Backend>::seed(&device, 3);
    let net = InceptionResnetV1::<CpuAutodiff>::new(&cfg, &Init::Scratch, &device).unwrap();
    let mut model = TrainNet { net, logits: None };
    let mut optim = TfOptimizer {
        kind: Kind::Adam,
        weight_decay: 0.0,
    }
    .init::<CpuAutodiff, TrainNet<CpuAutodiff>>();
    let x = data::to_tensor::<CpuAutodiff>(&faces, &device);
    let out = model.net.forward(x).embeddings;
    let emb = out.clone().detach().into_data().to_vec::<f32>().unwrap();
    let mut rng = StdRng::seed_from_u64(1);
    let triplets = losses::select_triplets(&emb, 512, &s.class_sizes, 2.0, &mut rng);
    let loss = losses::triplet_loss(&out, &triplets, 2.0).expect("alpha 2 mines every pair");
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    model = optim.step(0.001, model, grads);

    let inner = model.valid();
    let worst = export_worst_cos(&inner.net, &pkg, &base, 1, &s, &faces);
    eprintln!("scratch + batch norm, worst cos burn vs ONNX Runtime on the export: {worst:.7}");
    assert!(worst >= 0.9999, "worst cos {worst}");
}

/// `train` end to end with softmax + center loss: the loss falls, the logs, plot, checkpoint and
/// package are written, a resumed run carries on from the checkpoint's step, and the package
/// loads in the pipeline with embeddings still close to the pretrained ones.
#[test]
fn softmax_center_training_runs_resumes_and_exports() {
    let Some(shared) = common::shared_dir("softmax_center_training_runs_resumes_and_exports")
    else {
        return;
    };
    let set = aligned_set(&shared, 4);
    let out = tempfile::tempdir().unwrap();
    let mut o = TrainOptions::new(
        set.path().to_path_buf(),
        out.path().to_path_buf(),
        facenet_core::paths::default_package_dir(),
        Loss::SoftmaxCenter,
        InitFrom::Pretrained,
    );
    o.batch_size = 16;
    o.epoch_size = 2;
    o.max_steps = Some(4);
    o.optimizer = Kind::Adam;
    o.learning_rate = 0.001;
    o.center_loss_factor = 0.01;
    o.random_crop = false;
    // Evaluation on a pairs file in LFW's format over the same faces, at the end of each epoch.
    let pairs = out.path().join("pairs.txt");
    std::fs::write(
        &pairs,
        "2\t2\nColin_Powell\t1\t2\nDonald_Rumsfeld\t1\t2\n\
         Colin_Powell\t1\tDonald_Rumsfeld\t1\nGeorge_W_Bush\t1\tTony_Blair\t1\n\
         George_W_Bush\t3\t4\nTony_Blair\t3\t4\n\
         Colin_Powell\t3\tTony_Blair\t3\nDonald_Rumsfeld\t3\tGeorge_W_Bush\t3\n",
    )
    .unwrap();
    o.lfw_dir = Some(set.path().to_path_buf());
    o.lfw_pairs = Some(pairs);
    let device = Default::default();
    let first = train::train::<CpuAutodiff>(&o, &device, &mut Quiet).unwrap();
    let losses: Vec<f64> = first.rows.iter().map(|r| r.loss.unwrap()).collect();
    eprintln!(
        "softmax + center loss by step: {losses:?}, {:.1} images/s",
        first.images_per_s
    );
    assert_eq!(first.steps, 4);
    assert!(losses.iter().all(|l| l.is_finite()));
    assert!(
        losses[3] < losses[0],
        "the loss did not fall over 4 steps: {losses:?}"
    );
    assert!(first.rows.iter().all(|r| r.center_loss.is_some()));
    let evaluated: Vec<(u64, f64)> = first
        .rows
        .iter()
        .filter_map(|r| r.lfw_accuracy.map(|a| (r.step, a)))
        .collect();
    eprintln!("pairs accuracy by step: {evaluated:?}");
    assert_eq!(
        evaluated.iter().map(|e| e.0).collect::<Vec<_>>(),
        vec![2, 4]
    );
    assert!(evaluated.iter().all(|e| e.1 >= 0.75), "{evaluated:?}");

    let csv = std::fs::read_to_string(out.path().join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");
    let png = std::fs::read(out.path().join("training.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    assert!(out.path().join("checkpoint/weights.safetensors").is_file());
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("model/manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["training"]["loss"], "softmax-center");
    assert_eq!(manifest["training"]["steps"], 4);
    assert_eq!(manifest["training"]["classes"], PEOPLE.len());

    o.max_steps = Some(6);
    o.resume = true;
    let resumed = train::train::<CpuAutodiff>(&o, &device, &mut Quiet).unwrap();
    assert_eq!(resumed.steps, 6);
    let steps: Vec<u64> = resumed.rows.iter().map(|r| r.step).collect();
    assert_eq!(steps, vec![1, 2, 3, 4, 5, 6]);

    let trained = ModelPackage::open(&first.package).unwrap();
    let pretrained = common::package();
    let face = [common::read_rgb(
        &data::read_dataset(set.path()).unwrap()[0].images[0],
    )];
    let a = FaceNet::load(&trained, 0).unwrap().embed(&face).unwrap();
    let b = FaceNet::load(&pretrained, 0).unwrap().embed(&face).unwrap();
    let c = common::cosine(&a[0], &b[0]);
    eprintln!("after 6 steps, cos to the pretrained embedding: {c:.5}");
    assert!(c > 0.9 && c < 0.999999, "cos {c}");
}

/// Options that cannot work are refused before any work is done.
#[test]
fn bad_options_and_data_are_refused() {
    let empty = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = TrainOptions::new(
        empty.path().to_path_buf(),
        out.path().to_path_buf(),
        facenet_core::paths::default_package_dir(),
        Loss::Triplet,
        InitFrom::Pretrained,
    );
    let device = Default::default();
    let e = train::train::<CpuAutodiff>(&o, &device, &mut Quiet)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("facenet align"), "{e}");

    let mut bad = o.clone();
    bad.people_per_batch = 1;
    let e = train::train::<CpuAutodiff>(&bad, &device, &mut Quiet)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("--people-per-batch"), "{e}");

    let mut bad = o.clone();
    bad.lfw_dir = Some(empty.path().to_path_buf());
    let e = train::train::<CpuAutodiff>(&bad, &device, &mut Quiet)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("--lfw-pairs"), "{e}");
}
