//! Loads the ONNX Runtime shared library once per process, after checking its digest.
//!
//! The library comes from the pinned `onnxruntime` wheel; `facenet models fetch` writes it with
//! `runtime.json` beside it, holding its SHA-256. `ORT_DYLIB_PATH` overrides the location (and
//! skips the digest, since the operator chose that file on purpose).

use std::path::PathBuf;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::manifest::check_sha256;
use crate::paths;

pub const RUNTIME_MANIFEST: &str = "runtime.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuntimeManifest {
    pub library: String,
    pub sha256: String,
    pub package: String,
    pub version: String,
    pub archive_sha256: String,
}

/// The environment must outlive every session, so it is kept for the life of the process.
static INIT: OnceLock<std::result::Result<(PathBuf, ort::environment::Environment), String>> =
    OnceLock::new();

/// Loads ONNX Runtime on first use and returns the process-wide environment.
pub fn environment() -> Result<&'static ort::environment::Environment> {
    match INIT.get_or_init(|| load().map_err(|e| e.to_string())) {
        Ok((_, env)) => Ok(env),
        Err(e) => Err(Error::Runtime(e.clone())),
    }
}

/// The library that was loaded, once [`environment`] succeeded.
pub fn loaded_library() -> Option<PathBuf> {
    INIT.get()
        .and_then(|r| r.as_ref().ok())
        .map(|(p, _)| p.clone())
}

fn load() -> Result<(PathBuf, ort::environment::Environment)> {
    let path = match std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => verified_default_library()?,
    };
    let env = ort::init_from(&path)
        .map_err(|e| Error::Runtime(format!("cannot load {}: {e}", path.display())))?
        .with_name("facenet")
        .with_telemetry(false)
        .build()?;
    tracing::debug!(library = %path.display(), "ONNX Runtime loaded");
    Ok((path, env))
}

fn verified_default_library() -> Result<PathBuf> {
    let dir = paths::runtime_dir();
    let manifest_path = dir.join(RUNTIME_MANIFEST);
    let text = std::fs::read_to_string(&manifest_path).map_err(|e| {
        Error::Runtime(format!(
            "{}: {e}; run `facenet models fetch` to install ONNX Runtime",
            manifest_path.display()
        ))
    })?;
    let manifest: RuntimeManifest = serde_json::from_str(&text)
        .map_err(|e| Error::Runtime(format!("{}: {e}", manifest_path.display())))?;
    let lib = crate::manifest::resolve_inside(&dir, &manifest.library)?;
    check_sha256(&lib, &manifest.sha256)?;
    Ok(lib)
}

/// For diagnostics: which library a call to [`environment`] would use.
pub fn library_path() -> PathBuf {
    std::env::var_os("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(paths::runtime_library)
}
