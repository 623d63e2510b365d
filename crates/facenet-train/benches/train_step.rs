//! Training throughput on this machine: images/s of one training step (forward with autodiff,
//! triplet-style loss, backward, ADAGRAD update) of the pretrained network, beside the
//! inference forward pass measured in the same run, at the batch sizes `facenet train` uses.
//! `cargo bench -p facenet-train --bench train_step [-- BATCH...]` (default 8 and 36).

use std::time::Instant;

use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::{s, Distribution, Tensor};
use facenet_train::inception_resnet_v1::{Config, InceptionResnetV1, Init};
use facenet_train::optim::{Kind, TfOptimizer};
use facenet_train::train::TrainNet;
use facenet_train::weights::PretrainedWeights;
use facenet_train::{CpuAutodiff, CpuBackend};

const ROUNDS: usize = 3;

fn main() -> anyhow::Result<()> {
    let mut batches: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    if batches.is_empty() {
        batches = vec![8, 36];
    }
    let dir = facenet_core::paths::default_package_dir();
    let pkg = facenet_core::manifest::ModelPackage::open(&dir)?;
    let w = PretrainedWeights::open(&pkg.file_path(&pkg.manifest.files.embedder)?)?;
    let cfg = Config {
        dropout_keep_prob: 1.0,
        ..Config::default()
    };
    let device = Default::default();
    println!("batch  forward images/s  train-step images/s  ratio  (best of {ROUNDS})");
    for batch in batches {
        let net = InceptionResnetV1::<CpuBackend>::new(&cfg, &Init::Pretrained(&w), &device)?;
        let x =
            Tensor::<CpuBackend, 4>::random([batch, 3, 160, 160], Distribution::Default, &device);
        let mut fwd = f64::MAX;
        for _ in 0..ROUNDS {
            let t = Instant::now();
            let _ = net.forward(x.clone()).embeddings.into_data();
            fwd = fwd.min(t.elapsed().as_secs_f64());
        }

        let net = InceptionResnetV1::<CpuAutodiff>::new(&cfg, &Init::Pretrained(&w), &device)?;
        let mut model = TrainNet { net, logits: None };
        let mut optim = TfOptimizer {
            kind: Kind::Adagrad,
            weight_decay: 0.0,
        }
        .init::<CpuAutodiff, TrainNet<CpuAutodiff>>();
        let x =
            Tensor::<CpuAutodiff, 4>::random([batch, 3, 160, 160], Distribution::Default, &device);
        let mut step = f64::MAX;
        for _ in 0..ROUNDS {
            let t = Instant::now();
            let e = model.net.forward(x.clone()).embeddings;
            // Pulls neighbouring embeddings together: a loss with a gradient through every layer.
            let loss = (e.clone().slice(s![0..batch - 1]) - e.slice(s![1..batch]))
                .powi_scalar(2)
                .sum();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(0.001, model, grads);
            step = step.min(t.elapsed().as_secs_f64());
        }
        let (f, s) = (batch as f64 / fwd, batch as f64 / step);
        println!("{batch:>5}  {f:>16.2}  {s:>19.2}  {:>5.2}", s / f);
    }
    Ok(())
}
