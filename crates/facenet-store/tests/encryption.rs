mod common;

use common::*;
use facenet_store::{Error, Store};
use serde_json::json;

#[test]
fn no_plaintext_embedding_on_disk_and_reopen_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let s = store.create_subject(&ctx(), "Carol", json!({})).unwrap();
    let mut enrolled = vec![];
    for _ in 0..20 {
        let e = random_embedding(512);
        let f = store
            .add_face(&ctx(), &s.id, &e, "facenet-vggface2", [0.0; 4])
            .unwrap();
        enrolled.push((f.id, e));
    }
    // Scan while the store is open, so recent pages are still only in the WAL.
    assert!(dir.path().join("facenet.db-wal").exists());
    let bytes = db_bytes(dir.path());
    // Positive control: the scan does see what is stored in clear.
    assert!(contains(&bytes, s.id.as_bytes()));
    for (_, e) in &enrolled {
        let le: Vec<u8> = e.iter().flat_map(|x| x.to_le_bytes()).collect();
        for window in le.chunks_exact(16) {
            assert!(
                !contains(&bytes, window),
                "plaintext template bytes found on disk"
            );
        }
    }
    drop(store);

    let store = open(dir.path());
    let templates = store.all_templates().unwrap();
    assert_eq!(templates.len(), 20);
    for (id, e) in &enrolled {
        let t = templates.iter().find(|t| &t.face_id == id).unwrap();
        assert_eq!(&t.embedding, e);
        assert_eq!(t.subject_id, s.id);
        assert_eq!(t.model_version, "facenet-vggface2");
        assert_eq!(&store.get_template(id).unwrap(), e);
    }
}

#[test]
fn wrong_master_key_fails_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let s = store.create_subject(&ctx(), "Dan", json!({})).unwrap();
    store
        .add_face(&ctx(), &s.id, &random_embedding(128), "m1", [0.0; 4])
        .unwrap();
    drop(store);

    let err = open_with(dir.path(), KEY_B).unwrap_err();
    assert!(matches!(err, Error::Crypto(_)), "{err}");
    assert!(err.to_string().contains("master key"), "{err}");
    assert_eq!(open_with(dir.path(), "abc").unwrap_err().code(), "crypto");
    // The right key still works afterwards: the failed open changed nothing.
    assert_eq!(open(dir.path()).all_templates().unwrap().len(), 1);
}

#[test]
fn tampered_ciphertext_or_aad_is_an_error_not_a_vector() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let s = store.create_subject(&ctx(), "Eve", json!({})).unwrap();
    let other = store.create_subject(&ctx(), "Frank", json!({})).unwrap();
    let good = store
        .add_face(&ctx(), &s.id, &random_embedding(128), "m1", [0.0; 4])
        .unwrap();
    let bad = store
        .add_face(&ctx(), &s.id, &random_embedding(128), "m1", [0.0; 4])
        .unwrap();
    let moved = store
        .add_face(&ctx(), &s.id, &random_embedding(128), "m1", [0.0; 4])
        .unwrap();

    let raw = raw(dir.path());
    let mut ct: Vec<u8> = raw
        .query_row(
            "SELECT ciphertext FROM faces WHERE id = ?1",
            [&bad.id],
            |r| r.get(0),
        )
        .unwrap();
    ct[7] ^= 0x01;
    raw.execute(
        "UPDATE faces SET ciphertext = ?2 WHERE id = ?1",
        rusqlite::params![bad.id, ct],
    )
    .unwrap();
    // Re-assigning a template to another subject breaks the AAD binding.
    raw.execute(
        "UPDATE faces SET subject_id = ?2 WHERE id = ?1",
        rusqlite::params![moved.id, other.id],
    )
    .unwrap();

    assert!(store.get_template(&good.id).is_ok());
    for id in [&bad.id, &moved.id] {
        let err = store.get_template(id).unwrap_err();
        assert!(matches!(err, Error::Crypto(_)), "{err}");
        assert!(err.to_string().contains(id.as_str()));
    }
    let err = store.all_templates().unwrap_err();
    assert!(matches!(err, Error::Crypto(_)), "{err}");
}
