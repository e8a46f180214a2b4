//! The key ranges a sync lists side by side, cut at user-folder
//! boundaries: planned from the folders the catalog knows (starts of names
//! under which about `range_keys` keys lie, found in a name trie), or, on
//! a cold sync, cut every `range_folders` folders from a delimiter listing
//! of the top level as its pages come in. Whatever the cuts, every key is
//! in exactly one range (`KeyRange`), so the result never depends on them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::stream;
use futures::StreamExt;

use super::storage::Known;
use super::sync::{ListingCounts, SyncOptions};
use crate::error::Result;
use crate::store::{successor, KeyRange, Store};

/// The key ranges to list. Where the catalog knows folders, cut at starts
/// of names under which at most `range_keys` keys lie (a folder's
/// conversations and its index, as the catalog last saw them; `trie_leaves`):
/// folders that appeared since fall into the range around them or a gap
/// between two, and ones that vanished only make a range emptier.
/// Otherwise from a delimiter listing of the top level.
pub(super) fn plan_ranges(store: &Store, known: &HashMap<String, Known>, options: &SyncOptions) -> Ranges {
    if known.is_empty() {
        return Ranges::Discovered;
    }
    // In name order (a trie's), each folder weighing its keys.
    let mut folders: Vec<(Vec<char>, u64)> = known
        .iter()
        .map(|(folder, k)| (folder.chars().collect(), k.conversations + 1))
        .collect();
    folders.sort_unstable();
    let target = options.range_keys.max(1);
    let mut leaves = Vec::new();
    trie_leaves(&folders, 0, target, &mut leaves);
    let cuts = cuts_of(leaves, target);
    Ranges::Planned(KeyRange::split_at(store.layout(), cuts))
}

/// The ranges a sync lists: planned from the catalog, or cut from a
/// delimiter listing as it goes.
pub(super) enum Ranges {
    Planned(Vec<KeyRange>),
    Discovered,
}

/// Cuts around the leaves: each leaf is `[start, successor(start))`, so
/// its range lists under its own prefix; neighbouring leaves much lighter
/// than `target` share one (one request where each would cost one, under
/// their common prefix).
fn cuts_of(leaves: Vec<(String, u64)>, target: u64) -> Vec<String> {
    let mut cuts = Vec::new();
    let mut group: Option<(String, String, u64)> = None;
    for (start, weight) in leaves {
        let end = successor(&start).unwrap_or_else(|| start.clone());
        group = match group {
            Some((first, _, sum)) if sum + weight <= target / 2 => Some((first, end, sum + weight)),
            done => {
                if let Some((first, last, _)) = done {
                    cuts.extend([first, last]);
                }
                Some((start, end, weight))
            }
        };
    }
    if let Some((first, last, _)) = group {
        cuts.extend([first, last]);
    }
    cuts.dedup();
    cuts
}

/// The starts of names under which at most `target` keys lie, found as a
/// trie's nodes: a node too heavy is split by the next character (a folder
/// whose name ends at the node is left to the gaps between the ranges;
/// every key is in some range whatever the cuts). Ranges cut at such
/// starts list under a prefix of their own (`KeyRange`), which spares
/// stores that walk everything under the prefix for each page; on S3 it
/// makes no difference.
fn trie_leaves(folders: &[(Vec<char>, u64)], depth: usize, target: u64, leaves: &mut Vec<(String, u64)>) {
    let weight: u64 = folders.iter().map(|f| f.1).sum();
    if weight <= target || folders.len() <= 1 {
        if depth > 0 {
            leaves.push((folders[0].0[..depth].iter().collect(), weight));
        }
        return;
    }
    for node in folders.chunk_by(|a, b| a.0.get(depth) == b.0.get(depth)) {
        if node[0].0.len() > depth {
            trie_leaves(node, depth + 1, target, leaves);
        }
    }
}

/// Ranges of `per_range` folders each, cut from the users listing (a
/// delimiter listing: 1,000 folders a request) as it goes, so the first
/// ranges are listed while the next pages of folders come in.
pub(super) fn discovered_ranges(
    store: Store,
    per_range: usize,
    counts: Arc<Mutex<ListingCounts>>,
) -> impl futures::Stream<Item = Result<KeyRange>> + Send + 'static {
    let layout = store.layout().clone();
    let pages = Box::pin(store.list_users());
    // (pages, start of the open range, folders seen, ended)
    stream::unfold(
        (pages, None::<String>, 0usize, false),
        move |(mut pages, mut start, mut seen, ended)| {
            let (layout, counts) = (layout.clone(), counts.clone());
            async move {
                if ended {
                    return None;
                }
                loop {
                    let page = match pages.next().await {
                        None => {
                            let last = vec![Ok(KeyRange { start, end: None })];
                            return Some((last, (pages, None, seen, true)));
                        }
                        Some(Err(e)) => return Some((vec![Err(e)], (pages, start, seen, true))),
                        Some(Ok(page)) => page,
                    };
                    counts.lock().expect("counts").requests += 1;
                    let mut ranges = Vec::new();
                    for folder in &page.users {
                        if seen > 0 && seen % per_range == 0 {
                            let cut = layout.user_prefix(folder);
                            ranges.push(Ok(KeyRange {
                                start: start.replace(cut.clone()),
                                end: Some(cut),
                            }));
                        }
                        seen += 1;
                    }
                    if !ranges.is_empty() {
                        return Some((ranges, (pages, start, seen, false)));
                    }
                }
            }
        },
    )
    .flat_map(stream::iter)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 3,000 numbered folders of 11 keys, 3,000 keys a range: a range per
    /// hundred folders, each under its own prefix (`u00` … `u29`); light
    /// leaves share a range.
    #[test]
    fn ranges_follow_the_starts_of_names() {
        let mut folders: Vec<(Vec<char>, u64)> = (0..3000)
            .map(|i| (format!("u{i:04}_at_x_com").chars().collect(), 11))
            .collect();
        folders.sort_unstable();
        let mut leaves = Vec::new();
        trie_leaves(&folders, 0, 3000, &mut leaves);
        let want: Vec<(String, u64)> = (0..30).map(|i| (format!("u{i:02}"), 1100)).collect();
        assert_eq!(leaves, want);
        // Each leaf from its start to its successor; `u0:` to `u10` is the
        // gap where a folder like `u0~x` would be.
        let cuts = cuts_of(leaves, 3000);
        let mut want: Vec<String> = (0..30).map(|i| format!("u{i:02}")).collect();
        want.extend(["u0:", "u1:", "u2:"].map(str::to_owned));
        want.sort_unstable();
        assert_eq!(cuts, want);

        let light = vec![("a".to_owned(), 10), ("b".to_owned(), 10), ("c".to_owned(), 2000)];
        assert_eq!(cuts_of(light, 3000), ["a", "c", "d"]);
        // A small bucket is one range.
        let mut leaves = Vec::new();
        trie_leaves(&folders[..10], 0, 3000, &mut leaves);
        assert!(leaves.is_empty());
    }
}
