//! Crash durability: a child process writes faces and aborts without closing anything.

mod common;

use common::*;
use facenet_store::Store;
use serde_json::json;

const CHILD_ENV: &str = "FACENET_STORE_TEST_CHILD_DIR";

/// Runs only as the child of `acknowledged_faces_survive_abort`.
#[test]
fn child_writer() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = open(std::path::Path::new(&dir));
    let s = store.create_subject(&ctx(), "Hana", json!({})).unwrap();
    for _ in 0..50 {
        store
            .add_face(&ctx(), &s.id, &random_embedding(128), "m", [0.0; 4])
            .unwrap();
    }
    // No destructors, no checkpoint, no close: as close to kill -9 as a test can get.
    std::process::abort();
}

#[test]
fn acknowledged_faces_survive_abort() {
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_writer", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir.path())
        .status()
        .unwrap();
    assert!(!status.success(), "the child should have aborted");
    assert!(dir.path().join("facenet.db-wal").exists());

    let store = open(dir.path());
    assert_eq!(store.count_faces().unwrap(), 50);
    assert_eq!(store.all_templates().unwrap().len(), 50);
    assert_eq!(store.verify_audit().unwrap(), 51);
}

#[test]
fn forgotten_store_keeps_its_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let s = store.create_subject(&ctx(), "Ivo", json!({})).unwrap();
    for _ in 0..50 {
        store
            .add_face(&ctx(), &s.id, &random_embedding(64), "m", [0.0; 4])
            .unwrap();
    }
    std::mem::forget(store);
    let store = open(dir.path());
    assert_eq!(store.all_templates().unwrap().len(), 50);
}
