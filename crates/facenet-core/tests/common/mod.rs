//! Shared test helpers: where the shared reference data and the fetched model package are.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use facenet_core::{Pipeline, PipelineOptions};

/// `../shared` beside the checkout (or `$FACENET_SHARED`); `None`, with a loud message, when absent.
pub fn shared_dir(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("FACENET_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    if dir.join("reference/mtcnn.json").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "\n!!!!! SKIPPED {test}: shared data not found at {} (set FACENET_SHARED) !!!!!\n",
            dir.display()
        );
        None
    }
}

/// The fetched pretrained package, loaded once per test binary. Tests need the real models:
/// a missing package is a failure with instructions, not a skip.
pub fn pipeline() -> &'static Pipeline {
    static P: OnceLock<Pipeline> = OnceLock::new();
    P.get_or_init(|| {
        let dir = facenet_core::paths::default_package_dir();
        Pipeline::open(&dir, PipelineOptions::default()).unwrap_or_else(|e| {
            panic!(
                "cannot load the model package {}: {e}\nrun `facenet models fetch` (scripts/test.sh does)",
                dir.display()
            )
        })
    })
}

pub fn json(path: PathBuf) -> serde_json::Value {
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

pub fn cosine(a: &[f32], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * y).sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| x.powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

pub fn iou(a: &[f64], b: &[f64]) -> f64 {
    let ix = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let iy = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = ix * iy;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}
