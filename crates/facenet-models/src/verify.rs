//! Re-checks an installed model package and runtime library against their recorded digests.

use std::path::{Path, PathBuf};

use facenet_core::manifest::{self, ModelPackage};
use facenet_core::paths;
use facenet_core::runtime::{RuntimeManifest, RUNTIME_MANIFEST};

use crate::fetch::{FetchError, FACENET_ONNX_SHA256, ONET, PNET, RNET};

/// One file's check. `actual` is `None` when the file could not be read.
#[derive(Debug, Clone)]
pub struct FileCheck {
    /// `embedder`, `pnet`, `rnet`, `onet` or `runtime`.
    pub role: String,
    pub path: PathBuf,
    pub expected: String,
    pub actual: Option<String>,
    /// Why the file failed, with what to do about it.
    pub error: Option<String>,
}

impl FileCheck {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

#[derive(Debug, Clone)]
pub struct VerifyReport {
    pub package_dir: PathBuf,
    pub files: Vec<FileCheck>,
    /// What `ModelPackage::open` (the loader's own check) said, if it refused the package.
    pub package_error: Option<String>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.package_error.is_none() && self.files.iter().all(FileCheck::ok)
    }
}

/// Checks `<home>/models/facenet-20180408-102900` and `<home>/runtime`. A bad or missing file is
/// reported in the result; only a package without a readable manifest is an `Err`.
pub fn verify(home: &Path) -> Result<VerifyReport, FetchError> {
    verify_package(
        &home.join("models").join(paths::DEFAULT_PACKAGE),
        &home.join("runtime"),
    )
}

/// As [`verify`], for a package directory and runtime directory anywhere.
pub fn verify_package(package_dir: &Path, runtime_dir: &Path) -> Result<VerifyReport, FetchError> {
    let manifest = manifest::read_manifest(package_dir)?;
    let roles = ["embedder", "pnet", "rnet", "onet"];
    // The pretrained package is checked against the digests compiled into this program, so a
    // manifest rewritten to match swapped models does not pass.
    let pinned = (manifest.name == paths::DEFAULT_PACKAGE).then_some([
        FACENET_ONNX_SHA256,
        PNET.sha256,
        RNET.sha256,
        ONET.sha256,
    ]);
    let mut files: Vec<FileCheck> = roles
        .iter()
        .zip(manifest.files.all())
        .enumerate()
        .map(
            |(k, (role, file))| match manifest::resolve_inside(package_dir, &file.path) {
                Ok(path) => {
                    let expected = pinned.map_or(file.sha256.as_str(), |p| p[k]);
                    check(role, path, expected)
                }
                Err(e) => FileCheck {
                    role: role.to_string(),
                    path: package_dir.join(&file.path),
                    expected: file.sha256.clone(),
                    actual: None,
                    error: Some(e.to_string()),
                },
            },
        )
        .collect();
    files.push(check_runtime(runtime_dir));
    let package_error = ModelPackage::open(package_dir).err().map(|e| e.to_string());
    Ok(VerifyReport {
        package_dir: package_dir.to_path_buf(),
        files,
        package_error,
    })
}

fn check(role: &str, path: PathBuf, expected: &str) -> FileCheck {
    let (actual, error) = match manifest::sha256_file(&path) {
        Ok(actual) if actual.eq_ignore_ascii_case(expected) => (Some(actual), None),
        Ok(actual) => {
            let msg = format!(
                "{}: SHA-256 is {actual}, expected {expected}; the file was changed or corrupted, run `facenet models fetch` again",
                path.display()
            );
            (Some(actual), Some(msg))
        }
        Err(e) => (None, Some(format!("{e}; run `facenet models fetch`"))),
    };
    FileCheck {
        role: role.into(),
        path,
        expected: expected.into(),
        actual,
        error,
    }
}

fn check_runtime(dir: &Path) -> FileCheck {
    let manifest_path = dir.join(RUNTIME_MANIFEST);
    let failed = |error: String| FileCheck {
        role: "runtime".into(),
        path: manifest_path.clone(),
        expected: String::new(),
        actual: None,
        error: Some(error),
    };
    let text = match std::fs::read_to_string(&manifest_path) {
        Ok(t) => t,
        Err(e) => {
            return failed(format!(
                "{}: {e}; run `facenet models fetch` to install ONNX Runtime",
                manifest_path.display()
            ))
        }
    };
    let rt: RuntimeManifest = match serde_json::from_str(&text) {
        Ok(m) => m,
        Err(e) => return failed(format!("{}: {e}", manifest_path.display())),
    };
    match manifest::resolve_inside(dir, &rt.library) {
        Ok(path) => check("runtime", path, &rt.sha256),
        Err(e) => failed(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_manifest_is_an_error_and_missing_runtime_a_failed_check() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(verify(tmp.path()).is_err());
        let check = check_runtime(tmp.path());
        assert!(!check.ok());
        assert!(check.error.unwrap().contains("facenet models fetch"));
    }
}
