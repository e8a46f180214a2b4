//! The session's side of an erasure: the read-only rule, the receipt file
//! (made before anything is removed, so a receipt can always be saved),
//! the audit trail (an intent before, the outcome with the receipt's
//! SHA-256 after) and the search catalog; and the receipt's check.

use std::io::Write;
use std::path::Path;

use serde::Serialize;
use serde_json::{json, Map};
use tokio::sync::watch;

use super::{Audited, Session, Subject};
use crate::audit;
use crate::erase::{self, verify_receipt, EraseProgress, ErasureOutcome, ErasureReceipt, ReceiptVerification};
use crate::error::{Error, Result};
use crate::layout::ConversationId;
use crate::plural::count;
use crate::CancellationToken;

/// What an erasure did: the receipt, where it was saved and its hash.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize)]
pub struct ErasureReport {
    pub receipt: ErasureReceipt,
    pub receipt_path: String,
    /// SHA-256 (hex) of the receipt file's bytes, as the audit log has it.
    pub receipt_sha256: String,
    /// Why the receipt file could not be written (the erasure is done; the
    /// receipt is here and its hash in the audit log).
    pub receipt_error: Option<String>,
}

impl ErasureReport {
    /// Why the erasure is not complete, if it is not: something stays, it
    /// failed half-way, or its receipt could not be saved.
    pub fn problem(&self) -> Option<Error> {
        let r = &self.receipt;
        let detail = match (r.outcome, &r.error, &self.receipt_error) {
            (ErasureOutcome::Failed, Some(e), _) => format!("stopped by an error once removal had begun ({e})"),
            (ErasureOutcome::Incomplete, _, _) => {
                let kept: Vec<String> = r.kept.iter().map(|k| format!("{} ({})", k.key, k.reason)).collect();
                format!("{} stay: {}", count(r.kept.len() as u64, "object"), kept.join("; "))
            }
            (_, _, Some(e)) => format!("everything was removed, but the receipt could not be saved: {e}"),
            _ => return None,
        };
        Some(Error::ErasureIncomplete {
            receipt: self.receipt_path.clone(),
            folder: r.user_folder.clone(),
            detail,
        })
    }
}

impl Session {
    /// Erase everything of `user` (see `erase.rs`) and save the deletion
    /// receipt to `receipt_path`. Confirmation (the typed email, `--yes`) is
    /// the caller's job. Refused, with nothing removed, when the session is
    /// read-only, the receipt file cannot be created, the audit log cannot
    /// be written, or the delete's checks fail; `cancel` stops it until the
    /// first object is removed. Once removal has begun, an error ends it
    /// with a receipt saying `failed` and what went (an audit `error` record
    /// with the receipt's hash).
    pub async fn erase_user(
        &self,
        user: &str,
        receipt_path: &Path,
        progress: &watch::Sender<EraseProgress>,
        cancel: &CancellationToken,
    ) -> Result<Audited<ErasureReport>> {
        let mut subject = Subject::new(user, &[]);
        let checked = (|| -> Result<_> {
            self.refuse_if_read_only("erase_user")?;
            let folder = subject.folder(user)?;
            let file = crate::owner_only::partial_file_for(receipt_path).map_err(|e| Error::io(receipt_path, e))?;
            Ok((folder, file))
        })();
        let (folder, file) = match checked {
            Ok(v) => v,
            Err(e) => return Err(self.refusal("erase_user", &subject, e).await),
        };
        let operation = self.record_intent("erase_user", &subject).await?;
        let mut receipt = ErasureReceipt {
            receipt: erase::RECEIPT_KIND.into(),
            profile: self.profile.clone(),
            bucket: self.store.bucket().to_owned(),
            endpoint: self.store.endpoint().map(str::to_owned),
            user_email: subject.email.clone(),
            user_folder: folder.to_string(),
            operator: audit::os_user(),
            started_at: audit::now_rfc3339(),
            finished_at: String::new(),
            outcome: ErasureOutcome::Complete,
            versioned_bucket: false,
            removed: Vec::new(),
            index_entries_removed: Vec::new(),
            index_deleted: false,
            kept: Vec::new(),
            warnings: Vec::new(),
            error: None,
        };
        let run = erase::erase(&self.store, &folder, &mut receipt, progress, cancel).await;
        subject.email = receipt.user_email.clone();
        subject.ids = receipt
            .index_entries_removed
            .iter()
            .map(|e| e.conversation_id.clone())
            .collect();
        let nothing_removed = receipt.removed.is_empty() && receipt.index_entries_removed.is_empty();
        let result = match run {
            // Nothing gone: no receipt to keep.
            Err(e) if nothing_removed => Err(e),
            run => {
                receipt.outcome = match &run {
                    Err(_) => ErasureOutcome::Failed,
                    Ok(()) if receipt.kept.is_empty() => ErasureOutcome::Complete,
                    Ok(()) => ErasureOutcome::Incomplete,
                };
                let code = run.as_ref().err().map(|e| e.code().as_str().to_owned());
                receipt.error = run.err().map(|e| format!("{}: {e}", e.code().as_str()));
                receipt.finished_at = audit::now_rfc3339();
                Ok((self.save_receipt(receipt, receipt_path, file).await, code))
            }
        };
        if let Ok((report, _)) = &result {
            let ids: Vec<ConversationId> = (report.receipt.index_entries_removed.iter())
                .filter_map(|e| ConversationId::parse(&e.conversation_id).ok())
                .collect();
            self.forget_in_catalog(&folder, &ids).await;
        }
        self.record_outcome_with_code(
            &operation,
            "erase_user",
            &subject,
            result,
            |(r, _)| {
                let mut d = Map::new();
                d.insert("receipt_sha256".into(), json!(r.receipt_sha256));
                d.insert("receipt_path".into(), json!(r.receipt_path));
                d.insert("outcome".into(), json!(r.receipt.outcome));
                d.insert("versions_removed".into(), json!(r.receipt.removed.len()));
                d.insert(
                    "index_entries_removed".into(),
                    json!(r.receipt.index_entries_removed.len()),
                );
                d.insert("index_deleted".into(), json!(r.receipt.index_deleted));
                d.insert(
                    "kept".into(),
                    json!(r.receipt.kept.iter().map(|k| &k.key).collect::<Vec<_>>()),
                );
                d
            },
            |(_, code)| code.clone(),
        )
        .await
        .map(|done| done.map(|(report, _)| report))
    }

    /// Write the receipt into the file made before the erasure began, then
    /// rename it into place.
    async fn save_receipt(
        &self,
        receipt: ErasureReceipt,
        path: &Path,
        mut file: tempfile::NamedTempFile,
    ) -> ErasureReport {
        let bytes = receipt.to_bytes();
        let receipt_sha256 = erase::sha256_hex(&bytes);
        let written = file
            .write_all(&bytes)
            .and_then(|()| file.as_file().sync_all())
            .map_err(|e| Error::io(path, e))
            .and_then(|()| file.persist(path).map(drop).map_err(|e| Error::io(path, e.error)));
        ErasureReport {
            receipt,
            receipt_path: path.display().to_string(),
            receipt_sha256,
            receipt_error: written.err().map(|e| e.to_string()),
        }
    }

    /// Check a receipt against this session's bucket (read-only; not audited).
    pub async fn verify_receipt(&self, path: &Path) -> Result<ReceiptVerification> {
        let (receipt, sha256) = ErasureReceipt::read(path)?;
        verify_receipt(&self.store, path, &receipt, sha256).await
    }
}
