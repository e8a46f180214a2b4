//! The one error type of the core. Every variant has a stable `code()`, an
//! [`ErrorCode`], that crosses process and IPC boundaries as
//! `{code, message}`; messages name the object involved and never carry a
//! secret.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Declares `ErrorCode` once: each code's variant, its wire string and its
/// meaning; `ALL` and `as_str` come from the same list.
macro_rules! error_codes {
    ($($(#[doc = $doc:literal])+ $variant:ident = $code:literal,)+) => {
        /// The stable, machine-readable code of an error: snake_case on the
        /// wire (CLI `--json`, IPC, the audit log's `error_code`) and a string
        /// union in TypeScript. The strings are spelled out rather than
        /// derived from the names, so renaming a variant cannot change what
        /// old audit logs and scripts read. Listed, one line each, in
        /// docs/ARCHITECTURE.md ("Error codes"), which a test checks.
        #[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum ErrorCode {
            $($(#[doc = $doc])+ #[serde(rename = $code)] $variant,)+
        }

        impl ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            /// The code as it is written on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)+
                }
            }
        }
    };
}

error_codes! {
    /// An id, email, folder, prefix or table name that cannot be used as a key part or identifier.
    InvalidName = "invalid_name",
    /// A request or argument that cannot be carried out as given.
    InvalidInput = "invalid_input",
    /// The object (conversation, index, version) does not exist, or no user is at that email or folder.
    NotFound = "not_found",
    /// The object is in an archive storage class or tier: thaw it before opening it.
    ColdStorage = "cold_storage",
    /// The bytes are not JSON: truncated or corrupt gzip, invalid UTF-8, not JSON at all.
    Decode = "decode",
    /// Valid JSON, but not the shape the archive format has.
    Shape = "shape",
    /// The object is over a size limit (stored or decompressed).
    TooLarge = "too_large",
    /// A request to the object store failed after the retries.
    S3 = "s3",
    /// A local file or directory could not be read or written.
    Io = "io",
    /// Bad or missing configuration: a profile or its settings, the profiles or `.env` file, a keychain secret, a directory.
    Config = "config",
    /// A failure that is not the user's: a task that panicked, a channel closed, a request that could not be built.
    Internal = "internal",
    /// The profile is read-only: the core refuses every write.
    ReadOnly = "read_only",
    /// `metadata.json` kept changing during an update: nothing was lost, but the change was not applied.
    IndexConflict = "index_conflict",
    /// The store ignores conditional writes (If-Match), so index writes are refused.
    ConditionalWritesUnsupported = "conditional_writes_unsupported",
    /// The OS keychain is missing, locked or refused.
    KeychainUnavailable = "keychain_unavailable",
    /// The credential store in use keeps secrets only for a session (keyring's in-memory mock, a kernel keyring): saving is refused.
    KeychainNotPersistent = "keychain_not_persistent",
    /// Restore: the target rejected the key, user or password.
    TargetAuth = "target_auth",
    /// Restore: the key or user may not write the target tables.
    TargetPermission = "target_permission",
    /// Restore: a target table (or the RPC function) does not exist or cannot be seen.
    MissingTable = "missing_table",
    /// Restore: the target tables lack archive fields (refused unless missing columns are allowed).
    MissingColumns = "missing_columns",
    /// Restore: a conflicting row exists in the target.
    TargetConflict = "target_conflict",
    /// Restore: the target cannot be reached, did not answer in time or had a server error.
    TargetUnavailable = "target_unavailable",
    /// Restore: a lock or statement timeout on the target; nothing was written.
    TargetBusy = "target_busy",
    /// Restore: no TLS, or a certificate that is not trusted or not for that host.
    TargetTls = "target_tls",
    /// Restore: failed otherwise; the message says whether anything may be left to complete.
    RestoreFailed = "restore_failed",
    /// Restore: the rows read back differ from the archive (or lack fields); the archive copy stays.
    NotVerified = "not_verified",
    /// The person cancelled; what is left behind is consistent.
    Cancelled = "cancelled",
    /// An irreversible step was refused because the audit log cannot be written; nothing was done.
    AuditUnwritable = "audit_unwritable",
    /// Delete refused: the object versions of a (possibly) versioned bucket cannot be listed.
    VersionsUnavailable = "versions_unavailable",
    /// Delete refused: a version is under S3 Object Lock (legal hold or retention).
    ObjectLocked = "object_locked",
    /// Delete refused: the S3 Object Lock state of a version cannot be read.
    HoldsUnreadable = "holds_unreadable",
    /// Delete refused: the user's `metadata.json` cannot be read, so its entries could not be removed.
    IndexUnreadable = "index_unreadable",
    /// The app has no open profile to carry out the request with.
    NoProfile = "no_profile",
    /// Verify found index problems that were not repaired.
    Integrity = "integrity",
    /// A profile's connection test has a failed check.
    ConnectionTest = "connection_test",
    /// Audit verify found an edited, removed or inserted line.
    AuditChainBroken = "audit_chain_broken",
    /// Audit verify could not check the whole log: not chained, or its tail not anchored.
    AuditChainUnverified = "audit_chain_unverified",
    /// An erasure ended with something of the user left or failed half-way; its receipt lists what went and what stays.
    ErasureIncomplete = "erasure_incomplete",
    /// A deletion receipt lists keys or versions that exist in the bucket.
    ReceiptNotVerified = "receipt_not_verified",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A code equals its wire string (how tests and scripts spell it).
impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Why a restore target refused or failed: the restore codes of
/// [`ErrorCode`], and only those, so `Error::Restore` cannot carry another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreFailure {
    TargetAuth,
    TargetPermission,
    MissingTable,
    MissingColumns,
    TargetConflict,
    TargetUnavailable,
    /// A lock or statement timeout.
    TargetBusy,
    /// No TLS, or a certificate not trusted or not for that host.
    TargetTls,
    RestoreFailed,
    NotVerified,
}

impl RestoreFailure {
    pub const fn code(self) -> ErrorCode {
        match self {
            RestoreFailure::TargetAuth => ErrorCode::TargetAuth,
            RestoreFailure::TargetPermission => ErrorCode::TargetPermission,
            RestoreFailure::MissingTable => ErrorCode::MissingTable,
            RestoreFailure::MissingColumns => ErrorCode::MissingColumns,
            RestoreFailure::TargetConflict => ErrorCode::TargetConflict,
            RestoreFailure::TargetUnavailable => ErrorCode::TargetUnavailable,
            RestoreFailure::TargetBusy => ErrorCode::TargetBusy,
            RestoreFailure::TargetTls => ErrorCode::TargetTls,
            RestoreFailure::RestoreFailed => ErrorCode::RestoreFailed,
            RestoreFailure::NotVerified => ErrorCode::NotVerified,
        }
    }
}

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

    /// An exact look-up found nothing: no `metadata.json` and no object
    /// in the folder the email or folder name maps to.
    #[error("no user {user:?} in this archive: {key} does not exist and its folder holds no object")]
    NoSuchUser { user: String, key: String },

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

    /// Bad or missing configuration: a profile or its settings, the
    /// profiles or `.env` file, a keychain secret, a directory.
    #[error("configuration: {0}")]
    Config(String),

    /// A request or argument that cannot be carried out as given (an
    /// unknown file token, a name that is not a plain file name, an
    /// out-of-range number).
    #[error("{0}")]
    InvalidInput(String),

    /// A failure that is not the user's (a task that panicked, a channel
    /// closed, a request the SDK could not build).
    #[error("internal error: {0}")]
    Internal(String),

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

    /// A restore target (Supabase REST, Postgres) refused or failed;
    /// `failure` says which way.
    #[error("{message}")]
    Restore { failure: RestoreFailure, message: String },

    /// The OS keychain is missing, locked or refused; never falls back to a file.
    #[error("{message}")]
    Keychain { message: String },

    /// Saving a secret was refused: the credential store in use would lose it.
    #[error(
        "the {kind} of profile {profile:?} was not saved: the credential store in use ({store}) keeps secrets \
         {lifetime}, so it would be lost; this build of Archive Desk has no OS keychain for this system \
         (Secret Service on Linux, Keychain on macOS, Credential Manager on Windows)"
    )]
    KeychainNotPersistent {
        profile: String,
        kind: &'static str,
        store: &'static str,
        lifetime: &'static str,
    },

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

    /// An erasure ended with something of the user left (`kept`) or was
    /// stopped by an error once removal had begun; the receipt says what.
    #[error("{receipt}: the erasure of {folder} did not complete: {detail}")]
    ErasureIncomplete {
        receipt: String,
        folder: String,
        detail: String,
    },

    /// Keys or versions a deletion receipt lists exist in the bucket.
    #[error("{receipt}: {count} of the keys or versions it lists exist in the bucket, first {first}")]
    ReceiptNotVerified {
        receipt: String,
        count: usize,
        first: String,
    },

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
        "nothing was deleted: {} under S3 Object Lock: {}; release the hold (or \
         wait for the retention to end), then delete again",
        crate::plural::count_as(holds.len() as u64, "object version is", "object versions are"),
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

    /// The app was asked to act on the archive before a profile was opened.
    #[error("no profile is open: open a profile first")]
    NoProfile,

    /// Verify found index problems (dangling entries, unindexed or
    /// unreadable objects, duplicates) that were not repaired.
    #[error(
        "index problems found for {}; repair fixes the index (verify --repair)",
        name_list(users)
    )]
    Integrity {
        /// The user folders with problems.
        users: Vec<String>,
    },

    /// A check of a profile's connection test failed.
    #[error("{check}: {message}")]
    ConnectionTest { check: String, message: String },

    /// The audit log's hash chain is broken at `line`.
    #[error("{path}: line {line}: {reason}")]
    AuditChainBroken { path: String, line: u64, reason: String },

    /// The audit log could not be fully checked (not chained, or no head
    /// file), so it is not called intact.
    #[error("{path}: {reason}")]
    AuditChainUnverified { path: String, reason: &'static str },
}

/// At most five names, then how many more.
fn name_list(names: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut text = names.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    text
}

impl Error {
    /// Stable, machine-readable code (documented in docs/ARCHITECTURE.md).
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::InvalidName { .. } => ErrorCode::InvalidName,
            Error::NotFound { .. } | Error::NoSuchUser { .. } => ErrorCode::NotFound,
            Error::ColdStorage { .. } => ErrorCode::ColdStorage,
            Error::Decode { .. } => ErrorCode::Decode,
            Error::Shape { .. } => ErrorCode::Shape,
            Error::TooLarge { .. } => ErrorCode::TooLarge,
            Error::S3 { .. } => ErrorCode::S3,
            Error::Io { .. } => ErrorCode::Io,
            Error::Config(_) => ErrorCode::Config,
            Error::InvalidInput(_) => ErrorCode::InvalidInput,
            Error::Internal(_) => ErrorCode::Internal,
            Error::ReadOnly { .. } => ErrorCode::ReadOnly,
            Error::IndexConflict { .. } => ErrorCode::IndexConflict,
            Error::ConditionalWritesUnsupported { .. } => ErrorCode::ConditionalWritesUnsupported,
            Error::Keychain { .. } => ErrorCode::KeychainUnavailable,
            Error::KeychainNotPersistent { .. } => ErrorCode::KeychainNotPersistent,
            Error::Restore { failure, .. } => failure.code(),
            Error::Cancelled { .. } => ErrorCode::Cancelled,
            Error::AuditUnwritable { .. } => ErrorCode::AuditUnwritable,
            Error::Unaudited { error, .. } | Error::KeptInArchive { error, .. } => error.code(),
            Error::VersionsUnavailable { .. } => ErrorCode::VersionsUnavailable,
            Error::ObjectLocked { .. } => ErrorCode::ObjectLocked,
            Error::HoldsUnreadable { .. } => ErrorCode::HoldsUnreadable,
            Error::IndexUnreadable { .. } => ErrorCode::IndexUnreadable,
            Error::NoProfile => ErrorCode::NoProfile,
            Error::Integrity { .. } => ErrorCode::Integrity,
            Error::ConnectionTest { .. } => ErrorCode::ConnectionTest,
            Error::AuditChainBroken { .. } => ErrorCode::AuditChainBroken,
            Error::AuditChainUnverified { .. } => ErrorCode::AuditChainUnverified,
            Error::ErasureIncomplete { .. } => ErrorCode::ErasureIncomplete,
            Error::ReceiptNotVerified { .. } => ErrorCode::ReceiptNotVerified,
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
    pub code: ErrorCode,
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

#[cfg(test)]
mod tests;
