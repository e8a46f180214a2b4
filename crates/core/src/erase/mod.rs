//! Erasure of a whole user ("erase this customer", a GDPR art. 17 / CCPA
//! request): every conversation object of the folder (every version and
//! delete marker on a versioned bucket), the user's index entries, and
//! `metadata.json` itself (every version) when nothing is left in it. It
//! goes through the delete's own plan (`delete::plan_delete`: index
//! writable, versions listable, no version under Object Lock — all checked
//! before the first removal) and its removal (`delete::remove_versions`);
//! the index entries go through the conditional index update. What was
//! removed is written down as it goes, in the receipt (`receipt.rs`): each
//! key and version id with the SHA-256 of its bytes, read just before.

mod receipt;

use std::collections::HashSet;

use futures::StreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::delete::{plan_delete, remove_versions};
use crate::error::{Error, Result};
use crate::index_write::update_index;
use crate::layout::{ObjectKind, UserFolder};
use crate::plural::{count, count_as};
use crate::store::{ObjectVersion, Store};
use crate::CancellationToken;

pub(crate) use receipt::verify_receipt;
pub use receipt::{
    ErasureOutcome, ErasureReceipt, KeptObject, ReceiptVerification, RemovedEntry, RemovedObject, StillPresent,
    RECEIPT_KIND,
};

/// Object versions hashed at once before the removal.
const HASH_CONCURRENCY: usize = 8;

/// Where an erasure is.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasePhase {
    /// Reading the index, listing versions, checking holds.
    #[default]
    Checking,
    /// Reading each version to hash it (cancel still removes nothing).
    Hashing,
    /// Removing the conversation objects.
    Removing,
    /// Removing the index entries and `metadata.json`.
    Index,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EraseProgress {
    pub phase: ErasePhase,
    pub done: u64,
    pub total: u64,
}

/// Erase `folder`, filling `receipt` as things go. An error with nothing in
/// `receipt.removed` and `receipt.index_entries_removed` removed nothing
/// (every refusal, a cancel before the removal); after that the receipt
/// says what is gone and the caller records the error in it.
pub(crate) async fn erase(
    store: &Store,
    folder: &UserFolder,
    receipt: &mut ErasureReceipt,
    progress: &watch::Sender<EraseProgress>,
    cancel: &CancellationToken,
) -> Result<()> {
    let index_key = store.layout().index_key(folder);
    let is_conversation = |key: &str| matches!(store.classify(folder, key), ObjectKind::Conversation { .. });
    let read = store.read_index(folder).await?;
    if let Some(email) = read.index.user_email() {
        receipt.user_email = Some(email.to_owned());
    }
    let mut erased_ids: HashSet<String> = read.index.entries().map(|e| e.conversation_id()).collect();

    let plan = plan_delete(store, folder, |key| key == index_key || is_conversation(key)).await?;
    receipt.versioned_bucket = plan.versioned;
    let versions_listed = plan.listing_note.is_none();
    receipt.warnings.extend(plan.listing_note);
    // The index's versions are planned (their holds checked) but removed
    // last, once the entries are gone.
    let conversations: Vec<ObjectVersion> = plan.targets.into_iter().filter(|t| t.key != index_key).collect();
    for o in store.list_objects(folder).await? {
        if o.key != index_key && !is_conversation(&o.key) {
            receipt.kept.push(KeptObject {
                key: o.key,
                reason: "not a conversation object of the archive (another name or a nested key); left in place".into(),
            });
        }
    }

    let mut pending = hash_all(store, &conversations, progress, cancel).await?;
    if cancel.is_cancelled() {
        return Err(Error::Cancelled {
            what: format!("erasure of {folder}"),
        });
    }

    // From here on, what is removed is in the receipt.
    progress.send_replace(EraseProgress {
        phase: ErasePhase::Removing,
        done: 0,
        total: conversations.len() as u64,
    });
    remove_versions(store, &conversations, |n| {
        receipt.removed.extend(pending.drain(..n));
        progress.send_modify(|p| p.done += n as u64);
    })
    .await?;
    for t in &conversations {
        if let ObjectKind::Conversation { id, .. } = store.classify(folder, &t.key) {
            erased_ids.insert(id.as_str().to_owned());
        }
    }

    progress.send_replace(EraseProgress {
        phase: ErasePhase::Index,
        done: 0,
        total: 1,
    });
    let mut removed_entries = Vec::new();
    update_index(store, folder, |index| {
        removed_entries = index
            .entries()
            .filter(|e| erased_ids.contains(&e.conversation_id()))
            .map(|e| RemovedEntry {
                conversation_id: e.conversation_id(),
                sha256: sha256_hex(&serde_json::to_vec(e.0.map()).expect("an entry serializes")),
            })
            .collect();
        !index.remove_entries(&erased_ids).is_empty()
    })
    .await?;
    receipt.index_entries_removed = removed_entries;

    remove_index(store, folder, receipt, versions_listed).await?;
    progress.send_modify(|p| p.done = 1);
    Ok(())
}

/// The receipt's line for each version, with the hash of its bytes (delete
/// markers hold none; a cold object cannot be read without a thaw, and is
/// removed all the same, saying so). Any other failure to read stops the
/// erasure before anything is removed.
async fn hash_all(
    store: &Store,
    targets: &[ObjectVersion],
    progress: &watch::Sender<EraseProgress>,
    cancel: &CancellationToken,
) -> Result<Vec<RemovedObject>> {
    progress.send_replace(EraseProgress {
        phase: ErasePhase::Hashing,
        done: 0,
        total: targets.len() as u64,
    });
    // Owned versions in the stream: a future borrowing from `targets`
    // would not be `Send` for every lifetime, as the app's tasks need.
    let hashed = futures::stream::iter(targets.to_vec())
        .map(|t| async move {
            let line = RemovedObject {
                key: t.key.clone(),
                version_id: t.version_id.clone(),
                delete_marker: t.delete_marker,
                sha256: None,
                bytes: None,
                note: None,
            };
            if t.delete_marker {
                return Ok(line);
            }
            match store.hash_version(&t.key, t.version_id.as_deref()).await {
                Ok(h) => Ok(RemovedObject {
                    sha256: Some(h.sha256),
                    bytes: Some(h.bytes),
                    ..line
                }),
                Err(Error::ColdStorage { storage_class, .. }) => Ok(RemovedObject {
                    note: Some(format!(
                        "not hashed: in cold storage ({storage_class}), not readable without a thaw"
                    )),
                    ..line
                }),
                Err(e) => Err(e),
            }
        })
        .buffered(HASH_CONCURRENCY);
    let mut hashed = std::pin::pin!(hashed);
    let mut out = Vec::with_capacity(targets.len());
    loop {
        let next = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(Error::Cancelled { what: "erasure (nothing was removed)".into() }),
            next = hashed.next() => next,
        };
        let Some(line) = next else { break };
        out.push(line?);
        progress.send_modify(|p| p.done += 1);
    }
    Ok(out)
}

/// `metadata.json` once its entries are gone: deleted when nothing was
/// added to it meanwhile (a conditional delete on the ETag of the bytes
/// just hashed, so an entry the archiver writes at that moment is never
/// lost), then every older version and delete marker of it, which still
/// hold the erased entries (never the current version, which may be the
/// archiver's newest).
async fn remove_index(
    store: &Store,
    folder: &UserFolder,
    receipt: &mut ErasureReceipt,
    versions_listed: bool,
) -> Result<()> {
    let index_key = store.layout().index_key(folder);
    let after = store.read_index(folder).await?;
    let entries_left = after.index.entries().len();
    let objects_left = store
        .list_objects(folder)
        .await?
        .iter()
        .filter(|o| matches!(store.classify(folder, &o.key), ObjectKind::Conversation { .. }))
        .count();
    if after.missing {
        receipt.index_deleted = true;
    } else if entries_left > 0 || objects_left > 0 {
        receipt.kept.push(KeptObject {
            key: index_key.clone(),
            reason: format!(
                "{} and {} appeared while the erasure ran (the archiver); metadata.json stays",
                count_as(entries_left as u64, "index entry", "index entries"),
                count(objects_left as u64, "conversation object")
            ),
        });
    } else {
        let current = store.hash_version(&index_key, None).await?;
        let condition = match &current.etag {
            Some(etag) => Some(etag.as_str()),
            None if store.allows_unsafe_index_writes() => None,
            None => {
                return Err(Error::ConditionalWritesUnsupported {
                    bucket: store.bucket().to_owned(),
                })
            }
        };
        let deleted = match store.delete_current_if_match(&index_key, condition).await {
            Err(Error::NotFound { .. }) => true,
            other => other?,
        };
        if !deleted {
            receipt.kept.push(KeptObject {
                key: index_key.clone(),
                reason: "metadata.json was written while the erasure ran (the archiver); it stays".into(),
            });
        } else {
            receipt.index_deleted = true;
            if !versions_listed || !receipt.versioned_bucket {
                // No older versions: this was the object itself.
                receipt.removed.push(RemovedObject {
                    key: index_key.clone(),
                    version_id: None,
                    delete_marker: false,
                    sha256: Some(current.sha256),
                    bytes: Some(current.bytes),
                    note: None,
                });
            }
        }
    }
    if !versions_listed {
        return Ok(());
    }
    let old: Vec<ObjectVersion> = store
        .list_versions(&index_key)
        .await
        .map_err(|l| l.error)?
        .into_iter()
        // Every version but a current one with data.
        .filter(|v| v.key == index_key && (!v.latest || v.delete_marker))
        .collect();
    // Past the point of cancelling: the objects are gone already.
    let (tx, _) = watch::channel(EraseProgress::default());
    let mut pending = hash_all(store, &old, &tx, &CancellationToken::new()).await?;
    remove_versions(store, &old, |n| receipt.removed.extend(pending.drain(..n))).await
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}
