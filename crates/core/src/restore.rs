//! Restore an archived conversation into Supabase: the conversation row,
//! then its messages; idempotent (rows already there are left alone and
//! counted), never half-done, verified afterwards.
//!
//! Two targets behind one interface (`Target`):
//! - Supabase REST (PostgREST): with an installed RPC function
//!   (`sql/restore_archived_conversation.sql`) the whole restore is one
//!   call, one transaction; without it, the conversation then the messages in
//!   chunks, and on any failure what this attempt inserted is deleted again.
//! - Postgres direct: one transaction, `ON CONFLICT DO NOTHING`.
//!
//! Before writing, the target's columns are discovered; archive fields a
//! table lacks are refused (listed) unless the caller allows dropping them.

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::model::ConversationDocument;
use crate::secret::Secret;

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
    /// that the attempt leaves nothing behind.
    pub fault_after_conversation: bool,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DroppedFields {
    pub conversations: Vec<String>,
    pub messages: Vec<String>,
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
    pub verified: bool,
    pub dropped_fields: DroppedFields,
    pub duration_ms: u64,
    /// Set when the conversation was removed from the archive afterwards.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed_from_archive: Option<crate::delete::DeleteReport>,
}

/// The rows to write, cut down to the target's columns.
struct Plan {
    id: String,
    conversation: Map<String, Value>,
    messages: Vec<Map<String, Value>>,
    /// Union of message keys (for PostgREST `?columns=` and the SQL column list).
    message_columns: Vec<String>,
    conversation_columns: Vec<String>,
    dropped: DroppedFields,
}

impl Plan {
    fn new(doc: &ConversationDocument, conv_cols: &HashSet<String>, msg_cols: &HashSet<String>) -> Plan {
        let mut dropped_c = BTreeSet::new();
        let mut dropped_m = BTreeSet::new();
        let keep = |m: &Map<String, Value>, cols: &HashSet<String>, dropped: &mut BTreeSet<String>| {
            let mut row = Map::new();
            for (k, v) in m {
                if cols.contains(k) {
                    row.insert(k.clone(), v.clone());
                } else {
                    dropped.insert(k.clone());
                }
            }
            row
        };
        let conversation = keep(doc.conversation().map(), conv_cols, &mut dropped_c);
        let id_value = doc.conversation().get("id").cloned().unwrap_or(Value::Null);
        let mut message_columns = BTreeSet::new();
        let messages: Vec<Map<String, Value>> = doc
            .messages()
            .map(|m| {
                let mut row = keep(m.map(), msg_cols, &mut dropped_m);
                if msg_cols.contains("conversation_id") && row.get("conversation_id").is_none_or(Value::is_null) {
                    row.insert("conversation_id".into(), id_value.clone());
                }
                message_columns.extend(row.keys().cloned());
                row
            })
            .collect();
        Plan {
            id: doc.id().to_owned(),
            conversation_columns: conversation.keys().cloned().collect(),
            conversation,
            messages,
            message_columns: message_columns.into_iter().collect(),
            dropped: DroppedFields {
                conversations: dropped_c.into_iter().collect(),
                messages: dropped_m.into_iter().collect(),
            },
        }
    }
}

/// What a write did.
#[derive(Debug, Default)]
struct Written {
    conversation_inserted: bool,
    messages_inserted: u64,
}

/// Where a restore writes.
pub enum Target {
    Rest(RestTarget),
    Postgres(PostgresTarget),
}

impl Target {
    /// The target a profile (or the CLI's flags) describes.
    pub fn from_settings(
        mode: crate::profile::RestoreMode,
        supabase_url: Option<&str>,
        secret: Option<Secret>,
        tables: Tables,
        rpc_function: Option<String>,
    ) -> Result<Target> {
        use crate::profile::RestoreMode;
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

    fn name(&self) -> &'static str {
        match self {
            Target::Rest(r) if r.rpc_function.is_some() => "rest-rpc",
            Target::Rest(_) => "rest",
            Target::Postgres(_) => "postgres",
        }
    }

    fn atomic(&self) -> bool {
        !matches!(self, Target::Rest(r) if r.rpc_function.is_none())
    }

    /// Check the target is reachable and both tables exist; their columns.
    pub async fn columns(&self) -> Result<(HashSet<String>, HashSet<String>)> {
        match self {
            Target::Rest(r) => r.columns().await,
            Target::Postgres(p) => postgres_columns(&p.connect().await?, &p.tables).await,
        }
    }
}

/// Restore `doc` into `target`.
pub async fn restore(target: &Target, doc: &ConversationDocument, options: &RestoreOptions) -> Result<RestoreReport> {
    let started = Instant::now();
    let (conv_cols, msg_cols) = target.columns().await?;
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
            code: "missing_columns",
            message: format!(
                "conversation {}: the target tables lack these archive fields: {}; nothing was written \
                 (add the columns, or restore without them)",
                doc.id(),
                fields.join(", ")
            ),
        });
    }
    let in_archive = plan.messages.len() as u64;
    let (written, conversation_before, present) = match target {
        Target::Rest(r) => {
            let before = r.conversation_exists(&plan.id).await?;
            let written = r.write(&plan, options).await?;
            (written, before, r.count_messages(&plan.id).await?)
        }
        Target::Postgres(p) => {
            let mut client = p.connect().await?;
            let before = postgres_conversation_exists(&client, &p.tables, &plan).await?;
            let written = postgres_write(&mut client, &p.tables, &plan, options).await?;
            (
                written,
                before,
                postgres_count_messages(&client, &p.tables, &plan).await?,
            )
        }
    };
    Ok(RestoreReport {
        conversation_id: plan.id.clone(),
        target: target.name(),
        atomic: target.atomic(),
        conversation_inserted: written.conversation_inserted,
        conversation_already_present: conversation_before,
        messages_in_archive: in_archive,
        messages_inserted: written.messages_inserted,
        messages_already_present: in_archive.saturating_sub(written.messages_inserted),
        messages_in_table: present,
        verified: present >= in_archive && (conversation_before || written.conversation_inserted),
        dropped_fields: plan.dropped,
        duration_ms: started.elapsed().as_millis() as u64,
        removed_from_archive: None,
    })
}

fn injected_fault() -> Error {
    Error::Restore {
        code: "restore_failed",
        message: "injected fault after the conversation row (test hook)".into(),
    }
}

// ---------------------------------------------------------------- REST ----

pub struct RestTarget {
    http: reqwest::Client,
    /// `{project_url}/rest/v1`
    base: String,
    key: Secret,
    tables: Tables,
    rpc_function: Option<String>,
}

impl RestTarget {
    pub fn new(project_url: &str, key: Secret, tables: Tables, rpc_function: Option<String>) -> Result<Self> {
        if let Some(f) = &rpc_function {
            check_identifier("RPC function", f, false)?;
        }
        let project_url = project_url.trim_end_matches('/');
        if !(project_url.starts_with("https://") || project_url.starts_with("http://")) {
            return Err(Error::Config(format!(
                "Supabase URL {project_url:?} must start with https://"
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
        Ok(RestTarget {
            http,
            base: format!("{project_url}/rest/v1"),
            key,
            tables,
            rpc_function,
        })
    }

    /// Legacy keys are JWTs and go in `apikey` and `Authorization`; the new
    /// `sb_secret_...` keys go in `apikey` only.
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let key = self.key.expose();
        let req = self
            .http
            .request(method, format!("{}/{path}", self.base))
            .header("apikey", key);
        if key.starts_with("eyJ") && key.matches('.').count() == 2 {
            req.bearer_auth(key)
        } else {
            req
        }
    }

    async fn send(&self, what: &str, req: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        let resp = req.send().await.map_err(|e| {
            let why = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "cannot be reached"
            } else {
                "request failed"
            };
            Error::Restore {
                code: "target_unavailable",
                message: format!("{what}: Supabase at {} {why}", self.base),
            }
        })?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        Err(rest_error(what, status, &body))
    }

    async fn columns(&self) -> Result<(HashSet<String>, HashSet<String>)> {
        let resp = self
            .send(
                "reading the table columns",
                self.request(reqwest::Method::GET, "")
                    .header("Accept", "application/openapi+json"),
            )
            .await?;
        let api: Value = resp.json().await.map_err(|e| Error::Restore {
            code: "restore_failed",
            message: format!("Supabase's API description could not be read: {e}"),
        })?;
        let cols = |table: &str| -> Result<HashSet<String>> {
            api["definitions"][table]["properties"]
                .as_object()
                .map(|p| p.keys().cloned().collect())
                .ok_or_else(|| Error::Restore {
                    code: "missing_table",
                    message: format!("table {table} does not exist in Supabase (or the key cannot see it)"),
                })
        };
        Ok((cols(&self.tables.conversations)?, cols(&self.tables.messages)?))
    }

    async fn conversation_exists(&self, id: &str) -> Result<bool> {
        let key = &self.tables.conflict_key;
        let resp = self
            .send(
                "checking for the conversation",
                self.request(reqwest::Method::GET, &self.tables.conversations)
                    .query(&[(key.as_str(), format!("eq.{id}")), ("select", key.clone())]),
            )
            .await?;
        let rows: Vec<Value> = resp.json().await.unwrap_or_default();
        Ok(!rows.is_empty())
    }

    async fn count_messages(&self, id: &str) -> Result<u64> {
        let resp = self
            .send(
                "counting the restored messages",
                self.request(reqwest::Method::GET, &self.tables.messages)
                    .query(&[
                        ("conversation_id", format!("eq.{id}")),
                        ("select", self.tables.conflict_key.clone()),
                    ])
                    .header("Prefer", "count=exact")
                    .header("Range-Unit", "items")
                    .header("Range", "0-0"),
            )
            .await?;
        // Content-Range: 0-0/123 (or */0)
        resp.headers()
            .get("content-range")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit('/').next())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| Error::Restore {
                code: "restore_failed",
                message: "Supabase did not return a message count".into(),
            })
    }

    /// Insert rows, skipping ones already there; the keys of those inserted.
    async fn insert(&self, table: &str, columns: &[String], rows: &[Map<String, Value>]) -> Result<Vec<Value>> {
        let key = &self.tables.conflict_key;
        let resp = self
            .send(
                &format!("writing to {table}"),
                self.request(reqwest::Method::POST, table)
                    .query(&[
                        ("columns", columns.join(",")),
                        ("on_conflict", key.clone()),
                        ("select", key.clone()),
                    ])
                    .header("Prefer", "return=representation,resolution=ignore-duplicates")
                    .json(rows),
            )
            .await?;
        let inserted: Vec<Value> = resp.json().await.unwrap_or_default();
        Ok(inserted.into_iter().filter_map(|r| r.get(key).cloned()).collect())
    }

    /// Delete rows by key (compensation); best effort, errors reported.
    async fn delete_keys(&self, table: &str, keys: &[Value]) -> Result<()> {
        for chunk in keys.chunks(100) {
            let list: Vec<String> = chunk
                .iter()
                .map(|k| {
                    let text = match k {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
                })
                .collect();
            self.send(
                &format!("undoing the partial write to {table}"),
                self.request(reqwest::Method::DELETE, table)
                    .query(&[(self.tables.conflict_key.as_str(), format!("in.({})", list.join(",")))]),
            )
            .await?;
        }
        Ok(())
    }

    async fn write(&self, plan: &Plan, options: &RestoreOptions) -> Result<Written> {
        if let Some(function) = &self.rpc_function {
            let payload = json!({"payload": {"conversation": plan.conversation, "messages": plan.messages}});
            let resp = self
                .send(
                    &format!("calling {function}"),
                    self.request(reqwest::Method::POST, &format!("rpc/{function}"))
                        .json(&payload),
                )
                .await?;
            let out: Value = resp.json().await.unwrap_or(Value::Null);
            return Ok(Written {
                conversation_inserted: out["conversation_inserted"].as_u64() == Some(1),
                messages_inserted: out["messages_inserted"].as_u64().unwrap_or(0),
            });
        }

        let conv = self
            .insert(
                &self.tables.conversations,
                &plan.conversation_columns,
                std::slice::from_ref(&plan.conversation),
            )
            .await?;
        let mut inserted_messages = Vec::new();
        let result: Result<()> = async {
            if options.fault_after_conversation {
                return Err(injected_fault());
            }
            for chunk in plan.messages.chunks(CHUNK) {
                inserted_messages.extend(self.insert(&self.tables.messages, &plan.message_columns, chunk).await?);
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            // Never leave a half restore: take back what this attempt wrote.
            let undo = async {
                self.delete_keys(&self.tables.messages, &inserted_messages).await?;
                self.delete_keys(&self.tables.conversations, &conv).await
            }
            .await;
            return Err(match undo {
                Ok(()) => e,
                Err(undo_err) => Error::Restore {
                    code: "restore_failed",
                    message: format!(
                        "{e}; undoing the partial write also failed ({undo_err}): run the restore again to complete it"
                    ),
                },
            });
        }
        Ok(Written {
            conversation_inserted: !conv.is_empty(),
            messages_inserted: inserted_messages.len() as u64,
        })
    }
}

/// A PostgREST / gateway error in plain words (never the key).
fn rest_error(what: &str, status: u16, body: &Value) -> Error {
    let code = body["code"].as_str().unwrap_or("");
    let detail = body["message"].as_str().unwrap_or("");
    let (code, plain) = match (status, code) {
        (403, _) | (_, "42501") => (
            "target_permission",
            "permission denied: this key cannot write these tables (an anon or authenticated key is blocked by row-level security; use the service-role key)".to_owned(),
        ),
        (401, _) | (_, "PGRST301" | "PGRST302") => (
            "target_auth",
            "Supabase rejected the key: check the service-role (or sb_secret_) key of this project".to_owned(),
        ),
        (404, _) | (_, "PGRST205" | "42P01" | "PGRST202") => {
            ("missing_table", format!("the table or function does not exist ({detail})"))
        }
        (409, _) => ("target_conflict", format!("a conflicting row exists ({detail})")),
        (s, _) if s >= 500 => ("target_unavailable", format!("Supabase had a server error (HTTP {s}): {detail}")),
        (s, _) => ("restore_failed", format!("Supabase refused the request (HTTP {s} {code}): {detail}")),
    };
    Error::Restore {
        code,
        message: format!("{what}: {plain}"),
    }
}

// ------------------------------------------------------------ Postgres ----

pub struct PostgresTarget {
    url: Secret,
    tables: Tables,
}

impl PostgresTarget {
    pub fn new(url: Secret, tables: Tables) -> Self {
        PostgresTarget { url, tables }
    }

    /// Connect, with TLS unless the URL says `sslmode=disable`.
    async fn connect(&self) -> Result<tokio_postgres::Client> {
        let config: tokio_postgres::Config = self.url.expose().parse().map_err(|_| {
            Error::Config(
                "the Postgres connection string cannot be parsed (expected postgres://user:password@host:port/db)"
                    .into(),
            )
        })?;
        let client = match config.get_ssl_mode() {
            tokio_postgres::config::SslMode::Disable => {
                let (client, conn) = config.connect(tokio_postgres::NoTls).await.map_err(pg_error)?;
                tokio::spawn(conn);
                client
            }
            _ => {
                let (client, conn) = config.connect(tls::connector()).await.map_err(pg_error)?;
                tokio::spawn(conn);
                client
            }
        };
        Ok(client)
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

fn pg_error(e: tokio_postgres::Error) -> Error {
    use tokio_postgres::error::SqlState;
    let (code, plain) = match e.code() {
        Some(c) if *c == SqlState::INVALID_PASSWORD || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION => {
            ("target_auth", "Postgres rejected the user or password".to_owned())
        }
        Some(c) if *c == SqlState::INSUFFICIENT_PRIVILEGE => (
            "target_permission",
            "permission denied for this Postgres user".to_owned(),
        ),
        Some(c) if *c == SqlState::UNDEFINED_TABLE => ("missing_table", "a table does not exist".to_owned()),
        Some(c) => (
            "restore_failed",
            format!(
                "Postgres error {}: {}",
                c.code(),
                e.as_db_error().map_or("", |d| d.message())
            ),
        ),
        None if e.is_closed() => ("target_unavailable", "the Postgres connection closed".to_owned()),
        None => (
            "target_unavailable",
            "Postgres cannot be reached (check host, port and TLS)".to_owned(),
        ),
    };
    Error::Restore { code, message: plain }
}

async fn postgres_columns(
    client: &tokio_postgres::Client,
    tables: &Tables,
) -> Result<(HashSet<String>, HashSet<String>)> {
    let mut out = Vec::new();
    for table in [&tables.conversations, &tables.messages] {
        let (schema, name) = schema_and_table(table);
        let rows = client
            .query(
                "select column_name::text from information_schema.columns where table_schema = $1 and table_name = $2",
                &[&schema, &name],
            )
            .await
            .map_err(pg_error)?;
        if rows.is_empty() {
            return Err(Error::Restore {
                code: "missing_table",
                message: format!("table {table} does not exist in Postgres (or this user cannot see it)"),
            });
        }
        out.push(rows.iter().map(|r| r.get::<_, String>(0)).collect::<HashSet<_>>());
    }
    let msgs = out.pop().expect("two tables");
    Ok((out.pop().expect("two tables"), msgs))
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

async fn postgres_conversation_exists(client: &tokio_postgres::Client, tables: &Tables, plan: &Plan) -> Result<bool> {
    let t = quote_ident(&tables.conversations);
    let k = quote_ident(&tables.conflict_key);
    let row = json!({ tables.conflict_key.clone(): plan.id }).to_string();
    let sql =
        format!("select count(*) from {t} c, jsonb_populate_record(null::{t}, $1::text::jsonb) r where c.{k} = r.{k}");
    let n: i64 = client.query_one(&sql, &[&row]).await.map_err(pg_error)?.get(0);
    Ok(n > 0)
}

async fn postgres_count_messages(client: &tokio_postgres::Client, tables: &Tables, plan: &Plan) -> Result<u64> {
    let t = quote_ident(&tables.messages);
    let row = json!({ "conversation_id": plan.id }).to_string();
    let sql = format!(
        "select count(*) from {t} m, jsonb_populate_record(null::{t}, $1::text::jsonb) r where m.conversation_id = r.conversation_id"
    );
    let n: i64 = client.query_one(&sql, &[&row]).await.map_err(pg_error)?.get(0);
    Ok(n as u64)
}

/// Everything in one transaction: an error anywhere rolls all of it back.
async fn postgres_write(
    client: &mut tokio_postgres::Client,
    tables: &Tables,
    plan: &Plan,
    options: &RestoreOptions,
) -> Result<Written> {
    let tx = client.transaction().await.map_err(pg_error)?;
    let result = async {
        let conv_rows = Value::Array(vec![Value::Object(plan.conversation.clone())]).to_string();
        let conversation_inserted = tx
            .execute(
                &insert_sql(&tables.conversations, &plan.conversation_columns, &tables.conflict_key),
                &[&conv_rows],
            )
            .await
            .map_err(pg_error)?
            > 0;
        if options.fault_after_conversation {
            return Err(injected_fault());
        }
        let mut messages_inserted = 0;
        if !plan.messages.is_empty() {
            let sql = insert_sql(&tables.messages, &plan.message_columns, &tables.conflict_key);
            for chunk in plan.messages.chunks(CHUNK) {
                let rows = serde_json::to_string(chunk).expect("rows serialize");
                messages_inserted += tx.execute(&sql, &[&rows]).await.map_err(pg_error)?;
            }
        }
        Ok(Written {
            conversation_inserted,
            messages_inserted,
        })
    }
    .await;
    match result {
        Ok(written) => {
            tx.commit().await.map_err(pg_error)?;
            Ok(written)
        }
        Err(e) => {
            // Roll back now rather than on drop, so the server releases the
            // rows at once (a dropped transaction only queues the rollback).
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

/// TLS for Postgres with libpq's `sslmode=require` meaning: encrypted, the
/// certificate not checked (Supabase's database certificates come from its
/// own CA, which no system store holds).
mod tls {
    use std::sync::Arc;

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{DigitallySignedStruct, SignatureScheme};

    #[derive(Debug)]
    struct EncryptOnly(Arc<rustls::crypto::CryptoProvider>);

    impl ServerCertVerifier for EncryptOnly {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
        }
        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
        }
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    pub fn connector() -> tokio_postgres_rustls::MakeRustlsConnect {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("default TLS versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
            .with_no_client_auth();
        tokio_postgres_rustls::MakeRustlsConnect::new(config)
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
        assert_eq!(quote_ident("public.messages"), "\"public\".\"messages\"");
    }

    #[test]
    fn plan_keeps_only_known_columns_and_fills_conversation_id() {
        let doc = ConversationDocument::from_value(
            "k",
            json!({"conversation": {"id": "c", "title": "t", "mood": "x"},
                   "messages": [{"id": "m1", "content": "a", "sticker": 1}, {"id": "m2", "role": "user"}]}),
        )
        .unwrap();
        let conv: HashSet<String> = ["id", "title"].map(String::from).into();
        let msg: HashSet<String> = ["id", "conversation_id", "content", "role"].map(String::from).into();
        let plan = Plan::new(&doc, &conv, &msg);
        assert_eq!(plan.dropped.conversations, ["mood"]);
        assert_eq!(plan.dropped.messages, ["sticker"]);
        assert_eq!(plan.messages[0]["conversation_id"], "c");
        assert_eq!(plan.message_columns, ["content", "conversation_id", "id", "role"]);
    }

    #[test]
    fn rest_errors_are_plain_and_coded() {
        let e = rest_error("writing", 401, &json!({"message": "JWSError"}));
        assert_eq!(e.code(), "target_auth");
        let e = rest_error(
            "writing",
            401,
            &json!({"code": "42501", "message": "new row violates row-level security"}),
        );
        assert_eq!(e.code(), "target_permission");
        let e = rest_error("writing", 403, &json!({"code": "42501"}));
        assert!(e.to_string().contains("service-role"));
        assert_eq!(
            rest_error("x", 404, &json!({"code": "PGRST205"})).code(),
            "missing_table"
        );
        assert_eq!(rest_error("x", 503, &Value::Null).code(), "target_unavailable");
    }
}
