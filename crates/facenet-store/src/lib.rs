//! Persistent state of the Facenet face-recognition service: API keys, subjects and
//! their enrolled face templates, template encryption, and the hash-chained audit log.
//!
//! What it is for: the service (`facenet serve`) and the administration CLI (`facenet
//! keys`, `facenet audit verify`) open one [`SqliteStore`] on the data directory and go
//! through the [`Store`] trait, which a PostgreSQL backend can implement later.
//!
//! What it is not for: no HTTP, no authorization policy (which role may call what is the
//! server's business; this crate only stores roles), no face detection or embedding (no
//! ONNX), and no similarity search: [`Store::all_templates`] hands decrypted templates
//! to the caller's in-memory index at start-up.
//!
//! Guarantees: embeddings are stored only as AES-256-GCM ciphertext under a data key
//! wrapped by the master key ([`Crypto`]); API key secrets only as SHA-256 digests; each
//! mutation is committed durably (WAL, `synchronous=FULL`) together with its audit row.

mod audit;
mod crypto;
mod error;
mod sqlite;
mod store;
mod time;
mod types;

pub use audit::GENESIS_HASH;
pub use crypto::{Crypto, KeySource, MASTER_KEY_ENV, MASTER_KEY_FILE};
pub use error::{Error, Result};
pub use sqlite::{SqliteStore, DB_FILE};
pub use store::{Store, MAX_PAGE};
pub use time::now_rfc3339;
pub use types::{AuditCtx, AuditEntry, FaceRecord, KeyInfo, Role, Subject, Template};

use std::path::Path;

/// Creates the data directory if absent, owner-only, since it holds the database and
/// possibly the master key.
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)?;
    Ok(())
}
