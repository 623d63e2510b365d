//! Face detection, alignment and embedding, as in David Sandberg's FaceNet.
//!
//! This crate turns photos into faces (MTCNN boxes, scores and landmarks), aligned 160×160 crops
//! and L2-normalised 512-d FaceNet embeddings, matching the original Python pipeline to float
//! precision. It runs the networks on ONNX Runtime and refuses model files whose SHA-256 differs
//! from their package manifest. It knows nothing of HTTP, command lines or model downloads.

pub mod decode;
pub mod error;
pub mod manifest;

pub use error::{Error, Result};
/// Re-exported so that callers name the same `RgbImage` type as the pipeline.
pub use image;
pub mod align;
pub mod batch;
pub mod distance;
pub mod engine;
pub mod facenet;
pub mod mtcnn;
pub mod paths;
pub mod pipeline;
pub mod resize;
pub mod runtime;

pub use distance::Metric;
pub use pipeline::{Face, Pipeline, PipelineOptions};
