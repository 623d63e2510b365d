mod common;

use common::*;
use facenet_store::{Error, Store};
use serde_json::json;

#[test]
fn subjects_crud_with_unicode_names() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let names = ["Zoë Ångström", "李小龙", "  Ибрагим  ", "👩‍🔬 Ada"];
    let mut ids = vec![];
    for n in names {
        let s = store
            .create_subject(&ctx(), n, json!({"dept": "R&D"}))
            .unwrap();
        assert_eq!(s.name, n.trim());
        assert_eq!(s.face_count, 0);
        ids.push(s.id);
    }
    assert_eq!(store.get_subject(&ids[2]).unwrap().name, "Ибрагим");
    assert_eq!(store.count_subjects().unwrap(), 4);

    // Duplicates, including after trimming.
    for dup in ["李小龙", " 李小龙 "] {
        let e = store.create_subject(&ctx(), dup, json!(null)).unwrap_err();
        assert!(matches!(e, Error::Conflict(_)), "{e}");
        assert_eq!(e.code(), "conflict");
    }
    // Length is counted in characters, not bytes.
    assert!(store
        .create_subject(&ctx(), &"é".repeat(200), json!({}))
        .is_ok());
    let e = store
        .create_subject(&ctx(), &"é".repeat(201), json!({}))
        .unwrap_err();
    assert_eq!(e.code(), "invalid");
    assert_eq!(
        store
            .create_subject(&ctx(), "   ", json!({}))
            .unwrap_err()
            .code(),
        "invalid"
    );
    assert_eq!(
        store
            .create_subject(&ctx(), "a\u{0}b", json!({}))
            .unwrap_err()
            .code(),
        "invalid"
    );
    assert_eq!(
        store
            .create_subject(&ctx(), "x", json!([1]))
            .unwrap_err()
            .code(),
        "invalid"
    );

    let page = store.list_subjects(1, 2).unwrap();
    assert_eq!(
        page.iter().map(|s| &s.id).collect::<Vec<_>>(),
        vec![&ids[1], &ids[2]]
    );
    assert_eq!(store.list_subjects(0, 1000).unwrap().len(), 5);

    let updated = store
        .update_subject(&ctx(), &ids[0], Some("Zoe Angstrom"), Some(json!({"k": 1})))
        .unwrap();
    assert_eq!(updated.name, "Zoe Angstrom");
    assert_eq!(updated.metadata, json!({"k": 1}));
    let renamed_only = store.update_subject(&ctx(), &ids[0], None, None).unwrap();
    assert_eq!(renamed_only.metadata, json!({"k": 1}));
    // Renaming to one's own name is fine, to another's is a conflict.
    assert!(store
        .update_subject(&ctx(), &ids[0], Some("Zoe Angstrom"), None)
        .is_ok());
    let e = store
        .update_subject(&ctx(), &ids[0], Some("李小龙"), None)
        .unwrap_err();
    assert!(matches!(e, Error::Conflict(_)));
    assert!(matches!(
        store.get_subject("missing"),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn delete_subject_erases_its_faces_and_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let a = store.create_subject(&ctx(), "Alice", json!({})).unwrap();
    let b = store.create_subject(&ctx(), "Bob", json!({})).unwrap();
    let mut a_faces = vec![];
    for _ in 0..3 {
        let f = store
            .add_face(
                &ctx(),
                &a.id,
                &random_embedding(512),
                "facenet-vggface2",
                [1.0, 2.0, 3.0, 4.0],
            )
            .unwrap();
        assert_eq!(f.dim, 512);
        assert_eq!(f.bbox, [1.0, 2.0, 3.0, 4.0]);
        a_faces.push(f.id);
    }
    let b_face = store
        .add_face(
            &ctx(),
            &b.id,
            &random_embedding(512),
            "facenet-vggface2",
            [0.0; 4],
        )
        .unwrap();
    assert_eq!(store.get_subject(&a.id).unwrap().face_count, 3);
    assert_eq!(store.list_faces(&a.id).unwrap().len(), 3);
    assert_eq!(store.all_templates().unwrap().len(), 4);
    assert!(matches!(
        store.add_face(&ctx(), "nobody", &[1.0], "m", [0.0; 4]),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(
        store
            .add_face(&ctx(), &a.id, &[f32::NAN], "m", [0.0; 4])
            .unwrap_err()
            .code(),
        "invalid"
    );
    assert_eq!(
        store
            .add_face(&ctx(), &a.id, &[], "m", [0.0; 4])
            .unwrap_err()
            .code(),
        "invalid"
    );

    assert_eq!(store.delete_subject(&ctx(), &a.id).unwrap(), 3);
    let left = store.all_templates().unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].face_id, b_face.id);
    assert_eq!(store.count_faces().unwrap(), 1);
    assert!(matches!(
        store.get_subject(&a.id),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        store.list_faces(&a.id),
        Err(Error::NotFound { .. })
    ));
    for f in &a_faces {
        assert!(matches!(store.get_face(f), Err(Error::NotFound { .. })));
    }

    let log = store.audit(0, 1000).unwrap();
    for f in &a_faces {
        assert!(
            log.iter()
                .any(|e| e.action == "face.erase" && &e.target == f && e.outcome == "ok"),
            "erasure of {f} not audited"
        );
    }
    assert!(log
        .iter()
        .any(|e| e.action == "subject.delete" && e.target == a.id && e.outcome == "ok"));
    // Names are not in the audit log.
    assert!(!serde_json::to_string(&log).unwrap().contains("Alice"));

    let deleted = store.delete_face(&ctx(), &b_face.id).unwrap();
    assert_eq!(deleted.subject_id, b.id);
    assert!(store.all_templates().unwrap().is_empty());
    assert!(matches!(
        store.delete_face(&ctx(), &b_face.id),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(
        store.verify_audit().unwrap(),
        store.audit(0, 1000).unwrap().len()
    );
}

#[test]
fn shared_as_dyn_store_across_threads() {
    let dir = tempfile::tempdir().unwrap();
    let store: std::sync::Arc<dyn Store> = std::sync::Arc::new(open(dir.path()));
    let s = store.create_subject(&ctx(), "Kim", json!({})).unwrap();
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let sid = s.id.clone();
            std::thread::spawn(move || {
                for _ in 0..10 {
                    store
                        .add_face(&ctx(), &sid, &random_embedding(32), "m", [0.0; 4])
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(store.all_templates().unwrap().len(), 80);
    assert_eq!(store.verify_audit().unwrap(), 81);
}
