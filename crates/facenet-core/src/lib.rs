//! Face detection, alignment and embedding, as in David Sandberg's FaceNet.
//!
//! This crate turns photos into faces (MTCNN boxes, scores and landmarks), aligned 160×160 crops
//! and L2-normalised 512-d FaceNet embeddings, matching the original Python pipeline to float
//! precision. It runs the networks on ONNX Runtime and refuses model files whose SHA-256 differs
//! from their package manifest. It knows nothing of HTTP, command lines or model downloads.

pub mod error;
pub mod manifest;

pub use error::{Error, Result};
pub mod paths;
pub mod runtime;
