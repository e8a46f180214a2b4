//! The audit trail of a session's actions: one record after an action that
//! can be repeated or undone; an `intent` before an irreversible step and
//! its outcome after, linked by one operation id. How a failed write of the
//! log shapes what the caller sees is decided here, once.

use serde::Serialize;
use serde_json::{Map, Value};

use super::Session;
use crate::audit::{self, AuditRecord};
use crate::error::{Error, Result};
use crate::layout::{ConversationId, UserFolder};

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
    pub(super) ids: Vec<String>,
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

    pub(super) fn ids(&self) -> Result<Vec<ConversationId>> {
        self.ids.iter().map(|i| ConversationId::parse(i)).collect()
    }
}

impl Session {
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
                record.error_code = Some(e.code().as_str().to_owned());
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
    pub(super) async fn refusal(&self, action: &str, subject: &Subject, e: Error) -> Error {
        self.record(action, subject, Err::<(), _>(e), |_| Map::new())
            .await
            .unwrap_err()
    }

    /// Before an irreversible step: write its intent, or refuse the step
    /// (the error names the log) when the log cannot be written. Returns
    /// the operation id that links the intent to its outcome.
    pub(super) async fn record_intent(&self, action: &'static str, subject: &Subject) -> Result<String> {
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
    pub(super) async fn record_outcome<T>(
        &self,
        operation: &str,
        action: &str,
        subject: &Subject,
        result: Result<T>,
        detail: impl FnOnce(&T) -> Map<String, Value>,
    ) -> Result<Audited<T>> {
        self.record_outcome_with_code(operation, action, subject, result, detail, |_| None)
            .await
    }

    /// [`record_outcome`](Self::record_outcome) for a step whose value can
    /// report its own failure (an erasure stopped half-way still has a
    /// receipt): when `failed` gives a code, the record is an `error` with
    /// that code, and keeps the value's detail.
    pub(super) async fn record_outcome_with_code<T>(
        &self,
        operation: &str,
        action: &str,
        subject: &Subject,
        result: Result<T>,
        detail: impl FnOnce(&T) -> Map<String, Value>,
        failed: impl FnOnce(&T) -> Option<String>,
    ) -> Result<Audited<T>> {
        let mut record = self.outcome_record(action, subject, Some(operation), &result, detail);
        if let Some(code) = result.as_ref().ok().and_then(failed) {
            record.outcome = "error".into();
            record.error_code = Some(code);
        }
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
}

/// A value's fields as an audit record's `detail`.
pub(super) fn to_map<T: Serialize>(v: &T) -> Map<String, Value> {
    match serde_json::to_value(v) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::AuditLog;
    use crate::codec::Encoding;
    use crate::store::{CredentialSource, Store, StoreConfig};
    use crate::{AuditFilter, Secret};

    /// A store that is never contacted (the tests only record).
    async fn store() -> Store {
        let mut config = StoreConfig::new("bucket");
        config.region = Some("us-east-1".into());
        config.endpoint = Some("http://127.0.0.1:9".into());
        config.credentials = CredentialSource::Static {
            access_key_id: "id".into(),
            secret_access_key: Secret::new("never-used".to_owned()),
        };
        Store::connect(config).await.unwrap()
    }

    async fn session(audit: AuditLog) -> Session {
        Session::new(store().await, audit)
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
        let s = Session::builder(store().await, AuditLog::at(&path))
            .read_only(true)
            .build();
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
        let s = session(AuditLog::at(&path)).await;
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
