//! The hash chain of the audit log, independent of the database backend.

use sha2::{Digest, Sha256};

/// `prev_hash` of the first row.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The fields a row's hash covers, in canonical order.
pub struct RowFields<'a> {
    pub seq: i64,
    pub at: &'a str,
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub outcome: &'a str,
    pub request_id: &'a str,
}

/// SHA-256 over the previous hash and the length-prefixed fields. Length prefixes keep
/// `("ab","c")` and `("a","bc")` from hashing alike; the previous hash is taken as hex
/// text so that verification needs nothing but what the table shows.
pub fn row_hash(prev_hash: &str, f: &RowFields<'_>) -> String {
    let mut h = Sha256::new();
    h.update(b"facenet-audit-v1");
    let seq = f.seq.to_string();
    for field in [
        prev_hash,
        seq.as_str(),
        f.at,
        f.actor,
        f.action,
        f.target,
        f.outcome,
        f.request_id,
    ] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    hex::encode(h.finalize())
}
