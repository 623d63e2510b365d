//! `facenet align`: align_dataset_mtcnn.py over a `<class>/<image>` tree.
//!
//! Each image's main face (or, with `--detect-multiple-faces`, every face) is cut out with a
//! margin and resized to a square PNG in the mirrored tree, and its crop box is appended to
//! `bounding_boxes.txt` in the original's format. A run can be interrupted and started again:
//! PNGs appear atomically, and an image whose PNG is already there is skipped. Unreadable files
//! and photos without a face are listed at the end instead of stopping the run.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use facenet_core::image::codecs::png::PngEncoder;
use facenet_core::image::{ExtendedColorType, ImageEncoder, RgbImage};
use facenet_core::Pipeline;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::commands::Context;
use crate::exit;

#[derive(Args)]
pub struct AlignArgs {
    /// The dataset: one directory per class, holding that class's photos.
    #[arg(value_name = "INPUT_DIR")]
    input_dir: PathBuf,
    /// Where the aligned tree and bounding_boxes.txt go; created when missing.
    #[arg(value_name = "OUTPUT_DIR")]
    output_dir: PathBuf,
    /// Side of the square crops, in pixels.
    #[arg(long, default_value_t = 160, value_parser = clap::value_parser!(u32).range(1..=4096))]
    image_size: u32,
    /// Pixels added around the detector's box before cropping (half on each side).
    #[arg(long, default_value_t = 32)]
    margin: u32,
    /// Save every face as `<stem>_<i>.png` instead of only the main one as `<stem>.png`.
    #[arg(long)]
    detect_multiple_faces: bool,
    /// Images aligned at once (default: the global --workers; 0 = one per core).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
}

/// The crop boxes of all runs over one output tree, as the original's `bounding_boxes_*.txt`.
const BOXES_FILE: &str = "bounding_boxes.txt";

/// One input photo and where its crop goes.
struct Job {
    input: PathBuf,
    /// `<output>/<class>/<stem>`, without extension or face index.
    out_base: PathBuf,
}

impl Job {
    /// The PNG of face `i`, or of the main face when `i` is `None`.
    fn png(&self, i: Option<usize>) -> PathBuf {
        let mut name = self.out_base.file_name().unwrap_or_default().to_owned();
        if let Some(i) = i {
            name.push(format!("_{i}"));
        }
        name.push(".png");
        self.out_base.with_file_name(name)
    }

    /// The file whose presence means this photo was aligned by an earlier run; with several
    /// faces it is `_0`, which is written last.
    fn marker(&self, multiple: bool) -> PathBuf {
        self.png(multiple.then_some(0))
    }
}

#[derive(Serialize)]
struct Problem {
    path: String,
    reason: String,
}

#[derive(Serialize)]
struct Summary {
    images: usize,
    aligned: usize,
    skipped_existing: usize,
    no_face: Vec<Problem>,
    unreadable: Vec<Problem>,
    seconds: f64,
}

enum Outcome {
    /// The `bounding_boxes.txt` lines of the crops written.
    Aligned(Vec<String>),
    NoFace(String),
    Unreadable(String),
}

pub fn run(ctx: &Context, args: &AlignArgs) -> anyhow::Result<u8> {
    let start = Instant::now();
    if let (Ok(i), Ok(o)) = (
        fs::canonicalize(&args.input_dir),
        fs::canonicalize(&args.output_dir),
    ) {
        // The input photos would pass for their own crops and never be aligned.
        if i == o {
            eprintln!(
                "error: the output directory {} is the input directory; choose another",
                args.output_dir.display()
            );
            return Ok(exit::USAGE);
        }
    }
    let mut unreadable = Vec::new();
    let jobs = list_jobs(&args.input_dir, &args.output_dir, &mut unreadable)?;
    let images = jobs.len() + unreadable.len();
    let (done, todo): (Vec<Job>, Vec<Job>) = jobs
        .into_iter()
        .partition(|j| j.marker(args.detect_multiple_faces).exists());
    let skipped_existing = done.len();

    let mut aligned = 0;
    let mut no_face = Vec::new();
    if !todo.is_empty() {
        let outcomes = align_all(ctx, args, &todo)?;
        for (job, outcome) in todo.iter().zip(outcomes) {
            let path = job.input.display().to_string();
            match outcome {
                Outcome::Aligned(_) => aligned += 1,
                Outcome::NoFace(reason) => no_face.push(Problem { path, reason }),
                Outcome::Unreadable(reason) => unreadable.push(Problem { path, reason }),
            }
        }
    }
    unreadable.sort_by(|a, b| a.path.cmp(&b.path));

    let code = if !unreadable.is_empty() {
        exit::BAD_INPUT
    } else if !no_face.is_empty() {
        exit::NO_FACE
    } else {
        exit::OK
    };
    let summary = Summary {
        images,
        aligned,
        skipped_existing,
        no_face,
        unreadable,
        seconds: start.elapsed().as_secs_f64(),
    };
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print_text(&summary, todo.len());
    }
    Ok(code)
}

fn print_text(s: &Summary, attempted: usize) {
    let rate = if s.seconds > 0.0 {
        attempted as f64 / s.seconds
    } else {
        0.0
    };
    println!(
        "{} images: {} aligned, {} already aligned, {} without a face, {} unreadable ({:.1} s, {rate:.1} images/s)",
        s.images,
        s.aligned,
        s.skipped_existing,
        s.no_face.len(),
        s.unreadable.len(),
        s.seconds
    );
    for p in &s.no_face {
        println!("  no face: {}: {}", p.path, p.reason);
    }
    for p in &s.unreadable {
        println!("  unreadable: {}: {}", p.path, p.reason);
    }
}

/// Every `<class>/<file>` under `input`, classes and files sorted by name. Hidden entries and
/// anything nested deeper are left out, as are files that could not be listed, which go to
/// `unreadable` instead.
fn list_jobs(
    input: &Path,
    output: &Path,
    unreadable: &mut Vec<Problem>,
) -> anyhow::Result<Vec<Job>> {
    let classes = sorted_entries(input)
        .with_context(|| format!("cannot list the input directory {}", input.display()))?;
    let mut jobs = Vec::new();
    // Two photos that differ only in extension would share a PNG; the second is refused rather
    // than silently skipped or overwritten.
    let mut claimed: HashMap<PathBuf, PathBuf> = HashMap::new();
    // An output tree inside the input (`align data data/aligned`) is not a class.
    let output_real = fs::canonicalize(output).ok();
    for class in classes {
        if !class.is_dir()
            || (output_real.is_some() && fs::canonicalize(&class).ok() == output_real)
        {
            continue;
        }
        let files = match sorted_entries(&class) {
            Ok(f) => f,
            Err(e) => {
                unreadable.push(Problem {
                    path: class.display().to_string(),
                    reason: format!("cannot list the class directory: {e}"),
                });
                continue;
            }
        };
        let Some(class_name) = class.file_name() else {
            continue;
        };
        for file in files {
            if file.is_dir() {
                continue;
            }
            // bounding_boxes.txt is one record per line: a name with a newline could forge one.
            if file.to_string_lossy().chars().any(char::is_control) {
                unreadable.push(Problem {
                    path: file.display().to_string(),
                    reason: "the file name contains a control character".into(),
                });
                continue;
            }
            let Some(stem) = file.file_stem() else {
                continue;
            };
            let out_base = output.join(class_name).join(stem);
            if let Some(first) = claimed.get(&out_base) {
                unreadable.push(Problem {
                    path: file.display().to_string(),
                    reason: format!(
                        "its crop would overwrite that of {} (same name, other extension)",
                        first.display()
                    ),
                });
                continue;
            }
            claimed.insert(out_base.clone(), file.clone());
            jobs.push(Job {
                input: file,
                out_base,
            });
        }
    }
    Ok(jobs)
}

/// The non-hidden entries of `dir`, sorted by name.
fn sorted_entries(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        out.push(entry.path());
    }
    out.sort();
    Ok(out)
}

/// Aligns `todo` on the worker threads; the first failure that is not the input's fault (an
/// unwritable output, the runtime) stops the run.
fn align_all(ctx: &Context, args: &AlignArgs, todo: &[Job]) -> anyhow::Result<Vec<Outcome>> {
    let pipeline = Context {
        model: ctx.model.clone(),
        threads: ctx.threads,
        max_pixels: ctx.max_pixels,
        workers: args.jobs.unwrap_or(ctx.workers),
    }
    .pipeline()?;
    fs::create_dir_all(&args.output_dir)
        .with_context(|| format!("cannot create {}", args.output_dir.display()))?;
    let boxes_path = args.output_dir.join(BOXES_FILE);
    let boxes = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&boxes_path)
        .with_context(|| format!("cannot open {}", boxes_path.display()))?;
    let log = Mutex::new(OrderedLog {
        file: boxes,
        next: 0,
        pending: BTreeMap::new(),
    });

    let bar = progress_bar(todo.len() as u64, args.quiet);
    let failed = AtomicBool::new(false);
    let fatal: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    let indexed: Vec<(usize, &Job)> = todo.iter().enumerate().collect();
    let outcomes = pipeline.map(&indexed, |p, &(i, job)| {
        if failed.load(Ordering::Relaxed) {
            return None;
        }
        let result = align_one(p, args, job).and_then(|outcome| {
            let lines = match &outcome {
                Outcome::Aligned(lines) => lines.concat(),
                _ => String::new(),
            };
            log.lock()
                .map_err(|_| anyhow::anyhow!("a worker failed while writing {BOXES_FILE}"))?
                .push(i, lines)
                .with_context(|| format!("cannot write {}", boxes_path.display()))?;
            Ok(outcome)
        });
        bar.inc(1);
        match result {
            Ok(o) => Some(o),
            Err(e) => {
                failed.store(true, Ordering::Relaxed);
                if let Ok(mut f) = fatal.lock() {
                    f.get_or_insert(e);
                }
                None
            }
        }
    });
    bar.finish_and_clear();
    // After a failure the images behind the failed one are still waiting for their turn; their
    // crops are on disk, so their lines must be too.
    let flushed = match log.into_inner() {
        Ok(mut log) => log
            .flush_pending()
            .with_context(|| format!("cannot write {}", boxes_path.display())),
        Err(_) => Ok(()),
    };
    if let Some(e) = fatal.into_inner().ok().flatten() {
        return Err(e);
    }
    flushed?;
    outcomes
        .into_iter()
        .map(|o| o.ok_or_else(|| anyhow::anyhow!("an image was not aligned")))
        .collect()
}

fn progress_bar(len: u64, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "align {bar:40} {pos}/{len} images, {per_sec}, {elapsed_precise} elapsed, ETA {eta}",
    ) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

/// `bounding_boxes.txt` lines written in input order as soon as every earlier image is done,
/// so that the file does not depend on how the workers were scheduled.
struct OrderedLog {
    file: File,
    next: usize,
    pending: BTreeMap<usize, String>,
}

impl OrderedLog {
    fn push(&mut self, i: usize, lines: String) -> std::io::Result<()> {
        self.pending.insert(i, lines);
        while let Some(lines) = self.pending.remove(&self.next) {
            // One write per image: with O_APPEND a line is never split by another writer.
            if !lines.is_empty() {
                self.file.write_all(lines.as_bytes())?;
            }
            self.next += 1;
        }
        Ok(())
    }

    fn flush_pending(&mut self) -> std::io::Result<()> {
        for lines in std::mem::take(&mut self.pending).into_values() {
            self.file.write_all(lines.as_bytes())?;
        }
        Ok(())
    }
}

/// Decodes, detects and writes the crops of one photo. `Err` only for failures that are not the
/// photo's fault.
fn align_one(p: &Pipeline, args: &AlignArgs, job: &Job) -> anyhow::Result<Outcome> {
    let img = match p.decode(&job.input) {
        Ok(d) => d.image,
        Err(e) if e.is_input_error() => {
            let msg = e.to_string();
            // The summary names the file already.
            let prefix = format!("{}: ", job.input.display());
            let reason = msg.strip_prefix(&prefix).unwrap_or(&msg).to_owned();
            return Ok(Outcome::Unreadable(reason));
        }
        Err(e) => return Err(e.into()),
    };
    let faces = p
        .detect(&img)
        .with_context(|| format!("face detection failed on {}", job.input.display()))?;
    let chosen: Vec<usize> = if args.detect_multiple_faces {
        (0..faces.len()).collect()
    } else {
        p.select(&img, &faces).into_iter().collect()
    };
    if chosen.is_empty() {
        return Ok(Outcome::NoFace("no face detected".into()));
    }
    let mut crops = Vec::with_capacity(chosen.len());
    for &i in &chosen {
        // The user's margin and size, not the package's: the crop box is recomputed here from
        // the detector's unclipped box, as the original does.
        let bb = facenet_core::align::crop_box(
            faces[i].raw_bbox,
            img.width(),
            img.height(),
            args.margin,
        );
        if let Some(crop) = facenet_core::align::align(&img, bb, args.image_size) {
            crops.push((crop, bb));
        }
    }
    if crops.is_empty() {
        return Ok(Outcome::NoFace(
            "every detected face lies outside the image".into(),
        ));
    }
    if let Some(dir) = job.out_base.parent() {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    // The resume marker (`<stem>.png` or `<stem>_0.png`) goes last, so that its presence means
    // every crop of the photo is there.
    // Numbered among the crops written, so that `_0` exists whenever any face was aligned.
    let mut lines = Vec::with_capacity(crops.len());
    for (k, (crop, bb)) in crops.iter().enumerate().rev() {
        let png = job.png(args.detect_multiple_faces.then_some(k));
        write_png_atomic(&png, crop)?;
        lines.push(format!(
            "{} {} {} {} {}\n",
            png.display(),
            bb[0],
            bb[1],
            bb[2],
            bb[3]
        ));
    }
    lines.reverse();
    Ok(Outcome::Aligned(lines))
}

/// Writes a PNG under a hidden temporary name in the same directory, then renames it into place,
/// so an interrupted run never leaves a truncated PNG where a resumed run would take it as done.
fn write_png_atomic(path: &Path, img: &RgbImage) -> anyhow::Result<()> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let write = || -> anyhow::Result<()> {
        let file = File::create(&tmp)?;
        let mut w = BufWriter::new(file);
        PngEncoder::new(&mut w).write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            ExtendedColorType::Rgb8,
        )?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        // Without it a crash of the machine could leave the renamed PNG empty.
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        Ok(())
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        e.context(format!("cannot write {}", path.display()))
    })
}
