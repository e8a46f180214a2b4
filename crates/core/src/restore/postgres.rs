//! A direct Postgres connection as a restore target: one transaction with
//! `ON CONFLICT DO NOTHING`, `statement_timeout` and `lock_timeout` set for
//! that transaction, a cancel that stops the server's statement and rolls
//! back, and the rows read back by key for verification. Every wait is
//! also bounded on our side, for a server that goes silent.

use std::collections::HashSet;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};

use super::plan::Plan;
use super::tls::{self, Connection, Connector};
use super::{cancelled_error, injected_fault, RestoreOptions, Stored, Tables, Timeouts};
use crate::error::{Error, RestoreFailure, Result};
use crate::secret::Secret;
use crate::CancellationToken;

/// Keys per read-back query.
const READ_CHUNK: usize = 1000;

pub struct PostgresTarget {
    url: Secret,
    tables: Tables,
    ca_file: Option<PathBuf>,
    timeouts: Timeouts,
}

impl PostgresTarget {
    pub fn new(url: Secret, tables: Tables) -> Self {
        PostgresTarget {
            url,
            tables,
            ca_file: None,
            timeouts: Timeouts::default(),
        }
    }

    pub(super) fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    pub(super) fn tables(&self) -> &Tables {
        &self.tables
    }

    pub(super) fn with_ca_file(mut self, ca_file: Option<PathBuf>) -> Self {
        self.ca_file = ca_file;
        self
    }

    /// Connect (TLS per `sslmode`, see `tls.rs`), within the connect
    /// timeout.
    pub(super) async fn connect(&self) -> Result<PgSession> {
        let parsed = Connection::parse(self.url.expose(), self.ca_file.as_deref())?;
        let host = parsed.host();
        let connector = parsed.connector()?;
        let mode = parsed.mode;
        let mut config = parsed.config;
        let limit = config.get_connect_timeout().copied().unwrap_or(self.timeouts.connect);
        config.connect_timeout(limit);
        config.application_name("archive-desk");
        // The whole startup, not only the TCP connect: a server that accepts
        // and never answers must not hang the restore.
        let connect = async {
            match &connector {
                Connector::Plain => {
                    let (client, conn) = config.connect(tokio_postgres::NoTls).await?;
                    tokio::spawn(conn);
                    Ok(client)
                }
                Connector::Tls(tls) => {
                    let (client, conn) = config.connect(tls.clone()).await?;
                    tokio::spawn(conn);
                    Ok(client)
                }
            }
        };
        let client = match tokio::time::timeout(limit, connect).await {
            Err(_) => {
                return Err(Error::Restore {
                    failure: RestoreFailure::TargetUnavailable,
                    message: format!(
                        "Postgres at {host} did not answer within {} s (connect timeout)",
                        limit.as_secs_f32()
                    ),
                })
            }
            Ok(Err(e)) => return Err(tls::tls_failure(&e, &host, mode).unwrap_or_else(|| pg_error(e))),
            Ok(Ok(client)) => client,
        };
        Ok(PgSession {
            client,
            connector,
            tables: self.tables.clone(),
            timeouts: self.timeouts,
        })
    }

    /// A connection for a restore: the one a restore to the same server
    /// left idle in this process less than [`IDLE_REUSE`] ago and still
    /// open, else a new one. Saves the connect (TCP, TLS, the password
    /// exchange: three or four round trips) for restores in a row.
    pub(super) async fn session_for_restore(&self) -> Result<PgSession> {
        let reused = {
            let mut idle = idle_sessions().lock().unwrap_or_else(|e| e.into_inner());
            let at = idle.iter().position(|s| {
                s.url.expose() == self.url.expose()
                    && s.ca_file == self.ca_file
                    && s.since.elapsed() < IDLE_REUSE
                    && !s.session.client.is_closed()
            });
            let reused = at.map(|i| idle.swap_remove(i).session);
            idle.retain(|s| s.since.elapsed() < IDLE_REUSE && !s.session.client.is_closed());
            reused
        };
        match reused {
            Some(mut session) => {
                session.tables = self.tables.clone();
                session.timeouts = self.timeouts;
                Ok(session)
            }
            None => self.connect().await,
        }
    }

    /// Keep a connection that ended a restore cleanly for the next one.
    pub(super) fn keep_idle(&self, session: PgSession) {
        let mut idle = idle_sessions().lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() >= MAX_IDLE {
            idle.remove(0);
        }
        idle.push(IdleSession {
            url: self.url.clone(),
            ca_file: self.ca_file.clone(),
            session,
            since: Instant::now(),
        });
    }

    /// What identifies this target's tables in the column cache: server,
    /// database, user and tables; never the password.
    pub(super) fn cache_key(&self) -> Option<String> {
        let parsed = Connection::parse(self.url.expose(), self.ca_file.as_deref()).ok()?;
        let c = &parsed.config;
        Some(format!(
            "postgres {:?} {:?} {:?} {:?} {}|{}|{}",
            c.get_hosts(),
            c.get_ports(),
            c.get_dbname(),
            c.get_user(),
            self.tables.conversations,
            self.tables.messages,
            self.tables.conflict_key
        ))
    }
}

/// How long an idle connection is kept for the next restore, and how many.
const IDLE_REUSE: Duration = Duration::from_secs(60);
const MAX_IDLE: usize = 4;

struct IdleSession {
    url: Secret,
    ca_file: Option<PathBuf>,
    session: PgSession,
    since: Instant,
}

fn idle_sessions() -> &'static Mutex<Vec<IdleSession>> {
    static IDLE: OnceLock<Mutex<Vec<IdleSession>>> = OnceLock::new();
    IDLE.get_or_init(|| Mutex::new(Vec::new()))
}

/// One connection.
pub(super) struct PgSession {
    client: tokio_postgres::Client,
    connector: Connector,
    tables: Tables,
    timeouts: Timeouts,
}

impl PgSession {
    /// A statement, bounded on our side too: the server's timeouts end slow
    /// statements, this ends the wait for a server that went silent.
    async fn bounded<T>(&self, work: impl Future<Output = Result<T, tokio_postgres::Error>>) -> Result<T> {
        let limit = self.limit();
        match tokio::time::timeout(limit, work).await {
            Ok(out) => out.map_err(pg_error),
            Err(_) => Err(silent(limit)),
        }
    }

    fn limit(&self) -> Duration {
        self.timeouts.statement + self.timeouts.lock + self.timeouts.connect
    }

    /// Both tables' columns, in one query (no separate prepare).
    pub(super) async fn columns(&self) -> Result<(HashSet<String>, HashSet<String>)> {
        let (cs, ct) = schema_and_table(&self.tables.conversations);
        let (ms, mt) = schema_and_table(&self.tables.messages);
        let params: [(&(dyn ToSql + Sync), Type); 4] = [
            (&cs, Type::TEXT),
            (&ct, Type::TEXT),
            (&ms, Type::TEXT),
            (&mt, Type::TEXT),
        ];
        let rows = self
            .bounded(self.client.query_typed(
                "select (table_schema = $1 and table_name = $2), (table_schema = $3 and table_name = $4), \
                 column_name::text from information_schema.columns \
                 where (table_schema = $1 and table_name = $2) or (table_schema = $3 and table_name = $4)",
                &params,
            ))
            .await?;
        let mut conv = HashSet::new();
        let mut msgs = HashSet::new();
        for row in &rows {
            if row.get::<_, bool>(0) {
                conv.insert(row.get::<_, String>(2));
            }
            if row.get::<_, bool>(1) {
                msgs.insert(row.get::<_, String>(2));
            }
        }
        for (cols, table) in [(&conv, &self.tables.conversations), (&msgs, &self.tables.messages)] {
            if cols.is_empty() {
                return Err(Error::Restore {
                    failure: RestoreFailure::MissingTable,
                    message: format!("table {table} does not exist in Postgres (or this user cannot see it)"),
                });
            }
        }
        Ok((conv, msgs))
    }

    /// The whole restore in one round trip: `begin` (with this
    /// transaction's timeouts), one statement that inserts the conversation
    /// and the messages (`ON CONFLICT DO NOTHING`) and returns the rows as
    /// stored, and `commit`, sent together (pipelined). The statement is
    /// one transaction by itself; an error in it turns the `commit` into a
    /// rollback. A cancel before the answer asks the server to stop the
    /// statement: if it stopped, nothing was written; if it had finished,
    /// the restore is complete (and reported so). The second value says
    /// whether the connection is fit to be kept (no cancel was sent on it).
    pub(super) async fn restore(
        &self,
        plan: &Plan,
        options: &RestoreOptions,
        cancel: &CancellationToken,
    ) -> (Result<Stored>, bool) {
        if cancel.is_cancelled() {
            return (Err(cancelled_error(&plan.id)), true);
        }
        let limit = self.limit();
        let fault = options.fault_after_conversation();
        let begin = format!(
            "begin; set local statement_timeout = {}; set local lock_timeout = {}",
            self.timeouts.statement.as_millis(),
            self.timeouts.lock.as_millis()
        );
        let sql = restore_sql(&self.tables, plan);
        let conversation = Value::Array(vec![Value::Object(plan.conversation.clone())]).to_string();
        let messages = serde_json::to_string(&plan.messages).expect("rows serialize");
        let owner = json!({ "conversation_id": plan.id }).to_string();
        let params: [(&(dyn ToSql + Sync), Type); 3] = [
            (&conversation, Type::TEXT),
            (&messages, Type::TEXT),
            (&owner, Type::TEXT),
        ];
        // The test hook: the rows are written (in the transaction), then
        // the restore fails before the commit.
        let end = if fault { "rollback" } else { "commit" };
        // `join3` polls in order, so the three go out in this order at once.
        let all = futures::future::join3(
            self.client.batch_execute(&begin),
            self.client.query_typed(&sql, &params),
            self.client.batch_execute(end),
        );
        tokio::pin!(all);
        let finished = tokio::select! {
            biased;
            out = tokio::time::timeout(limit, &mut all) => Some(out),
            _ = cancel.cancelled() => None,
        };
        let (cancelled, answers) = match finished {
            Some(out) => (false, out),
            None => {
                let token = self.client.cancel_token();
                let stop = async {
                    match self.connector.clone() {
                        Connector::Plain => token.cancel_query(tokio_postgres::NoTls).await,
                        Connector::Tls(tls) => token.cancel_query(tls).await,
                    }
                };
                let _ = tokio::time::timeout(Duration::from_secs(5), stop).await;
                // A server that answers neither the statement nor the
                // cancel is not waited for long: the person asked to stop.
                match tokio::time::timeout(self.timeouts.connect.min(limit), all).await {
                    Ok(out) => (true, Ok(out)),
                    Err(_) => {
                        let what = format!(
                            "restore of conversation {} (Postgres answered neither the restore nor the cancel, \
                             so whether it was written cannot be told: run the restore again to complete it; \
                             it is idempotent)",
                            plan.id
                        );
                        return (Err(Error::Cancelled { what }), false);
                    }
                }
            }
        };
        let Ok((begun, rows, ended)) = answers else {
            return (Err(commit_unknown(&plan.id)), false);
        };
        let out = match (begun, rows, ended) {
            (_, Err(e), _) if cancelled && e.code() == Some(&SqlState::QUERY_CANCELED) => {
                Err(cancelled_error(&plan.id))
            }
            (Ok(()), Ok(_), Ok(())) if fault => Err(injected_fault()),
            (Ok(()), Ok(rows), Ok(())) => stored(&rows),
            // The statement failed: the `commit` rolled back.
            (_, Err(e), _) => Err(pg_error(e)),
            // Without its `begin` the statement committed by itself, or not.
            (Err(_), Ok(_), _) => Err(commit_unknown(&plan.id)),
            (Ok(()), Ok(_), Err(e)) if e.is_closed() => Err(commit_unknown(&plan.id)),
            // The server refused the commit: rolled back.
            (Ok(()), Ok(_), Err(e)) => Err(pg_error(e)),
        };
        (out, !cancelled)
    }

    /// Rows of `table` with these keys, as JSON (`to_jsonb`: timestamps as
    /// `...+00:00`, numbers as numbers, json as JSON, as PostgREST shows them).
    async fn rows_by_key(&self, table: &str, keys: &[Value]) -> Result<Vec<Value>> {
        let t = quote_ident(table);
        let k = quote_ident(&self.tables.conflict_key);
        let wanted: Vec<Value> = keys
            .iter()
            .map(|v| json!({ self.tables.conflict_key.clone(): v }))
            .collect();
        let sql = format!(
            "select to_jsonb(t)::text from {t} t where t.{k} in \
             (select r.{k} from jsonb_populate_recordset(null::{t}, $1::text::jsonb) r)"
        );
        let rows = self
            .bounded(self.client.query(&sql, &[&Value::Array(wanted).to_string()]))
            .await?;
        rows.iter()
            .map(|r| {
                serde_json::from_str(r.get::<_, &str>(0)).map_err(|e| Error::Restore {
                    failure: RestoreFailure::RestoreFailed,
                    message: format!("a row of {table} read back is not JSON: {e}"),
                })
            })
            .collect()
    }

    /// Live status of these conversation ids in one query: which rows are
    /// there and how many messages each has.
    pub(super) async fn live_status(&self, ids: &[Value]) -> Result<super::status::Found> {
        let c = quote_ident(&self.tables.conversations);
        let m = quote_ident(&self.tables.messages);
        let k = quote_ident(&self.tables.conflict_key);
        let wanted: Vec<Value> = ids
            .iter()
            .map(|v| json!({ self.tables.conflict_key.clone(): v }))
            .collect();
        let sql = format!(
            "select r.{k}::text, exists (select 1 from {c} c where c.{k} = r.{k}), \
             (select count(*) from {m} m where m.conversation_id = r.{k}) \
             from jsonb_populate_recordset(null::{c}, $1::text::jsonb) r"
        );
        let rows = self
            .bounded(self.client.query(&sql, &[&Value::Array(wanted).to_string()]))
            .await?;
        let mut present = HashSet::new();
        let mut counts = std::collections::HashMap::new();
        for row in rows {
            let id: String = row.get(0);
            if row.get::<_, bool>(1) {
                present.insert(id.clone());
            }
            counts.insert(id, row.get::<_, i64>(2) as u64);
        }
        Ok((present, counts))
    }

    /// Rows of `table` with these keys (for the preview).
    pub(super) async fn rows_with_keys(&self, table: &str, keys: &[Value]) -> Result<Vec<Value>> {
        let mut rows = Vec::new();
        for chunk in keys.chunks(READ_CHUNK) {
            rows.extend(self.rows_by_key(table, chunk).await?);
        }
        Ok(rows)
    }
}

/// A server that stopped answering (our own bound, not the server's).
fn silent(limit: Duration) -> Error {
    Error::Restore {
        failure: RestoreFailure::TargetUnavailable,
        message: format!("Postgres did not answer within {} s", limit.as_secs()),
    }
}

fn quote_ident(name: &str) -> String {
    name.split('.')
        .map(|p| format!("\"{p}\""))
        .collect::<Vec<_>>()
        .join(".")
}

fn schema_and_table(name: &str) -> (&str, &str) {
    name.split_once('.').unwrap_or(("public", name))
}

pub(super) fn pg_error(e: tokio_postgres::Error) -> Error {
    let (failure, plain) = match e.code() {
        Some(c) if *c == SqlState::INVALID_PASSWORD || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION => (
            RestoreFailure::TargetAuth,
            "Postgres rejected the user or password".to_owned(),
        ),
        Some(c) if *c == SqlState::INSUFFICIENT_PRIVILEGE => (
            RestoreFailure::TargetPermission,
            "permission denied for this Postgres user".to_owned(),
        ),
        Some(c) if *c == SqlState::UNDEFINED_COLUMN => (
            RestoreFailure::MissingColumns,
            format!(
                "a column is not in the table ({})",
                e.as_db_error().map_or("", |d| d.message())
            ),
        ),
        Some(c) if *c == SqlState::UNDEFINED_TABLE => {
            (RestoreFailure::MissingTable, "a table does not exist".to_owned())
        }
        Some(c) if *c == SqlState::LOCK_NOT_AVAILABLE => (
            RestoreFailure::TargetBusy,
            "another session holds a lock on the rows or tables the restore writes (lock_timeout reached); \
             nothing was written: try again when it is released"
                .to_owned(),
        ),
        Some(c) if *c == SqlState::QUERY_CANCELED => (
            RestoreFailure::TargetBusy,
            "Postgres stopped a statement that ran longer than statement_timeout; nothing was written: try again \
             later"
                .to_owned(),
        ),
        Some(c) => (
            RestoreFailure::RestoreFailed,
            format!(
                "Postgres error {}: {}",
                c.code(),
                e.as_db_error().map_or("", |d| d.message())
            ),
        ),
        None if e.is_closed() => (
            RestoreFailure::TargetUnavailable,
            "the Postgres connection closed".to_owned(),
        ),
        None => (
            RestoreFailure::TargetUnavailable,
            "Postgres cannot be reached (check host, port and TLS)".to_owned(),
        ),
    };
    Error::Restore {
        failure,
        message: plain,
    }
}

/// A restore's outcome when the commit was sent but not confirmed.
fn commit_unknown(id: &str) -> Error {
    Error::Restore {
        failure: RestoreFailure::TargetUnavailable,
        message: format!(
            "Postgres did not confirm the restore of conversation {id} in time: run the restore again to see \
             whether it was written (it is idempotent)"
        ),
    }
}

/// The restore statement's one row: what was inserted, the rows as stored,
/// the conversation's messages in the table.
fn stored(rows: &[tokio_postgres::Row]) -> Result<Stored> {
    let row = rows.first().ok_or_else(|| Error::Restore {
        failure: RestoreFailure::RestoreFailed,
        message: "the restore statement returned no row".into(),
    })?;
    let parse = |i: usize, what: &str| -> Result<Vec<Value>> {
        serde_json::from_str(row.get::<_, &str>(i)).map_err(|e| Error::Restore {
            failure: RestoreFailure::RestoreFailed,
            message: format!("the stored {what} rows returned are not JSON: {e}"),
        })
    };
    Ok(Stored {
        conversation_inserted: row.get::<_, i64>(0) > 0,
        messages_inserted: row.get::<_, i64>(1) as u64,
        conversation: parse(2, "conversation")?,
        messages: parse(3, "message")?,
        messages_in_table: row.get::<_, i64>(4) as u64,
    })
}

/// One statement: insert the conversation and the messages (`ON CONFLICT
/// DO NOTHING`, only the planned columns), and return the rows with the
/// restored keys as stored: those inserted (`returning`) and those already
/// there (the statement's snapshot, taken before its inserts). A message's
/// conversation row may be inserted by the same statement: foreign keys
/// are checked at its end. `$1` the conversation (a one-row array), `$2`
/// the messages, `$3` `{"conversation_id": id}`. The messages' JSON is
/// parsed once (`m_src`, ~10 ms per 1,000 messages each time), and the rows
/// go back as `row_to_json` (the same JSON as `to_jsonb` gives, built in
/// less than half the time).
fn restore_sql(tables: &Tables, plan: &Plan) -> String {
    let c = quote_ident(&tables.conversations);
    let m = quote_ident(&tables.messages);
    let k = quote_ident(&tables.conflict_key);
    let list = |cols: &[String]| cols.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", ");
    let ccols = list(&plan.conversation_columns);
    let mcols = list(&plan.message_columns);
    let messages = if plan.message_columns.is_empty() {
        format!(
            "m_in as (select row_to_json(t) as row, t.conversation_id as cid from {m} t where false), \
             m_old as (select row_to_json(t) as row from {m} t where false)"
        )
    } else {
        format!(
            "m_src as (select * from jsonb_populate_recordset(null::{m}, $2::text::jsonb)), \
             m_in as (insert into {m} as t ({mcols}) select {mcols} \
             from m_src on conflict ({k}) do nothing \
             returning row_to_json(t) as row, t.conversation_id as cid), \
             m_old as (select row_to_json(t) as row from {m} t \
             where t.{k} in (select r.{k} from m_src r))"
        )
    };
    let owner = format!("(select r.conversation_id from jsonb_populate_record(null::{m}, $3::text::jsonb) r)");
    format!(
        "with c_in as (insert into {c} as t ({ccols}) select {ccols} \
         from jsonb_populate_recordset(null::{c}, $1::text::jsonb) on conflict ({k}) do nothing \
         returning row_to_json(t) as row), \
         c_old as (select row_to_json(t) as row from {c} t \
         where t.{k} in (select r.{k} from jsonb_populate_recordset(null::{c}, $1::text::jsonb) r)), \
         {messages} \
         select (select count(*) from c_in), (select count(*) from m_in), \
         (select coalesce(json_agg(x.row), '[]') from (select row from c_in union all select row from c_old) x)::text, \
         (select coalesce(json_agg(x.row), '[]') from (select row from m_in union all select row from m_old) x)::text, \
         (select count(*) from {m} t where t.conversation_id = {owner}) \
         + (select count(*) from m_in where cid = {owner})"
    )
}

#[cfg(test)]
mod tests;
