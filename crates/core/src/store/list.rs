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
        let folders = cuts
            .into_iter()
            .filter(|name| !name.is_empty() && !name.contains('/'))
            .map(|name| format!("{name}/"));
        KeyRange::split_at(layout, folders)
    }

    /// The whole key space cut at `<prefix><cut>` for each cut: a folder's
    /// prefix (`name/`) or a start of names (`u003`, holding no `/`), so
    /// no folder straddles a cut either way. Cuts that break that rule
    /// (a `/` inside) are ignored.
    pub fn split_at(layout: &Layout, cuts: impl IntoIterator<Item = String>) -> Vec<KeyRange> {
        let mut keys: Vec<String> = cuts
            .into_iter()
            .filter(|cut| !cut.is_empty() && !cut.trim_end_matches('/').contains('/') && !cut.ends_with("//"))
            .map(|cut| format!("{}{cut}", layout.prefix()))
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

    /// The longest prefix every key of the range starts with: the longest
    /// start of `start` whose successor (last character + 1) is at or past
    /// `end` (a key `k` with `p <= start <= k < end <= succ(p)` starts
    /// with `p`); `None` when a bound is open. A narrower `Prefix` costs S3
    /// nothing and spares stores that walk everything under the prefix
    /// for each page (rclone reads its directory tree).
    fn listing_prefix(&self) -> Option<&str> {
        let (start, end) = (self.start.as_deref()?, self.end.as_deref()?);
        let ends: Vec<usize> = start.char_indices().map(|(at, c)| at + c.len_utf8()).collect();
        let prefix = ends
            .into_iter()
            .rev()
            .map(|len| &start[..len])
            .find(|p| successor(p).is_some_and(|s| end <= s.as_str()))?;
        // Any shorter start is a prefix too; moto fails a `Prefix` that
        // ends in a space.
        Some(prefix.trim_end_matches(char::is_whitespace))
    }

    /// ListObjectsV2's `StartAfter` for the range: it excludes the key
    /// given and the range includes its start, a folder prefix, so the
    /// prefix's last `/` becomes `.`, the character just before it; the few
    /// keys that lets in below the start (folders named `<name>.…`) are
    /// dropped by `contains`.
    fn start_after(&self) -> Option<String> {
        let start = self.start.as_deref()?;
        match start.strip_suffix('/') {
            Some(stem) => Some(format!("{stem}.")),
            // A start of names: its last character one lower (below `a `
            // that is a control character, which moto fails on: then from
            // the listing prefix, `contains` dropping what is below).
            None => {
                let last = start.chars().next_back()?;
                let below = char::from_u32(u32::from(last).checked_sub(1)?)?;
                (!below.is_control() && !below.is_whitespace())
                    .then(|| format!("{}{below}", &start[..start.len() - last.len_utf8()]))
            }
        }
    }
}

/// `p` with its last character one higher: the least string above every
/// string that starts with `p`. `None` for the empty string or a last
/// character with none above it.
pub(crate) fn successor(p: &str) -> Option<String> {
    let last = p.chars().next_back()?;
    let next = (u32::from(last) + 1..=0x10FFFF).find_map(char::from_u32)?;
    Some(format!("{}{next}", &p[..p.len() - last.len_utf8()]))
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
        self.yield_to_foreground().await;
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
                let out = store
                    .list_page(&prefix, Some("/"), Some(page_size), token, None)
                    .await?;
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
        self.stored_names.listed(&self.layout, folder, &objects);
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
                let Some((token, start_after)) = next else {
                    return Ok(None);
                };
                // Every key of the range has both prefixes: the longer one.
                let prefix = match range.listing_prefix() {
                    Some(common) if common.len() > store.layout.prefix().len() => common.to_owned(),
                    _ => store.layout.prefix().to_owned(),
                };
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
                let next = if past_the_end {
                    None
                } else {
                    next_token(&out).map(|t| (Some(t), None))
                };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn range(start: Option<&str>, end: Option<&str>) -> KeyRange {
        KeyRange {
            start: start.map(str::to_owned),
            end: end.map(str::to_owned),
        }
    }

    #[test]
    fn cuts_sort_as_keys_and_partition_the_space() {
        let layout = Layout::new("p/").unwrap();
        // As names "a" < "a b"; as folder prefixes "p/a b/" < "p/a/".
        let ranges = KeyRange::split_at_folders(&layout, ["a", "a b", "a", "x/y", ""]);
        assert_eq!(
            KeyRange::split_at(
                &layout,
                ["u1".to_owned(), "u0".to_owned(), "x/y".to_owned(), "x//".to_owned()]
            ),
            [
                range(None, Some("p/u0")),
                range(Some("p/u0"), Some("p/u1")),
                range(Some("p/u1"), None)
            ]
        );
        assert_eq!(
            ranges,
            [
                range(None, Some("p/a b/")),
                range(Some("p/a b/"), Some("p/a/")),
                range(Some("p/a/"), None)
            ]
        );
        for key in [
            "p/a b/m",
            "p/a!/x",
            "p/a/metadata.json",
            "p/a/",
            "p/a",
            "p/a0/x",
            "p/😀/x",
            "q",
        ] {
            let holding = ranges.iter().filter(|r| r.contains(key)).count();
            assert_eq!(holding, 1, "{key} is in exactly one range");
        }
    }

    #[test]
    fn start_after_is_just_below_the_start_and_the_prefix_is_what_the_bounds_share() {
        assert_eq!(range(Some("p/a b/"), None).start_after().as_deref(), Some("p/a b."));
        assert_eq!(range(None, Some("p/a/")).start_after(), None);
        assert_eq!(
            range(Some("p/u00250/"), Some("p/u00500/")).listing_prefix(),
            Some("p/u00")
        );
        assert_eq!(range(Some("p/u003"), Some("p/u004")).listing_prefix(), Some("p/u003"));
        assert_eq!(range(Some("p/u003"), Some("p/u004/")).listing_prefix(), Some("p/u00"));
        assert_eq!(range(Some("p/é1/"), Some("p/é2/")).listing_prefix(), Some("p/é"));
        // Two-byte characters that share their first byte are not cut in half.
        assert_eq!(range(Some("p/é/"), Some("p/ê/")).listing_prefix(), Some("p/"));
        assert_eq!(range(Some("p/a/"), None).listing_prefix(), None);
        assert_eq!(range(Some("p/a "), Some("p/a!")).listing_prefix(), Some("p/a"));
        assert_eq!(range(Some("p/u003"), None).start_after().as_deref(), Some("p/u002"));
        assert_eq!(range(Some("p/a "), None).start_after(), None, "no control character");
        assert_eq!(successor("u00z").as_deref(), Some("u00{"));
        assert_eq!(
            successor("a\u{D7FF}").as_deref(),
            Some("a\u{E000}"),
            "surrogates skipped"
        );
        assert_eq!(successor("a\u{10FFFF}"), None);
    }
}
