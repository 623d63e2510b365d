use crate::error::Result;
use crate::types::{AuditCtx, AuditEntry, FaceRecord, KeyInfo, Role, Subject, Template};

/// Largest page `list_subjects` and `audit` return.
pub const MAX_PAGE: u32 = 1000;

/// The service's persistent state. Implementations must be safe to share between
/// request handlers, and must write every mutation together with its audit row
/// atomically and durably before returning.
///
/// A failed mutation (not found, conflict, invalid input) is also audited, with the
/// error's code as outcome, in a transaction of its own.
pub trait Store: Send + Sync {
    // --- API keys ---

    /// Creates a key; the returned secret (`fn_` + 43 base64url characters) is not
    /// recoverable afterwards.
    fn create_key(&self, ctx: &AuditCtx, role: Role, label: &str) -> Result<(KeyInfo, String)>;
    /// The key's info if `secret` belongs to a key that is not revoked.
    fn authenticate(&self, secret: &str) -> Result<Option<KeyInfo>>;
    fn get_key(&self, id: &str) -> Result<KeyInfo>;
    fn list_keys(&self) -> Result<Vec<KeyInfo>>;
    /// Idempotent: revoking a revoked key keeps its first revocation time.
    fn revoke_key(&self, ctx: &AuditCtx, id: &str) -> Result<KeyInfo>;

    // --- Subjects ---

    /// `name` is trimmed and must then hold 1..=200 characters and no control
    /// characters; a name in use gives `Conflict`. `metadata` is a JSON object (null
    /// means empty).
    fn create_subject(
        &self,
        ctx: &AuditCtx,
        name: &str,
        metadata: serde_json::Value,
    ) -> Result<Subject>;
    fn get_subject(&self, id: &str) -> Result<Subject>;
    /// Oldest first.
    fn list_subjects(&self, offset: u64, limit: u32) -> Result<Vec<Subject>>;
    fn count_subjects(&self) -> Result<u64>;
    fn update_subject(
        &self,
        ctx: &AuditCtx,
        id: &str,
        name: Option<&str>,
        metadata: Option<serde_json::Value>,
    ) -> Result<Subject>;
    /// Deletes the subject and erases all its templates in one transaction; returns
    /// how many faces were erased. Each erased face gets a `face.erase` audit row.
    fn delete_subject(&self, ctx: &AuditCtx, id: &str) -> Result<usize>;

    // --- Faces ---

    /// Encrypts and stores a template. The embedding must be non-empty and finite.
    fn add_face(
        &self,
        ctx: &AuditCtx,
        subject_id: &str,
        embedding: &[f32],
        model_version: &str,
        bbox: [f32; 4],
    ) -> Result<FaceRecord>;
    fn get_face(&self, id: &str) -> Result<FaceRecord>;
    /// Oldest first; `NotFound` if the subject does not exist.
    fn list_faces(&self, subject_id: &str) -> Result<Vec<FaceRecord>>;
    /// Returns the deleted record so the caller can update its index.
    fn delete_face(&self, ctx: &AuditCtx, id: &str) -> Result<FaceRecord>;
    fn count_faces(&self) -> Result<u64>;
    /// One decrypted template; a tampered ciphertext gives `Crypto`, never a vector.
    fn get_template(&self, face_id: &str) -> Result<Vec<f32>>;
    /// Every template, decrypted, to build the in-memory index at start. Fails on the
    /// first template that does not decrypt, naming its face id.
    fn all_templates(&self) -> Result<Vec<Template>>;

    // --- Audit ---

    /// Appends a row for an operation that is not a store mutation (verify, recognize,
    /// authentication failures). Never pass biometric data.
    fn record(
        &self,
        ctx: &AuditCtx,
        action: &str,
        target: &str,
        outcome: &str,
    ) -> Result<AuditEntry>;
    /// Oldest first.
    fn audit(&self, offset: u64, limit: u32) -> Result<Vec<AuditEntry>>;
    /// Checks the whole chain; returns the number of rows, or `Error::AuditBroken`
    /// naming the first broken link.
    fn verify_audit(&self) -> Result<usize>;
}
