//! Permanent delete: every object (and, on a versioned bucket, every version
//! and delete marker) of the given conversations, then their index entries
//! through the safe index update. Objects go first: a crash in between
//! leaves a dangling index entry, which the integrity check finds and repairs.

use std::collections::{BTreeSet, HashSet};

use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::index_write::update_index;
use crate::layout::{ConversationId, ObjectKind, UserFolder};
use crate::store::{s3_error, Store};

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
    /// Why versions could not be listed (store or permissions); then only
    /// current objects were deleted and older versions may remain.
    pub versions_unavailable: Option<String>,
    pub index_entries_removed: usize,
    /// Ids with neither an object nor an index entry.
    pub not_found: Vec<String>,
}

/// One object version to delete (`version_id` None: the current object).
struct Target {
    key: String,
    version_id: Option<String>,
}

pub(crate) async fn delete_conversations(
    store: &Store,
    folder: &UserFolder,
    ids: &[ConversationId],
) -> Result<DeleteReport> {
    // Before anything is removed: refuse if the index could not be updated safely.
    store.ensure_safe_index_writes().await?;
    let wanted: HashSet<String> = ids.iter().map(|i| i.as_str().to_owned()).collect();
    let matches = |key: &str| matches!(store.classify(folder, key), ObjectKind::Conversation { id, .. } if wanted.contains(id.as_str()));

    // Every version and delete marker where the store can list them; a store
    // without versioning support (or a policy without the permission) gets a
    // plain delete of the current objects, and the report says so.
    let (targets, versioned, versions_unavailable): (Vec<Target>, bool, Option<String>) =
        match list_versions(store, folder).await {
            Ok(all) => {
                let versioned = all.iter().any(|t| t.version_id.as_deref().is_some_and(|v| v != "null"));
                let targets = all
                    .into_iter()
                    .filter(|t| matches(&t.key))
                    // Unversioned: delete the object itself, not a "null" version.
                    .map(|t| Target {
                        version_id: t.version_id.filter(|_| versioned),
                        key: t.key,
                    })
                    .collect();
                (targets, versioned, None)
            }
            Err(e) => {
                let targets = store
                    .list_objects(folder)
                    .await?
                    .into_iter()
                    .filter(|o| matches(&o.key))
                    .map(|o| Target {
                        key: o.key,
                        version_id: None,
                    })
                    .collect();
                (targets, false, Some(e.to_string()))
            }
        };

    for batch in targets.chunks(DELETE_BATCH) {
        delete_batch(store, batch).await?;
    }

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
        versions_unavailable,
        index_entries_removed: removed.len(),
        not_found,
    })
}

async fn list_versions(store: &Store, folder: &UserFolder) -> Result<Vec<Target>> {
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
            .map_err(|e| s3_error("ListObjectVersions", &prefix, e))?;
        for v in page.versions() {
            if let Some(key) = v.key() {
                out.push(Target {
                    key: key.to_owned(),
                    version_id: v.version_id().map(str::to_owned),
                });
            }
        }
        for m in page.delete_markers() {
            if let Some(key) = m.key() {
                out.push(Target {
                    key: key.to_owned(),
                    version_id: m.version_id().map(str::to_owned),
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
                .map_err(|e| Error::Config(e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let delete = Delete::builder()
        .set_objects(Some(objects))
        .quiet(true)
        .build()
        .map_err(|e| Error::Config(e.to_string()))?;
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
