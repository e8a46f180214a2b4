//! Supabase REST (PostgREST) as a restore target: column discovery from
//! the OpenAPI description, `?columns=` bulk inserts that skip rows already
//! there, compensation on failure or cancel, or one call to the RPC
//! function; rows read back by key for verification.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use super::plan::Plan;
use super::verify::{self, Differences};
use super::{
    cancelled_error, check_identifier, injected_fault, Readback, RestoreOptions, Tables, Timeouts, Written, CHUNK,
};
use crate::error::{Error, RestoreFailure, Result};
use crate::secret::Secret;
use crate::CancellationToken;

pub(super) mod query;

use query::{in_lists, select_name};

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

    pub(super) async fn conversation_exists(&self, id: &str) -> Result<bool> {
        let key = &self.tables.conflict_key;
        let what = "checking for the conversation";
        let resp = self
            .send(
                what,
                self.request(reqwest::Method::GET, &self.tables.conversations)
                    .query(&[(key.as_str(), format!("eq.{id}")), ("select", key.clone())]),
            )
            .await?;
        Ok(self
            .json(what, resp)
            .await?
            .as_array()
            .is_some_and(|rows| !rows.is_empty()))
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
                failure: RestoreFailure::RestoreFailed,
                message: "Supabase did not return a message count".into(),
            })
    }

    /// Insert rows, skipping ones already there; the keys of those inserted.
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
                ("select", key.clone()),
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
        let inserted = self.json(&what, resp).await.map_err(maybe)?;
        Ok(inserted
            .as_array()
            .map(|rows| rows.iter().filter_map(|r| r.get(key).cloned()).collect())
            .unwrap_or_default())
    }

    /// The keys among `keys` that `table` holds now.
    async fn present_keys(&self, table: &str, keys: &[Value]) -> Result<HashSet<String>> {
        let key = &self.tables.conflict_key;
        Ok(self
            .rows_by_key(table, &[], keys)
            .await?
            .iter()
            .filter_map(|r| r.get(key).map(verify::key_text))
            .collect())
    }

    /// After an insert whose outcome is unknown: the keys it wrote, when
    /// that can be told. `absent` are the keys the table lacked before it.
    /// One request is one statement, so it wrote all of them or none; none
    /// there yet may still be a statement under way, so only "all there"
    /// is an answer.
    async fn written_by_unanswered(&self, table: &str, absent: &[Value]) -> Option<Vec<Value>> {
        if absent.is_empty() {
            return Some(Vec::new());
        }
        let now = self.present_keys(table, absent).await.ok()?;
        absent
            .iter()
            .all(|k| now.contains(&verify::key_text(k)))
            .then(|| absent.to_vec())
    }

    /// Delete rows by key (compensation).
    async fn delete_keys(&self, table: &str, keys: &[Value]) -> Result<()> {
        for list in in_lists(keys) {
            self.send(
                &format!("undoing the partial write to {table}"),
                self.request(reqwest::Method::DELETE, table)
                    .query(&[(self.tables.conflict_key.as_str(), format!("in.({list})"))]),
            )
            .await?;
        }
        Ok(())
    }

    /// Rows of `table` with these keys, only the `columns` restored.
    pub(super) async fn rows_by_key(&self, table: &str, columns: &[String], keys: &[Value]) -> Result<Vec<Value>> {
        let key = &self.tables.conflict_key;
        let mut select: Vec<String> = columns.iter().map(|c| select_name(c)).collect();
        if !columns.contains(key) {
            select.push(select_name(key));
        }
        let what = format!("reading the restored rows of {table} back");
        let mut rows = Vec::new();
        for list in in_lists(keys) {
            let resp = self
                .send(
                    &what,
                    self.request(reqwest::Method::GET, table)
                        .query(&[(key.as_str(), format!("in.({list})")), ("select", select.join(","))]),
                )
                .await?;
            match self.json(&what, resp).await? {
                Value::Array(found) => rows.extend(found),
                _ => {
                    return Err(Error::Restore {
                        failure: RestoreFailure::RestoreFailed,
                        message: format!("{what}: Supabase did not answer with rows"),
                    })
                }
            }
        }
        Ok(rows)
    }

    /// Read every restored row back and compare it with the archive.
    pub(super) async fn read_back(&self, plan: &Plan) -> Result<Readback> {
        let key = &self.tables.conflict_key;
        let mut differences = Differences::default();
        let conversation = self
            .rows_by_key(
                &self.tables.conversations,
                &plan.conversation_columns,
                &[plan.conversation.get(key).cloned().unwrap_or(Value::Null)],
            )
            .await?;
        differences.compare(
            &self.tables.conversations,
            key,
            std::slice::from_ref(&plan.conversation),
            &conversation,
        );
        let messages = self
            .rows_by_key(&self.tables.messages, &plan.message_columns, &plan.message_keys(key))
            .await?;
        differences.compare(&self.tables.messages, key, &plan.messages, &messages);
        Ok(Readback {
            messages_in_table: self.count_messages(&plan.id).await?,
            differences,
        })
    }

    pub(super) async fn write(
        &self,
        plan: &Plan,
        options: &RestoreOptions,
        cancel: &CancellationToken,
        conversation_before: bool,
    ) -> Result<Written> {
        if cancel.is_cancelled() {
            return Err(cancelled_error(&plan.id));
        }
        if let Some(function) = &self.rpc_function {
            // One call, one transaction: once sent it commits or fails as a
            // whole, so a cancel from here on has nothing to undo.
            let payload = json!({"payload": {"conversation": plan.conversation, "messages": plan.messages}});
            let what = format!("calling {function}");
            let resp = self
                .send(
                    &what,
                    self.request(reqwest::Method::POST, &format!("rpc/{function}"))
                        .json(&payload),
                )
                .await?;
            let out = self.json(&what, resp).await?;
            return Ok(Written {
                conversation_inserted: out["conversation_inserted"].as_u64() == Some(1),
                messages_inserted: out["messages_inserted"].as_u64().unwrap_or(0),
            });
        }

        // A request under way is never abandoned for a cancel (its insert
        // could still commit after we undo); a cancel is honoured between
        // requests. A request that times out or loses its answer may have
        // committed: its rows are looked for, to be undone too; when that
        // cannot be told, nothing is undone and the error says so (a second
        // restore completes the first, whatever it did).
        let key = self.tables.conflict_key.as_str();
        let conv = match self
            .insert(
                &self.tables.conversations,
                &plan.conversation_columns,
                std::slice::from_ref(&plan.conversation),
            )
            .await
        {
            Ok(conv) => conv,
            Err(InsertError {
                error,
                maybe_written: false,
            }) => return Err(error),
            Err(InsertError { error, .. }) => {
                let absent: Vec<Value> = if conversation_before {
                    Vec::new()
                } else {
                    vec![plan.conversation.get(key).cloned().unwrap_or(Value::Null)]
                };
                let Some(conv) = self.written_by_unanswered(&self.tables.conversations, &absent).await else {
                    return Err(state_unknown(&plan.id, &error));
                };
                let undo = self.delete_keys(&self.tables.conversations, &conv).await;
                return Err(match undo {
                    Ok(()) => error,
                    Err(undo_err) => undo_failed(&error, &undo_err),
                });
            }
        };
        let mut inserted_messages = Vec::new();
        let result: std::result::Result<(), InsertError> = async {
            let certain = |error| InsertError {
                error,
                maybe_written: false,
            };
            if options.fault_after_conversation() {
                return Err(certain(injected_fault()));
            }
            for chunk in plan.messages.chunks(CHUNK) {
                if cancel.is_cancelled() {
                    return Err(certain(cancelled_error(&plan.id)));
                }
                let keys: Vec<Value> = chunk
                    .iter()
                    .map(|m| m.get(key).cloned().unwrap_or(Value::Null))
                    .collect();
                // Which keys are not there yet: if the insert goes unanswered,
                // those found afterwards are this attempt's.
                let before = self.present_keys(&self.tables.messages, &keys).await.map_err(certain)?;
                match self.insert(&self.tables.messages, &plan.message_columns, chunk).await {
                    Ok(keys) => inserted_messages.extend(keys),
                    Err(e) if e.maybe_written => {
                        let absent: Vec<Value> = keys
                            .into_iter()
                            .filter(|k| !before.contains(&verify::key_text(k)))
                            .collect();
                        match self.written_by_unanswered(&self.tables.messages, &absent).await {
                            Some(written) => {
                                inserted_messages.extend(written);
                                return Err(certain(e.error));
                            }
                            None => return Err(e),
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
            // A cancel during the last request still counts: it came before
            // the restore was done.
            if cancel.is_cancelled() {
                return Err(certain(cancelled_error(&plan.id)));
            }
            Ok(())
        }
        .await;
        if let Err(InsertError { error, maybe_written }) = result {
            if maybe_written {
                return Err(state_unknown(&plan.id, &error));
            }
            // Never leave a half restore: take back what this attempt wrote.
            let undo = async {
                self.delete_keys(&self.tables.messages, &inserted_messages).await?;
                self.delete_keys(&self.tables.conversations, &conv).await
            }
            .await;
            return Err(match undo {
                Ok(()) => error,
                Err(undo_err) => undo_failed(&error, &undo_err),
            });
        }
        Ok(Written {
            conversation_inserted: !conv.is_empty(),
            messages_inserted: inserted_messages.len() as u64,
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
mod tests {
    use super::*;

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
        assert_eq!(
            rest_error(
                "x",
                500,
                &json!({"code": "57014", "message": "canceling statement due to statement timeout"})
            )
            .code(),
            "target_busy"
        );
    }

    #[test]
    fn http_is_only_for_loopback() {
        for ok in [
            "https://abc.supabase.co",
            "http://127.0.0.1:54321",
            "http://127.1.2.3",
            "http://localhost:8000",
            "http://[::1]:8000",
        ] {
            assert!(check_project_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com",
            "http://10.0.0.1:8000",
            "http://localhost.example.com",
            "ftp://x",
            "abc.supabase.co",
        ] {
            assert_eq!(check_project_url(bad).unwrap_err().code(), "config", "{bad}");
        }
        let e = RestTarget::new("http://example.com", Secret::new("k"), Tables::default(), None)
            .err()
            .unwrap();
        assert!(e.to_string().contains("unencrypted"), "{e}");
        assert!(RestTarget::new("http://127.0.0.1:9/", Secret::new("k"), Tables::default(), None).is_ok());
    }
}
