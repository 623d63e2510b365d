mod common;

use common::*;
use facenet_store::{Error, Role, Store};

#[test]
fn create_authenticate_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (admin, admin_secret) = store
        .create_key(&ctx(), Role::Admin, "first admin")
        .unwrap();
    let (client, client_secret) = store.create_key(&ctx(), Role::Client, "app").unwrap();
    assert!(admin_secret.starts_with("fn_") && admin_secret.len() == 46);
    assert_ne!(admin_secret, client_secret);
    assert_eq!(admin.role, Role::Admin);

    assert_eq!(
        store.authenticate(&admin_secret).unwrap(),
        Some(admin.clone())
    );
    assert_eq!(
        store.authenticate(&client_secret).unwrap(),
        Some(client.clone())
    );
    assert_eq!(store.authenticate("fn_wrong").unwrap(), None);
    assert_eq!(store.authenticate("").unwrap(), None);
    // Same shape, one character changed.
    let mut forged = client_secret.clone();
    forged.replace_range(
        10..11,
        if &client_secret[10..11] == "A" {
            "B"
        } else {
            "A"
        },
    );
    assert_eq!(store.authenticate(&forged).unwrap(), None);

    let revoked = store.revoke_key(&ctx(), &client.id).unwrap();
    assert!(revoked.revoked_at.is_some());
    assert_eq!(store.authenticate(&client_secret).unwrap(), None);
    assert!(store.authenticate(&admin_secret).unwrap().is_some());
    // Idempotent, and the first revocation time stays.
    assert_eq!(store.revoke_key(&ctx(), &client.id).unwrap(), revoked);
    assert!(matches!(
        store.revoke_key(&ctx(), "nope"),
        Err(Error::NotFound { .. })
    ));

    let keys = store.list_keys().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].id, admin.id);
    assert_eq!(keys[1], revoked);

    // Survives reopening.
    drop(store);
    let store = open(dir.path());
    assert!(store.authenticate(&admin_secret).unwrap().is_some());
    assert_eq!(store.authenticate(&client_secret).unwrap(), None);

    let actions: Vec<_> = store
        .audit(0, 100)
        .unwrap()
        .into_iter()
        .map(|e| (e.action, e.outcome))
        .collect();
    assert!(actions.contains(&("key.create".into(), "ok".into())));
    assert!(actions.contains(&("key.revoke".into(), "ok".into())));
    assert!(actions.contains(&("key.revoke".into(), "not_found".into())));
}

#[test]
fn secret_is_not_in_the_database_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let secrets: Vec<String> = (0..5)
        .map(|i| {
            store
                .create_key(&ctx(), Role::Operator, &format!("k{i}"))
                .unwrap()
                .1
        })
        .collect();
    let bytes = db_bytes(dir.path());
    for s in &secrets {
        assert!(!contains(&bytes, s.as_bytes()), "secret found in db");
        // Nor the random part alone.
        assert!(!contains(&bytes, &s.as_bytes()[3..]));
    }
    let audit = serde_json::to_string(&store.audit(0, 100).unwrap()).unwrap();
    for s in &secrets {
        assert!(!audit.contains(&s[3..]));
    }
}

#[test]
fn roles_serialise_lowercase() {
    assert_eq!(
        serde_json::to_string(&Role::Auditor).unwrap(),
        "\"auditor\""
    );
    assert_eq!("operator".parse::<Role>().unwrap(), Role::Operator);
    assert!("root".parse::<Role>().is_err());
}
