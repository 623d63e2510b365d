//! burn's Inception-ResNet-v1 with the pretrained weights against ONNX Runtime on the same
//! converted model, on the reference's real aligned faces.

mod common;

use std::path::PathBuf;

use facenet_core::facenet::FaceNet;
use facenet_train::inception_resnet_v1::{Config, InceptionResnetV1, Init};
use facenet_train::weights::PretrainedWeights;
use facenet_train::CpuBackend;

#[test]
fn burn_forward_matches_onnx_runtime_on_pretrained_weights() {
    let Some(shared) =
        common::shared_dir("burn_forward_matches_onnx_runtime_on_pretrained_weights")
    else {
        return;
    };
    let pkg = common::package();
    let weights =
        PretrainedWeights::open(&pkg.file_path(&pkg.manifest.files.embedder).unwrap()).unwrap();
    assert_eq!(weights.conv_count(), 132);
    let device = Default::default();
    let net = InceptionResnetV1::<CpuBackend>::new(
        &Config::default(),
        &Init::Pretrained(&weights),
        &device,
    )
    .unwrap();

    let mut paths: Vec<PathBuf> = std::fs::read_dir(shared.join("reference/aligned"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    paths.sort();
    paths.truncate(8);
    let faces: Vec<_> = paths.iter().map(|p| common::read_rgb(p)).collect();

    let ort = FaceNet::load(&pkg, 0).unwrap().embed(&faces).unwrap();
    let burn = facenet_train::train::embed_faces(&net, &paths, &device).unwrap();
    let mut worst = 1.0f64;
    for ((p, a), b) in paths.iter().zip(&ort).zip(&burn) {
        let c = common::cosine(a, b);
        eprintln!("{}: cos {c:.7}", p.display());
        worst = worst.min(c);
    }
    eprintln!(
        "worst cos burn vs ONNX Runtime over {} faces: {worst:.7}",
        paths.len()
    );
    assert!(worst >= 0.9999, "worst cos {worst}");
}
