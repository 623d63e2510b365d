#![allow(dead_code)]

use std::path::Path;

use facenet_store::{AuditCtx, Crypto, SqliteStore, DB_FILE};
use rand::Rng;

pub const KEY_A: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
pub const KEY_B: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

pub fn open(dir: &Path) -> SqliteStore {
    open_with(dir, KEY_A).expect("open store")
}

pub fn open_with(dir: &Path, key_hex: &str) -> facenet_store::Result<SqliteStore> {
    SqliteStore::open(dir, Crypto::from_hex(key_hex)?)
}

pub fn ctx() -> AuditCtx {
    AuditCtx::new("test-actor", "req-1")
}

pub fn random_embedding(dim: usize) -> Vec<f32> {
    let mut rng = rand::rng();
    let v: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

/// The database file and its WAL, concatenated.
pub fn db_bytes(dir: &Path) -> Vec<u8> {
    let mut all = std::fs::read(dir.join(DB_FILE)).expect("read db");
    if let Ok(wal) = std::fs::read(dir.join(format!("{DB_FILE}-wal"))) {
        all.extend(wal);
    }
    all
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A raw connection for tampering, as an attacker with file access would.
pub fn raw(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join(DB_FILE)).expect("raw open")
}
