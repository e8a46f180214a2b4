//! Supabase REST (PostgREST) as a restore target: the requests and their
//! errors in plain words, column discovery from the OpenAPI description,
//! rows read by key (counted) for verification. The restore itself is in
//! `plain.rs` (inserts that skip rows already there, compensated) or
//! `rpc.rs` (one call to the RPC function).

use std::collections::HashSet;

use serde_json::Value;

use super::plan::Plan;
use super::{check_identifier, Tables, Timeouts};
use crate::error::{Error, RestoreFailure, Result};
use crate::secret::Secret;

mod plain;
pub(super) mod query;
mod rpc;

use query::{in_list, key_groups, select_list};

/// The messages' column naming their conversation (the foreign key).
pub(super) const CONVERSATION_COLUMN: &str = "conversation_id";
/// Rows in one answer: Supabase's default `max-rows` (a lower one cuts
/// answers shorter, which every read here notices by its count).
pub(super) const ONE_ANSWER: u64 = 1000;

/// The filter for messages of conversation `id` (the server compares, as
/// it stores the id).
fn of_conversation(id: &str) -> (&'static str, String) {
    (CONVERSATION_COLUMN, format!("eq.{id}"))
}

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

    /// Rows of `table` with these keys, only the `columns` restored: one
    /// request per `in.(...)` list, all sent at once. `what` names the read
    /// in errors.
    pub(super) async fn rows_by_key(
        &self,
        what: &str,
        table: &str,
        columns: &[String],
        keys: &[Value],
    ) -> Result<Vec<Value>> {
        self.rows_by_key_of(what, table, columns, keys, None).await
    }

    /// [`Self::rows_by_key`], of messages only `conversation`'s when given.
    async fn rows_by_key_of(
        &self,
        what: &str,
        table: &str,
        columns: &[String],
        keys: &[Value],
        conversation: Option<&str>,
    ) -> Result<Vec<Value>> {
        let select = select_list(columns, &self.tables.conflict_key);
        let pages = futures::future::try_join_all(
            key_groups(keys)
                .into_iter()
                .map(|group| self.rows_of_group(what, table, &select, group, conversation)),
        )
        .await?;
        Ok(pages.into_iter().flatten().collect())
    }

    /// One `in.(...)` list's rows. A server whose `max-rows` is below the
    /// list's length answers with part of them: the list is asked again
    /// in parts of what it answered with, all at once, so no row is missed.
    fn rows_of_group<'a>(
        &'a self,
        what: &'a str,
        table: &'a str,
        select: &'a str,
        keys: &'a [Value],
        conversation: Option<&'a str>,
    ) -> futures::future::BoxFuture<'a, Result<Vec<Value>>> {
        Box::pin(async move {
            let owner = conversation.map(of_conversation);
            let req = self
                .request(reqwest::Method::GET, table)
                .query(&[
                    (self.tables.conflict_key.as_str(), format!("in.({})", in_list(keys))),
                    ("select", select.to_owned()),
                ])
                .query(&owner.iter().collect::<Vec<_>>());
            let (rows, total) = self.counted(what, req).await?;
            if rows.len() as u64 >= total {
                return Ok(rows);
            }
            // Asking again in parts no larger than the answer would repeat
            // this request forever: more rows than keys, or none at all.
            if rows.is_empty() || keys.len() <= rows.len() {
                return Err(Error::Restore {
                    failure: RestoreFailure::RestoreFailed,
                    message: format!(
                        "{what}: Supabase counted {total} rows of {table} for {} but answered with {}: \
                         is {} not unique?",
                        crate::plural::count(keys.len() as u64, "key"),
                        rows.len(),
                        self.tables.conflict_key
                    ),
                });
            }
            let parts = futures::future::try_join_all(
                keys.chunks(rows.len())
                    .map(|part| self.rows_of_group(what, table, select, part, conversation)),
            )
            .await?;
            Ok(parts.into_iter().flatten().collect())
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
                let what = format!("reading the restored rows of {} back", self.tables.conversations);
                self.rows_by_key(&what, &self.tables.conversations, &plan.conversation_columns, &conv_key)
                    .await
            } else {
                Ok(Vec::new())
            }
        };
        let msgs = async {
            if message_keys.is_empty() {
                Ok(Vec::new())
            } else {
                let what = format!("reading the restored rows of {} back", self.tables.messages);
                self.rows_by_key(&what, &self.tables.messages, &plan.message_columns, message_keys)
                    .await
            }
        };
        futures::future::try_join(conv, msgs).await
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
