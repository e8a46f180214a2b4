//! Restore an archived conversation into Supabase: the conversation row,
//! then its messages; idempotent (rows already there are left alone and
//! counted), never half-done, verified afterwards field by field.
//!
//! Two targets behind one interface (`Target`):
//! - Supabase REST (PostgREST, `rest.rs`): with an installed RPC function
//!   (`sql/restore_archived_conversation.sql`) the whole restore is one
//!   call, one transaction; without it, the conversation then the messages
//!   in chunks, and on any failure or cancel what this attempt inserted is
//!   deleted again.
//! - Postgres direct (`postgres.rs`): one transaction, `ON CONFLICT DO
//!   NOTHING`, TLS with libpq's `sslmode` meanings (`tls.rs`).
//!
//! Before writing, the target's columns are discovered; archive fields a
//! table lacks are refused (listed) unless the caller allows dropping them.
//! Afterwards every restored row is read back by its key and compared with
//! the archive (`verify.rs`): only then is the restore `verified`.
//! Every network step has a timeout (`Timeouts`) and a restore can be
//! cancelled until its write is committed.
//!
//! Reads only: `preview.rs` says what a restore would do (the numbers it
//! then reports), `status.rs` whether conversations are in the target now
//! (in batches).

mod plan;
mod postgres;
mod preview;
mod rest;
mod status;
mod tls;
pub mod verify;

use std::collections::HashSet;
use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Error, RestoreFailure, Result};
use crate::keychain::SecretKind;
use crate::model::ConversationDocument;
use crate::secret::Secret;
use crate::CancellationToken;

pub use plan::DroppedFields;
use plan::Plan;
pub use postgres::PostgresTarget;
pub use preview::{preview, RestorePreview};
pub use rest::{check_project_url, RestTarget};
pub use status::{LiveState, LiveStatus};
pub use verify::Difference;

/// Rows per request or statement.
const CHUNK: usize = 500;

/// Table names and the conflict key, validated as SQL identifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    pub conversations: String,
    pub messages: String,
    /// The unique key both tables conflict on (default `id`).
    pub conflict_key: String,
}

impl Default for Tables {
    fn default() -> Self {
        Tables {
            conversations: "conversations".into(),
            messages: "messages".into(),
            conflict_key: "id".into(),
        }
    }
}

fn check_identifier(what: &'static str, name: &str, allow_schema: bool) -> Result<()> {
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.len() <= 63
            && p.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let parts: Vec<&str> = name.split('.').collect();
    let ok = match parts.as_slice() {
        [t] => part_ok(t),
        [s, t] if allow_schema => part_ok(s) && part_ok(t),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidName {
            what,
            value: name.to_owned(),
            reason: "use letters, digits and '_' (optionally schema.table)",
        })
    }
}

impl Tables {
    pub fn new(conversations: &str, messages: &str, conflict_key: &str) -> Result<Self> {
        check_identifier("table name", conversations, true)?;
        check_identifier("table name", messages, true)?;
        check_identifier("conflict key", conflict_key, false)?;
        Ok(Tables {
            conversations: conversations.into(),
            messages: messages.into(),
            conflict_key: conflict_key.into(),
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// Write without the archive fields the tables lack (named in the report).
    pub allow_missing_columns: bool,
    /// Test hook: fail right after the conversation row is written, to show
    /// that the attempt leaves nothing behind. Only in the core's own tests
    /// and with the `test-hooks` feature (the test harness turns it on); a
    /// normal build has no such field.
    #[cfg(any(test, feature = "test-hooks"))]
    pub fault_after_conversation: bool,
}

impl RestoreOptions {
    /// Whether the test hook asks for a failure after the conversation row.
    #[cfg(any(test, feature = "test-hooks"))]
    fn fault_after_conversation(&self) -> bool {
        self.fault_after_conversation
    }

    /// A normal build: never.
    #[cfg(not(any(test, feature = "test-hooks")))]
    fn fault_after_conversation(&self) -> bool {
        false
    }
}

/// How long each step of a restore may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Reaching the target: TCP, TLS and, for Postgres, the login.
    pub connect: Duration,
    /// One HTTP request to Supabase, answer included. Longer than Supabase's
    /// own statement timeout (8 s for the API roles unless changed), so the
    /// server ends a slow write and says so before we stop waiting.
    pub request: Duration,
    /// One SQL statement of the write (Postgres `statement_timeout`, set for
    /// its transaction); reads are bounded on our side.
    pub statement: Duration,
    /// Waiting for a row or table another session holds (Postgres
    /// `lock_timeout`).
    pub lock: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(120),
            statement: Duration::from_secs(60),
            lock: Duration::from_secs(10),
        }
    }
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    pub conversation_id: String,
    /// `rest`, `rest-rpc` or `postgres`.
    pub target: &'static str,
    /// One transaction (Postgres, RPC) or compensated steps (plain REST).
    pub atomic: bool,
    pub conversation_inserted: bool,
    pub conversation_already_present: bool,
    pub messages_in_archive: u64,
    pub messages_inserted: u64,
    pub messages_already_present: u64,
    /// Messages of this conversation in the table after the restore.
    pub messages_in_table: u64,
    /// Every restored row is in the tables with every restored field equal
    /// to the archive's.
    pub verified: bool,
    /// Fields whose stored value is not the archive's (or rows missing):
    /// the first few, with values — shown to the person, never audited.
    pub differences: Vec<Difference>,
    /// How many differences there are in all.
    pub differences_count: u64,
    pub dropped_fields: DroppedFields,
    pub duration_ms: u64,
    /// Set when the conversation was removed from the archive afterwards.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed_from_archive: Option<crate::delete::DeleteReport>,
}

/// How the target of a restore is reached.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RestoreMode {
    /// Supabase REST (PostgREST) with the service key.
    #[default]
    Rest,
    /// A direct Postgres connection string.
    Postgres,
}

impl RestoreMode {
    /// The secret this mode needs: the one mapping from mode to secret.
    pub fn secret_kind(self) -> SecretKind {
        match self {
            RestoreMode::Rest => SecretKind::SupabaseKey,
            RestoreMode::Postgres => SecretKind::PostgresUrl,
        }
    }

    /// The environment variable that may hold that secret instead of the
    /// keychain (the archiver's own name for the Supabase key).
    pub fn secret_env_var(self) -> &'static str {
        match self {
            RestoreMode::Rest => "SUPABASE_SERVICE_ROLE_KEY",
            RestoreMode::Postgres => "ARCHIVE_DESK_POSTGRES_URL",
        }
    }
}

impl std::str::FromStr for RestoreMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "rest" => Ok(RestoreMode::Rest),
            "postgres" => Ok(RestoreMode::Postgres),
            _ => Err(Error::InvalidInput(format!(
                "unknown restore mode {s:?}: use rest or postgres"
            ))),
        }
    }
}

/// Where a restore writes.
pub enum Target {
    Rest(RestTarget),
    Postgres(PostgresTarget),
}

impl Target {
    /// The target a profile (or the CLI's flags) describes.
    pub fn from_settings(
        mode: RestoreMode,
        supabase_url: Option<&str>,
        secret: Option<Secret>,
        tables: Tables,
        rpc_function: Option<String>,
    ) -> Result<Target> {
        match mode {
            RestoreMode::Rest => {
                let url = supabase_url.ok_or_else(|| Error::Config("no Supabase project URL set".into()))?;
                let key = secret.ok_or_else(|| {
                    Error::Config(
                        "no Supabase service-role key (keychain: supabase-key; or SUPABASE_SERVICE_ROLE_KEY)".into(),
                    )
                })?;
                Ok(Target::Rest(RestTarget::new(url, key, tables, rpc_function)?))
            }
            RestoreMode::Postgres => {
                let url = secret.ok_or_else(|| {
                    Error::Config(
                        "no Postgres connection string (keychain: postgres-url; or ARCHIVE_DESK_POSTGRES_URL)".into(),
                    )
                })?;
                Ok(Target::Postgres(PostgresTarget::new(url, tables)))
            }
        }
    }

    /// The same target with other timeouts.
    pub fn with_timeouts(self, timeouts: Timeouts) -> Result<Target> {
        Ok(match self {
            Target::Rest(r) => Target::Rest(r.with_timeouts(timeouts)?),
            Target::Postgres(p) => Target::Postgres(p.with_timeouts(timeouts)),
        })
    }

    /// The CA file that verifies a Postgres server's certificate (a profile
    /// setting; `sslrootcert=` in the connection string wins). No effect on
    /// REST.
    pub fn with_postgres_ca_file(self, ca_file: Option<PathBuf>) -> Target {
        match self {
            Target::Postgres(p) => Target::Postgres(p.with_ca_file(ca_file)),
            rest => rest,
        }
    }

    fn tables(&self) -> &Tables {
        match self {
            Target::Rest(r) => r.tables(),
            Target::Postgres(p) => p.tables(),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Target::Rest(r) if r.rpc_function().is_some() => "rest-rpc",
            Target::Rest(_) => "rest",
            Target::Postgres(_) => "postgres",
        }
    }

    fn atomic(&self) -> bool {
        !matches!(self, Target::Rest(r) if r.rpc_function().is_none())
    }

    /// Check the target is reachable and both tables exist; their columns.
    pub async fn columns(&self) -> Result<(HashSet<String>, HashSet<String>)> {
        match self {
            Target::Rest(r) => r.columns().await,
            Target::Postgres(p) => p.connect().await?.columns().await,
        }
    }
}

/// What a write did.
#[derive(Debug, Default)]
struct Written {
    conversation_inserted: bool,
    messages_inserted: u64,
}

/// What reading the rows back found.
struct Readback {
    messages_in_table: u64,
    differences: verify::Differences,
}

fn cancelled_error(id: &str) -> Error {
    Error::Cancelled {
        what: format!("restore of conversation {id} (nothing was written)"),
    }
}

/// `work`, unless `cancel` fires first (for steps that write nothing).
async fn unless_cancelled<T>(cancel: &CancellationToken, id: &str, work: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::select! {
        biased;
        _ = cancel.cancelled() => Err(cancelled_error(id)),
        out = work => out,
    }
}

/// Restore `doc` into `target`. Cancelling `cancel` before the write is
/// committed ends with `Error::Cancelled` and nothing written (Postgres:
/// rolled back; plain REST: what was inserted is deleted; RPC: the one call
/// is not sent). Once committed the restore completes and is verified.
pub async fn restore(
    target: &Target,
    doc: &ConversationDocument,
    options: &RestoreOptions,
    cancel: &CancellationToken,
) -> Result<RestoreReport> {
    let started = Instant::now();
    let id = doc.id();
    let (conv_cols, msg_cols) = unless_cancelled(cancel, id, target.columns()).await?;
    let plan = Plan::new(doc, &conv_cols, &msg_cols);
    if !options.allow_missing_columns && (!plan.dropped.conversations.is_empty() || !plan.dropped.messages.is_empty()) {
        let mut fields: Vec<String> = plan
            .dropped
            .conversations
            .iter()
            .map(|f| format!("conversations.{f}"))
            .collect();
        fields.extend(plan.dropped.messages.iter().map(|f| format!("messages.{f}")));
        return Err(Error::Restore {
            failure: RestoreFailure::MissingColumns,
            message: format!(
                "conversation {id}: the target tables lack these archive fields: {}; nothing was written \
                 (add the columns, or restore without them)",
                fields.join(", ")
            ),
        });
    }
    let in_archive = plan.messages.len() as u64;
    let (written, conversation_before, readback) = match target {
        Target::Rest(r) => {
            let before = unless_cancelled(cancel, id, r.conversation_exists(&plan.id)).await?;
            let written = r.write(&plan, options, cancel, before).await?;
            (written, before, r.read_back(&plan).await?)
        }
        Target::Postgres(p) => {
            let mut session = unless_cancelled(cancel, id, p.connect()).await?;
            let before = unless_cancelled(cancel, id, session.conversation_exists(&plan)).await?;
            let written = session.write(&plan, options, cancel).await?;
            (written, before, session.read_back(&plan).await?)
        }
    };
    let verify::Differences { listed, count } = readback.differences;
    Ok(RestoreReport {
        conversation_id: plan.id.clone(),
        target: target.name(),
        atomic: target.atomic(),
        conversation_inserted: written.conversation_inserted,
        conversation_already_present: conversation_before,
        messages_in_archive: in_archive,
        messages_inserted: written.messages_inserted,
        messages_already_present: in_archive.saturating_sub(written.messages_inserted),
        messages_in_table: readback.messages_in_table,
        verified: count == 0,
        differences: listed,
        differences_count: count,
        dropped_fields: plan.dropped,
        duration_ms: started.elapsed().as_millis() as u64,
        removed_from_archive: None,
    })
}

fn injected_fault() -> Error {
    Error::Restore {
        failure: RestoreFailure::RestoreFailed,
        message: "injected fault after the conversation row (test hook)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_checked() {
        assert!(Tables::new("conversations", "public.messages", "id").is_ok());
        for bad in ["", "a;drop", "a\"b", "1x", "a.b.c", "a b"] {
            assert!(Tables::new(bad, "m", "id").is_err(), "{bad:?}");
        }
        assert!(Tables::new("c", "m", "public.id").is_err());
    }
}
