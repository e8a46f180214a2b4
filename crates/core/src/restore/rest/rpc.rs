//! The RPC function as the restore: its two-argument form (one request,
//! one transaction, the rows as stored in the answer), called through
//! `{function}_v3` (the same, taking the request body whole) when the
//! database has it, and the older one-argument form (the call, then the
//! rows read back).

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use super::{rest_error, RestTarget};
use crate::error::{Error, RestoreFailure, Result};
use crate::model::ConversationDocument;
use crate::restore::plan::Plan;
use crate::restore::{cancelled_error, RestoreOptions, Stored};
use crate::CancellationToken;

/// The RPC call's body: `{"archive": {...}, "options": {...}}`, borrowing
/// the document.
#[derive(serde::Serialize)]
struct RpcBody<'a> {
    archive: RpcArchive<'a>,
    options: RpcOptions,
}

#[derive(serde::Serialize)]
struct RpcArchive<'a> {
    conversation: &'a Map<String, Value>,
    messages: Vec<&'a Map<String, Value>>,
}

#[derive(serde::Serialize)]
struct RpcOptions {
    allow_missing_columns: bool,
}

impl RestTarget {
    /// Restore with the RPC function's two-argument form: one request, one
    /// transaction, which checks the archive's fields against the columns
    /// itself and answers with the rows as stored. `None` when the database
    /// has only the one-argument form (nothing was written): then the
    /// caller restores the older way.
    pub(in crate::restore) async fn restore_rpc(
        &self,
        function: &str,
        doc: &ConversationDocument,
        options: &RestoreOptions,
        cancel: &CancellationToken,
    ) -> Result<Option<(Plan, Stored)>> {
        let id = doc.id();
        // Every archive field: the function refuses (or, allowed, leaves
        // out) those without a column.
        // Serialised straight from the document (no copy of it as a `Value`).
        let body = serde_json::to_vec(&RpcBody {
            archive: RpcArchive {
                conversation: doc.conversation().map(),
                messages: doc.messages().map(|m| m.map()).collect(),
            },
            options: RpcOptions {
                allow_missing_columns: options.allow_missing_columns,
            },
        })
        .map_err(|e| Error::Internal(format!("the archive of conversation {id} as JSON: {e}")))?;
        // `{function}_v3` first: one unnamed `jsonb`, which PostgREST hands
        // the body as it came (one parse in the database, where named
        // arguments cost a second); then the two-argument form, for a
        // database set up by an earlier version. Each answers "no such
        // function" without writing anything when it is not there.
        let mut answer = None;
        for name in [format!("{function}_v3"), function.to_owned()] {
            if let Some(out) = self.call_rpc(&name, body.clone(), id, cancel).await? {
                answer = Some((name, out));
                break;
            }
        }
        let Some((name, mut out)) = answer else {
            return Ok(None);
        };
        if out["version"] != 2 {
            return Err(Error::Restore {
                failure: RestoreFailure::RestoreFailed,
                message: format!("calling {name}: the answer is not the two-argument form's (no \"version\": 2)"),
            });
        }
        let names = |v: &Value| -> HashSet<String> {
            v.as_array()
                .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
                .unwrap_or_default()
        };
        let (dropped_c, dropped_m) = (
            names(&out["dropped"]["conversations"]),
            names(&out["dropped"]["messages"]),
        );
        let conv_cols: HashSet<String> = doc
            .conversation()
            .map()
            .keys()
            .filter(|k| !dropped_c.contains(*k))
            .cloned()
            .collect();
        // The function fills `conversation_id` in; the plan does too, to
        // verify it.
        let msg_cols: HashSet<String> = doc
            .messages()
            .flat_map(|m| m.map().keys())
            .chain(std::iter::once(&"conversation_id".to_owned()))
            .filter(|k| !dropped_m.contains(*k))
            .cloned()
            .collect();
        let plan = Plan::new(doc, &conv_cols, &msg_cols);
        let stored = Stored {
            conversation_inserted: out["conversation_inserted"].as_u64() == Some(1),
            messages_inserted: out["messages_inserted"].as_u64().unwrap_or(0),
            conversation: match out["conversation"].take() {
                Value::Null => Vec::new(),
                row => vec![row],
            },
            messages: match out["messages"].take() {
                Value::Array(rows) => rows,
                _ => Vec::new(),
            },
            messages_in_table: out["messages_present"].as_u64().unwrap_or(0),
        };
        Ok(Some((plan, stored)))
    }

    /// One call of `function` with `body`: its answer, or `None` when the
    /// database has no such function (nothing was written).
    async fn call_rpc(
        &self,
        function: &str,
        body: Vec<u8>,
        id: &str,
        cancel: &CancellationToken,
    ) -> Result<Option<Value>> {
        // One call, one transaction: once sent it commits or fails as a
        // whole, so a cancel from here on has nothing to undo.
        if cancel.is_cancelled() {
            return Err(cancelled_error(id));
        }
        let what = format!("calling {function}");
        // `columns` names the arguments, so PostgREST passes the body on
        // as it is instead of parsing it to find them (~9 ms of PostgREST's
        // CPU per 1,000 messages).
        let resp = self
            .request(
                reqwest::Method::POST,
                &format!("rpc/{function}?columns=archive,options"),
            )
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| self.transport_error(&what, &e))?;
        if !resp.status().is_success() {
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            // No such function (PostgREST's word, or Postgres's while
            // PostgREST's schema cache still lists a dropped one): nothing
            // was written.
            if body["code"] == "PGRST202" || body["code"] == "42883" {
                return Ok(None);
            }
            if body["hint"] == "archive-desk: missing columns" {
                return Err(Error::Restore {
                    failure: RestoreFailure::MissingColumns,
                    message: format!(
                        "conversation {id}: {}; nothing was written (add the columns, or restore without them)",
                        body["message"]
                            .as_str()
                            .unwrap_or("the target tables lack archive fields")
                    ),
                });
            }
            return Err(rest_error(&what, status, &body));
        }
        self.json(&what, resp).await.map(Some)
    }

    /// The RPC function's one-argument form (a database not upgraded yet):
    /// the call, then the rows read back.
    pub(in crate::restore) async fn restore_rpc_v1(
        &self,
        function: &str,
        plan: &Plan,
        cancel: &CancellationToken,
    ) -> Result<Stored> {
        if cancel.is_cancelled() {
            return Err(cancelled_error(&plan.id));
        }
        let payload = json!({"payload": {"conversation": plan.conversation, "messages": plan.messages}});
        let what = format!("calling {function}");
        // `columns`: as in `call_rpc`, PostgREST then leaves the body unparsed.
        let resp = self
            .send(
                &what,
                self.request(reqwest::Method::POST, &format!("rpc/{function}?columns=payload"))
                    .json(&payload),
            )
            .await?;
        let out = self.json(&what, resp).await?;
        let (conversation, messages) = self
            .read_back(plan, true, &plan.message_keys(&self.tables.conflict_key))
            .await?;
        Ok(Stored {
            conversation_inserted: out["conversation_inserted"].as_u64() == Some(1),
            messages_inserted: out["messages_inserted"].as_u64().unwrap_or(0),
            conversation,
            messages,
            messages_in_table: out["messages_present"].as_u64().unwrap_or(0),
        })
    }
}
