mod common;

use common::*;
use facenet_store::{AuditCtx, Error, Role, Store};
use serde_json::json;

fn filled(dir: &std::path::Path) -> facenet_store::SqliteStore {
    let store = open(dir);
    for i in 0..40 {
        let ctx = AuditCtx::new(format!("key{i}"), format!("req-{i}"));
        let s = store
            .create_subject(&ctx, &format!("person {i}"), json!({}))
            .unwrap();
        store
            .add_face(&ctx, &s.id, &random_embedding(16), "m", [0.0; 4])
            .unwrap();
        store.record(&ctx, "recognize", "", "ok").unwrap();
    }
    store
        .create_key(&AuditCtx::cli(), Role::Auditor, "a")
        .unwrap();
    store
}

fn expect_broken(store: &impl Store, at: i64) {
    match store.verify_audit() {
        Err(Error::AuditBroken { seq, reason }) => assert_eq!(seq, at, "{reason}"),
        other => panic!("expected a broken chain at {at}, got {other:?}"),
    }
}

#[test]
fn fresh_log_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let store = filled(dir.path());
    assert_eq!(store.verify_audit().unwrap(), 121);
    let rows = store.audit(0, 1000).unwrap();
    assert_eq!(rows.len(), 121);
    assert_eq!(rows[0].seq, 1);
    assert_eq!(rows[0].prev_hash, facenet_store::GENESIS_HASH);
    for w in rows.windows(2) {
        assert_eq!(w[1].prev_hash, w[0].hash);
        assert!(w[0].at <= w[1].at);
    }
    assert_eq!(rows[120].actor, "cli");
    assert_eq!(store.audit(120, 10).unwrap().len(), 1);
    // Survives reopening and keeps chaining.
    drop(store);
    let store = open(dir.path());
    store.record(&ctx(), "verify", "", "ok").unwrap();
    assert_eq!(store.verify_audit().unwrap(), 122);
}

#[test]
fn edited_outcome_is_detected_at_its_seq() {
    let dir = tempfile::tempdir().unwrap();
    let store = filled(dir.path());
    let raw = raw(dir.path());
    // The append-only trigger stops accidents, not an attacker with the file.
    assert!(raw
        .execute("UPDATE audit SET outcome = 'denied' WHERE seq = 57", [])
        .is_err());
    raw.execute_batch("DROP TRIGGER audit_no_update").unwrap();
    raw.execute("UPDATE audit SET outcome = 'denied' WHERE seq = 57", [])
        .unwrap();
    expect_broken(&store, 57);
}

#[test]
fn deleted_row_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let store = filled(dir.path());
    let raw = raw(dir.path());
    raw.execute_batch("DROP TRIGGER audit_no_delete").unwrap();
    raw.execute("DELETE FROM audit WHERE seq = 30", []).unwrap();
    expect_broken(&store, 30);
}

#[test]
fn truncated_tail_is_detected_even_after_new_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = filled(dir.path());
    let raw = raw(dir.path());
    raw.execute_batch("DROP TRIGGER audit_no_delete").unwrap();
    raw.execute("DELETE FROM audit WHERE seq > 119", [])
        .unwrap();
    expect_broken(&store, 120);
    store.record(&ctx(), "verify", "", "ok").unwrap();
    expect_broken(&store, 120);
}

#[test]
fn failed_mutations_are_audited_and_bad_entries_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_subject(&ctx(), "Gus", json!({})).unwrap();
    store.create_subject(&ctx(), "Gus", json!({})).unwrap_err();
    let rows = store.audit(0, 10).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[1].action.as_str(), rows[1].outcome.as_str()),
        ("subject.create", "conflict")
    );
    assert_eq!(rows[1].request_id, "req-1");
    assert_eq!(
        store
            .record(&ctx(), "Bad Action", "", "ok")
            .unwrap_err()
            .code(),
        "invalid"
    );
    let bad_ctx = AuditCtx::new("", "r");
    assert_eq!(
        store
            .record(&bad_ctx, "verify", "", "ok")
            .unwrap_err()
            .code(),
        "invalid"
    );
    assert_eq!(store.audit(0, 1001).unwrap_err().code(), "invalid");
    assert_eq!(store.verify_audit().unwrap(), 2);
}
