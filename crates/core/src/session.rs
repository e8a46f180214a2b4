//! `Session`: an open archive (its store) plus the policy that applies to
//! it — read-only or not, the profile name, the audit log. Every action that
//! changes or copies data goes through here, so the read-only rule is
//! enforced in the core and every action leaves exactly one audit line,
//! whichever front end (CLI, desktop, tests) called it.

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

    /// Record the outcome of `action`, then hand the result back. If the
    /// record cannot be written the caller hears about it: an action must
    /// not look done without its audit line.
    pub(crate) fn record<T>(
        &self,
        action: &str,
        subject: &Subject,
        result: Result<T>,
        detail: impl FnOnce(&T) -> Map<String, Value>,
    ) -> Result<T> {
        let (outcome, error_code, detail) = match &result {
            Ok(v) => ("ok", None, detail(v)),
            Err(e) => ("error", Some(e.code().to_owned()), Map::new()),
        };
        self.audit.append(&AuditRecord {
            time: audit::now_rfc3339(),
            os_user: audit::os_user(),
            profile: self.profile.clone(),
            bucket: self.store.bucket().to_owned(),
            action: action.to_owned(),
            user_email: subject.email.clone(),
            user_folder: subject.folder.as_ref().map(|f| f.to_string()),
            conversation_ids: subject.ids.clone(),
            outcome: outcome.to_owned(),
            error_code,
            detail,
        })?;
        result
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
        self.record("export", &subject, result, to_map)
    }

    /// Permanently delete conversations of one user (every version) and
    /// their index entries. Confirmation is the caller's job.
    pub async fn delete(&self, user: &str, ids: &[&str]) -> Result<DeleteReport> {
        let subject = Subject::new(user, ids);
        let result = async {
            self.refuse_if_read_only("delete")?;
            let folder = subject.folder(user)?;
            let ids = subject.ids()?;
            if ids.is_empty() {
                return Err(Error::Config("no conversation ids given".into()));
            }
            delete::delete_conversations(&self.store, &folder, &ids).await
        }
        .await;
        self.record("delete", &subject, result, to_map)
    }

    /// Restore one conversation into `target`. With `remove_from_archive`,
    /// and only once the restore is verified (every restored row read back
    /// and equal to the archive), the conversation is then deleted from the
    /// archive (every version, and its index entry). `cancel` stops it
    /// before its write is committed, leaving nothing written.
    pub async fn restore(
        &self,
        user: &str,
        id: &str,
        target: &Target,
        options: &RestoreOptions,
        remove_from_archive: bool,
        cancel: &CancellationToken,
    ) -> Result<RestoreReport> {
        let subject = Subject::new(user, &[id]);
        let result = async {
            self.refuse_if_read_only("restore")?;
            let folder = subject.folder(user)?;
            let cid = ConversationId::parse(id)?;
            let opened = self.store.get_conversation(&folder, &cid).await?;
            let mut report = restore::restore(target, &opened.document, options, cancel).await?;
            if remove_from_archive {
                if !report.verified {
                    return Err(not_verified(&report));
                }
                report.removed_from_archive = Some(delete::delete_conversations(&self.store, &folder, &[cid]).await?);
            }
            Ok(report)
        }
        .await;
        // The differences hold message content: the report shows them, the
        // audit log only counts them.
        self.record("restore", &subject, result, |r| {
            let mut m = to_map(r);
            m.remove("differences");
            m
        })
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

    /// Verify, then repair what was found.
    pub async fn repair(&self, user: &str) -> Result<(Verification, RepairReport)> {
        let mut subject = Subject::new(user, &[]);
        let result = async {
            self.refuse_if_read_only("repair")?;
            let folder = subject.folder(user)?;
            let v = integrity::verify(&self.store, &folder, 8).await?;
            let report = integrity::repair(&self.store, &folder, &v).await?;
            Ok((v, report))
        }
        .await;
        if let Ok((v, _)) = &result {
            subject.ids = v
                .dangling_entries
                .iter()
                .chain(v.unindexed_objects.iter().map(|u| &u.conversation_id))
                .cloned()
                .collect();
            if subject.email.is_none() {
                subject.email = v.user_email.clone();
            }
        }
        self.record("repair", &subject, result, |(_, r)| to_map(r))
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
