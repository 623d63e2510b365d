//! The model package: a directory with `manifest.json` and the ONNX files it lists by SHA-256.
//! Opening a package re-hashes every file, so a swapped or corrupted model never loads.

use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

pub const MANIFEST_FILE: &str = "manifest.json";
pub const FORMAT_VERSION: u32 = 1;
/// Manifests are small; refusing big ones keeps a hostile directory from exhausting memory.
const MAX_MANIFEST_BYTES: u64 = 1 << 20;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: u32,
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub embedding_size: usize,
    pub input_size: u32,
    pub preprocessing: Preprocessing,
    pub thresholds: Thresholds,
    pub detector: DetectorSettings,
    pub alignment: AlignmentSettings,
    pub files: Files,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Preprocessing {
    /// `fixed`: `(x - mean) * scale` per channel, the standardisation the 2018 models were trained with.
    pub standardization: String,
    pub mean: f32,
    pub scale: f32,
    pub channel_order: String,
    pub layout: String,
}

/// Distances at or under which two faces are the same person.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Thresholds {
    /// Euclidean distance between L2-normalised embeddings.
    pub l2: f32,
    /// `1 - cosine similarity`.
    pub cosine: f32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DetectorSettings {
    pub min_size: f64,
    pub factor: f64,
    pub thresholds: [f32; 3],
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AlignmentSettings {
    pub image_size: u32,
    pub margin: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Files {
    pub embedder: ModelFile,
    pub pnet: ModelFile,
    pub rnet: ModelFile,
    pub onet: ModelFile,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelFile {
    /// Relative to the package directory; never absolute, never `..`.
    pub path: String,
    pub sha256: String,
    pub source: Source,
}

/// Where a file came from: a registry package by name and version, and the member inside it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Source {
    pub package: String,
    pub version: String,
    pub archive: String,
    pub archive_sha256: String,
    pub member: String,
    pub member_sha256: String,
    /// What was done to the member: `copied` or `converted from TensorFlow GraphDef`.
    pub conversion: String,
}

/// A package whose every file matched its digest when it was opened.
#[derive(Debug, Clone)]
pub struct ModelPackage {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl ModelPackage {
    /// Reads the manifest and checks every file's SHA-256.
    pub fn open(dir: &Path) -> Result<Self> {
        let manifest = read_manifest(dir)?;
        let pkg = ModelPackage {
            dir: dir.to_path_buf(),
            manifest,
        };
        pkg.verify()?;
        Ok(pkg)
    }

    /// Re-hashes every listed file against the manifest.
    pub fn verify(&self) -> Result<()> {
        for file in self.manifest.files.all() {
            let path = self.file_path(file)?;
            check_sha256(&path, &file.sha256)?;
        }
        Ok(())
    }

    pub fn file_path(&self, file: &ModelFile) -> Result<PathBuf> {
        resolve_inside(&self.dir, &file.path)
    }
}

impl Manifest {
    /// Settings the pipeline relies on: a factor of 1 would build an endless pyramid, a zero
    /// embedding size would divide by zero.
    pub fn check(&self) -> std::result::Result<(), String> {
        let d = &self.detector;
        if !(d.factor > 0.0 && d.factor < 1.0) {
            return Err(format!("detector.factor {} must be in (0, 1)", d.factor));
        }
        if !(d.min_size >= 1.0 && d.min_size.is_finite()) {
            return Err(format!(
                "detector.min_size {} must be at least 1",
                d.min_size
            ));
        }
        if d.thresholds.iter().any(|t| !(0.0..=1.0).contains(t)) {
            return Err(format!(
                "detector.thresholds {:?} must be in [0, 1]",
                d.thresholds
            ));
        }
        if !(1..=8192).contains(&self.embedding_size) {
            return Err(format!(
                "embedding_size {} must be in 1..=8192",
                self.embedding_size
            ));
        }
        if !(16..=1024).contains(&self.input_size) || self.alignment.image_size != self.input_size {
            return Err(format!(
                "input_size {} and alignment.image_size {} must be equal, in 16..=1024",
                self.input_size, self.alignment.image_size
            ));
        }
        if self.alignment.margin > 4096 {
            return Err(format!(
                "alignment.margin {} is over 4096",
                self.alignment.margin
            ));
        }
        let p = &self.preprocessing;
        if !(p.mean.is_finite() && p.scale.is_finite() && p.scale != 0.0) {
            return Err("preprocessing.mean and scale must be finite, scale non-zero".into());
        }
        Ok(())
    }
}

impl Files {
    pub fn all(&self) -> [&ModelFile; 4] {
        [&self.embedder, &self.pnet, &self.rnet, &self.onet]
    }
}

pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST_FILE);
    let package_err = |reason: String| Error::Package {
        dir: dir.to_path_buf(),
        reason,
    };
    let meta = fs::metadata(&path).map_err(|e| {
        package_err(format!(
            "no {MANIFEST_FILE} ({e}); run `facenet models fetch` or pass --model DIR"
        ))
    })?;
    if meta.len() > MAX_MANIFEST_BYTES {
        return Err(package_err(format!(
            "{MANIFEST_FILE} is {} bytes, over the {MAX_MANIFEST_BYTES}-byte limit",
            meta.len()
        )));
    }
    let text = fs::read_to_string(&path).map_err(|e| Error::Io {
        path: path.clone(),
        source: e,
    })?;
    let manifest: Manifest = serde_json::from_str(&text)
        .map_err(|e| package_err(format!("{MANIFEST_FILE} is not a valid manifest: {e}")))?;
    if manifest.format != FORMAT_VERSION {
        return Err(package_err(format!(
            "manifest format {} is not supported (expected {FORMAT_VERSION})",
            manifest.format
        )));
    }
    manifest.check().map_err(package_err)?;
    Ok(manifest)
}

/// Joins a manifest path onto the package directory, refusing anything that could escape it.
pub fn resolve_inside(dir: &Path, rel: &str) -> Result<PathBuf> {
    let rel_path = Path::new(rel);
    let safe = !rel.is_empty()
        && rel_path
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    if !safe {
        return Err(Error::Package {
            dir: dir.to_path_buf(),
            reason: format!("file path {rel:?} must be relative and stay inside the package"),
        });
    }
    Ok(dir.join(rel_path))
}

/// Streams a file through SHA-256.
pub fn sha256_file(path: &Path) -> Result<String> {
    let io_err = |e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let mut file = fs::File::open(path).map_err(io_err)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(io_err)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub fn check_sha256(path: &Path, expected: &str) -> Result<()> {
    let actual = sha256_file(path)?;
    if !actual.eq_ignore_ascii_case(expected) {
        return Err(Error::Integrity {
            path: path.to_path_buf(),
            expected: expected.to_string(),
            actual,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_cannot_escape_the_package() {
        let dir = Path::new("/pkg");
        assert!(resolve_inside(dir, "facenet.onnx").is_ok());
        assert!(resolve_inside(dir, "sub/pnet.onnx").is_ok());
        for bad in ["", "../x.onnx", "/etc/passwd", "a/../../b", "./x"] {
            assert!(resolve_inside(dir, bad).is_err(), "{bad} accepted");
        }
    }

    fn sample() -> Manifest {
        let file = |p: &str| {
            serde_json::json!({"path": p, "sha256": "00", "source": {"package": "x", "version": "1",
                "archive": "a", "archive_sha256": "00", "member": "m", "member_sha256": "00",
                "conversion": "copied"}})
        };
        serde_json::from_value(serde_json::json!({
            "format": 1, "name": "n", "version": "v", "architecture": "a", "embedding_size": 512,
            "input_size": 160,
            "preprocessing": {"standardization": "fixed", "mean": 127.5, "scale": 0.0078125,
                "channel_order": "RGB", "layout": "NHWC"},
            "thresholds": {"l2": 1.129, "cosine": 0.6375},
            "detector": {"min_size": 20.0, "factor": 0.709, "thresholds": [0.6, 0.7, 0.7]},
            "alignment": {"image_size": 160, "margin": 32},
            "files": {"embedder": file("e"), "pnet": file("p"), "rnet": file("r"), "onet": file("o")}
        }))
        .unwrap()
    }

    #[test]
    fn settings_that_would_hang_or_divide_by_zero_are_refused() {
        assert!(sample().check().is_ok());
        type Breaker = fn(&mut Manifest);
        let cases: [(&str, Breaker); 6] = [
            ("factor", |m| m.detector.factor = 1.0),
            ("min_size", |m| m.detector.min_size = 0.0),
            ("thresholds", |m| m.detector.thresholds[1] = 1.5),
            ("embedding_size", |m| m.embedding_size = 0),
            ("image_size", |m| m.alignment.image_size = 100),
            ("scale", |m| m.preprocessing.scale = 0.0),
        ];
        for (field, break_it) in cases {
            let mut m = sample();
            break_it(&mut m);
            let err = m.check().unwrap_err();
            assert!(err.contains(field), "{field}: {err}");
        }
    }

    #[test]
    fn digest_mismatch_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("f");
        fs::write(&p, b"abc").unwrap();
        let good = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        check_sha256(&p, good).unwrap();
        let err = check_sha256(&p, &"0".repeat(64)).unwrap_err();
        assert_eq!(err.code(), "model_integrity");
        assert!(err.to_string().contains("SHA-256"));
    }
}
