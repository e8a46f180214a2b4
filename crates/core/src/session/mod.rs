//! `Session`: an open archive (its store) plus the policy that applies to
//! it — read-only or not, the profile name, the audit log. Every action that
//! changes or copies data goes through here, so the read-only rule is
//! enforced in the core and every action is in the audit log, whichever
//! front end (CLI, desktop, tests) called it: one record after an export,
//! a thaw or a plain restore; an `intent` record before and the outcome
//! after an irreversible step (delete, restore-and-remove, repair), so
//! that step is never taken without a trace.

mod bulk;
mod erase;
mod record;

use std::path::Path;

use serde::Serialize;
use serde_json::json;

use crate::audit::AuditLog;
use crate::bounds::ThawDays;
use crate::codec::{self, Encoding};
use crate::cold::{self, ColdStatus, ThawTier};
use crate::delete::{self, DeleteReport};
use crate::error::{Error, RestoreFailure, Result};
use crate::integrity::{self, RepairReport, Verification};
use crate::layout::{ConversationId, ObjectKind, UserFolder};
use crate::restore::{self, RestoreOptions, RestoreReport, Target};
use crate::store::Store;
use crate::CancellationToken;

pub use bulk::{BulkItem, BulkOutcome, BulkProgress, BulkRestoreReport, PreviewItem, Selection};
pub use erase::ErasureReport;
use record::to_map;
pub use record::Audited;
pub(crate) use record::Subject;

/// An open archive and its policy. Its fields are private and set once, by
/// `Session::new` / `Session::builder` (or `Profiles::open`, which uses
/// them): nothing can make a read-only session writable afterwards.
#[derive(Clone)]
pub struct Session {
    store: Store,
    read_only: bool,
    profile: Option<String>,
    audit: AuditLog,
}

/// How a `Session` is made when it is more than a writable session without
/// a profile: read-only, and the profile it was opened from (recorded in
/// the audit log, and the name of its search catalog).
pub struct SessionBuilder {
    session: Session,
}

impl SessionBuilder {
    /// Refuse every write (delete, repair, thaw, restore).
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.session.read_only = read_only;
        self
    }

    /// The profile the session was opened from.
    pub fn profile(mut self, name: impl Into<String>) -> Self {
        self.session.profile = Some(name.into());
        self
    }

    pub fn build(self) -> Session {
        self.session
    }
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    pub key: String,
    pub path: String,
    pub encoding: Encoding,
    pub messages: usize,
}

impl Session {
    /// A writable session without a profile.
    pub fn new(store: Store, audit: AuditLog) -> Self {
        Session::builder(store, audit).build()
    }

    pub fn builder(store: Store, audit: AuditLog) -> SessionBuilder {
        SessionBuilder {
            session: Session {
                store,
                read_only: false,
                profile: None,
                audit,
            },
        }
    }

    /// The archive: reads go through it directly (browse, catalog sync);
    /// writes go through the session's methods.
    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// The profile the session was opened from, if any.
    pub fn profile(&self) -> Option<&str> {
        self.profile.as_deref()
    }

    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    fn refuse_if_read_only(&self, action: &'static str) -> Result<()> {
        if self.read_only {
            Err(Error::ReadOnly { action })
        } else {
            Ok(())
        }
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
                return Err(Error::InvalidInput("no conversation ids given".into()));
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
        crate::catalog::catalog_name(self.profile.as_deref(), self.store.bucket())
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
    pub async fn thaw(&self, user: &str, id: &str, days: ThawDays, tier: ThawTier) -> Result<ColdStatus> {
        let subject = Subject::new(user, &[id]);
        let result = async {
            self.refuse_if_read_only("thaw")?;
            let key = self
                .conversation_key(&subject.folder(user)?, &ConversationId::parse(id)?)
                .await?;
            // At most 365: an i32 for the SDK.
            cold::request(&self.store, &key, days.get() as i32, tier).await?;
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
            failure: RestoreFailure::NotVerified,
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
        failure: RestoreFailure::NotVerified,
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
