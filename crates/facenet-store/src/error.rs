use std::fmt;

/// Errors of the store. [`Error::code`] gives a stable machine-readable string that the
/// HTTP layer can put in its `{"error":{"code":…}}` body.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid input: {0}")]
    Invalid(String),
    /// Wrong master key, a malformed key, or a template that fails authentication.
    #[error("crypto error: {0}")]
    Crypto(String),
    #[error("audit log broken at seq {seq}: {reason}")]
    AuditBroken { seq: i64, reason: String },
    /// The database holds something this code cannot read (e.g. a newer schema).
    #[error("corrupt or incompatible data: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Db(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// Stable identifiers; clients may match on them, so never rename one.
    pub fn code(&self) -> &'static str {
        match self {
            Error::NotFound { .. } => "not_found",
            Error::Conflict(_) => "conflict",
            Error::Invalid(_) => "invalid",
            Error::Crypto(_) => "crypto",
            Error::AuditBroken { .. } => "audit_broken",
            Error::Corrupt(_) => "corrupt",
            Error::Db(_) => "db",
            Error::Io(_) => "io",
        }
    }

    pub(crate) fn not_found(what: &'static str, id: impl fmt::Display) -> Self {
        Error::NotFound {
            what,
            id: id.to_string(),
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Db(Box::new(e))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
