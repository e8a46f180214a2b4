//! Whole-customer restores: several conversations of one user (named, all
//! of them, or those archived in a date range) restored as one task, each
//! through `Session::restore` (its own audit record), then one
//! `restore_batch` record for the batch. Resumable by construction: a
//! restore skips rows already there, so running the same batch again after
//! a kill or a cancel finishes what is left and doubles nothing. Also the
//! read-only views a restore is decided on: live status and the preview.

use futures::StreamExt;
use serde::Serialize;
use serde_json::json;
use tokio::sync::watch;

use super::{Audited, Session, Subject};
use crate::browse;
use crate::error::{Error, ErrorReport, Result};
use crate::layout::{ConversationId, UserFolder};
use crate::restore::{self, LiveStatus, RestoreOptions, RestorePreview, RestoreReport, Target};
use crate::CancellationToken;

/// Conversations restored at once.
const CONCURRENCY: usize = 4;

/// Which of a user's conversations a bulk restore takes.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Selection {
    /// These conversations, in this order.
    Ids { ids: Vec<String> },
    /// Every conversation with an object in the archive, those archived
    /// (else created) from `since` to `until` (`YYYY-MM-DD`, both included)
    /// when given.
    All {
        since: Option<String>,
        until: Option<String>,
    },
}

/// What happened to one conversation of a bulk restore.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BulkOutcome {
    /// Rows were written.
    Restored,
    /// Everything was in the tables already.
    AlreadyThere,
    Failed,
    /// Not started (cancelled first); nothing was written for it.
    NotRun,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize)]
pub struct BulkItem {
    pub conversation_id: String,
    pub outcome: BulkOutcome,
    pub conversation_inserted: bool,
    pub messages_inserted: u64,
    pub messages_already_present: u64,
    /// Fields of rows already there that differ from the archive (kept).
    pub differences_count: u64,
    pub verified: bool,
    /// Why it failed.
    pub error: Option<ErrorReport>,
}

impl BulkItem {
    fn new(conversation_id: &str, outcome: BulkOutcome) -> BulkItem {
        BulkItem {
            conversation_id: conversation_id.to_owned(),
            outcome,
            conversation_inserted: false,
            messages_inserted: 0,
            messages_already_present: 0,
            differences_count: 0,
            verified: false,
            error: None,
        }
    }

    fn from_result(id: &str, result: Result<Audited<RestoreReport>>) -> BulkItem {
        match result {
            Ok(done) => {
                let r = &done.value;
                let wrote = r.conversation_inserted || r.messages_inserted > 0;
                BulkItem {
                    outcome: if wrote {
                        BulkOutcome::Restored
                    } else {
                        BulkOutcome::AlreadyThere
                    },
                    conversation_inserted: r.conversation_inserted,
                    messages_inserted: r.messages_inserted,
                    messages_already_present: r.messages_already_present,
                    differences_count: r.differences_count,
                    verified: r.verified,
                    ..BulkItem::new(id, BulkOutcome::Restored)
                }
            }
            // A cancel before the write leaves nothing: not run.
            Err(e @ Error::Cancelled { .. }) => BulkItem {
                error: Some(ErrorReport::from(&e)),
                ..BulkItem::new(id, BulkOutcome::NotRun)
            },
            Err(e) => BulkItem {
                error: Some(ErrorReport::from(&e)),
                ..BulkItem::new(id, BulkOutcome::Failed)
            },
        }
    }
}

/// Counts so far, for a progress bar.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct BulkProgress {
    pub total: u64,
    pub done: u64,
    pub restored: u64,
    pub already_there: u64,
    pub failed: u64,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize)]
pub struct BulkRestoreReport {
    pub user: String,
    /// One row per conversation, in the order selected.
    pub conversations: Vec<BulkItem>,
    pub restored: u64,
    pub already_there: u64,
    pub failed: u64,
    pub not_run: u64,
    pub cancelled: bool,
    pub duration_ms: u64,
}

impl BulkRestoreReport {
    fn count(&self, outcome: BulkOutcome) -> u64 {
        self.conversations.iter().filter(|c| c.outcome == outcome).count() as u64
    }
}

/// One conversation's preview, or why it could not be made.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize)]
pub struct PreviewItem {
    pub conversation_id: String,
    pub preview: Option<RestorePreview>,
    pub error: Option<ErrorReport>,
}

/// `YYYY-MM-DD`, checked.
fn check_date(flag: &str, date: &str) -> Result<()> {
    let b = date.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let ok = b.len() == 10 && b[4] == b'-' && b[7] == b'-' && digits(0..4) && digits(5..7) && digits(8..10);
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "{flag} {date:?}: use a date as YYYY-MM-DD"
        )))
    }
}

impl Session {
    /// One conversation of a batch: restored (its own audit record), or
    /// not run when the batch was cancelled first.
    async fn bulk_item(
        &self,
        user: &str,
        id: String,
        target: &Target,
        options: &RestoreOptions,
        cancel: &CancellationToken,
        progress: &watch::Sender<BulkProgress>,
    ) -> BulkItem {
        if cancel.is_cancelled() {
            return BulkItem::new(&id, BulkOutcome::NotRun);
        }
        let result = self.restore(user, &id, target, options, false, cancel).await;
        let item = BulkItem::from_result(&id, result);
        progress.send_modify(|p| {
            p.done += 1;
            match item.outcome {
                BulkOutcome::Restored => p.restored += 1,
                BulkOutcome::AlreadyThere => p.already_there += 1,
                BulkOutcome::Failed => p.failed += 1,
                BulkOutcome::NotRun => {}
            }
        });
        item
    }

    /// The conversation ids a selection names, checked.
    pub async fn select_conversations(&self, user: &str, selection: &Selection) -> Result<Vec<String>> {
        match selection {
            Selection::Ids { ids } => {
                if ids.is_empty() {
                    return Err(Error::InvalidInput("no conversation ids given".into()));
                }
                for id in ids {
                    ConversationId::parse(id)?;
                }
                Ok(ids.clone())
            }
            Selection::All { since, until } => {
                for (flag, date) in [("--since", since), ("--until", until)] {
                    if let Some(d) = date {
                        check_date(flag, d)?;
                    }
                }
                let folder = UserFolder::from_user_arg(user)?;
                let listed = browse::user_conversations(&self.store, &folder).await?;
                Ok(listed
                    .conversations
                    .into_iter()
                    .filter(|r| r.in_store)
                    .filter(|r| {
                        if since.is_none() && until.is_none() {
                            return true;
                        }
                        let Some(day) = r.archived_at.as_deref().or(r.created_at.as_deref()) else {
                            return false;
                        };
                        let day = day.get(..10).unwrap_or(day);
                        since.as_deref().is_none_or(|s| day >= s) && until.as_deref().is_none_or(|u| day <= u)
                    })
                    .map(|r| r.conversation_id)
                    .collect())
            }
        }
    }

    /// Whether each of the user's archived conversations is in `target`
    /// now (read in batches; reads only, not audited).
    pub async fn live_status(&self, user: &str, target: &Target) -> Result<Vec<LiveStatus>> {
        let folder = UserFolder::from_user_arg(user)?;
        let listed = browse::user_conversations(&self.store, &folder).await?;
        let wanted: Vec<(String, Option<u64>)> = listed
            .conversations
            .into_iter()
            .map(|r| (r.conversation_id, r.message_count))
            .collect();
        target.live_status(&wanted).await
    }

    /// What restoring one conversation would do (reads only, not audited).
    pub async fn preview_restore(
        &self,
        user: &str,
        id: &str,
        target: &Target,
        allow_missing_columns: bool,
    ) -> Result<RestorePreview> {
        let folder = UserFolder::from_user_arg(user)?;
        let opened = self
            .store
            .get_conversation(&folder, &ConversationId::parse(id)?)
            .await?;
        restore::preview(target, &opened.document, allow_missing_columns).await
    }

    /// The preview of every selected conversation (a dry run).
    pub async fn preview_many(
        &self,
        user: &str,
        selection: &Selection,
        target: &Target,
        allow_missing_columns: bool,
    ) -> Result<Vec<PreviewItem>> {
        let ids = self.select_conversations(user, selection).await?;
        Ok(futures::stream::iter(ids)
            .map(|id| async move {
                let result = self.preview_restore(user, &id, target, allow_missing_columns).await;
                PreviewItem {
                    conversation_id: id,
                    error: result.as_ref().err().map(ErrorReport::from),
                    preview: result.ok(),
                }
            })
            .buffered(CONCURRENCY)
            .collect()
            .await)
    }

    /// Restore the selected conversations of `user` into `target`, a few
    /// at a time. They stay in the archive (removing after a restore is
    /// done one conversation at a time, `Session::restore`). A failure is that conversation's row of the report, not
    /// the end of the batch; `cancel` stops the restores under way before
    /// their write (nothing left half-done) and those not started.
    pub async fn restore_many(
        &self,
        user: &str,
        selection: &Selection,
        target: &Target,
        options: &RestoreOptions,
        cancel: &CancellationToken,
        progress: &watch::Sender<BulkProgress>,
    ) -> Result<BulkRestoreReport> {
        let started = std::time::Instant::now();
        let checked = async {
            self.refuse_if_read_only("restore")?;
            self.select_conversations(user, selection).await
        }
        .await;
        let ids = match checked {
            Ok(ids) => ids,
            Err(e) => return Err(self.refusal("restore_batch", &Subject::new(user, &[]), e).await),
        };
        progress.send_replace(BulkProgress {
            total: ids.len() as u64,
            ..BulkProgress::default()
        });
        // Futures made up front from owned ids: a closure over borrowed
        // ids makes the whole future not `Send` for every lifetime, which
        // the app's commands need.
        let restores: Vec<_> = ids
            .iter()
            .cloned()
            .map(|id| self.bulk_item(user, id, target, options, cancel, progress))
            .collect();
        let conversations: Vec<BulkItem> = futures::stream::iter(restores).buffered(CONCURRENCY).collect().await;
        let mut report = BulkRestoreReport {
            user: user.to_owned(),
            conversations,
            restored: 0,
            already_there: 0,
            failed: 0,
            not_run: 0,
            cancelled: cancel.is_cancelled(),
            duration_ms: started.elapsed().as_millis() as u64,
        };
        report.restored = report.count(BulkOutcome::Restored);
        report.already_there = report.count(BulkOutcome::AlreadyThere);
        report.failed = report.count(BulkOutcome::Failed);
        report.not_run = report.count(BulkOutcome::NotRun);
        let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let subject = Subject::new(user, &id_refs);
        // The batch's record counts; each conversation has its own record.
        self.record("restore_batch", &subject, Ok(report), |r| {
            let mut m = serde_json::Map::new();
            for (k, v) in [
                ("restored", r.restored),
                ("already_there", r.already_there),
                ("failed", r.failed),
                ("not_run", r.not_run),
            ] {
                m.insert(k.into(), json!(v));
            }
            m.insert("cancelled".into(), json!(r.cancelled));
            m
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_checked() {
        assert!(check_date("--since", "2024-03-01").is_ok());
        for bad in ["2024-3-1", "20240301", "2024-03-01T00", "yyyy-mm-dd", ""] {
            assert_eq!(check_date("--since", bad).unwrap_err().code(), "invalid_input", "{bad}");
        }
    }

    #[test]
    fn a_cancelled_restore_is_not_run_and_a_failure_keeps_its_reason() {
        let cancelled = BulkItem::from_result("c", Err(Error::Cancelled { what: "x".into() }));
        assert_eq!(cancelled.outcome, BulkOutcome::NotRun);
        let failed = BulkItem::from_result("c", Err(Error::NotFound { key: "k".into() }));
        assert_eq!(failed.outcome, BulkOutcome::Failed);
        assert_eq!(failed.error.unwrap().code.as_str(), "not_found");
    }
}
