//! Where fetched models and the ONNX Runtime library live.
//!
//! Everything sits under one home directory: `$FACENET_HOME`, or `~/.facenet` when unset.

use std::path::PathBuf;

/// The pretrained package fetched by `facenet models fetch`.
pub const DEFAULT_PACKAGE: &str = "facenet-20180408-102900";
/// The ONNX Runtime release the `ort` bindings are built against (API 31).
pub const ORT_VERSION: &str = "1.31.1";

pub fn home() -> PathBuf {
    if let Some(h) = std::env::var_os("FACENET_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h);
    }
    let base = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    base.join(".facenet")
}

pub fn default_package_dir() -> PathBuf {
    home().join("models").join(DEFAULT_PACKAGE)
}

pub fn runtime_dir() -> PathBuf {
    home().join("runtime")
}

pub fn runtime_library() -> PathBuf {
    runtime_dir().join(format!("libonnxruntime.so.{ORT_VERSION}"))
}
