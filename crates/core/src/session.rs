//! `Session`: an open archive (its store) plus the policy that applies to
//! it — read-only or not, the profile name, the audit log. Every action that
//! changes or copies data goes through here, so the read-only rule is
//! enforced in the core and every action is in the audit log, whichever
//! front end (CLI, desktop, tests) called it: one record after an export,
//! a thaw or a plain restore; an `intent` record before and the outcome
//! after an irreversible step (delete, restore-and-remove, repair), so
//! that step is never taken without a trace.

use std::path::Path;

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::audit::{self, AuditLog, AuditRecord};
use crate::codec::{self, Encoding};
use crate::cold::{self, ColdStatus, ThawTier};
use crate::delete::{self, DeleteReport};
use crate::error::{Error, Result};
use crate::integrity::{self, RepairReport, Verification};
use crate::layout::{ConversationId, ObjectKind, UserFolder};
use crate::restore::{self, RestoreOptions, RestoreReport, Target};
use crate::store::Store;
use crate::CancellationToken;

#[derive(Clone)]
pub struct Session {
    pub store: Store,
    pub read_only: bool,
    pub profile: Option<String>,
    pub audit: AuditLog,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    pub key: String,
    pub path: String,
    pub encoding: Encoding,
    pub messages: usize,
}

/// The result of an irreversible action. `audit_warning` is set when the
/// action was done but its outcome record could not be written (its intent
/// record is in the log): the action is reported as done, with that warning.
/// Serializes as the value's fields plus `audit_warning` when set.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize)]
pub struct Audited<T> {
    #[serde(flatten)]
    pub value: T,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub audit_warning: Option<String>,
}

impl<T> Audited<T> {
    pub fn into_inner(self) -> T {
        self.value
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Audited<U> {
        Audited {
            value: f(self.value),
            audit_warning: self.audit_warning,
        }
    }
}

impl<T> std::ops::Deref for Audited<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

/// Who an action is about, as the person named them.
pub(crate) struct Subject {
    folder: Option<UserFolder>,
    pub(crate) email: Option<String>,
    ids: Vec<String>,
}

impl Subject {
    pub(crate) fn new(user: &str, ids: &[&str]) -> Self {
        Subject {
            folder: UserFolder::from_user_arg(user).ok(),
            email: user.contains('@').then(|| user.to_owned()),
            ids: ids.iter().map(|s| s.to_string()).collect(),
        }
    }

    pub(crate) fn folder(&self, user: &str) -> Result<UserFolder> {
        match &self.folder {
            Some(f) => Ok(f.clone()),
            None => UserFolder::from_user_arg(user),
        }
    }

    fn ids(&self) -> Result<Vec<ConversationId>> {
        self.ids.iter().map(|i| ConversationId::parse(i)).collect()
    }
}

impl Session {
    pub fn new(store: Store, audit: AuditLog) -> Self {
        Session {
            store,
            read_only: false,
            profile: None,
            audit,
        }
    }

    fn refuse_if_read_only(&self, action: &'static str) -> Result<()> {
        if self.read_only {
            Err(Error::ReadOnly { action })
        } else {
            Ok(())
        }
    }

    fn audit_record(&self, action: &str, subject: &Subject, operation: Option<&str>) -> AuditRecord {
        AuditRecord {
            seq: None,
            prev: None,
            operation: operation.map(str::to_owned),
            time: audit::now_rfc3339(),
            os_user: audit::os_user(),
            profile: self.profile.clone(),
            bucket: self.store.bucket().to_owned(),
            action: action.to_owned(),
            user_email: subject.email.clone(),
            user_folder: subject.folder.as_ref().map(|f| f.to_string()),
            conversation_ids: subject.ids.clone(),
            outcome: String::new(),
            error_code: None,
            detail: Map::new(),
        }
    }

    fn outcome_record<T>(
        &self,
        action: &str,
        subject: &Subject,
        operation: Option<&str>,
        result: &Result<T>,
        detail: impl FnOnce(&T) -> Map<String, Value>,
    ) -> AuditRecord {
        let mut record = self.audit_record(action, subject, operation);
        match result {
            Ok(v) => {
                record.outcome = "ok".into();
                record.detail = detail(v);
            }
            Err(e) => {
                record.outcome = "error".into();
                record.error_code = Some(e.code().to_owned());
            }
        }
        record
    }

    /// Record the outcome of `action` (one that can be repeated or undone:
    /// export, thaw, plain restore, or a refusal before anything was done),
    /// then hand the result back. If the record cannot be written the
    /// caller hears about it: an action must not look done without its
    /// audit line.
    pub(crate) async fn record<T>(
        &self,
        action: &str,
        subject: &Subject,
        result: Result<T>,
        detail: impl FnOnce(&T) -> Map<String, Value>,
    ) -> Result<T> {
        let record = self.outcome_record(action, subject, None, &result, detail);
        let written = self.audit.append_off_runtime(record).await;
        match (result, written) {
            (Ok(value), Ok(())) => Ok(value),
            (Ok(_), Err(e)) => Err(e),
            // The action's own error stays what the caller sees (a refusal
            // stays `read_only`), with the audit failure in its message.
            (Err(e), Ok(())) => Err(e),
            (Err(e), Err(audit)) => Err(e.unaudited(&audit)),
        }
    }

    /// Record an action refused before anything was done; the error to report.
    async fn refusal(&self, action: &str, subject: &Subject, e: Error) -> Error {
        self.record(action, subject, Err::<(), _>(e), |_| Map::new())
            .await
            .unwrap_err()
    }

    /// Before an irreversible step: write its intent, or refuse the step
    /// (the error names the log) when the log cannot be written. Returns
    /// the operation id that links the intent to its outcome.
    async fn record_intent(&self, action: &'static str, subject: &Subject) -> Result<String> {
        let operation = format!("{:016x}", fastrand::u64(..));
        let mut record = self.audit_record(action, subject, Some(&operation));
        record.outcome = "intent".into();
        self.audit
            .append_off_runtime(record)
            .await
            .map_err(|e| Error::AuditUnwritable {
                action,
                path: self.audit.path().to_owned(),
                reason: e.to_string(),
            })?;
        Ok(operation)
    }

    /// After an irreversible step: write its outcome. A step that was done
    /// stays done even if this write fails (its intent is in the log); the
    /// result then carries a warning instead of turning into a failure.
    async fn record_outcome<T>(
        &self,
        operation: &str,
        action: &str,
        subject: &Subject,
        result: Result<T>,
        detail: impl FnOnce(&T) -> Map<String, Value>,
    ) -> Result<Audited<T>> {
        let record = self.outcome_record(action, subject, Some(operation), &result, detail);
        let written = self.audit.append_off_runtime(record).await;
        let value = match (result, &written) {
            (Ok(value), _) => value,
            (Err(e), Ok(())) => return Err(e),
            (Err(e), Err(audit)) => return Err(e.unaudited(audit)),
        };
        Ok(Audited {
            value,
            audit_warning: written.err().map(|e| {
                format!(
                    "{action} done, but its outcome could not be added to the audit log ({e}); \
                     the log has its intent (operation {operation})"
                )
            }),
        })
    }

    /// Export one conversation's stored document to `path` (atomically).
    pub async fn export(&self, user: &str, id: &str, path: &Path, encoding: Encoding) -> Result<ExportReport> {
        let subject = Subject::new(user, &[id]);
        let result = async {
            let folder = subject.folder(user)?;
            let id = ConversationId::parse(id)?;
            let opened = self.store.get_conversation(&folder, &id).await?;
            codec::write_file_atomic(path, &opened.document, encoding)?;
            let messages = opened.document.messages().len();
            Ok(ExportReport {
                key: opened.key,
                path: path.display().to_string(),
                encoding,
                messages,
            })
        }
        .await;
        self.record("export", &subject, result, to_map).await
    }

    /// Permanently delete conversations of one user (every version) and
    /// their index entries. Confirmation is the caller's job. Refused
    /// before anything is deleted when the audit log cannot be written.
    pub async fn delete(&self, user: &str, ids: &[&str]) -> Result<Audited<DeleteReport>> {
        let subject = Subject::new(user, ids);
        let checked = (|| -> Result<_> {
            self.refuse_if_read_only("delete")?;
            let folder = subject.folder(user)?;
            let ids = subject.ids()?;
            if ids.is_empty() {
                return Err(Error::Config("no conversation ids given".into()));
            }
            Ok((folder, ids))
        })();
        let (folder, ids) = match checked {
            Ok(v) => v,
            Err(e) => return Err(self.refusal("delete", &subject, e).await),
        };
        let operation = self.record_intent("delete", &subject).await?;
        let result = delete::delete_conversations(&self.store, &folder, &ids).await;
        if result.is_ok() {
            self.forget_in_catalog(&folder, &ids).await;
        }
        self.record_outcome(&operation, "delete", &subject, result, to_map)
            .await
    }

    /// The search catalog this session keeps right: the profile's, else the
    /// bucket's (the name both front ends open it by).
    pub fn catalog_name(&self) -> &str {
        self.profile.as_deref().unwrap_or(self.store.bucket())
    }

    /// Deleted conversations leave the search catalog at once, whichever
    /// front end deleted them. A cache: if this fails, the next sync drops
    /// them anyway, so a failure here never fails the delete.
    async fn forget_in_catalog(&self, folder: &UserFolder, ids: &[ConversationId]) {
        let (name, folder) = (self.catalog_name().to_owned(), folder.clone());
        let ids: Vec<String> = ids.iter().map(|i| i.as_str().to_owned()).collect();
        let _ = tokio::task::spawn_blocking(move || {
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            crate::catalog::forget_deleted(&name, &folder, &ids)
        })
        .await;
    }

    /// Restore one conversation into `target`. With `remove_from_archive`,
    /// and only once the restore is verified (every restored row read back
    /// and equal to the archive), the conversation is then deleted from the
    /// archive (every version, and its index entry): then the whole restore
    /// is an irreversible operation (intent first). `cancel` stops it before
    /// its write is committed, leaving nothing written.
    pub async fn restore(
        &self,
        user: &str,
        id: &str,
        target: &Target,
        options: &RestoreOptions,
        remove_from_archive: bool,
        cancel: &CancellationToken,
    ) -> Result<Audited<RestoreReport>> {
        let subject = Subject::new(user, &[id]);
        let operation = if remove_from_archive {
            if let Err(e) = self.refuse_if_read_only("restore") {
                return Err(self.refusal("restore", &subject, e).await);
            }
            Some(self.record_intent("restore", &subject).await?)
        } else {
            None
        };
        let result = async {
            self.refuse_if_read_only("restore")?;
            let folder = subject.folder(user)?;
            let cid = ConversationId::parse(id)?;
            let opened = self.store.get_conversation(&folder, &cid).await?;
            let mut report = restore::restore(target, &opened.document, options, cancel).await?;
            if remove_from_archive {
                if let Some(why) = why_it_stays(&report, cancel) {
                    return Err(why);
                }
                let removed = delete::delete_conversations(&self.store, &folder, std::slice::from_ref(&cid))
                    .await
                    .map_err(|e| Error::KeptInArchive {
                        conversation_id: report.conversation_id.clone(),
                        error: Box::new(e),
                    })?;
                self.forget_in_catalog(&folder, &[cid]).await;
                report.removed_from_archive = Some(removed);
            }
            Ok(report)
        }
        .await;
        // The differences hold message content: the report shows them, the
        // audit log only counts them.
        let detail = |r: &RestoreReport| {
            let mut m = to_map(r);
            m.remove("differences");
            m
        };
        match operation {
            Some(operation) => {
                self.record_outcome(&operation, "restore", &subject, result, detail)
                    .await
            }
            None => self
                .record("restore", &subject, result, detail)
                .await
                .map(|value| Audited {
                    value,
                    audit_warning: None,
                }),
        }
    }

    /// Request a restore of a cold conversation; returns its status after.
    pub async fn thaw(&self, user: &str, id: &str, days: i32, tier: ThawTier) -> Result<ColdStatus> {
        let subject = Subject::new(user, &[id]);
        let result = async {
            self.refuse_if_read_only("thaw")?;
            let key = self
                .conversation_key(&subject.folder(user)?, &ConversationId::parse(id)?)
                .await?;
            cold::request(&self.store, &key, days, tier).await?;
            cold::status(&self.store, &key).await
        }
        .await;
        self.record("thaw", &subject, result, |s| {
            let mut m = to_map(s);
            m.insert("days".into(), json!(days));
            m.insert("tier".into(), json!(tier));
            m
        })
        .await
    }

    /// Cold-storage status of a conversation (read-only; not audited).
    pub async fn cold_status(&self, user: &str, id: &str) -> Result<ColdStatus> {
        let key = self
            .conversation_key(&UserFolder::from_user_arg(user)?, &ConversationId::parse(id)?)
            .await?;
        cold::status(&self.store, &key).await
    }

    /// Check one user's folder (read-only; not audited).
    pub async fn verify(&self, user: &str) -> Result<Verification> {
        integrity::verify(&self.store, &UserFolder::from_user_arg(user)?, 8).await
    }

    /// Verify, then repair what was found: the verification only reads;
    /// the repair is irreversible, so its intent (naming the entries it
    /// will touch) is written first.
    pub async fn repair(&self, user: &str) -> Result<Audited<(Verification, RepairReport)>> {
        let mut subject = Subject::new(user, &[]);
        let checked = async {
            self.refuse_if_read_only("repair")?;
            let folder = subject.folder(user)?;
            let v = integrity::verify(&self.store, &folder, 8).await?;
            Ok::<_, Error>((folder, v))
        }
        .await;
        let (folder, v) = match checked {
            Ok(v) => v,
            Err(e) => return Err(self.refusal("repair", &subject, e).await),
        };
        subject.ids = v
            .dangling_entries
            .iter()
            .chain(v.unindexed_objects.iter().map(|u| &u.conversation_id))
            .cloned()
            .collect();
        if subject.email.is_none() {
            subject.email = v.user_email.clone();
        }
        let operation = self.record_intent("repair", &subject).await?;
        let result = integrity::repair(&self.store, &folder, &v).await.map(|r| (v, r));
        self.record_outcome(&operation, "repair", &subject, result, |(_, r)| to_map(r))
            .await
    }

    /// The key of a conversation's object, from one listing of the folder.
    async fn conversation_key(&self, folder: &UserFolder, id: &ConversationId) -> Result<String> {
        self.store
            .list_objects(folder)
            .await?
            .into_iter()
            .find(|o| matches!(self.store.classify(folder, &o.key), ObjectKind::Conversation { id: found, .. } if &found == id))
            .map(|o| o.key)
            .ok_or_else(|| Error::NotFound {
                key: self.store.layout().conversation_key(folder, id, false),
            })
    }
}

/// Why a restore that did not verify keeps the archive copy: where the
/// tables differ (tables, row ids, fields — never values).
/// Why a restored conversation must not leave the archive: the rows differ
/// from it, fields were left out (they would then exist nowhere), or the
/// person cancelled before the removal.
fn why_it_stays(report: &RestoreReport, cancel: &CancellationToken) -> Option<Error> {
    if !report.verified {
        return Some(not_verified(report));
    }
    let dropped: Vec<String> = (report
        .dropped_fields
        .conversations
        .iter()
        .map(|f| format!("conversations.{f}")))
    .chain(report.dropped_fields.messages.iter().map(|f| format!("messages.{f}")))
    .collect();
    if !dropped.is_empty() {
        return Some(Error::Restore {
            code: "not_verified",
            message: format!(
                "conversation {}: restored without {} (the tables lack them); those fields exist only in the \
                 archive, so it stays there",
                report.conversation_id,
                dropped.join(", ")
            ),
        });
    }
    cancel.is_cancelled().then(|| Error::Cancelled {
        what: format!(
            "conversation {} was restored; its removal from the archive",
            report.conversation_id
        ),
    })
}

fn not_verified(report: &RestoreReport) -> Error {
    let shown: Vec<String> = report
        .differences
        .iter()
        .take(10)
        .map(|d| format!("{}.{} of row {}", d.table, d.field, d.row_id))
        .collect();
    let more = report.differences_count.saturating_sub(shown.len() as u64);
    Error::Restore {
        code: "not_verified",
        message: format!(
            "conversation {}: the tables do not hold what the archive holds ({} difference{}: {}{}); it stays in \
             the archive",
            report.conversation_id,
            report.differences_count,
            if report.differences_count == 1 { "" } else { "s" },
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            },
        ),
    }
}

fn to_map<T: Serialize>(v: &T) -> Map<String, Value> {
    match serde_json::to_value(v) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{CredentialSource, StoreConfig};
    use crate::{AuditFilter, Secret};

    /// A session whose store is never contacted (the tests only record).
    async fn session(audit: AuditLog) -> Session {
        let mut config = StoreConfig::new("bucket");
        config.region = Some("us-east-1".into());
        config.endpoint = Some("http://127.0.0.1:9".into());
        config.credentials = CredentialSource::Static {
            access_key_id: "id".into(),
            secret_access_key: Secret::new("never-used".to_owned()),
        };
        Session::new(Store::connect(config).await.unwrap(), audit)
    }

    #[tokio::test]
    async fn an_outcome_that_cannot_be_written_leaves_a_done_action_done() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::at(dir.path().join("audit.jsonl"));
        let s = session(log.clone()).await;
        let subject = Subject::new("a@x.io", &["c1"]);
        let operation = s.record_intent("delete", &subject).await.unwrap();
        // The log becomes unwritable after the intent: a directory in its place.
        std::fs::rename(log.path(), dir.path().join("kept.jsonl")).unwrap();
        std::fs::create_dir(log.path()).unwrap();

        let done = s
            .record_outcome(&operation, "delete", &subject, Ok(7u32), |_| Map::new())
            .await
            .unwrap();
        assert_eq!(done.value, 7, "reported as done");
        let warning = done.audit_warning.expect("a warning");
        assert!(
            warning.contains(&operation) && warning.contains("audit.jsonl"),
            "{warning}"
        );
        // A failed action keeps its own error.
        let err = s
            .record_outcome::<u32>(
                &operation,
                "delete",
                &subject,
                Err(Error::NotFound { key: "k".into() }),
                |_| Map::new(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), "not_found");
        // ... and says that its outcome is missing from the log too.
        let message = err.to_string();
        assert!(
            message.starts_with("k: not found") && message.contains("audit.jsonl"),
            "{message}"
        );

        let kept = AuditLog::at(dir.path().join("kept.jsonl"))
            .read(&AuditFilter::default())
            .unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(
            (kept[0].outcome.as_str(), kept[0].operation.as_deref()),
            ("intent", Some(operation.as_str()))
        );
    }

    #[tokio::test]
    async fn a_refusal_keeps_its_code_when_the_log_cannot_be_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        std::fs::create_dir(&path).unwrap();
        let mut s = session(AuditLog::at(&path)).await;
        s.read_only = true;
        let err = s.delete("a@x.io", &["c1"]).await.unwrap_err();
        assert_eq!(err.code(), "read_only");
        let message = err.to_string();
        assert!(
            message.contains("delete is not allowed") && message.contains(&path.display().to_string()),
            "{message}"
        );
        let err = s.repair("a@x.io").await.unwrap_err();
        assert_eq!(err.code(), "read_only");
        // A plain action that failed: its own error, not the log's.
        s.read_only = false;
        let err = s
            .export("a@x.io", "../escape", &dir.path().join("out.json"), Encoding::Plain)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid_name", "{err}");
        assert!(err.to_string().contains("audit.jsonl"), "{err}");
    }

    #[tokio::test]
    async fn an_intent_that_cannot_be_written_refuses_and_names_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        std::fs::create_dir(&path).unwrap();
        let s = session(AuditLog::at(&path)).await;
        let err = s
            .record_intent("delete", &Subject::new("a@x.io", &["c1"]))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "audit_unwritable");
        assert!(err.to_string().contains(&path.display().to_string()), "{err}");
    }
}
