//! A direct Postgres connection as a restore target: one transaction with
//! `ON CONFLICT DO NOTHING`, `statement_timeout` and `lock_timeout` set for
//! that transaction, a cancel that stops the server's statement and rolls
//! back, and the rows read back by key for verification. Every wait is
//! also bounded on our side, for a server that goes silent.

use std::collections::HashSet;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};
use tokio_postgres::error::SqlState;

use super::plan::Plan;
use super::tls::{self, Connection, Connector};
use super::verify::Differences;
use super::{cancelled_error, injected_fault, Readback, RestoreOptions, Tables, Timeouts, Written, CHUNK};
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
    /// timeout, and set the session's statement and lock timeouts.
    pub(super) async fn connect(&self) -> Result<PgSession<'_>> {
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
            tables: &self.tables,
            timeouts: self.timeouts,
        })
    }
}

/// One connection, for one restore.
pub(super) struct PgSession<'a> {
    client: tokio_postgres::Client,
    connector: Connector,
    tables: &'a Tables,
    timeouts: Timeouts,
}

impl PgSession<'_> {
    /// A statement, bounded on our side too: the server's timeouts end slow
    /// statements, this ends the wait for a server that went silent.
    async fn bounded<T>(&self, work: impl Future<Output = Result<T, tokio_postgres::Error>>) -> Result<T> {
        let limit = self.timeouts.statement + self.timeouts.lock + self.timeouts.connect;
        match tokio::time::timeout(limit, work).await {
            Ok(out) => out.map_err(pg_error),
            Err(_) => Err(silent(limit)),
        }
    }

    pub(super) async fn columns(&self) -> Result<(HashSet<String>, HashSet<String>)> {
        let mut out = Vec::new();
        for table in [&self.tables.conversations, &self.tables.messages] {
            let (schema, name) = schema_and_table(table);
            let rows = self
                .bounded(self.client.query(
                    "select column_name::text from information_schema.columns where table_schema = $1 and table_name = $2",
                    &[&schema, &name],
                ))
                .await?;
            if rows.is_empty() {
                return Err(Error::Restore {
                    failure: RestoreFailure::MissingTable,
                    message: format!("table {table} does not exist in Postgres (or this user cannot see it)"),
                });
            }
            out.push(rows.iter().map(|r| r.get::<_, String>(0)).collect::<HashSet<_>>());
        }
        let msgs = out.pop().expect("two tables");
        Ok((out.pop().expect("two tables"), msgs))
    }

    pub(super) async fn conversation_exists(&self, plan: &Plan) -> Result<bool> {
        let t = quote_ident(&self.tables.conversations);
        let k = quote_ident(&self.tables.conflict_key);
        let row = json!({ self.tables.conflict_key.clone(): plan.id }).to_string();
        let sql = format!(
            "select count(*) from {t} c, jsonb_populate_record(null::{t}, $1::text::jsonb) r where c.{k} = r.{k}"
        );
        let n: i64 = self.bounded(self.client.query_one(&sql, &[&row])).await?.get(0);
        Ok(n > 0)
    }

    /// Everything in one transaction: an error or a cancel anywhere rolls
    /// all of it back.
    pub(super) async fn write(
        &mut self,
        plan: &Plan,
        options: &RestoreOptions,
        cancel: &CancellationToken,
    ) -> Result<Written> {
        let cancel_token = self.client.cancel_token();
        let connector = self.connector.clone();
        let limit = self.timeouts.statement + self.timeouts.lock + self.timeouts.connect;
        let tables = self.tables;
        // BEGIN and the settings write nothing: a cancel just stops waiting
        // (a dropped BEGIN is rolled back by tokio-postgres).
        let tx = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(cancelled_error(&plan.id)),
            out = tokio::time::timeout(limit, self.client.transaction()) => {
                out.map_err(|_| silent(limit))?.map_err(pg_error)?
            }
        };
        // For this transaction only (`set local`): through a pooler in
        // transaction mode a session setting would outlive us on a shared
        // server connection.
        let settings = format!(
            "set local statement_timeout = {}; set local lock_timeout = {}",
            self.timeouts.statement.as_millis(),
            self.timeouts.lock.as_millis()
        );
        let set = tokio::select! {
            biased;
            _ = cancel.cancelled() => None,
            out = tokio::time::timeout(limit, tx.batch_execute(&settings)) => Some(out),
        };
        match set {
            Some(Ok(Ok(()))) => {}
            // Nothing written yet; dropping `tx` rolls back.
            Some(Ok(Err(e))) => return Err(pg_error(e)),
            Some(Err(_)) => return Err(silent(limit)),
            None => return Err(cancelled_error(&plan.id)),
        }
        // One statement, unless the person cancels: then the server is told
        // to stop it at once (it may be waiting for a lock) and its error
        // awaited, so the rollback below is not queued behind it.
        let statement = |sql: String, rows: String| {
            let tx = &tx;
            let cancel_token = cancel_token.clone();
            let connector = connector.clone();
            async move {
                let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&rows];
                let exec = tx.execute(&sql, &params);
                tokio::pin!(exec);
                let finished = tokio::select! {
                    biased;
                    out = tokio::time::timeout(limit, &mut exec) => Some(out),
                    _ = cancel.cancelled() => None,
                };
                match finished {
                    Some(Ok(out)) => out.map_err(pg_error),
                    Some(Err(_)) => Err(silent(limit)),
                    None => {
                        let stop = async {
                            match connector {
                                Connector::Plain => cancel_token.cancel_query(tokio_postgres::NoTls).await,
                                Connector::Tls(tls) => cancel_token.cancel_query(tls).await,
                            }
                        };
                        let _ = tokio::time::timeout(Duration::from_secs(5), stop).await;
                        let _ = tokio::time::timeout(limit, exec).await;
                        Err(cancelled_error(&plan.id))
                    }
                }
            }
        };
        let result = async {
            if cancel.is_cancelled() {
                return Err(cancelled_error(&plan.id));
            }
            let conv_rows = Value::Array(vec![Value::Object(plan.conversation.clone())]).to_string();
            let conversation_inserted = statement(
                insert_sql(&tables.conversations, &plan.conversation_columns, &tables.conflict_key),
                conv_rows,
            )
            .await?
                > 0;
            if options.fault_after_conversation() {
                return Err(injected_fault());
            }
            let mut messages_inserted = 0;
            if !plan.messages.is_empty() {
                let sql = insert_sql(&tables.messages, &plan.message_columns, &tables.conflict_key);
                for chunk in plan.messages.chunks(CHUNK) {
                    let rows = serde_json::to_string(chunk).expect("rows serialize");
                    messages_inserted += statement(sql.clone(), rows).await?;
                }
            }
            if cancel.is_cancelled() {
                return Err(cancelled_error(&plan.id));
            }
            Ok(Written {
                conversation_inserted,
                messages_inserted,
            })
        }
        .await;
        match result {
            Ok(written) => {
                tokio::time::timeout(limit, tx.commit())
                    .await
                    .map_err(|_| Error::Restore {
                        failure: RestoreFailure::TargetUnavailable,
                        message: "Postgres did not confirm the commit in time: run the restore again to see \
                                  whether it was written (it is idempotent)"
                            .into(),
                    })?
                    .map_err(pg_error)?;
                Ok(written)
            }
            Err(e) => {
                // Roll back now rather than on drop, so the server releases the
                // rows at once (a dropped transaction only queues the rollback).
                let _ = tokio::time::timeout(limit, tx.rollback()).await;
                Err(e)
            }
        }
    }

    /// Read every restored row back and compare it with the archive.
    pub(super) async fn read_back(&self, plan: &Plan) -> Result<Readback> {
        let key = &self.tables.conflict_key;
        let mut differences = Differences::default();
        let conv_key = plan.conversation.get(key).cloned().unwrap_or(Value::Null);
        let conversation = self.rows_by_key(&self.tables.conversations, &[conv_key]).await?;
        differences.compare(
            &self.tables.conversations,
            key,
            std::slice::from_ref(&plan.conversation),
            &conversation,
        );
        let mut messages = Vec::new();
        for keys in plan.message_keys(key).chunks(READ_CHUNK) {
            messages.extend(self.rows_by_key(&self.tables.messages, keys).await?);
        }
        differences.compare(&self.tables.messages, key, &plan.messages, &messages);
        Ok(Readback {
            messages_in_table: self.count_messages(plan).await?,
            differences,
        })
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

    async fn count_messages(&self, plan: &Plan) -> Result<u64> {
        let t = quote_ident(&self.tables.messages);
        let row = json!({ "conversation_id": plan.id }).to_string();
        let sql = format!(
            "select count(*) from {t} m, jsonb_populate_record(null::{t}, $1::text::jsonb) r where m.conversation_id = r.conversation_id"
        );
        let n: i64 = self.bounded(self.client.query_one(&sql, &[&row])).await?.get(0);
        Ok(n as u64)
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

/// `insert ... select ... from jsonb_populate_recordset ... on conflict do nothing`
fn insert_sql(table: &str, columns: &[String], key: &str) -> String {
    let cols = columns.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", ");
    let t = quote_ident(table);
    format!(
        "insert into {t} ({cols}) select {cols} from jsonb_populate_recordset(null::{t}, $1::text::jsonb) on conflict ({}) do nothing",
        quote_ident(key)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A "server" that logs anyone in and then never answers a query.
    async fn silent_after_login() -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let len = socket.read_u32().await.unwrap() as usize;
                    let mut startup = vec![0; len - 4];
                    socket.read_exact(&mut startup).await.unwrap();
                    // AuthenticationOk, then ReadyForQuery (idle).
                    socket.write_all(b"R\0\0\0\x08\0\0\0\0Z\0\0\0\x05I").await.unwrap();
                    let mut sink = [0u8; 1024];
                    while socket.read(&mut sink).await.is_ok_and(|n| n > 0) {}
                });
            }
        });
        port
    }

    #[tokio::test]
    async fn a_cancel_stops_the_wait_for_begin() {
        let port = silent_after_login().await;
        let long = Duration::from_secs(60);
        let tables = Tables::default();
        let target = PostgresTarget::new(
            Secret::new(format!("postgres://u:p@127.0.0.1:{port}/db?sslmode=disable")),
            tables.clone(),
        )
        .with_timeouts(Timeouts {
            connect: Duration::from_secs(10),
            request: long,
            statement: long,
            lock: long,
        });
        let mut session = target.connect().await.unwrap();
        let doc = crate::model::ConversationDocument::from_value(
            "k",
            json!({"conversation": {"id": "c1"}, "messages": [{"id": "m1"}]}),
        )
        .unwrap();
        let cols: HashSet<String> = ["id", "conversation_id"].map(String::from).into();
        let plan = Plan::new(&doc, &cols, &cols);
        let cancel = CancellationToken::new();
        let trigger = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            trigger.cancel();
        });
        // Without the cancel the wait would last statement + lock + connect
        // (130 s): a bound of 20 s tells the two apart.
        let out = tokio::time::timeout(
            Duration::from_secs(20),
            session.write(&plan, &RestoreOptions::default(), &cancel),
        )
        .await
        .expect("the cancel ended the wait");
        assert_eq!(out.unwrap_err().code(), "cancelled");
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("public.messages"), "\"public\".\"messages\"");
        assert_eq!(schema_and_table("messages"), ("public", "messages"));
    }
}
