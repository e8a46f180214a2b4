//! Supabase REST (PostgREST) as a restore target: column discovery from
//! the OpenAPI description, `?columns=` bulk inserts that skip rows already
//! there, compensation on failure or cancel, or one call to the RPC
//! function; rows read back by key for verification.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::plan::Plan;
use super::verify;
use super::{cancelled_error, check_identifier, injected_fault, RestoreOptions, Stored, Tables, Timeouts, CHUNK};
use crate::error::{Error, RestoreFailure, Result};
use crate::secret::Secret;
use crate::CancellationToken;

pub(super) mod query;
mod rpc;

use query::{in_list, in_lists, key_groups, select_list, select_name};

/// The messages' column naming their conversation (the foreign key).
const CONVERSATION_COLUMN: &str = "conversation_id";
/// Rows in one answer: Supabase's default `max-rows`.
const ONE_ANSWER: u64 = 1000;

/// A Supabase project URL: `https://`, or `http://` only to this machine
/// (the key travels in every request).
pub fn check_project_url(url: &str) -> Result<()> {
    let parsed = reqwest::Url::parse(url).map_err(|_| {
        Error::Config(format!(
            "Supabase URL {url:?} is not a URL (https://<project>.supabase.co)"
        ))
    })?;
    let loopback = crate::loopback::is_loopback_host(parsed.host_str().unwrap_or(""));
    match parsed.scheme() {
        "https" if parsed.host().is_some() => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(Error::Config(format!(
            "Supabase URL {url:?}: http:// would send the service key unencrypted; use https:// \
             (http:// is accepted only for 127.0.0.1, ::1 or localhost)"
        ))),
        _ => Err(Error::Config(format!("Supabase URL {url:?} must start with https://"))),
    }
}

pub struct RestTarget {
    http: reqwest::Client,
    /// `{project_url}/rest/v1`
    base: String,
    key: Secret,
    tables: Tables,
    rpc_function: Option<String>,
}

fn http_client(timeouts: &Timeouts) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(timeouts.connect)
        .timeout(timeouts.request)
        .build()
        .map_err(|e| Error::Internal(format!("HTTP client: {e}")))
}

impl RestTarget {
    pub fn new(project_url: &str, key: Secret, tables: Tables, rpc_function: Option<String>) -> Result<Self> {
        if let Some(f) = &rpc_function {
            check_identifier("RPC function", f, false)?;
        }
        let project_url = project_url.trim_end_matches('/');
        check_project_url(project_url)?;
        Ok(RestTarget {
            http: http_client(&Timeouts::default())?,
            base: format!("{project_url}/rest/v1"),
            key,
            tables,
            rpc_function,
        })
    }

    pub(super) fn with_timeouts(mut self, timeouts: Timeouts) -> Result<Self> {
        self.http = http_client(&timeouts)?;
        Ok(self)
    }

    pub(super) fn tables(&self) -> &Tables {
        &self.tables
    }

    pub(super) fn rpc_function(&self) -> Option<&str> {
        self.rpc_function.as_deref()
    }

    /// What identifies this target's tables in the column cache (never the key).
    pub(super) fn cache_key(&self) -> String {
        format!(
            "rest {} {}|{}|{}",
            self.base, self.tables.conversations, self.tables.messages, self.tables.conflict_key
        )
    }

    /// Legacy keys are JWTs and go in `apikey` and `Authorization`; the new
    /// `sb_secret_...` keys go in `apikey` only.
    pub(super) fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
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

    fn transport_error(&self, what: &str, e: &reqwest::Error) -> Error {
        let why = if e.is_timeout() {
            "did not answer in time"
        } else if e.is_connect() {
            "cannot be reached"
        } else {
            "request failed"
        };
        Error::Restore {
            failure: RestoreFailure::TargetUnavailable,
            message: format!("{what}: Supabase at {} {why}", self.base),
        }
    }

    pub(super) async fn send(&self, what: &str, req: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        let resp = req.send().await.map_err(|e| self.transport_error(what, &e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        Err(rest_error(what, status, &body))
    }

    /// The body of a successful answer as JSON.
    pub(super) async fn json(&self, what: &str, resp: reqwest::Response) -> Result<Value> {
        resp.json().await.map_err(|e| Error::Restore {
            failure: RestoreFailure::TargetUnavailable,
            message: format!("{what}: Supabase's answer could not be read ({e})"),
        })
    }

    pub(super) async fn columns(&self) -> Result<(HashSet<String>, HashSet<String>)> {
        let what = "reading the table columns";
        let resp = self
            .send(
                what,
                self.request(reqwest::Method::GET, "")
                    .header("Accept", "application/openapi+json"),
            )
            .await?;
        let api = self.json(what, resp).await?;
        let cols = |table: &str| -> Result<HashSet<String>> {
            api["definitions"][table]["properties"]
                .as_object()
                .map(|p| p.keys().cloned().collect())
                .ok_or_else(|| Error::Restore {
                    failure: RestoreFailure::MissingTable,
                    message: format!("table {table} does not exist in Supabase (or the key cannot see it)"),
                })
        };
        Ok((cols(&self.tables.conversations)?, cols(&self.tables.messages)?))
    }

    /// What the messages table holds of conversation `id` before the
    /// inserts: the keys (for telling an unanswered insert's rows) and how
    /// many. One request while they fit in one answer (a first restore:
    /// none); past that, ours are read by key, a request per list, at once.
    async fn messages_before(&self, id: &str, message_keys: &[Value]) -> Result<(HashSet<String>, u64)> {
        let key = &self.tables.conflict_key;
        let (rows, total) = self
            .counted(
                "reading the conversation's messages in Supabase",
                self.request(reqwest::Method::GET, &self.tables.messages)
                    .query(&[(CONVERSATION_COLUMN, format!("eq.{id}")), ("select", select_name(key))])
                    .header("Range-Unit", "items")
                    .header("Range", format!("0-{}", ONE_ANSWER - 1)),
            )
            .await?;
        if rows.len() as u64 >= total {
            let keys = rows.iter().filter_map(|r| r.get(key).map(verify::key_text)).collect();
            return Ok((keys, total));
        }
        Ok((
            self.present_keys(&self.tables.messages, message_keys, None).await?,
            total,
        ))
    }

    /// A read's rows and how many rows match it in all (`count=exact`):
    /// more than came back when the server's `max-rows` cut the answer.
    pub(super) async fn counted(&self, what: &str, req: reqwest::RequestBuilder) -> Result<(Vec<Value>, u64)> {
        let resp = self.send(what, req.header("Prefer", "count=exact")).await?;
        // Content-Range: 0-122/123 (or */0)
        let total = resp
            .headers()
            .get("content-range")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit('/').next())
            .and_then(|n| n.parse().ok());
        match (self.json(what, resp).await?, total) {
            (Value::Array(rows), Some(total)) => Ok((rows, total)),
            _ => Err(Error::Restore {
                failure: RestoreFailure::RestoreFailed,
                message: format!("{what}: Supabase did not answer with rows and their count"),
            }),
        }
    }

    /// Insert rows, skipping ones already there; the rows inserted, as
    /// stored (`return=representation`, the `columns` and the key), which
    /// is what verifies them.
    async fn insert(
        &self,
        table: &str,
        columns: &[String],
        rows: &[Map<String, Value>],
    ) -> std::result::Result<Vec<Value>, InsertError> {
        let key = &self.tables.conflict_key;
        let what = format!("writing to {table}");
        let maybe = |error| InsertError {
            error,
            maybe_written: true,
        };
        let resp = self
            .request(reqwest::Method::POST, table)
            .query(&[
                ("columns", columns.join(",")),
                ("on_conflict", key.clone()),
                ("select", select_list(columns, key)),
            ])
            .header("Prefer", "return=representation,resolution=ignore-duplicates")
            .json(rows)
            .send()
            .await
            // Sent, perhaps: the server may be committing it still.
            .map_err(|e| maybe(self.transport_error(&what, &e)))?;
        let status = resp.status().as_u16();
        if !resp.status().is_success() {
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            let error = rest_error(&what, status, &body);
            // PostgREST's own errors roll its transaction back; a gateway's
            // (502, 503, 504) say nothing about what happened behind it.
            let maybe_written = matches!(status, 502..=504) && body.get("code").is_none();
            return Err(InsertError { error, maybe_written });
        }
        // Committed, but which rows it wrote is in the answer we could not read.
        match self.json(&what, resp).await.map_err(maybe)? {
            Value::Array(rows) => Ok(rows),
            _ => Err(maybe(Error::Restore {
                failure: RestoreFailure::RestoreFailed,
                message: format!("{what}: Supabase did not answer with the rows written"),
            })),
        }
    }

    /// The keys among `keys` that `table` holds now (of messages, only
    /// `conversation`'s when given: the server compares, as it stores).
    async fn present_keys(&self, table: &str, keys: &[Value], conversation: Option<&str>) -> Result<HashSet<String>> {
        let key = &self.tables.conflict_key;
        Ok(self
            .rows_by_key_of(table, &[], keys, conversation)
            .await?
            .iter()
            .filter_map(|r| r.get(key).map(verify::key_text))
            .collect())
    }

    /// After an insert whose outcome is unknown: the keys it wrote, when
    /// that can be told. `absent` are the keys the table (for messages: the
    /// conversation) lacked before it. One request is one statement, so it
    /// wrote all of them or none; none there yet may still be a statement
    /// under way, so only "all there" is an answer. A message key another
    /// conversation holds was skipped by the insert: never counted as
    /// written, so never taken back. Which conversation holds a key is the
    /// server's answer to our filter (it may store the id normalised, e.g.
    /// a uuid in lower case); all holders are read before ours, so a
    /// statement committing between the two reads is seen as ours.
    async fn written_by_unanswered(
        &self,
        table: &str,
        absent: &[Value],
        conversation: Option<&str>,
    ) -> Option<Vec<Value>> {
        if absent.is_empty() {
            return Some(Vec::new());
        }
        let held = self.present_keys(table, absent, None).await.ok()?;
        let ours = match conversation {
            Some(_) => self.present_keys(table, absent, conversation).await.ok()?,
            None => held.clone(),
        };
        let written: Vec<Value> = absent
            .iter()
            .filter(|k| {
                let k = verify::key_text(k);
                ours.contains(&k) || !held.contains(&k)
            })
            .cloned()
            .collect();
        written
            .iter()
            .all(|k| ours.contains(&verify::key_text(k)))
            .then_some(written)
    }

    /// Delete rows by key (compensation); messages only of `conversation`.
    async fn delete_keys(&self, table: &str, keys: &[Value], conversation: Option<&str>) -> Result<()> {
        let owner = conversation.map(|id| (CONVERSATION_COLUMN, format!("eq.{id}")));
        for list in in_lists(keys) {
            self.send(
                &format!("undoing the partial write to {table}"),
                self.request(reqwest::Method::DELETE, table)
                    .query(&[(self.tables.conflict_key.as_str(), format!("in.({list})"))])
                    .query(&owner.iter().collect::<Vec<_>>()),
            )
            .await?;
        }
        Ok(())
    }

    /// Rows of `table` with these keys, only the `columns` restored: one
    /// request per `in.(...)` list, all sent at once.
    pub(super) async fn rows_by_key(&self, table: &str, columns: &[String], keys: &[Value]) -> Result<Vec<Value>> {
        self.rows_by_key_of(table, columns, keys, None).await
    }

    /// [`Self::rows_by_key`], of messages only `conversation`'s when given.
    async fn rows_by_key_of(
        &self,
        table: &str,
        columns: &[String],
        keys: &[Value],
        conversation: Option<&str>,
    ) -> Result<Vec<Value>> {
        let select = select_list(columns, &self.tables.conflict_key);
        let groups = key_groups(keys);
        let pages = futures::future::try_join_all(
            groups
                .into_iter()
                .map(|group| self.rows_of_group(table, &select, group, conversation)),
        )
        .await?;
        Ok(pages.into_iter().flatten().collect())
    }

    /// One `in.(...)` list's rows. A server whose `max-rows` is below the
    /// list's length answers with part of them: the list is asked again
    /// in parts of what it answered with, so no row is missed.
    fn rows_of_group<'a>(
        &'a self,
        table: &'a str,
        select: &'a str,
        keys: &'a [Value],
        conversation: Option<&'a str>,
    ) -> futures::future::BoxFuture<'a, Result<Vec<Value>>> {
        Box::pin(async move {
            let what = format!("reading the restored rows of {table} back");
            let owner = conversation.map(|id| (CONVERSATION_COLUMN, format!("eq.{id}")));
            let req = self
                .request(reqwest::Method::GET, table)
                .query(&[
                    (self.tables.conflict_key.as_str(), format!("in.({})", in_list(keys))),
                    ("select", select.to_owned()),
                ])
                .query(&owner.iter().collect::<Vec<_>>());
            let (rows, total) = self.counted(&what, req).await?;
            if rows.len() as u64 >= total {
                return Ok(rows);
            }
            if rows.is_empty() {
                return Err(Error::Restore {
                    failure: RestoreFailure::RestoreFailed,
                    message: format!("{what}: Supabase counted {total} rows but answered with none"),
                });
            }
            let mut all = Vec::new();
            for part in keys.chunks(rows.len()) {
                all.extend(self.rows_of_group(table, select, part, conversation).await?);
            }
            Ok(all)
        })
    }

    /// The conversation row (if asked) and the messages with these keys,
    /// as stored; every request at once.
    async fn read_back(
        &self,
        plan: &Plan,
        conversation: bool,
        message_keys: &[Value],
    ) -> Result<(Vec<Value>, Vec<Value>)> {
        let key = &self.tables.conflict_key;
        let conv_key = [plan.conversation.get(key).cloned().unwrap_or(Value::Null)];
        let conv = async {
            if conversation {
                self.rows_by_key(&self.tables.conversations, &plan.conversation_columns, &conv_key)
                    .await
            } else {
                Ok(Vec::new())
            }
        };
        let msgs = async {
            if message_keys.is_empty() {
                Ok(Vec::new())
            } else {
                self.rows_by_key(&self.tables.messages, &plan.message_columns, message_keys)
                    .await
            }
        };
        futures::future::try_join(conv, msgs).await
    }

    /// Plain REST: the conversation, then the messages (the foreign key
    /// orders them), each insert answering with the rows it wrote; only
    /// rows that were already there are read back. What the table holds
    /// before the messages go in is read beside the conversation's insert,
    /// so no request waits for it. On any failure or cancel what this
    /// attempt inserted is deleted again.
    pub(super) async fn restore_plain(
        &self,
        plan: &Plan,
        options: &RestoreOptions,
        cancel: &CancellationToken,
    ) -> Result<Stored> {
        if cancel.is_cancelled() {
            return Err(cancelled_error(&plan.id));
        }
        let key = self.tables.conflict_key.as_str();
        let conv_key = vec![plan.conversation.get(key).cloned().unwrap_or(Value::Null)];
        let message_keys = plan.message_keys(key);
        // A request under way is never abandoned for a cancel (its insert
        // could still commit after we undo); a cancel is honoured between
        // requests. A request that times out or loses its answer may have
        // committed: its rows are looked for, to be undone too; when that
        // cannot be told, nothing is undone and the error says so (a second
        // restore completes the first, whatever it did).
        let (conv, conv_before, msgs_before) = tokio::join!(
            self.insert(
                &self.tables.conversations,
                &plan.conversation_columns,
                std::slice::from_ref(&plan.conversation),
            ),
            self.present_keys(&self.tables.conversations, &conv_key, None),
            self.messages_before(&plan.id, &message_keys),
        );
        let conv_rows = match conv {
            Ok(rows) => rows,
            Err(InsertError {
                error,
                maybe_written: false,
            }) => return Err(error),
            Err(InsertError { error, .. }) => {
                // Read beside the insert, "absent" is certain; "present"
                // may be the insert's own row.
                let Ok(before) = conv_before else {
                    return Err(state_unknown(&plan.id, &error));
                };
                if !before.is_empty() {
                    return Err(state_unknown(&plan.id, &error));
                }
                let Some(conv) = self
                    .written_by_unanswered(&self.tables.conversations, &conv_key, None)
                    .await
                else {
                    return Err(state_unknown(&plan.id, &error));
                };
                let undo = self.delete_keys(&self.tables.conversations, &conv, None).await;
                return Err(match undo {
                    Ok(()) => error,
                    Err(undo_err) => undo_failed(&error, &undo_err),
                });
            }
        };
        let conv_inserted: Vec<Value> = conv_rows.iter().filter_map(|r| r.get(key).cloned()).collect();
        let mut inserted_messages: Vec<Value> = Vec::new();
        let mut message_rows: Vec<Value> = Vec::new();
        let result: std::result::Result<u64, InsertError> = async {
            let certain = |error| InsertError {
                error,
                maybe_written: false,
            };
            let (msgs_before, count_before) = msgs_before.map_err(certain)?;
            if options.fault_after_conversation() {
                return Err(certain(injected_fault()));
            }
            if cancel.is_cancelled() {
                return Err(certain(cancelled_error(&plan.id)));
            }
            // The chunks go at once; each is a statement of its own, and
            // all are awaited before anything is decided.
            let chunks: Vec<&[Map<String, Value>]> = plan.messages.chunks(CHUNK).collect();
            let answers = futures::future::join_all(
                chunks
                    .iter()
                    .map(|chunk| self.insert(&self.tables.messages, &plan.message_columns, chunk)),
            )
            .await;
            let mut failed = None;
            for (chunk, answer) in chunks.iter().zip(answers) {
                match answer {
                    Ok(rows) => {
                        inserted_messages.extend(rows.iter().filter_map(|r| r.get(key).cloned()));
                        message_rows.extend(rows);
                    }
                    Err(e) if e.maybe_written => {
                        // Which keys the conversation lacked before: if it
                        // holds them now, this attempt wrote them.
                        let absent: Vec<Value> = chunk
                            .iter()
                            .map(|m| m.get(key).cloned().unwrap_or(Value::Null))
                            .filter(|k| !msgs_before.contains(&verify::key_text(k)))
                            .collect();
                        match self
                            .written_by_unanswered(&self.tables.messages, &absent, Some(&plan.id))
                            .await
                        {
                            Some(written) => {
                                inserted_messages.extend(written);
                                failed.get_or_insert(certain(e.error));
                            }
                            // Unknown beats a certain failure: nothing is undone.
                            None => failed = Some(e),
                        }
                    }
                    Err(e) => {
                        failed.get_or_insert(e);
                    }
                }
            }
            if let Some(e) = failed {
                return Err(e);
            }
            // A cancel during the last request still counts: it came before
            // the restore was done.
            if cancel.is_cancelled() {
                return Err(certain(cancelled_error(&plan.id)));
            }
            Ok(count_before)
        }
        .await;
        let count_before = match result {
            Ok(n) => n,
            Err(InsertError { error, maybe_written }) => {
                if maybe_written {
                    return Err(state_unknown(&plan.id, &error));
                }
                // Never leave a half restore: take back what this attempt wrote.
                let undo = async {
                    self.delete_keys(&self.tables.messages, &inserted_messages, Some(&plan.id))
                        .await?;
                    self.delete_keys(&self.tables.conversations, &conv_inserted, None).await
                }
                .await;
                return Err(match undo {
                    Ok(()) => error,
                    Err(undo_err) => undo_failed(&error, &undo_err),
                });
            }
        };
        // Verified from the inserts' answers; what was there already is read.
        let written: HashSet<String> = inserted_messages.iter().map(verify::key_text).collect();
        let unwritten: Vec<Value> = message_keys
            .into_iter()
            .filter(|k| !written.contains(&verify::key_text(k)))
            .collect();
        let (old_conv, old_msgs) = self.read_back(plan, conv_rows.is_empty(), &unwritten).await?;
        let messages_inserted = inserted_messages.len() as u64;
        Ok(Stored {
            conversation_inserted: !conv_inserted.is_empty(),
            messages_inserted,
            conversation: conv_rows.into_iter().chain(old_conv).collect(),
            messages: message_rows.into_iter().chain(old_msgs).collect(),
            // Before the inserts, plus what they added.
            messages_in_table: count_before + messages_inserted,
        })
    }
}

/// An insert's error, and whether the server may have written it anyway
/// (no answer in time, a gateway's error, an answer that could not be read).
struct InsertError {
    error: Error,
    maybe_written: bool,
}

fn state_unknown(id: &str, error: &Error) -> Error {
    Error::Restore {
        failure: RestoreFailure::RestoreFailed,
        message: format!(
            "{error}; whether Supabase wrote that part cannot be told, so conversation {id} may be partly restored: \
             run the restore again to complete it (rows already there are kept, nothing is doubled)"
        ),
    }
}

fn undo_failed(error: &Error, undo_err: &Error) -> Error {
    Error::Restore {
        failure: RestoreFailure::RestoreFailed,
        message: format!(
            "{error}; undoing the partial write also failed ({undo_err}): run the restore again to complete it"
        ),
    }
}

/// A PostgREST / gateway error in plain words (never the key).
pub(super) fn rest_error(what: &str, status: u16, body: &Value) -> Error {
    let code = body["code"].as_str().unwrap_or("");
    let detail = body["message"].as_str().unwrap_or("");
    let (failure, plain) = match (status, code) {
        (_, "55P03" | "57014") => (
            RestoreFailure::TargetBusy,
            format!(
                "Supabase stopped the statement ({detail}): the rows are locked by another session or the write \
                 took longer than the database's statement timeout; try again later"
            ),
        ),
        (403, _) | (_, "42501") => (
            RestoreFailure::TargetPermission,
            "permission denied: this key cannot write these tables (an anon or authenticated key is blocked by row-level security; use the service-role key)".to_owned(),
        ),
        (401, _) | (_, "PGRST301" | "PGRST302") => (
            RestoreFailure::TargetAuth,
            "Supabase rejected the key: check the service-role (or sb_secret_) key of this project".to_owned(),
        ),
        // A column the request names is not in the table (or not in
        // PostgREST's schema cache).
        (_, "PGRST204" | "42703") => (
            RestoreFailure::MissingColumns,
            format!("a column is not in the table ({detail})"),
        ),
        (404, _) | (_, "PGRST205" | "42P01" | "PGRST202") => {
            (RestoreFailure::MissingTable, format!("the table or function does not exist ({detail})"))
        }
        (409, _) => (RestoreFailure::TargetConflict, format!("a conflicting row exists ({detail})")),
        (s, _) if s >= 500 => (RestoreFailure::TargetUnavailable, format!("Supabase had a server error (HTTP {s}): {detail}")),
        (s, _) => (RestoreFailure::RestoreFailed, format!("Supabase refused the request (HTTP {s} {code}): {detail}")),
    };
    Error::Restore {
        failure,
        message: format!("{what}: {plain}"),
    }
}

#[cfg(test)]
mod tests;
