//! Permanent delete: every object (and, on a versioned bucket, every version
//! and delete marker) of the given conversations, then their index entries
//! through the safe index update. Objects go first: a crash in between
//! leaves a dangling index entry, which the integrity check finds and repairs.
//!
//! Everything that could make the delete unsafe or half-done is checked
//! before the first object is removed, for all the conversations of the
//! request at once (all or nothing): the index can be read and updated
//! safely, every version can be listed where old versions may exist, and no
//! version to delete is under S3 Object Lock.

use std::collections::{BTreeSet, HashSet};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::index_write::update_index;
use crate::layout::{ConversationId, ObjectKind, UserFolder};
use crate::store::{look_up_holds, HoldSource, ObjectVersion as Target, Store, Versioning};

/// DeleteObjects takes at most 1,000 keys a request.
const DELETE_BATCH: usize = 1000;

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize)]
pub struct DeleteReport {
    /// Keys that had an object (or versions) removed.
    pub deleted_keys: Vec<String>,
    /// Object versions and delete markers removed (1 a key when unversioned).
    pub deleted_versions: usize,
    /// Old versions exist (versioning on or suspended): all were removed.
    pub versioned_bucket: bool,
    pub index_entries_removed: usize,
    /// Ids with neither an object nor an index entry.
    pub not_found: Vec<String>,
    /// What the person must know about how the delete went (e.g. versions
    /// could not be listed on a bucket that was never versioned); every one
    /// is shown by the CLI and the app.
    pub warnings: Vec<String>,
}

/// What a delete will remove, checked (index writable, versions listed
/// where old ones may exist, no version held): every version and delete
/// marker of the selected keys. Shared by `delete_conversations` and the
/// erasure of a whole user (`erase.rs`), so both follow the same rules.
pub(crate) struct DeletePlan {
    pub(crate) targets: Vec<Target>,
    /// Old versions exist (versioning on or suspended).
    pub(crate) versioned: bool,
    /// Versions could not be listed on a never-versioned store; shown with the report.
    pub(crate) listing_note: Option<String>,
}

/// Check everything that could make removing the keys of `folder` that
/// `selected` accepts unsafe or half-done, and list what to remove.
/// Nothing is removed here.
pub(crate) async fn plan_delete(
    store: &Store,
    folder: &UserFolder,
    selected: impl Fn(&str) -> bool,
) -> Result<DeletePlan> {
    // Before anything is removed: refuse if the index could not be updated
    // safely afterwards (store ignoring If-Match, unreadable index).
    store.ensure_safe_index_writes().await?;
    check_index(store, folder).await?;

    let mut listing_note = None;
    let prefix = store.layout().user_prefix(folder);
    let (targets, versioned): (Vec<Target>, bool) = match store.list_versions(&prefix).await {
        Ok(all) => {
            let versioned = all.iter().any(|t| t.version_id.as_deref().is_some_and(|v| v != "null"));
            // Each version by its id, "null" included: on a bucket whose
            // versioning was turned on after the object was written, a
            // delete without the id would only add a delete marker.
            let targets = all.into_iter().filter(|t| selected(&t.key)).collect();
            (targets, versioned)
        }
        Err(listing) => {
            // Without the versions, only a plain delete of the current
            // objects is possible; on a bucket that is or was versioned that
            // only adds delete markers and keeps every version, so it is
            // refused there. Whether the listing was denied, failed (403,
            // 503 after retries, a timeout) or is not implemented (rclone
            // `serve s3`: 501 NotImplemented), the versioning state decides:
            // never versioned → plain delete with a warning; versioned or
            // unreadable → refused.
            // The refusal names the prefix already.
            let cause = listing.error.to_string();
            let cause = cause.strip_prefix(&format!("{prefix}: ")).unwrap_or(&cause).to_owned();
            let refuse = |permission: &'static str, cause: String| Error::VersionsUnavailable {
                bucket: store.bucket().to_owned(),
                prefix: prefix.clone(),
                permission,
                cause,
            };
            match (listing.not_implemented, store.bucket_versioning().await) {
                (_, Ok(Versioning::Versioned)) => {
                    return Err(refuse("s3:ListBucketVersions", cause));
                }
                // Shown with the report, i.e. once the objects are gone.
                (true, Ok(Versioning::Never)) => {
                    listing_note = Some(format!(
                        "this store does not list object versions ({}); it reports versioning off, so the current \
                     objects were deleted and no older versions should exist",
                        cause
                    ))
                }
                (false, Ok(Versioning::Never)) => {
                    listing_note = Some(format!(
                        "object versions could not be listed ({}); the bucket was never versioned, so the current \
                     objects were deleted and no older versions exist",
                        cause
                    ))
                }
                // A 501 may come from a proxy or gateway in front of a
                // versioned store as well: without the versioning state it
                // proves nothing.
                (_, Err(state)) => {
                    return Err(refuse(
                        "s3:ListBucketVersions (and s3:GetBucketVersioning)",
                        format!("{}; the versioning state could not be read either: {state}", cause),
                    ));
                }
            }
            let targets = store
                .list_objects(folder)
                .await?
                .into_iter()
                .filter(|o| selected(&o.key))
                .map(|o| Target {
                    key: o.key,
                    version_id: None,
                    delete_marker: false,
                    latest: true,
                })
                .collect();
            (targets, false)
        }
    };

    // Object Lock needs a versioned bucket; where the lock state cannot be
    // read, the versions are checked as if it were on (the lock APIs then
    // answer "no configuration" on a bucket without it).
    if !matches!(store.object_lock_enabled().await, Ok(false)) {
        check_holds(store, &targets).await?;
    }
    Ok(DeletePlan {
        targets,
        versioned,
        listing_note,
    })
}

/// Remove the versions, 1,000 a request; `done` hears of each batch removed.
pub(crate) async fn remove_versions(store: &Store, targets: &[Target], mut done: impl FnMut(usize)) -> Result<()> {
    for batch in targets.chunks(DELETE_BATCH) {
        store.delete_versions(batch).await?;
        done(batch.len());
    }
    Ok(())
}

pub(crate) async fn delete_conversations(
    store: &Store,
    folder: &UserFolder,
    ids: &[ConversationId],
) -> Result<DeleteReport> {
    let wanted: HashSet<String> = ids.iter().map(|i| i.as_str().to_owned()).collect();
    let matches = |key: &str| matches!(store.classify(folder, key), ObjectKind::Conversation { id, .. } if wanted.contains(id.as_str()));
    let DeletePlan {
        targets,
        versioned,
        listing_note,
    } = plan_delete(store, folder, matches).await?;
    remove_versions(store, &targets, |_| {}).await?;
    let warnings: Vec<String> = listing_note.into_iter().collect();

    let mut removed = Vec::new();
    update_index(store, folder, |index| {
        removed = index.remove_entries(&wanted);
        !removed.is_empty()
    })
    .await?;

    let deleted_keys: BTreeSet<String> = targets.iter().map(|t| t.key.clone()).collect();
    let mut found: HashSet<String> = removed.iter().cloned().collect();
    for key in &deleted_keys {
        if let ObjectKind::Conversation { id, .. } = store.classify(folder, key) {
            found.insert(id.as_str().to_owned());
        }
    }
    let mut not_found: Vec<String> = wanted.difference(&found).cloned().collect();
    not_found.sort();
    Ok(DeleteReport {
        deleted_versions: targets.len(),
        deleted_keys: deleted_keys.into_iter().collect(),
        versioned_bucket: versioned,
        index_entries_removed: removed.len(),
        not_found,
        warnings,
    })
}

/// The index must be readable (or missing: nothing to update) and, unless
/// the override is set, carry an ETag for the conditional write; otherwise
/// the objects would go and their entries stay, dangling.
async fn check_index(store: &Store, folder: &UserFolder) -> Result<()> {
    let key = store.layout().index_key(folder);
    match store.read_index(folder).await {
        Ok(read) if !read.missing && read.etag.is_none() && !store.allows_unsafe_index_writes() => {
            Err(Error::ConditionalWritesUnsupported {
                bucket: store.bucket().to_owned(),
            })
        }
        Ok(_) => Ok(()),
        Err(e) => {
            let cause = e.to_string();
            let cause = cause.strip_prefix(&format!("{key}: ")).unwrap_or(&cause).to_owned();
            Err(Error::IndexUnreadable { key, cause })
        }
    }
}

/// Refuse if any version to delete is under a legal hold or an unexpired
/// retention, or if its lock state cannot be read (then it may be held).
/// GetObjectLegalHold and GetObjectRetention, not HEAD: a HEAD leaves out
/// the lock fields the caller may not read, so a held version would look
/// free and DeleteObjects would then remove only part of the request.
async fn check_holds(store: &Store, targets: &[Target]) -> Result<()> {
    let versions: Vec<(String, Option<String>)> = targets
        .iter()
        .filter(|t| !t.delete_marker)
        .map(|t| (t.key.clone(), t.version_id.clone()))
        .collect();
    let found = look_up_holds(store, versions.clone(), HoldSource::LockApis).await;
    let mut holds = Vec::new();
    for ((key, version_id), hold) in versions.into_iter().zip(found) {
        if let Some(h) = hold? {
            holds.push(match version_id {
                Some(v) => format!("{key} (version {v}): {h}"),
                None => format!("{key}: {h}"),
            });
        }
    }
    if holds.is_empty() {
        return Ok(());
    }
    holds.sort();
    Err(Error::ObjectLocked { holds })
}
