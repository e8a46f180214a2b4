//! Restore an archived conversation into Supabase: the conversation row,
//! then its messages; idempotent (rows already there are left alone and
//! counted), never half-done, verified afterwards field by field.
//!
//! Two targets behind one interface (`Target`):
//! - Supabase REST (PostgREST, `rest.rs`): with an installed RPC function
//!   (`sql/restore_archived_conversation.sql`) the whole restore is one
//!   call, one transaction, which checks the columns and answers with the
//!   rows as stored; without it, the conversation then the messages, and
//!   on any failure or cancel what this attempt inserted is deleted again.
//! - Postgres direct (`postgres.rs`): one statement in one transaction,
//!   `ON CONFLICT DO NOTHING`, pipelined with its `begin` and `commit`; TLS
//!   with libpq's `sslmode` meanings (`tls.rs`).
//!
//! Before writing, the target's columns are known (remembered per process,
//! asked again when they may be stale); archive fields a table lacks are
//! refused (listed) unless the caller allows dropping them. Every restored
//! row, as stored after the write (the inserts' answers, the function's or
//! the statement's, rows already there read by key), is compared with the
//! archive (`verify.rs`): only then is the restore `verified`.
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

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
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

    /// Check the target is reachable and both tables exist; their columns
    /// (asked now, never cached; remembered for the next restore).
    pub async fn columns(&self) -> Result<(HashSet<String>, HashSet<String>)> {
        let (columns, key) = match self {
            Target::Rest(r) => (r.columns().await?, Some(r.cache_key())),
            Target::Postgres(p) => (p.connect().await?.columns().await?, p.cache_key()),
        };
        if let Some(key) = key {
            remember_columns(&key, &columns);
        }
        Ok(columns)
    }
}

/// What a restore wrote, and the restored rows as stored afterwards (read
/// in the same transaction or taken from the inserts' answers), which
/// verify it.
#[derive(Debug, Default)]
struct Stored {
    conversation_inserted: bool,
    messages_inserted: u64,
    /// The row with the conversation's key (none if missing).
    conversation: Vec<serde_json::Value>,
    /// The rows with the messages' keys.
    messages: Vec<serde_json::Value>,
    messages_in_table: u64,
}

type Columns = (HashSet<String>, HashSet<String>);

/// The tables' columns per target (server and tables, never a secret),
/// for this process: a restore uses them instead of asking the server
/// first. Trusted only to say a column exists: a field the list lacks is
/// looked up afresh before it is refused or left out, and a column the
/// server rejects makes the restore start over with a fresh list (nothing
/// of the rejected attempt stays: a transaction, or compensated). So a
/// stale list costs a request, never a field.
fn column_cache() -> &'static Mutex<HashMap<String, Columns>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Columns>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

fn cached_columns(key: &str) -> Option<Columns> {
    column_cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(key)
        .cloned()
}

fn remember_columns(key: &str, columns: &Columns) {
    column_cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key.to_owned(), columns.clone());
}

/// The plan: from the cached columns when they hold every archive field,
/// else from `discover` (remembered), refusing fields without a column
/// unless allowed. The flag says whether the cache was used.
async fn plan_restore(
    doc: &ConversationDocument,
    options: &RestoreOptions,
    cache_key: &str,
    use_cache: bool,
    discover: impl Future<Output = Result<Columns>>,
) -> Result<(Plan, bool)> {
    if use_cache {
        if let Some((conv, msgs)) = cached_columns(cache_key) {
            let plan = Plan::new(doc, &conv, &msgs);
            if plan.dropped.is_empty() {
                return Ok((plan, true));
            }
        }
    }
    let columns = discover.await?;
    remember_columns(cache_key, &columns);
    let plan = Plan::new(doc, &columns.0, &columns.1);
    refuse_missing_columns(&plan, options)?;
    Ok((plan, false))
}

fn refuse_missing_columns(plan: &Plan, options: &RestoreOptions) -> Result<()> {
    if options.allow_missing_columns || plan.dropped.is_empty() {
        return Ok(());
    }
    let mut fields: Vec<String> = plan
        .dropped
        .conversations
        .iter()
        .map(|f| format!("conversations.{f}"))
        .collect();
    fields.extend(plan.dropped.messages.iter().map(|f| format!("messages.{f}")));
    Err(Error::Restore {
        failure: RestoreFailure::MissingColumns,
        message: format!(
            "conversation {}: the target tables lack these archive fields: {}; nothing was written \
             (add the columns, or restore without them)",
            plan.id,
            fields.join(", ")
        ),
    })
}

fn column_rejected(e: &Error) -> bool {
    matches!(
        e,
        Error::Restore {
            failure: RestoreFailure::MissingColumns,
            ..
        }
    )
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
///
/// Round trips of a first restore at latency: RPC one request; Postgres
/// one (plus the connect when no connection of this process is idle);
/// plain REST two rounds (the conversation, then the messages); plus one
/// to read the columns when this process has not yet.
pub async fn restore(
    target: &Target,
    doc: &ConversationDocument,
    options: &RestoreOptions,
    cancel: &CancellationToken,
) -> Result<RestoreReport> {
    let started = Instant::now();
    if let Target::Rest(r) = target {
        if let Some(function) = r.rpc_function() {
            if let Some((plan, stored)) = r.restore_rpc(function, doc, options, cancel).await? {
                return Ok(report(target, plan, stored, started));
            }
        }
    }
    let mut use_cache = true;
    loop {
        let (out, cache_used) = restore_planned(target, doc, options, cancel, use_cache).await;
        match out {
            // A column the cache named is gone: nothing of this attempt
            // stayed, so start over from the server's columns.
            Err(e) if cache_used && column_rejected(&e) => use_cache = false,
            out => {
                let (plan, stored) = out?;
                return Ok(report(target, plan, stored, started));
            }
        }
    }
}

/// One attempt; the flag says whether it planned from cached columns.
async fn restore_planned(
    target: &Target,
    doc: &ConversationDocument,
    options: &RestoreOptions,
    cancel: &CancellationToken,
    use_cache: bool,
) -> (Result<(Plan, Stored)>, bool) {
    let id = doc.id();
    match target {
        Target::Rest(r) => {
            let key = r.cache_key();
            let planned = unless_cancelled(cancel, id, plan_restore(doc, options, &key, use_cache, r.columns())).await;
            let (plan, cached) = match planned {
                Ok(p) => p,
                Err(e) => return (Err(e), false),
            };
            let stored = match r.rpc_function() {
                Some(function) => r.restore_rpc_v1(function, &plan, cancel).await,
                None => r.restore_plain(&plan, options, cancel).await,
            };
            (stored.map(|s| (plan, s)), cached)
        }
        Target::Postgres(p) => {
            let session = match unless_cancelled(cancel, id, p.session_for_restore()).await {
                Ok(s) => s,
                Err(e) => return (Err(e), false),
            };
            let key = p.cache_key().unwrap_or_default();
            let planned = unless_cancelled(
                cancel,
                id,
                plan_restore(doc, options, &key, use_cache, session.columns()),
            )
            .await;
            let (plan, cached) = match planned {
                Ok(p) => p,
                Err(e) => return (Err(e), false),
            };
            let (stored, reusable) = session.restore(&plan, options, cancel).await;
            // A connection that answered (even with an error the statement
            // rolled back on) is fit for the next restore.
            if reusable
                && !matches!(
                    &stored,
                    Err(Error::Restore {
                        failure: RestoreFailure::TargetUnavailable,
                        ..
                    })
                )
            {
                p.keep_idle(session);
            }
            (stored.map(|s| (plan, s)), cached)
        }
    }
}

/// The report, verifying every restored row against what is stored.
fn report(target: &Target, plan: Plan, stored: Stored, started: Instant) -> RestoreReport {
    let tables = target.tables();
    let key = &tables.conflict_key;
    let mut differences = verify::Differences::default();
    differences.compare(
        &tables.conversations,
        key,
        std::slice::from_ref(&plan.conversation),
        &stored.conversation,
    );
    differences.compare(&tables.messages, key, &plan.messages, &stored.messages);
    let verify::Differences { listed, count } = differences;
    let in_archive = plan.messages.len() as u64;
    RestoreReport {
        conversation_id: plan.id.clone(),
        target: target.name(),
        atomic: target.atomic(),
        conversation_inserted: stored.conversation_inserted,
        // A conversation not inserted by a restore that succeeded was there.
        conversation_already_present: !stored.conversation_inserted,
        messages_in_archive: in_archive,
        messages_inserted: stored.messages_inserted,
        messages_already_present: in_archive.saturating_sub(stored.messages_inserted),
        messages_in_table: stored.messages_in_table,
        verified: count == 0,
        differences: listed,
        differences_count: count,
        dropped_fields: plan.dropped,
        duration_ms: started.elapsed().as_millis() as u64,
        removed_from_archive: None,
    }
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
