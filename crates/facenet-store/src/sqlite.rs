//! The embedded SQLite backend.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use rusqlite::types::Type;
use rusqlite::{
    params, Connection, OpenFlags, OptionalExtension, Row, Transaction, TransactionBehavior,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::audit::{row_hash, RowFields, GENESIS_HASH};
use crate::crypto::{random_bytes, template_aad, Crypto, DataKey, TemplateCipher};
use crate::error::{Error, Result};
use crate::store::{Store, MAX_PAGE};
use crate::time::now_rfc3339;
use crate::types::{AuditCtx, AuditEntry, FaceRecord, KeyInfo, Role, Subject, Template};

/// Database file name inside the data directory.
pub const DB_FILE: &str = "facenet.db";

const KEY_PREFIX: &str = "fn_";
/// 32 bytes in unpadded base64url.
const KEY_B64_LEN: usize = 43;
const MAX_NAME_CHARS: usize = 200;
const MAX_LABEL_CHARS: usize = 200;
const MAX_METADATA_BYTES: usize = 64 * 1024;
const MAX_EMBEDDING_DIM: usize = 8192;
const MAX_MODEL_VERSION_CHARS: usize = 128;
const MAX_CTX_CHARS: usize = 128;

/// Schema steps, applied in order; step `i` brings `user_version` from `i` to `i + 1`.
/// Never edit a released step: append a new one.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'client', 'auditor')),
    label       TEXT NOT NULL,
    secret_hash BLOB NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
) STRICT;

CREATE TABLE subjects (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    metadata   TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE faces (
    id            TEXT PRIMARY KEY,
    subject_id    TEXT NOT NULL REFERENCES subjects (id) ON DELETE CASCADE,
    model_version TEXT NOT NULL,
    dim           INTEGER NOT NULL,
    bbox0         REAL NOT NULL,
    bbox1         REAL NOT NULL,
    bbox2         REAL NOT NULL,
    bbox3         REAL NOT NULL,
    nonce         BLOB NOT NULL,
    ciphertext    BLOB NOT NULL,
    created_at    TEXT NOT NULL
) STRICT;
CREATE INDEX faces_by_subject ON faces (subject_id);

CREATE TABLE audit (
    seq        INTEGER PRIMARY KEY,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    request_id TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
) STRICT;

-- Guards against bugs in this code; the hash chain is what detects deliberate edits.
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"#];

/// SQLite in WAL mode with `synchronous=FULL`: a call that returned has its write on disk.
pub struct SqliteStore {
    // One writer behind a mutex, since SQLite serialises writers anyway. Reads (above all
    // `authenticate`, called on every request) get their own connection so that they do
    // not queue behind a writer's fsync; WAL lets them run alongside it.
    conn: Mutex<Connection>,
    reader: Mutex<Connection>,
    templates: TemplateCipher,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteStore {
    /// Opens or creates `<data_dir>/facenet.db`, migrates it, and unwraps the data key
    /// with `crypto` (creating the data key on first open). A master key that does not
    /// match the database gives `Error::Crypto` here, before any template is read.
    pub fn open(data_dir: &Path, crypto: Crypto) -> Result<Self> {
        crate::create_private_dir(data_dir)?;
        let path = data_dir.join(DB_FILE);
        let mut conn = Connection::open(&path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Corrupt(format!(
                "could not switch {} to WAL mode (got {mode})",
                path.display()
            )));
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Erased templates are overwritten with zeros rather than left in free pages.
        conn.pragma_update(None, "secure_delete", "ON")?;
        migrate(&mut conn)?;
        let data_key = load_or_create_data_key(&mut conn, &crypto)?;
        let reader = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        reader.busy_timeout(Duration::from_secs(10))?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            reader: Mutex::new(reader),
            templates: TemplateCipher::new(&data_key),
            path,
        })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic mid-call drops its Transaction, which rolls back, so the connection
        // behind a poisoned lock is still consistent.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` in an immediate transaction and appends the audit row of its outcome.
    /// On success the row is part of the same commit; on failure the work is rolled
    /// back and the failure is audited on its own.
    fn mutate<T>(
        &self,
        ctx: &AuditCtx,
        action: &str,
        target: &str,
        f: impl FnOnce(&Transaction<'_>) -> Result<(T, String)>,
    ) -> Result<T> {
        check_ctx(ctx)?;
        let mut conn = self.lock();
        let result: Result<T> = (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let (value, target) = f(&tx)?;
            append_audit(&tx, ctx, action, &target, "ok")?;
            tx.commit()?;
            Ok(value)
        })();
        if let Err(e) = &result {
            // Best effort: the original error matters more than a failure to log it.
            let _ = (|| -> Result<()> {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                append_audit(&tx, ctx, action, target, e.code())?;
                tx.commit()?;
                Ok(())
            })();
        }
        result
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        // Poisoning is harmless here: a reader holds no transaction across calls.
        let conn = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        f(&conn)
    }
}

impl Store for SqliteStore {
    fn create_key(&self, ctx: &AuditCtx, role: Role, label: &str) -> Result<(KeyInfo, String)> {
        let label = label.trim().to_owned();
        self.mutate(ctx, "key.create", "", |tx| {
            check_text("label", &label, 0, MAX_LABEL_CHARS)?;
            let id = new_id()?;
            let secret = format!(
                "{KEY_PREFIX}{}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>()?)
            );
            let now = now_rfc3339();
            tx.execute(
                "INSERT INTO api_keys (id, role, label, secret_hash, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    id,
                    role.as_str(),
                    label,
                    secret_digest(&secret).as_slice(),
                    now
                ],
            )?;
            let info = KeyInfo {
                id: id.clone(),
                role,
                label: label.clone(),
                created_at: now,
                revoked_at: None,
            };
            Ok(((info, secret), id))
        })
    }

    fn authenticate(&self, secret: &str) -> Result<Option<KeyInfo>> {
        if !is_key_shaped(secret) {
            return Ok(None);
        }
        // A plain SHA-256 is enough: the secret carries 256 random bits, so there is no
        // dictionary to try, and a slow password hash would only cost every request.
        let digest = secret_digest(secret);
        self.read(|conn| {
            let row = conn
                .query_row(
                    "SELECT id, role, label, created_at, revoked_at, secret_hash
                     FROM api_keys WHERE secret_hash = ?1",
                    [digest.as_slice()],
                    |r| Ok((key_from_row(r)?, r.get::<_, Vec<u8>>(5)?)),
                )
                .optional()?;
            Ok(row.and_then(|(info, stored)| {
                // The lookup matched on the digest already; the constant-time compare
                // keeps the decision itself free of early exits.
                let same: bool = stored.as_slice().ct_eq(digest.as_slice()).into();
                (same && info.revoked_at.is_none()).then_some(info)
            }))
        })
    }

    fn get_key(&self, id: &str) -> Result<KeyInfo> {
        self.read(|conn| get_key(conn, id))
    }

    fn list_keys(&self) -> Result<Vec<KeyInfo>> {
        self.read(|conn| {
            let mut st = conn.prepare(
                "SELECT id, role, label, created_at, revoked_at FROM api_keys
                 ORDER BY created_at, rowid",
            )?;
            let rows = st.query_map([], key_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn revoke_key(&self, ctx: &AuditCtx, id: &str) -> Result<KeyInfo> {
        self.mutate(ctx, "key.revoke", id, |tx| {
            tx.execute(
                "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![id, now_rfc3339()],
            )?;
            Ok((get_key(tx, id)?, id.to_owned()))
        })
    }

    fn create_subject(
        &self,
        ctx: &AuditCtx,
        name: &str,
        metadata: serde_json::Value,
    ) -> Result<Subject> {
        // Names are personal data and the audit log cannot be erased, so only ids go in.
        self.mutate(ctx, "subject.create", "", |tx| {
            let name = check_name(name)?;
            let metadata = metadata_text(metadata)?;
            ensure_name_free(tx, &name, None)?;
            let id = new_id()?;
            let now = now_rfc3339();
            tx.execute(
                "INSERT INTO subjects (id, name, metadata, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?4)",
                params![id, name, metadata, now],
            )?;
            Ok((get_subject(tx, &id)?, id))
        })
    }

    fn get_subject(&self, id: &str) -> Result<Subject> {
        self.read(|conn| get_subject(conn, id))
    }

    fn list_subjects(&self, offset: u64, limit: u32) -> Result<Vec<Subject>> {
        let (offset, limit) = page(offset, limit)?;
        self.read(|conn| {
            let mut st = conn.prepare(&format!(
                "{SUBJECT_SELECT} ORDER BY s.created_at, s.rowid LIMIT ?1 OFFSET ?2"
            ))?;
            let rows = st.query_map(params![limit, offset], subject_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn count_subjects(&self) -> Result<u64> {
        self.read(|conn| count(conn, "subjects"))
    }

    fn update_subject(
        &self,
        ctx: &AuditCtx,
        id: &str,
        name: Option<&str>,
        metadata: Option<serde_json::Value>,
    ) -> Result<Subject> {
        self.mutate(ctx, "subject.update", id, |tx| {
            let current = get_subject(tx, id)?;
            let name = match name {
                Some(n) => {
                    let n = check_name(n)?;
                    ensure_name_free(tx, &n, Some(id))?;
                    n
                }
                None => current.name,
            };
            let metadata = match metadata {
                Some(m) => metadata_text(m)?,
                None => current.metadata.to_string(),
            };
            tx.execute(
                "UPDATE subjects SET name = ?2, metadata = ?3, updated_at = ?4 WHERE id = ?1",
                params![id, name, metadata, now_rfc3339()],
            )?;
            Ok((get_subject(tx, id)?, id.to_owned()))
        })
    }

    fn delete_subject(&self, ctx: &AuditCtx, id: &str) -> Result<usize> {
        self.mutate(ctx, "subject.delete", id, |tx| {
            get_subject(tx, id)?;
            let face_ids: Vec<String> = {
                let mut st = tx.prepare("SELECT id FROM faces WHERE subject_id = ?1")?;
                let rows = st.query_map([id], |r| r.get(0))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            // Explicit rather than left to ON DELETE CASCADE, so that each erasure is
            // audited and the count is exact.
            let erased = tx.execute("DELETE FROM faces WHERE subject_id = ?1", [id])?;
            for face_id in &face_ids {
                append_audit(tx, ctx, "face.erase", face_id, "ok")?;
            }
            tx.execute("DELETE FROM subjects WHERE id = ?1", [id])?;
            Ok((erased, id.to_owned()))
        })
    }

    fn add_face(
        &self,
        ctx: &AuditCtx,
        subject_id: &str,
        embedding: &[f32],
        model_version: &str,
        bbox: [f32; 4],
    ) -> Result<FaceRecord> {
        self.mutate(ctx, "face.create", "", |tx| {
            if embedding.is_empty() || embedding.len() > MAX_EMBEDDING_DIM {
                return Err(Error::Invalid(format!(
                    "embedding length must be 1..={MAX_EMBEDDING_DIM}, got {}",
                    embedding.len()
                )));
            }
            if !embedding.iter().all(|x| x.is_finite()) {
                return Err(Error::Invalid("embedding has a non-finite value".into()));
            }
            if !bbox.iter().all(|x| x.is_finite()) {
                return Err(Error::Invalid("bbox has a non-finite value".into()));
            }
            check_text("model_version", model_version, 1, MAX_MODEL_VERSION_CHARS)?;
            get_subject(tx, subject_id)?;
            let id = new_id()?;
            let aad = template_aad(&id, subject_id, model_version);
            let (nonce, ct) = self.templates.seal(&aad, embedding)?;
            tx.execute(
                "INSERT INTO faces (id, subject_id, model_version, dim, bbox0, bbox1, bbox2,
                                    bbox3, nonce, ciphertext, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    id,
                    subject_id,
                    model_version,
                    embedding.len() as i64,
                    f64::from(bbox[0]),
                    f64::from(bbox[1]),
                    f64::from(bbox[2]),
                    f64::from(bbox[3]),
                    nonce.as_slice(),
                    ct,
                    now_rfc3339()
                ],
            )?;
            Ok((get_face(tx, &id)?, id))
        })
    }

    fn get_face(&self, id: &str) -> Result<FaceRecord> {
        self.read(|conn| get_face(conn, id))
    }

    fn list_faces(&self, subject_id: &str) -> Result<Vec<FaceRecord>> {
        self.read(|conn| {
            get_subject(conn, subject_id)?;
            let mut st = conn.prepare(&format!(
                "{FACE_SELECT} WHERE subject_id = ?1 ORDER BY created_at, rowid"
            ))?;
            let rows = st.query_map([subject_id], face_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn delete_face(&self, ctx: &AuditCtx, id: &str) -> Result<FaceRecord> {
        self.mutate(ctx, "face.delete", id, |tx| {
            let face = get_face(tx, id)?;
            tx.execute("DELETE FROM faces WHERE id = ?1", [id])?;
            Ok((face, id.to_owned()))
        })
    }

    fn count_faces(&self) -> Result<u64> {
        self.read(|conn| count(conn, "faces"))
    }

    fn get_template(&self, face_id: &str) -> Result<Vec<f32>> {
        let t = self.read(|conn| {
            conn.query_row(
                &format!("{TEMPLATE_SELECT} WHERE id = ?1"),
                [face_id],
                sealed_from_row,
            )
            .optional()?
            .ok_or_else(|| Error::not_found("face", face_id))
        })?;
        Ok(self.open_sealed(t)?.embedding)
    }

    fn all_templates(&self) -> Result<Vec<Template>> {
        let sealed = self.read(|conn| {
            let mut st = conn.prepare(&format!("{TEMPLATE_SELECT} ORDER BY rowid"))?;
            let rows = st.query_map([], sealed_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        // Decrypt outside the lock: it is the slow part at start with a large gallery.
        sealed.into_iter().map(|s| self.open_sealed(s)).collect()
    }

    fn record(
        &self,
        ctx: &AuditCtx,
        action: &str,
        target: &str,
        outcome: &str,
    ) -> Result<AuditEntry> {
        check_ctx(ctx)?;
        check_action(action)?;
        check_text("target", target, 0, MAX_CTX_CHARS)?;
        check_text("outcome", outcome, 1, 64)?;
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let entry = append_audit(&tx, ctx, action, target, outcome)?;
        tx.commit()?;
        Ok(entry)
    }

    fn audit(&self, offset: u64, limit: u32) -> Result<Vec<AuditEntry>> {
        let (offset, limit) = page(offset, limit)?;
        self.read(|conn| {
            let mut st =
                conn.prepare(&format!("{AUDIT_SELECT} ORDER BY seq LIMIT ?1 OFFSET ?2"))?;
            let rows = st.query_map(params![limit, offset], audit_from_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn verify_audit(&self) -> Result<usize> {
        self.read(|conn| {
            // One snapshot for the rows and the head, or a concurrent append between the
            // two reads would look like a truncated log.
            let tx = conn.unchecked_transaction()?;
            let conn = &*tx;
            let mut st = conn.prepare(&format!("{AUDIT_SELECT} ORDER BY seq"))?;
            let mut rows = st.query([])?;
            let mut expected_seq = 1i64;
            let mut prev = GENESIS_HASH.to_owned();
            let mut n = 0usize;
            while let Some(row) = rows.next()? {
                let e = audit_from_row(row)?;
                if e.seq != expected_seq {
                    return Err(broken(
                        expected_seq,
                        format!("row missing (the next row present is seq {})", e.seq),
                    ));
                }
                if e.prev_hash != prev {
                    return Err(broken(
                        e.seq,
                        "prev_hash does not match the hash of the row before".into(),
                    ));
                }
                if row_hash(&prev, &fields(&e)) != e.hash {
                    return Err(broken(e.seq, "row contents do not match its hash".into()));
                }
                prev = e.hash;
                expected_seq += 1;
                n += 1;
            }
            let (head_seq, head_hash) = audit_head(conn)?;
            let last_seq = expected_seq - 1;
            if head_seq != last_seq || head_hash != prev {
                let seq = last_seq.min(head_seq) + 1;
                return Err(broken(
                    seq,
                    format!(
                        "log ends at seq {last_seq} but its recorded head is seq {head_seq} \
                         (rows removed from the end, or head edited)"
                    ),
                ));
            }
            Ok(n)
        })
    }
}

impl SqliteStore {
    fn open_sealed(&self, s: Sealed) -> Result<Template> {
        let aad = template_aad(&s.face_id, &s.subject_id, &s.model_version);
        let embedding =
            self.templates
                .open(&aad, &s.nonce, &s.ciphertext)
                .map_err(|e| match e {
                    Error::Crypto(m) => {
                        Error::Crypto(format!("template of face {}: {m}", s.face_id))
                    }
                    other => other,
                })?;
        if embedding.len() != s.dim {
            return Err(Error::Corrupt(format!(
                "template of face {} has {} values, expected {}",
                s.face_id,
                embedding.len(),
                s.dim
            )));
        }
        Ok(Template {
            face_id: s.face_id,
            subject_id: s.subject_id,
            model_version: s.model_version,
            embedding,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Opening

fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(Error::Corrupt(format!(
            "database schema version {version} is newer than this build knows ({known})"
        )));
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(step)?;
        // user_version lives in the database header and is covered by the transaction.
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}

fn load_or_create_data_key(conn: &mut Connection, crypto: &Crypto) -> Result<DataKey> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let wrapped: Option<String> = tx
        .query_row("SELECT value FROM meta WHERE key = 'data_key'", [], |r| {
            r.get(0)
        })
        .optional()?;
    let key = match wrapped {
        Some(w) => {
            let bytes =
                hex::decode(w).map_err(|_| Error::Corrupt("wrapped data key is not hex".into()))?;
            crypto.unwrap(&bytes)?
        }
        None => {
            if count(&tx, "faces")? > 0 {
                return Err(Error::Corrupt(
                    "the database has templates but no data key".into(),
                ));
            }
            let key = DataKey::generate()?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('data_key', ?1)",
                [hex::encode(crypto.wrap(&key)?)],
            )?;
            key
        }
    };
    tx.commit()?;
    Ok(key)
}

// ---------------------------------------------------------------------------------------
// Audit

fn append_audit(
    tx: &Transaction<'_>,
    ctx: &AuditCtx,
    action: &str,
    target: &str,
    outcome: &str,
) -> Result<AuditEntry> {
    // The head kept in meta, not the last row, is what new rows chain from: otherwise
    // deleting the newest rows and then appending would leave a seamless chain.
    let (head_seq, head_hash) = audit_head(tx)?;
    let seq = head_seq + 1;
    let at = now_rfc3339();
    let f = RowFields {
        seq,
        at: &at,
        actor: &ctx.actor,
        action,
        target,
        outcome,
        request_id: &ctx.request_id,
    };
    let hash = row_hash(&head_hash, &f);
    tx.execute(
        "INSERT INTO audit (seq, at, actor, action, target, outcome, request_id, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            seq,
            at,
            ctx.actor,
            action,
            target,
            outcome,
            ctx.request_id,
            head_hash,
            hash
        ],
    )?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('audit_head', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [format!("{seq}:{hash}")],
    )?;
    Ok(AuditEntry {
        seq,
        at,
        actor: ctx.actor.clone(),
        action: action.to_owned(),
        target: target.to_owned(),
        outcome: outcome.to_owned(),
        request_id: ctx.request_id.clone(),
        prev_hash: head_hash,
        hash,
    })
}

fn audit_head(conn: &Connection) -> Result<(i64, String)> {
    let head: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'audit_head'", [], |r| {
            r.get(0)
        })
        .optional()?;
    match head {
        None => Ok((0, GENESIS_HASH.to_owned())),
        Some(h) => {
            let (seq, hash) = h
                .split_once(':')
                .and_then(|(s, h)| Some((s.parse::<i64>().ok()?, h.to_owned())))
                .ok_or_else(|| Error::Corrupt("audit head is malformed".into()))?;
            Ok((seq, hash))
        }
    }
}

fn broken(seq: i64, reason: String) -> Error {
    Error::AuditBroken { seq, reason }
}

fn fields(e: &AuditEntry) -> RowFields<'_> {
    RowFields {
        seq: e.seq,
        at: &e.at,
        actor: &e.actor,
        action: &e.action,
        target: &e.target,
        outcome: &e.outcome,
        request_id: &e.request_id,
    }
}

const AUDIT_SELECT: &str =
    "SELECT seq, at, actor, action, target, outcome, request_id, prev_hash, hash FROM audit";

fn audit_from_row(r: &Row<'_>) -> rusqlite::Result<AuditEntry> {
    Ok(AuditEntry {
        seq: r.get(0)?,
        at: r.get(1)?,
        actor: r.get(2)?,
        action: r.get(3)?,
        target: r.get(4)?,
        outcome: r.get(5)?,
        request_id: r.get(6)?,
        prev_hash: r.get(7)?,
        hash: r.get(8)?,
    })
}

// ---------------------------------------------------------------------------------------
// Rows

fn get_key(conn: &Connection, id: &str) -> Result<KeyInfo> {
    conn.query_row(
        "SELECT id, role, label, created_at, revoked_at FROM api_keys WHERE id = ?1",
        [id],
        key_from_row,
    )
    .optional()?
    .ok_or_else(|| Error::not_found("key", id))
}

fn key_from_row(r: &Row<'_>) -> rusqlite::Result<KeyInfo> {
    let role: String = r.get(1)?;
    let role = role
        .parse::<Role>()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(1, Type::Text, Box::new(e)))?;
    Ok(KeyInfo {
        id: r.get(0)?,
        role,
        label: r.get(2)?,
        created_at: r.get(3)?,
        revoked_at: r.get(4)?,
    })
}

const SUBJECT_SELECT: &str = "SELECT s.id, s.name, s.metadata, s.created_at, s.updated_at,
    (SELECT COUNT(*) FROM faces f WHERE f.subject_id = s.id) FROM subjects s";

fn get_subject(conn: &Connection, id: &str) -> Result<Subject> {
    conn.query_row(
        &format!("{SUBJECT_SELECT} WHERE s.id = ?1"),
        [id],
        subject_from_row,
    )
    .optional()?
    .ok_or_else(|| Error::not_found("subject", id))
}

fn subject_from_row(r: &Row<'_>) -> rusqlite::Result<Subject> {
    let metadata: String = r.get(2)?;
    let metadata = serde_json::from_str(&metadata)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(2, Type::Text, Box::new(e)))?;
    Ok(Subject {
        id: r.get(0)?,
        name: r.get(1)?,
        metadata,
        created_at: r.get(3)?,
        updated_at: r.get(4)?,
        face_count: r.get::<_, i64>(5)?.max(0) as u64,
    })
}

const FACE_SELECT: &str = "SELECT id, subject_id, model_version, bbox0, bbox1, bbox2, bbox3, dim,
    created_at FROM faces";

fn get_face(conn: &Connection, id: &str) -> Result<FaceRecord> {
    conn.query_row(&format!("{FACE_SELECT} WHERE id = ?1"), [id], face_from_row)
        .optional()?
        .ok_or_else(|| Error::not_found("face", id))
}

fn face_from_row(r: &Row<'_>) -> rusqlite::Result<FaceRecord> {
    let b = |i| r.get::<_, f64>(i).map(|v| v as f32);
    Ok(FaceRecord {
        id: r.get(0)?,
        subject_id: r.get(1)?,
        model_version: r.get(2)?,
        bbox: [b(3)?, b(4)?, b(5)?, b(6)?],
        dim: r.get(7)?,
        created_at: r.get(8)?,
    })
}

struct Sealed {
    face_id: String,
    subject_id: String,
    model_version: String,
    dim: usize,
    nonce: Vec<u8>,
    ciphertext: Vec<u8>,
}

const TEMPLATE_SELECT: &str =
    "SELECT id, subject_id, model_version, dim, nonce, ciphertext FROM faces";

fn sealed_from_row(r: &Row<'_>) -> rusqlite::Result<Sealed> {
    Ok(Sealed {
        face_id: r.get(0)?,
        subject_id: r.get(1)?,
        model_version: r.get(2)?,
        dim: usize::try_from(r.get::<_, i64>(3)?).unwrap_or(usize::MAX),
        nonce: r.get(4)?,
        ciphertext: r.get(5)?,
    })
}

fn count(conn: &Connection, table: &'static str) -> Result<u64> {
    let n: i64 = conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?;
    Ok(n.max(0) as u64)
}

// ---------------------------------------------------------------------------------------
// Validation

fn ensure_name_free(conn: &Connection, name: &str, except_id: Option<&str>) -> Result<()> {
    let owner: Option<String> = conn
        .query_row("SELECT id FROM subjects WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()?;
    match owner {
        Some(o) if Some(o.as_str()) != except_id => Err(Error::Conflict(
            "a subject with this name already exists".into(),
        )),
        _ => Ok(()),
    }
}

fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    check_text("name", name, 1, MAX_NAME_CHARS)?;
    Ok(name.to_owned())
}

fn check_text(what: &str, s: &str, min: usize, max: usize) -> Result<()> {
    let n = s.chars().count();
    if n < min || n > max {
        return Err(Error::Invalid(format!(
            "{what} must hold {min}..={max} characters, got {n}"
        )));
    }
    if s.chars().any(char::is_control) {
        return Err(Error::Invalid(format!(
            "{what} contains control characters"
        )));
    }
    Ok(())
}

fn check_ctx(ctx: &AuditCtx) -> Result<()> {
    check_text("actor", &ctx.actor, 1, MAX_CTX_CHARS)?;
    check_text("request_id", &ctx.request_id, 0, MAX_CTX_CHARS)
}

fn check_action(action: &str) -> Result<()> {
    let ok = (1..=64).contains(&action.len())
        && action
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid("action must be 1..=64 of [a-z0-9._]".into()))
    }
}

fn metadata_text(metadata: serde_json::Value) -> Result<String> {
    let metadata = match metadata {
        serde_json::Value::Null => serde_json::Value::Object(Default::default()),
        m @ serde_json::Value::Object(_) => m,
        _ => return Err(Error::Invalid("metadata must be a JSON object".into())),
    };
    let text = metadata.to_string();
    if text.len() > MAX_METADATA_BYTES {
        return Err(Error::Invalid(format!(
            "metadata is larger than {MAX_METADATA_BYTES} bytes"
        )));
    }
    Ok(text)
}

fn page(offset: u64, limit: u32) -> Result<(i64, i64)> {
    if limit > MAX_PAGE {
        return Err(Error::Invalid(format!("limit must be at most {MAX_PAGE}")));
    }
    let offset = i64::try_from(offset).map_err(|_| Error::Invalid("offset too large".into()))?;
    Ok((offset, i64::from(limit)))
}

fn is_key_shaped(secret: &str) -> bool {
    secret
        .strip_prefix(KEY_PREFIX)
        .is_some_and(|b| b.len() == KEY_B64_LEN)
}

fn secret_digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// 128 random bits as 32 lowercase hex characters.
fn new_id() -> Result<String> {
    Ok(hex::encode(random_bytes::<16>()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_settings() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), Crypto::from_bytes([7; 32])).unwrap();
        let conn = store.lock();
        let get = |p: &str| -> i64 { conn.pragma_query_value(None, p, |r| r.get(0)).unwrap() };
        assert_eq!(get("synchronous"), 2, "FULL");
        assert_eq!(get("foreign_keys"), 1);
        assert_eq!(get("user_version"), MIGRATIONS.len() as i64);
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }
}
