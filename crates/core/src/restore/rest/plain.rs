//! Plain REST as the restore: the conversation's insert with the reads
//! of what is there before sent beside it, then the message chunks at
//! once, each answering with the rows it wrote; compensation that deletes
//! what the attempt wrote on failure or cancel, an unanswered insert's
//! rows looked for first.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::query::{in_lists, select_list, select_name};
use super::{of_conversation, rest_error, RestTarget, ONE_ANSWER};
use crate::error::{Error, RestoreFailure, Result};
use crate::restore::plan::Plan;
use crate::restore::{cancelled_error, injected_fault, verify, RestoreOptions, Stored, CHUNK};
use crate::CancellationToken;

impl RestTarget {
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
                    .query(&[of_conversation(id), ("select", select_name(key))])
                    .header("Range-Unit", "items")
                    .header("Range", format!("0-{}", ONE_ANSWER - 1)),
            )
            .await?;
        if rows.len() as u64 >= total {
            let keys = rows.iter().filter_map(|r| r.get(key).map(verify::key_text)).collect();
            return Ok((keys, total));
        }
        Ok((
            self.present_keys(&self.tables.messages, message_keys, Some(id)).await?,
            total,
        ))
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
            .rows_by_key_of(
                &format!("reading which rows {table} holds"),
                table,
                &[],
                keys,
                conversation,
            )
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
        let owner = conversation.map(of_conversation);
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

    /// Plain REST: the conversation, then the messages (the foreign key
    /// orders them), each insert answering with the rows it wrote; only
    /// rows that were already there are read back. What the table holds
    /// before the messages go in is read beside the conversation's insert,
    /// so no request waits for it. On any failure or cancel what this
    /// attempt inserted is deleted again.
    pub(in crate::restore) async fn restore_plain(
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
