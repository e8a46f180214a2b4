//! What the tests read back to check a write: objects, versions and index
//! entries as they are on the server.

use crate::raw_s3::RawS3;
use archive_desk_core::{Store, UserFolder};

/// Whether `key` is there: a HEAD asked of S3 directly, so the check does
/// not go through the core code under test.
pub async fn exists(store: &Store, key: &str) -> bool {
    store
        .client()
        .head_object()
        .bucket(store.bucket())
        .key(key)
        .send()
        .await
        .is_ok()
}

/// Every version id (data versions and delete markers) stored under `prefix`.
pub async fn version_ids(store: &Store, prefix: &str) -> Vec<String> {
    let out = store
        .client()
        .list_object_versions()
        .bucket(store.bucket())
        .prefix(prefix)
        .send()
        .await
        .unwrap();
    let mut ids: Vec<String> = out
        .versions()
        .iter()
        .filter_map(|v| v.version_id())
        .chain(out.delete_markers().iter().filter_map(|m| m.version_id()))
        .map(str::to_owned)
        .collect();
    ids.sort();
    ids
}

/// The conversation ids in `email`'s index, in index order.
pub async fn index_ids(store: &Store, email: &str) -> Vec<String> {
    let read = store.read_index(&UserFolder::from_email(email).unwrap()).await.unwrap();
    read.index.entries().map(|e| e.conversation_id()).collect()
}
