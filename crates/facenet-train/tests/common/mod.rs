//! Shared test helpers: the shared reference data, the pretrained package, a tiny aligned set.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use facenet_core::manifest::ModelPackage;
use facenet_core::{Pipeline, PipelineOptions};

/// `../shared` beside the checkout (or `$FACENET_SHARED`); `None`, with a loud message, when absent.
pub fn shared_dir(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("FACENET_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    if dir.join("reference/aligned").is_dir() && dir.join("data/lfw/images").is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "\n!!!!! SKIPPED {test}: shared data not found at {} (set FACENET_SHARED) !!!!!\n",
            dir.display()
        );
        None
    }
}

/// The fetched pretrained package. Tests need the real model: a missing package is a failure
/// with instructions, not a skip.
pub fn package() -> ModelPackage {
    let dir = facenet_core::paths::default_package_dir();
    ModelPackage::open(&dir).unwrap_or_else(|e| {
        panic!(
            "cannot load the model package {}: {e}\nrun `facenet models fetch` (scripts/test.sh does)",
            dir.display()
        )
    })
}

pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

pub fn read_rgb(path: &Path) -> image::RgbImage {
    image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8()
}

/// Aligns the first `images` photos of each of `people` (LFW names) with facenet-core's
/// pipeline, as `facenet align` would: `<out>/<person>/<photo>.png`, 160 px.
pub fn tiny_aligned_set(shared: &Path, people: &[&str], images: usize, out: &Path) {
    let p = Pipeline::open(
        &facenet_core::paths::default_package_dir(),
        PipelineOptions::default(),
    )
    .unwrap_or_else(|e| panic!("cannot load the pipeline: {e}; run `facenet models fetch`"));
    for person in people {
        let src = shared.join("data/lfw/images").join(person);
        let mut photos: Vec<PathBuf> = std::fs::read_dir(&src)
            .unwrap_or_else(|e| panic!("{}: {e}", src.display()))
            .map(|e| e.unwrap().path())
            .collect();
        photos.sort();
        let dst = out.join(person);
        std::fs::create_dir_all(&dst).unwrap();
        for photo in photos.iter().take(images) {
            let img = p.decode(photo).unwrap().image;
            let faces = p.detect(&img).unwrap();
            let Some(i) = p.select(&img, &faces) else {
                continue;
            };
            let crop = p.aligned(&img, &faces[i]).unwrap();
            let name = photo.file_stem().unwrap().to_string_lossy().into_owned();
            crop.save(dst.join(format!("{name}.png"))).unwrap();
        }
    }
}
