//! The one error type of the core. Every variant has a stable `code()` that
//! crosses process and IPC boundaries as `{code, message}`; messages name the
//! object involved and never carry a secret.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A user-supplied id, email or folder that could escape its place in the
    /// key layout (or is otherwise unusable as a key part).
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidName {
        what: &'static str,
        value: String,
        reason: &'static str,
    },

    #[error("{key}: not found")]
    NotFound { key: String },

    #[error("{key}: in cold storage ({storage_class}); request a restore (thaw) before opening it")]
    ColdStorage { key: String, storage_class: String },

    /// The bytes could not be turned into JSON: truncated or corrupt gzip,
    /// invalid UTF-8, not JSON at all.
    #[error("{key}: {reason}")]
    Decode { key: String, reason: String },

    /// Valid JSON, but not the shape the archive format has.
    #[error("{key}: wrong shape at {path}: {reason}")]
    Shape { key: String, path: String, reason: String },

    #[error("{key}: larger than the {limit_bytes}-byte limit ({what}); raise the limit to open it")]
    TooLarge {
        key: String,
        what: &'static str,
        limit_bytes: u64,
    },

    /// A request to the object store failed after the SDK's retries.
    #[error("{key}: S3 {operation} failed: {message}")]
    S3 {
        operation: &'static str,
        key: String,
        message: String,
    },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("configuration: {0}")]
    Config(String),

    /// A request from a front end that cannot be carried out as given (an
    /// unknown file token, a name that is not a plain file name).
    #[error("{0}")]
    InvalidInput(String),

    /// The profile is read-only; the core refuses every write.
    #[error("read-only profile: {action} is not allowed")]
    ReadOnly { action: &'static str },

    /// The index kept changing under us (a busy archiver); nothing was lost,
    /// but our change was not applied.
    #[error("{key}: still changing after {attempts} attempts; try again")]
    IndexConflict { key: String, attempts: u32 },

    /// The store ignores `If-Match`, so an index update could silently
    /// overwrite an entry the archiver writes at the same moment.
    #[error(
        "bucket {bucket}: this store ignores conditional writes (If-Match), so updating metadata.json could \
         lose an entry the archiver writes at the same moment; index writes are refused (override only \
         when no archiver is writing to this bucket)"
    )]
    ConditionalWritesUnsupported { bucket: String },

    /// A restore target (Supabase REST, Postgres) refused or failed; `code`
    /// says which way (`target_auth`, `target_permission`, `missing_table`,
    /// `missing_columns`, `target_conflict`, `target_unavailable`,
    /// `target_busy` (a lock or statement timeout), `target_tls` (no TLS, or
    /// a certificate not trusted or not for that host), `restore_failed`,
    /// `not_verified`).
    #[error("{message}")]
    Restore { code: &'static str, message: String },

    /// The OS keychain is missing, locked or refused; never falls back to a file.
    #[error("{message}")]
    Keychain { message: String },

    /// An irreversible step was refused because its intent could not be
    /// written to the audit log: nothing was done.
    #[error("{action} refused, nothing was done: the audit log {} cannot be written ({reason})", path.display())]
    AuditUnwritable {
        action: &'static str,
        path: PathBuf,
        reason: String,
    },

    /// An action failed (or was refused) and its audit record could not be
    /// written either: the action's own error, with the audit failure added
    /// to its message. Its code is the action's.
    #[error("{error}; its audit record could not be written either: {audit}")]
    Unaudited { error: Box<Error>, audit: String },

    /// A restore with "remove from archive" wrote and verified its rows, but
    /// the removal was refused: the archive copy stays. Its code is the
    /// removal's (e.g. `object_locked`).
    #[error("conversation {conversation_id} was restored and verified, but it stays in the archive: {error}")]
    KeptInArchive { conversation_id: String, error: Box<Error> },

    /// A long operation (catalog sync, user export, restore) was cancelled;
    /// what it leaves behind is consistent (a sync resumes, an export leaves
    /// no file, a restore writes nothing).
    #[error("{what}: cancelled")]
    Cancelled { what: String },

    /// A delete was refused before anything was removed: the bucket is (or
    /// may be) versioned and its object versions could not be listed, so a
    /// plain delete would only add delete markers and keep every version.
    #[error(
        "{prefix}: nothing was deleted: the bucket {bucket} is or may be versioned and its object versions \
         could not be listed ({cause}); a plain delete would leave every old version in place. Deleting \
         needs {permission} on the bucket and the store answering: check the policy, then delete again"
    )]
    VersionsUnavailable {
        bucket: String,
        prefix: String,
        /// The missing permission(s), e.g. `s3:ListBucketVersions`.
        permission: &'static str,
        cause: String,
    },

    /// A delete was refused before anything was removed: some object versions
    /// are under S3 Object Lock (legal hold, or retention not yet expired).
    #[error(
        "nothing was deleted: {} object version(s) are under S3 Object Lock: {}; release the hold (or \
         wait for the retention to end), then delete again",
        holds.len(),
        holds.join("; ")
    )]
    ObjectLocked {
        /// One line each: the key (and version) and the hold, e.g.
        /// `p/u/c.json (version v1): legal hold ON`.
        holds: Vec<String>,
    },

    /// A delete was refused before anything was removed: the Object Lock
    /// state of a version to delete could not be read (GetObjectLegalHold or
    /// GetObjectRetention denied or failing), so it may be held.
    #[error(
        "{key}: nothing was deleted: its S3 Object Lock state could not be read ({cause}); deleting on a \
         bucket with Object Lock needs {permission} to check for holds: check the policy, then delete again"
    )]
    HoldsUnreadable {
        /// The key, with the version when there is one.
        key: String,
        /// `s3:GetObjectLegalHold` or `s3:GetObjectRetention`.
        permission: &'static str,
        cause: String,
    },

    /// A delete was refused before anything was removed: the user's index
    /// cannot be read, so its entries could not be removed afterwards.
    #[error(
        "{key}: nothing was deleted: the index cannot be read or updated ({cause}); fix or replace \
         metadata.json (or remove it: verify --repair rebuilds a missing index from the objects), then \
         delete again"
    )]
    IndexUnreadable { key: String, cause: String },
}

impl Error {
    /// Stable, machine-readable code (documented in docs/ARCHITECTURE.md).
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidName { .. } => "invalid_name",
            Error::NotFound { .. } => "not_found",
            Error::ColdStorage { .. } => "cold_storage",
            Error::Decode { .. } => "decode",
            Error::Shape { .. } => "shape",
            Error::TooLarge { .. } => "too_large",
            Error::S3 { .. } => "s3",
            Error::Io { .. } => "io",
            Error::Config(_) => "config",
            Error::InvalidInput(_) => "invalid_input",
            Error::ReadOnly { .. } => "read_only",
            Error::IndexConflict { .. } => "index_conflict",
            Error::ConditionalWritesUnsupported { .. } => "conditional_writes_unsupported",
            Error::Keychain { .. } => "keychain_unavailable",
            Error::Restore { code, .. } => code,
            Error::Cancelled { .. } => "cancelled",
            Error::AuditUnwritable { .. } => "audit_unwritable",
            Error::Unaudited { error, .. } | Error::KeptInArchive { error, .. } => error.code(),
            Error::VersionsUnavailable { .. } => "versions_unavailable",
            Error::ObjectLocked { .. } => "object_locked",
            Error::HoldsUnreadable { .. } => "holds_unreadable",
            Error::IndexUnreadable { .. } => "index_unreadable",
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// This error, with the failure to write its audit record added.
    pub(crate) fn unaudited(self, audit: &Error) -> Self {
        Error::Unaudited {
            error: Box::new(self),
            audit: audit.to_string(),
        }
    }

    pub(crate) fn shape(key: &str, path: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Shape {
            key: key.to_owned(),
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// `{code, message}`: the form every error takes outside the core
/// (CLI `--json`, IPC).
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, serde::Serialize)]
pub struct ErrorReport {
    pub code: &'static str,
    pub message: String,
}

impl From<&Error> for ErrorReport {
    fn from(e: &Error) -> Self {
        ErrorReport {
            code: e.code(),
            message: e.to_string(),
        }
    }
}
