use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What an API key may do; the HTTP layer maps roles to routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Operator,
    Client,
    Auditor,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Operator, Role::Client, Role::Auditor];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Client => "client",
            Role::Auditor => "auditor",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| Error::Invalid(format!("unknown role {s:?}")))
    }
}

/// An API key as listed; the secret itself is never stored or returned again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    pub id: String,
    pub role: Role,
    pub label: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subject {
    pub id: String,
    pub name: String,
    pub metadata: serde_json::Value,
    pub face_count: u64,
    pub created_at: String,
    pub updated_at: String,
}

/// An enrolled face without its template (templates only leave the store through
/// [`crate::Store::get_template`] and [`crate::Store::all_templates`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceRecord {
    pub id: String,
    pub subject_id: String,
    pub model_version: String,
    /// As given at enrolment (the service's box convention).
    pub bbox: [f32; 4],
    /// Embedding length.
    pub dim: u32,
    pub created_at: String,
}

/// A decrypted template, for building the in-memory 1:N index.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub face_id: String,
    pub subject_id: String,
    pub model_version: String,
    pub embedding: Vec<f32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: i64,
    /// RFC 3339 UTC.
    pub at: String,
    /// Key id, or `cli` for local administration.
    pub actor: String,
    pub action: String,
    pub target: String,
    /// `ok`, or the [`Error::code`] of the failure.
    pub outcome: String,
    pub request_id: String,
    /// Hex SHA-256.
    pub prev_hash: String,
    /// Hex SHA-256 of `prev_hash` and the row's fields.
    pub hash: String,
}

/// Who is acting and under which request id; every mutation takes one so that its
/// audit row is written in the same transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCtx {
    pub actor: String,
    pub request_id: String,
}

impl AuditCtx {
    pub fn new(actor: impl Into<String>, request_id: impl Into<String>) -> Self {
        AuditCtx {
            actor: actor.into(),
            request_id: request_id.into(),
        }
    }

    /// Local administration through the CLI, with a fresh random request id.
    pub fn cli() -> Self {
        let id = crate::crypto::random_bytes::<8>()
            .map(hex::encode)
            .unwrap_or_else(|_| "unknown".into());
        AuditCtx::new("cli", format!("cli-{id}"))
    }
}
