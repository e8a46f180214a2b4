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

use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::index_write::update_index;
use crate::layout::{ConversationId, ObjectKind, UserFolder};
use crate::store::{error_status_code, is_not_implemented, look_up_holds, s3_error, HoldSource, Store};

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

/// One object version to delete (`version_id` None: the current object).
struct Target {
    key: String,
    version_id: Option<String>,
    /// Delete markers hold no data and cannot be locked.
    delete_marker: bool,
}

/// A bucket's versioning state as GetBucketVersioning gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Versioning {
    /// No status: versioning was never turned on, so no old versions exist.
    Never,
    /// Enabled or Suspended: old versions may exist.
    Versioned,
}

pub(crate) async fn delete_conversations(
    store: &Store,
    folder: &UserFolder,
    ids: &[ConversationId],
) -> Result<DeleteReport> {
    // Before anything is removed: refuse if the index could not be updated
    // safely afterwards (store ignoring If-Match, unreadable index).
    store.ensure_safe_index_writes().await?;
    check_index(store, folder).await?;
    let wanted: HashSet<String> = ids.iter().map(|i| i.as_str().to_owned()).collect();
    let matches = |key: &str| matches!(store.classify(folder, key), ObjectKind::Conversation { id, .. } if wanted.contains(id.as_str()));

    let mut listing_note = None;
    let (targets, versioned): (Vec<Target>, bool) = match list_versions(store, folder).await {
        Ok(all) => {
            let versioned = all.iter().any(|t| t.version_id.as_deref().is_some_and(|v| v != "null"));
            // Each version by its id, "null" included: on a bucket whose
            // versioning was turned on after the object was written, a
            // delete without the id would only add a delete marker.
            let targets = all.into_iter().filter(|t| matches(&t.key)).collect();
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
            let prefix = store.layout().user_prefix(folder);
            let refuse = |permission: &'static str, cause: String| Error::VersionsUnavailable {
                bucket: store.bucket().to_owned(),
                prefix: prefix.clone(),
                permission,
                cause,
            };
            match (listing.not_implemented, bucket_versioning(store).await) {
                (_, Ok(Versioning::Versioned)) => {
                    return Err(refuse("s3:ListBucketVersions", listing.cause));
                }
                // Shown with the report, i.e. once the objects are gone.
                (true, Ok(Versioning::Never)) => {
                    listing_note = Some(format!(
                        "this store does not list object versions ({}); it reports versioning off, so the current \
                     objects were deleted and no older versions should exist",
                        listing.cause
                    ))
                }
                (false, Ok(Versioning::Never)) => {
                    listing_note = Some(format!(
                        "object versions could not be listed ({}); the bucket was never versioned, so the current \
                     objects were deleted and no older versions exist",
                        listing.cause
                    ))
                }
                // A 501 may come from a proxy or gateway in front of a
                // versioned store as well: without the versioning state it
                // proves nothing.
                (_, Err(state)) => {
                    return Err(refuse(
                        "s3:ListBucketVersions (and s3:GetBucketVersioning)",
                        format!(
                            "{}; the versioning state could not be read either: {state}",
                            listing.cause
                        ),
                    ));
                }
            }
            let targets = store
                .list_objects(folder)
                .await?
                .into_iter()
                .filter(|o| matches(&o.key))
                .map(|o| Target {
                    key: o.key,
                    version_id: None,
                    delete_marker: false,
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

    for batch in targets.chunks(DELETE_BATCH) {
        delete_batch(store, batch).await?;
    }
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

/// Why ListObjectVersions failed.
struct ListingFailure {
    cause: String,
    /// The store does not implement it at all.
    not_implemented: bool,
}

async fn bucket_versioning(store: &Store) -> Result<Versioning> {
    match store
        .client()
        .get_bucket_versioning()
        .bucket(store.bucket())
        .send()
        .await
    {
        // Enabled or Suspended: versions made while it was on are still there.
        Ok(out) if out.status().is_some() => Ok(Versioning::Versioned),
        Ok(_) => Ok(Versioning::Never),
        Err(e) if is_not_implemented_error(&e) => Ok(Versioning::Never),
        Err(e) => {
            // An answer the SDK will not parse: moto wraps it in
            // `<GetBucketVersioningResponse>` instead of
            // `<VersioningConfiguration>`. The Status element is what counts.
            let answered = e
                .raw_response()
                .filter(|r| r.status().is_success())
                .and_then(|r| r.body().bytes())
                .and_then(|b| std::str::from_utf8(b).ok())
                .and_then(versioning_in_body);
            match answered {
                Some(state) => Ok(state),
                None => Err(s3_error("GetBucketVersioning", store.bucket(), e)),
            }
        }
    }
}

/// The versioning state in a GetBucketVersioning body whatever its root
/// element: no `<Status>` means never versioned; any status (Enabled,
/// Suspended, or one we do not know) means old versions may exist. `None`
/// when the body is not XML.
fn versioning_in_body(body: &str) -> Option<Versioning> {
    if !body.trim_start().starts_with('<') {
        return None;
    }
    Some(if body.contains("<Status>") {
        Versioning::Versioned
    } else {
        Versioning::Never
    })
}

fn is_not_implemented_error<E, R>(e: &aws_sdk_s3::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_s3::error::ProvideErrorMetadata,
    R: crate::store::HttpStatus,
{
    let (status, code) = error_status_code(e);
    is_not_implemented(status, code.as_deref())
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

async fn list_versions(store: &Store, folder: &UserFolder) -> std::result::Result<Vec<Target>, ListingFailure> {
    let prefix = store.layout().user_prefix(folder);
    let mut out = Vec::new();
    let (mut key_marker, mut version_marker) = (None, None);
    loop {
        let page = store
            .client()
            .list_object_versions()
            .bucket(store.bucket())
            .prefix(&prefix)
            .set_key_marker(key_marker)
            .set_version_id_marker(version_marker)
            .send()
            .await
            .map_err(|e| {
                let not_implemented = is_not_implemented_error(&e);
                let cause = s3_error("ListObjectVersions", &prefix, e).to_string();
                ListingFailure {
                    not_implemented,
                    // The refusal names the prefix already.
                    cause: cause.strip_prefix(&format!("{prefix}: ")).unwrap_or(&cause).to_owned(),
                }
            })?;
        for v in page.versions() {
            if let Some(key) = v.key() {
                out.push(Target {
                    key: key.to_owned(),
                    version_id: v.version_id().map(str::to_owned),
                    delete_marker: false,
                });
            }
        }
        for m in page.delete_markers() {
            if let Some(key) = m.key() {
                out.push(Target {
                    key: key.to_owned(),
                    version_id: m.version_id().map(str::to_owned),
                    delete_marker: true,
                });
            }
        }
        if page.is_truncated() != Some(true) {
            return Ok(out);
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        version_marker = page.next_version_id_marker().map(str::to_owned);
    }
}

async fn delete_batch(store: &Store, batch: &[Target]) -> Result<()> {
    let first = batch.first().map_or("", |t| t.key.as_str());
    let objects = batch
        .iter()
        .map(|t| {
            ObjectIdentifier::builder()
                .key(&t.key)
                .set_version_id(t.version_id.clone())
                .build()
                .map_err(|e| Error::Internal(format!("{}: delete request: {e}", t.key)))
        })
        .collect::<Result<Vec<_>>>()?;
    let delete = Delete::builder()
        .set_objects(Some(objects))
        .quiet(true)
        .build()
        .map_err(|e| Error::Internal(format!("{first}: delete request: {e}")))?;
    let out = store
        .client()
        .delete_objects()
        .bucket(store.bucket())
        .delete(delete)
        .send()
        .await
        .map_err(|e| s3_error("DeleteObjects", first, e))?;
    if let Some(e) = out.errors().first() {
        return Err(Error::S3 {
            operation: "DeleteObjects",
            key: e.key().unwrap_or(first).to_owned(),
            message: format!(
                "{}: {}",
                e.code().unwrap_or("error"),
                e.message().unwrap_or("not deleted")
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioning_status_is_read_whatever_the_root_element() {
        let ns = "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"";
        assert_eq!(
            versioning_in_body(&format!("<?xml version=\"1.0\"?>\n<GetBucketVersioningResponse {ns}/>")),
            Some(Versioning::Never)
        );
        for status in ["Enabled", "Suspended"] {
            assert_eq!(
                versioning_in_body(&format!(
                    "<GetBucketVersioningResponse {ns}><Status>{status}</Status></GetBucketVersioningResponse>"
                )),
                Some(Versioning::Versioned)
            );
        }
        assert_eq!(versioning_in_body("Service Unavailable"), None);
    }
}
