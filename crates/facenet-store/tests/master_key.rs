//! Master key sources. Kept in their own test binary because one test sets a
//! process-wide environment variable.

mod common;

use facenet_store::{Crypto, KeySource, SqliteStore, Store, MASTER_KEY_ENV, MASTER_KEY_FILE};

#[test]
fn key_file_then_env() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (k1, src) = Crypto::load_with(&data, None).unwrap();
    assert_eq!(src, KeySource::CreatedFile);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join(MASTER_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let dmode = std::fs::metadata(&data).unwrap().permissions().mode();
        assert_eq!(dmode & 0o077, 0);
    }
    let store = SqliteStore::open(&data, k1).unwrap();
    store
        .create_subject(&common::ctx(), "Jo", serde_json::json!({}))
        .unwrap();
    drop(store);

    let (k2, src) = Crypto::load_with(&data, None).unwrap();
    assert_eq!(src, KeySource::File);
    assert_eq!(
        SqliteStore::open(&data, k2)
            .unwrap()
            .count_subjects()
            .unwrap(),
        1
    );

    // The environment wins over the file; a different key is refused at open.
    std::env::set_var(MASTER_KEY_ENV, common::KEY_B);
    let (k3, src) = Crypto::load(&data).unwrap();
    std::env::remove_var(MASTER_KEY_ENV);
    assert_eq!(src, KeySource::Env);
    assert_eq!(SqliteStore::open(&data, k3).unwrap_err().code(), "crypto");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let p = data.join(MASTER_KEY_FILE);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(Crypto::load_with(&data, None).unwrap_err().code(), "crypto");
    }
    assert!(!format!("{:?}", Crypto::from_hex(common::KEY_A).unwrap()).contains("0011"));
}
