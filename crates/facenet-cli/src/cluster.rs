//! `facenet cluster`: groups photos by person.
//!
//! Embeds the main face of every image under a directory (recursively; aligned 160x160 crops as
//! they are), builds the graph of faces within the L2 threshold, clusters it with Chinese whispers
//! or DBSCAN (`facenet_eval::cluster`) and prints the clusters as JSON, largest first. Faces left
//! alone (a singleton of Chinese whispers, DBSCAN noise) are `unclustered`; images without a
//! usable face are `failed`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use facenet_eval::cluster::{self, NeighbourGraph};
use serde::Serialize;

use crate::classify::{embed_main_faces, sorted_entries, Outcome};
use crate::commands::Context;

/// Clustering chains faces through their neighbours, so one false edge merges two people: it
/// needs a tighter bound than 1:1 verification (1.129). Measured on 60 LFW people (741 photos),
/// Chinese whispers BCubed F: 0.674 at 1.129, 0.949 at 1.0, 0.961 at 0.9, 0.898 at 0.8.
const DEFAULT_CLUSTER_L2: f32 = 0.9;
use crate::exit;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Algorithm {
    ChineseWhispers,
    Dbscan,
}

#[derive(Args)]
pub struct ClusterArgs {
    /// Directory of photos, searched recursively.
    dir: PathBuf,
    #[arg(long, value_enum, default_value = "chinese-whispers")]
    algorithm: Algorithm,
    /// L2 distance under which two faces are neighbours [default: 0.9, tighter than the 1:1
    /// verification threshold because clusters chain through neighbours].
    #[arg(long, value_name = "T")]
    threshold: Option<f32>,
    /// DBSCAN: neighbours (counting the face itself) that make a face a core point.
    #[arg(long, default_value_t = 2, value_name = "N")]
    min_samples: usize,
    /// Seed of Chinese whispers' update order; the result is a function of it.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write one folder per cluster (`cluster_000`, ... largest first, plus `unclustered`) here.
    /// It must not exist or be empty.
    #[arg(long, value_name = "OUT")]
    out_dir: Option<PathBuf>,
    /// Copy the photos into --out-dir.
    #[arg(long, requires = "out_dir", conflicts_with = "link")]
    copy: bool,
    /// Symlink the photos into --out-dir (the default).
    #[arg(long, requires = "out_dir")]
    link: bool,
}

#[derive(Serialize)]
struct ClusterOut {
    id: usize,
    size: usize,
    members: Vec<String>,
}

#[derive(Serialize)]
struct FailedOut {
    path: String,
    error: String,
    message: String,
}

#[derive(Serialize)]
struct Output {
    algorithm: &'static str,
    threshold: f32,
    clusters: Vec<ClusterOut>,
    unclustered: Vec<String>,
    failed: Vec<FailedOut>,
}

pub fn run(ctx: &Context, args: &ClusterArgs) -> anyhow::Result<u8> {
    let mut paths = Vec::new();
    walk(&args.dir, &mut paths)?;
    if paths.is_empty() {
        anyhow::bail!("{} holds no files", args.dir.display());
    }
    if let Some(out) = &args.out_dir {
        // Checked before the slow part, so a mistyped folder costs nothing.
        check_out_dir(out)?;
    }
    let p = ctx.pipeline()?;
    let threshold = args.threshold.unwrap_or(DEFAULT_CLUSTER_L2);
    let outcomes = embed_main_faces(&p, &paths, "cluster")?;
    let mut embedded = Vec::new();
    let mut embeddings = Vec::new();
    let mut failed = Vec::new();
    for (path, o) in paths.iter().zip(outcomes) {
        match o {
            Outcome::Embedded(e) => {
                embedded.push(path.clone());
                embeddings.push(e);
            }
            Outcome::Failed { code, message } => failed.push(FailedOut {
                path: path.display().to_string(),
                error: code,
                message,
            }),
        }
    }
    let graph = NeighbourGraph::build(&embeddings, threshold, p.workers())?;
    let labels: Vec<Option<usize>> = match args.algorithm {
        Algorithm::ChineseWhispers => {
            cluster::chinese_whispers(&graph, cluster::CHINESE_WHISPERS_ITERATIONS, args.seed)
                .into_iter()
                .map(Some)
                .collect()
        }
        Algorithm::Dbscan => cluster::dbscan(&graph, args.min_samples),
    };
    let mut clusters = Vec::new();
    let mut unclustered: Vec<usize> = labels
        .iter()
        .enumerate()
        .filter(|(_, l)| l.is_none())
        .map(|(i, _)| i)
        .collect();
    for members in cluster::groups(&labels) {
        if members.len() == 1 {
            unclustered.extend(members);
        } else {
            clusters.push(members);
        }
    }
    unclustered.sort_unstable();
    if let Some(out) = &args.out_dir {
        write_folders(out, &embedded, &clusters, &unclustered, args.copy)?;
    }
    let shown = |i: &usize| embedded[*i].display().to_string();
    let out = Output {
        algorithm: match args.algorithm {
            Algorithm::ChineseWhispers => "chinese-whispers",
            Algorithm::Dbscan => "dbscan",
        },
        threshold,
        clusters: clusters
            .iter()
            .enumerate()
            .map(|(id, m)| ClusterOut {
                id,
                size: m.len(),
                members: m.iter().map(shown).collect(),
            })
            .collect(),
        unclustered: unclustered.iter().map(shown).collect(),
        failed,
    };
    println!("{}", serde_json::to_string(&out)?);
    Ok(exit::OK)
}

/// Every file under `dir`, depth first, sorted; hidden entries skipped, symlinked folders not
/// followed (a link cycle would never end).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for p in sorted_entries(dir)? {
        let meta = std::fs::symlink_metadata(&p)
            .with_context(|| format!("cannot read {}", p.display()))?;
        if meta.is_dir() {
            walk(&p, out)?;
        } else if meta.is_file() || p.is_file() {
            out.push(p);
        }
    }
    Ok(())
}

fn check_out_dir(out: &Path) -> anyhow::Result<()> {
    if out.exists() {
        let mut entries =
            std::fs::read_dir(out).with_context(|| format!("cannot read {}", out.display()))?;
        if entries.next().is_some() {
            anyhow::bail!(
                "{} is not empty; choose a new folder for the clusters",
                out.display()
            );
        }
    }
    Ok(())
}

fn write_folders(
    out: &Path,
    paths: &[PathBuf],
    clusters: &[Vec<usize>],
    unclustered: &[usize],
    copy: bool,
) -> anyhow::Result<()> {
    let mut folders: Vec<(String, &[usize])> = clusters
        .iter()
        .enumerate()
        .map(|(id, m)| (format!("cluster_{id:03}"), m.as_slice()))
        .collect();
    if !unclustered.is_empty() {
        folders.push(("unclustered".into(), unclustered));
    }
    for (name, members) in folders {
        let dir = out.join(name);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        for &i in members {
            let src = &paths[i];
            let file = src.file_name().unwrap_or(src.as_os_str());
            let mut dst = dir.join(file);
            // Photos from different subfolders may share a name.
            if dst.exists() {
                dst = dir.join(format!("{i}_{}", file.to_string_lossy()));
            }
            if copy {
                std::fs::copy(src, &dst).with_context(|| {
                    format!("cannot copy {} to {}", src.display(), dst.display())
                })?;
            } else {
                link(src, &dst)?;
            }
        }
    }
    Ok(())
}

#[cfg(unix)]
fn link(src: &Path, dst: &Path) -> anyhow::Result<()> {
    // Absolute targets keep the links valid wherever the output folder is.
    let target =
        std::fs::canonicalize(src).with_context(|| format!("cannot resolve {}", src.display()))?;
    std::os::unix::fs::symlink(&target, dst)
        .with_context(|| format!("cannot link {} to {}", dst.display(), target.display()))
}

#[cfg(not(unix))]
fn link(_src: &Path, _dst: &Path) -> anyhow::Result<()> {
    anyhow::bail!("symbolic links are only made on Unix; use --copy")
}
