//! Listings: ListObjectsV2 pages, streamed or collected; one request per
//! 1,000 keys, never a request per object.

use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::types::Object;
use aws_smithy_types::date_time::Format;
use futures::Stream;

use super::{s3_error, ObjectInfo, Store, UserPage};
use crate::error::Result;
use crate::layout::{Layout, UserFolder};

/// One listed object as `ObjectInfo`; `None` for an entry without a key.
fn object_info(o: &Object) -> Option<ObjectInfo> {
    Some(ObjectInfo {
        key: o.key()?.to_owned(),
        size: o.size().unwrap_or(0).max(0) as u64,
        etag: o.e_tag().map(str::to_owned),
        last_modified: o.last_modified().and_then(|t| t.fmt(Format::DateTime).ok()),
        storage_class: o
            .storage_class()
            .map(|c| c.as_str().to_owned())
            .unwrap_or_else(|| "STANDARD".to_owned()),
    })
}

/// The continuation token of a page that says more follow.
fn next_token(out: &ListObjectsV2Output) -> Option<String> {
    match out.next_continuation_token() {
        Some(t) if out.is_truncated() == Some(true) => Some(t.to_owned()),
        _ => None,
    }
}

/// A part of the key space: the keys `k` with `start <= k < end` (no
/// bound where `None`). The catalog sync cuts the space at user-folder
/// prefixes (`<prefix><folder>/`), so each folder's keys fall in exactly
/// one range: every key of folder `g` starts with `g/`, and comparing it
/// with another folder's `f/` is decided within those first characters
/// (neither name holds a `/`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRange {
    pub start: Option<String>,
    pub end: Option<String>,
}

impl KeyRange {
    /// The whole key space cut at the given folders: `cuts.len() + 1`
    /// ranges (fewer when names repeat), in key order. A folder's keys
    /// start its range; names holding a `/` are not folders and are ignored.
    pub fn split_at_folders<'a>(layout: &Layout, cuts: impl IntoIterator<Item = &'a str>) -> Vec<KeyRange> {
        let mut keys: Vec<String> = cuts
            .into_iter()
            .filter(|name| !name.is_empty() && !name.contains('/'))
            .map(|name| format!("{}{name}/", layout.prefix()))
            .collect();
        // Key order is byte order (S3 compares UTF-8 bytes, as `str` does).
        keys.sort_unstable();
        keys.dedup();
        let mut ranges = Vec::with_capacity(keys.len() + 1);
        let mut start = None;
        for key in keys {
            ranges.push(KeyRange {
                start: start.replace(key.clone()),
                end: Some(key),
            });
        }
        ranges.push(KeyRange { start, end: None });
        ranges
    }

    /// Whether `key` is in the range.
    pub fn contains(&self, key: &str) -> bool {
        self.start.as_deref().is_none_or(|s| key >= s) && self.end.as_deref().is_none_or(|e| key < e)
    }

    /// ListObjectsV2's `StartAfter` for the range: it excludes the key
    /// given and the range includes its start, a folder prefix, so the
    /// prefix's last `/` becomes `.`, the character just before it; the few
    /// keys that lets in below the start (folders named `<name>.…`) are
    /// dropped by `contains`.
    fn start_after(&self) -> Option<String> {
        let stem = self.start.as_deref()?.strip_suffix('/')?;
        Some(format!("{stem}."))
    }
}

impl Store {
    /// One ListObjectsV2 request under `prefix`; errors name the prefix.
    async fn list_page(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        max_keys: Option<i32>,
        token: Option<String>,
        start_after: Option<String>,
    ) -> Result<ListObjectsV2Output> {
        self.client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .set_delimiter(delimiter.map(str::to_owned))
            .set_max_keys(max_keys)
            .set_continuation_token(token)
            .set_start_after(start_after)
            .send()
            .await
            .map_err(|e| s3_error("ListObjectsV2", prefix, e))
    }

    /// The user folders under the prefix, one ListObjectsV2 page (up to 1,000
    /// users) at a time.
    pub fn list_users(&self) -> impl Stream<Item = Result<UserPage>> + Send + 'static {
        self.list_users_paged(1000)
    }

    /// As `list_users`, with at most `page_size` users a page.
    pub fn list_users_paged(&self, page_size: i32) -> impl Stream<Item = Result<UserPage>> + Send + 'static {
        let store = self.clone();
        futures::stream::try_unfold(Some(None::<String>), move |token| {
            let store = store.clone();
            async move {
                let Some(token) = token else { return Ok(None) };
                let prefix = store.layout.prefix().to_owned();
                let out = store.list_page(&prefix, Some("/"), Some(page_size), token, None).await?;
                let mut page = UserPage::default();
                for cp in out.common_prefixes() {
                    let Some(p) = cp.prefix() else { continue };
                    match store.layout.folder_of_common_prefix(p) {
                        Ok(folder) => page.users.push(folder),
                        Err(_) => page.unusable.push(p.to_owned()),
                    }
                }
                Ok(Some((page, next_token(&out).map(Some))))
            }
        })
    }

    /// Every object in a user's folder (paginated, one request per 1,000).
    pub async fn list_objects(&self, folder: &UserFolder) -> Result<Vec<ObjectInfo>> {
        let prefix = self.layout.user_prefix(folder);
        let mut objects = Vec::new();
        let mut token = None;
        loop {
            let out = self.list_page(&prefix, None, None, token, None).await?;
            objects.extend(out.contents().iter().filter_map(object_info));
            match next_token(&out) {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        Ok(objects)
    }

    /// The objects under the prefix in one `KeyRange`, without a delimiter
    /// (so each key comes with its ETag and storage class), one page of up
    /// to 1,000 at a time, in key order: a part of the catalog sync's
    /// listing. Ranges side by side list every key exactly once.
    pub fn list_range(&self, range: KeyRange) -> impl Stream<Item = Result<Vec<ObjectInfo>>> + Send + 'static {
        self.list_range_paged(range, 1000)
    }

    /// As `list_range`, with at most `page_size` keys a request.
    pub fn list_range_paged(
        &self,
        range: KeyRange,
        page_size: i32,
    ) -> impl Stream<Item = Result<Vec<ObjectInfo>>> + Send + 'static {
        let store = self.clone();
        let first = Some((None::<String>, range.start_after()));
        futures::stream::try_unfold(first, move |next| {
            let (store, range) = (store.clone(), range.clone());
            async move {
                let Some((token, start_after)) = next else { return Ok(None) };
                let prefix = store.layout.prefix().to_owned();
                let out = store
                    .list_page(&prefix, None, Some(page_size), token, start_after)
                    .await?;
                let mut page = Vec::with_capacity(out.contents().len());
                let mut past_the_end = false;
                for object in out.contents().iter().filter_map(object_info) {
                    if range.end.as_deref().is_some_and(|end| object.key.as_str() >= end) {
                        past_the_end = true;
                        break;
                    }
                    if range.contains(&object.key) {
                        page.push(object);
                    }
                }
                let next = if past_the_end { None } else { next_token(&out).map(|t| (Some(t), None)) };
                Ok(Some((page, next)))
            }
        })
    }

    /// One ListObjectsV2 of at most one user folder: is the bucket reachable
    /// and listing allowed? (The connection test.) Errors name the bucket.
    pub async fn check_listing(&self) -> Result<()> {
        self.client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(self.layout.prefix())
            .delimiter("/")
            .max_keys(1)
            .send()
            .await
            .map_err(|e| s3_error("ListObjectsV2", &self.bucket, e))?;
        Ok(())
    }
}
