//! The sync engine: the catalog brought in line with the bucket. A listing
//! of the whole prefix without a delimiter (each index's ETag and each
//! conversation's storage class come with it), in key ranges listed side by
//! side and cut at user-folder boundaries — where the catalog knows the
//! folders, ranges of about `range_keys` keys; on a cold sync, every
//! `range_folders` folders of a delimiter listing of the top level, each
//! range starting as soon as its end is known (`ranges.rs`) — grouped by user folder;
//! only changed indexes are fetched, through the store's budgeted read;
//! outcomes are written in batches by one writer thread. Range listings and
//! fetches each run under an adaptive concurrency limit (`adaptive.rs`,
//! AIMD up to `concurrency`); the report says where each settled.
//! Resumable, cancellable, progress on a `watch` channel, and a shared
//! back-off on 503 SlowDown that outlasts the retries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::stream::{self, BoxStream};
use futures::StreamExt;
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::ranges::{discovered_ranges, plan_ranges, Ranges};
use super::storage::{Known, Outcome};
use super::{Catalog, EntryRecord, UserRecord};
use crate::adaptive::{self, AdaptiveLimit, ConcurrencyReport};
use crate::error::{Error, Result};
use crate::layout::{Layout, ObjectKind, UserFolder, INDEX_FILE};
use crate::store::{KeyRange, Store, Throttle};

/// Attempts of the sync's client per request.
const SYNC_ATTEMPTS: u32 = 8;

// ---------------------------------------------------------------------------
// Sync

/// How a sync runs.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// The most indexes fetched, and the most key ranges listed, at once:
    /// the ceiling of each adaptive limit (they settle below it when the
    /// store stops getting faster or pushes back).
    pub concurrency: usize,
    /// Users written per transaction.
    pub batch_users: usize,
    /// Keys per listed range, about, where the catalog knows the folders
    /// (counted from its users' conversations).
    pub range_keys: u64,
    /// Folders per listed range on a cold sync (cut from a delimiter listing).
    pub range_folders: usize,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            concurrency: DEFAULT_CONCURRENCY,
            batch_users: 500,
            // One page each (ListObjectsV2 answers up to 1,000 keys): a
            // warm sync lists its whole bucket in one round trip.
            range_keys: 1_000,
            range_folders: 250,
        }
    }
}

/// The default ceiling: at 80 ms a request, 256 in flight is 3,200
/// requests a second; the memory budget bounds what they hold.
pub const DEFAULT_CONCURRENCY: usize = 256;

/// Where a sync is; sent on a `watch` channel as it goes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct SyncProgress {
    /// User folders seen in the listing so far.
    pub users_listed: u64,
    /// Users handled (fetched, or found unchanged).
    pub users_done: u64,
    /// Best estimate of the number of users: exact once the listing is complete.
    pub estimated_total: u64,
    pub listing_complete: bool,
    pub indexes_fetched: u64,
    /// This sync continues one that was interrupted.
    pub resumed: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct SyncReport {
    pub resumed: bool,
    /// The catalog was built for another bucket or prefix and was emptied first.
    pub reset: bool,
    pub list_requests: u64,
    /// Key ranges listed side by side.
    pub list_ranges: u64,
    pub objects_listed: u64,
    pub users_listed: u64,
    pub indexes_fetched: u64,
    pub users_unchanged: u64,
    /// Users whose storage classes changed without their index changing.
    pub storage_class_updates: u64,
    pub users_dropped: u64,
    /// Indexes that could not be read (corrupt): kept as users with an error.
    pub index_errors: u64,
    /// Folders whose names are not safe key parts; skipped.
    pub unusable_folders: Vec<String>,
    pub users: u64,
    pub conversations: u64,
    pub elapsed_ms: u64,
    /// Indexes fetched at once: where the adaptive limit settled.
    pub fetch_concurrency: ConcurrencyReport,
    /// Ranges listed at once: where the adaptive limit settled.
    pub list_concurrency: ConcurrencyReport,
}

/// One folder as the listing shows it.
#[derive(Debug)]
struct FolderListing {
    folder: UserFolder,
    index_etag: Option<String>,
    index_listed: bool,
    /// Conversation id -> storage class, from the listing.
    classes: HashMap<String, String>,
    signature: i64,
}

/// Sync the catalog with the bucket (cold when empty, warm otherwise; an
/// interrupted sync resumes). `progress` gets updates as it goes; cancelling
/// `cancel` stops it after writing what was fetched, with `Error::Cancelled`.
pub async fn sync(
    store: &Store,
    catalog: &Catalog,
    options: &SyncOptions,
    progress: &watch::Sender<SyncProgress>,
    cancel: &CancellationToken,
) -> Result<SyncReport> {
    let started = Instant::now();
    let layout = store.layout().clone();
    let start = {
        let catalog = catalog.clone();
        let (bucket, prefix) = (store.bucket().to_owned(), layout.prefix().to_owned());
        tokio::task::spawn_blocking(move || catalog.begin_sync(&bucket, &prefix))
            .await
            .expect("catalog task")?
    };
    let mut report = SyncReport {
        resumed: start.resumed,
        reset: start.reset,
        ..Default::default()
    };
    progress.send_modify(|p| {
        *p = SyncProgress {
            estimated_total: start.known.len() as u64,
            resumed: start.resumed,
            ..Default::default()
        }
    });

    // More attempts than other operations: a sync makes thousands of
    // requests, and the adaptive limits below slow it when the store pushes back.
    let store = &store.with_attempts(SYNC_ATTEMPTS);
    let counts = Arc::new(Mutex::new(ListingCounts::default()));
    let ranges = plan_ranges(store, &start.known, options);
    let planned = match &ranges {
        Ranges::Planned(ranges) => Some(ranges.len().max(1)),
        Ranges::Discovered => None,
    };
    // Where the catalog knows the folders, every range (about a page each)
    // is listed at once: the warm listing is one round trip. Not so in the
    // background of the app (`Store::in_background`): there hundreds of
    // listings sent together would sit at a busy server ahead of the
    // person's next look-up (measured: ~1 s on rclone at 80 ms), and
    // requests already sent cannot be held back; it starts slow and grows
    // while the store keeps up. Fetches start where the last sync settled,
    // so a warm sync's few changed indexes go out together rather than
    // after a slow start. Both still back off when the store pushes back.
    let list_start = match planned {
        Some(ranges) if !store.is_background() => ranges,
        _ => adaptive::INITIAL_LIMIT,
    };
    let list_limit = AdaptiveLimit::starting_at(options.concurrency, list_start);
    let fetch_limit = AdaptiveLimit::starting_at(
        options.concurrency,
        start
            .last_fetch_concurrency
            .unwrap_or(adaptive::INITIAL_LIMIT)
            .max(adaptive::INITIAL_LIMIT),
    );
    // The delimiter listing that cuts a cold sync's ranges reports push-backs too.
    let ranges = match ranges {
        Ranges::Planned(ranges) => stream::iter(ranges.into_iter().map(Ok)).boxed(),
        Ranges::Discovered => discovered_ranges(
            store.with_overload_signals(&list_limit),
            options.range_folders.max(1),
            counts.clone(),
        )
        .boxed(),
    };
    let (listing_tx, listing_rx) = mpsc::channel::<FolderListing>(4096);
    let lister = tokio::spawn(list_folders(
        store.with_overload_signals(&list_limit),
        layout.clone(),
        ranges,
        list_limit.clone(),
        listing_tx,
        counts.clone(),
    ));

    let (batch_tx, mut batch_rx) = mpsc::channel::<Vec<Outcome>>(4);
    let writer = {
        let catalog = catalog.clone();
        let sync_id = start.sync_id;
        tokio::task::spawn_blocking(move || -> Result<()> {
            while let Some(batch) = batch_rx.blocking_recv() {
                catalog.write_batch(sync_id, &batch)?;
            }
            Ok(())
        })
    };

    let known = Arc::new(start.known);
    let throttle = Arc::new(Throttle::default());
    let fetch_store = store.with_overload_signals(&fetch_limit);
    let outcomes = adaptive::buffer_unordered(
        folders_of(listing_rx).map(|folder| {
            let (store, known, throttle, limit) = (
                fetch_store.clone(),
                known.clone(),
                throttle.clone(),
                fetch_limit.clone(),
            );
            async move { handle_folder(&store, &known, &throttle, &limit, folder).await }
        }),
        fetch_limit.clone(),
    );
    let mut outcomes = std::pin::pin!(outcomes);

    let mut batch = Vec::with_capacity(options.batch_users);
    let mut last_flush = Instant::now();
    let mut failure = None;
    loop {
        let next = tokio::select! {
            biased;
            _ = cancel.cancelled() => {
                failure = Some(Error::Cancelled { what: "catalog sync".into() });
                break;
            }
            next = outcomes.next() => next,
        };
        let Some(outcome) = next else { break };
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        match &outcome {
            Outcome::Unchanged { .. } => report.users_unchanged += 1,
            Outcome::Classes { .. } => report.storage_class_updates += 1,
            Outcome::Index(u) => {
                report.indexes_fetched += 1;
                report.index_errors += u64::from(u.index_error.is_some());
            }
            Outcome::NoIndex => {}
        }
        let listed = counts.lock().expect("counts").folders;
        progress.send_modify(|p| {
            p.users_done += 1;
            p.users_listed = listed;
            p.indexes_fetched = report.indexes_fetched;
            p.estimated_total = p.estimated_total.max(listed);
        });
        if !matches!(outcome, Outcome::NoIndex) {
            batch.push(outcome);
        }
        // Bounded batches, and no long wait for a slow trickle either.
        if batch.len() >= options.batch_users || last_flush.elapsed() > Duration::from_secs(2) {
            if batch_tx.send(std::mem::take(&mut batch)).await.is_err() {
                break; // the writer failed; its error is collected below
            }
            last_flush = Instant::now();
        }
    }
    lister.abort();
    // Write what was fetched, even when stopping early: a resumed sync does
    // not fetch it again.
    if !batch.is_empty() {
        let _ = batch_tx.send(batch).await;
    }
    drop(batch_tx);
    writer.await.expect("catalog writer")?;
    if let Some(e) = failure {
        return Err(e);
    }
    let counts = std::mem::take(&mut *counts.lock().expect("counts"));
    if let Some(e) = counts.error {
        return Err(e);
    }
    if !counts.complete {
        // The writer stopped early; its error was returned above.
        return Err(Error::Internal("catalog sync: the listing stopped early".into()));
    }
    report.list_requests = counts.requests;
    report.list_ranges = counts.ranges;
    report.objects_listed = counts.objects;
    report.users_listed = counts.folders;
    report.unusable_folders = counts.unusable;

    let finish = {
        let catalog = catalog.clone();
        let (sync_id, settled) = (start.sync_id, fetch_limit.report().settled);
        tokio::task::spawn_blocking(move || catalog.finish_sync(sync_id, settled))
            .await
            .expect("catalog task")?
    };
    report.users_dropped = finish.dropped;
    report.users = finish.users;
    report.conversations = finish.conversations;
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    report.fetch_concurrency = fetch_limit.report();
    report.list_concurrency = list_limit.report();
    progress.send_modify(|p| {
        p.listing_complete = true;
        p.users_listed = counts.folders;
        p.estimated_total = counts.folders;
    });
    Ok(report)
}

#[derive(Debug, Default)]
pub(super) struct ListingCounts {
    /// Requests of the delimiter listing that cuts a cold sync's ranges.
    pub(super) requests: u64,
    ranges: u64,
    objects: u64,
    folders: u64,
    unusable: Vec<String>,
    /// The listing reached its end.
    complete: bool,
    /// The listing failed; the sync reports it after writing what it has.
    error: Option<Error>,
}

/// The folders the lister sends, as a stream.
fn folders_of(rx: mpsc::Receiver<FolderListing>) -> impl futures::Stream<Item = FolderListing> {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) })
}

/// FNV-1a: a hash that stays the same across builds (it is stored).
fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(hash, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// Every range listed, side by side under `limit`, each grouped by user
/// folder; a failure stops the listing (the sync then reports it).
async fn list_folders(
    store: Store,
    layout: Layout,
    ranges: BoxStream<'static, Result<KeyRange>>,
    limit: AdaptiveLimit,
    tx: mpsc::Sender<FolderListing>,
    counts: Arc<Mutex<ListingCounts>>,
) {
    let listed = adaptive::buffer_unordered(
        ranges.map(|range| {
            let (store, layout, tx, counts, limit) =
                (store.clone(), layout.clone(), tx.clone(), counts.clone(), limit.clone());
            async move { list_range_folders(&store, &layout, range?, &tx, &counts, &limit).await }
        }),
        limit.clone(),
    );
    let mut listed = std::pin::pin!(listed);
    while let Some(result) = listed.next().await {
        match result {
            Ok(true) => {}
            Ok(false) => return, // the receiver is gone (cancelled)
            Err(e) => {
                counts.lock().expect("counts").error = Some(e);
                return;
            }
        }
    }
    counts.lock().expect("counts").complete = true;
}

/// One range's listing, grouped by user folder: keys of one folder are
/// contiguous in a ListObjectsV2 listing, and all in one range (see
/// `KeyRange`), so each folder is sent once its last key is seen. False
/// when the receiver is gone.
async fn list_range_folders(
    store: &Store,
    layout: &Layout,
    range: KeyRange,
    tx: &mpsc::Sender<FolderListing>,
    counts: &Mutex<ListingCounts>,
    limit: &AdaptiveLimit,
) -> Result<bool> {
    let prefix = layout.prefix().to_owned();
    let mut current: Option<(String, Vec<ListedObject>)> = None;
    let count = |f: &dyn Fn(&mut ListingCounts)| f(&mut counts.lock().expect("counts"));
    // Send a finished folder; false when the receiver is gone (cancelled).
    let emit = |name: String, objects: Vec<ListedObject>| {
        let listing = folder_listing(layout, &name, objects);
        match &listing {
            Some(_) => count(&|c| c.folders += 1),
            None => count(&|c| c.unusable.push(format!("{prefix}{name}/"))),
        }
        async move {
            match listing {
                Some(l) => tx.send(l).await.is_ok(),
                None => true,
            }
        }
    };
    count(&|c| c.ranges += 1);
    let mut pages = std::pin::pin!(store.list_range(range));
    while let Some(page) = pages.next().await {
        let page = page?;
        limit.completed();
        count(&|c| {
            c.requests += 1;
            c.objects += page.len() as u64;
        });
        for object in page {
            let Some((name, rest)) = object.key.strip_prefix(prefix.as_str()).and_then(|r| r.split_once('/')) else {
                continue; // not inside a user folder
            };
            if current.as_ref().is_none_or(|(f, _)| f != name) {
                if let Some((f, objects)) = current.take() {
                    if !emit(f, objects).await {
                        return Ok(false);
                    }
                }
                current = Some((name.to_owned(), Vec::new()));
            }
            current.as_mut().expect("set above").1.push(ListedObject {
                name: rest.to_owned(),
                etag: object.etag,
                storage_class: object.storage_class,
            });
        }
    }
    if let Some((f, objects)) = current.take() {
        if !emit(f, objects).await {
            return Ok(false);
        }
    }
    Ok(true)
}

/// One listed key of a folder, relative to it.
#[derive(Debug)]
struct ListedObject {
    name: String,
    etag: Option<String>,
    storage_class: String,
}

/// A folder's listed keys as what the sync needs: the index's ETag, the
/// conversations' storage classes and a signature of them. `None` for a
/// folder name that is not a safe key part.
fn folder_listing(layout: &Layout, name: &str, objects: Vec<ListedObject>) -> Option<FolderListing> {
    let folder = UserFolder::parse(name).ok()?;
    let user_prefix = layout.user_prefix(&folder);
    let mut listing = FolderListing {
        folder,
        index_etag: None,
        index_listed: false,
        classes: HashMap::new(),
        signature: 0,
    };
    let mut signature = 0xcbf2_9ce4_8422_2325u64;
    for o in objects {
        if o.name == INDEX_FILE {
            listing.index_listed = true;
            listing.index_etag = o.etag;
            continue;
        }
        let key = format!("{user_prefix}{}", o.name);
        if let ObjectKind::Conversation { id, gz_suffix } = layout.classify(&listing.folder, &key) {
            signature = fnv1a(signature, o.name.as_bytes());
            signature = fnv1a(signature, o.storage_class.as_bytes());
            // `<id>.json` wins over `<id>.json.gz`, as when opening.
            if !gz_suffix || !listing.classes.contains_key(id.as_str()) {
                listing.classes.insert(id.as_str().to_owned(), o.storage_class);
            }
        }
    }
    listing.signature = signature as i64;
    Some(listing)
}

/// Decide what a listed folder needs, fetching its index if it changed.
async fn handle_folder(
    store: &Store,
    known: &HashMap<String, Known>,
    throttle: &Throttle,
    limit: &AdaptiveLimit,
    listing: FolderListing,
) -> Result<Outcome> {
    if !listing.index_listed {
        return Ok(Outcome::NoIndex);
    }
    let folder = listing.folder.to_string();
    if let Some(Known { etag, signature, .. }) = known.get(&folder) {
        if etag.is_some() && *etag == listing.index_etag {
            return Ok(if *signature == listing.signature {
                Outcome::Unchanged { folder }
            } else {
                Outcome::Classes {
                    folder,
                    signature: listing.signature,
                    classes: listing.classes,
                }
            });
        }
    }
    let key = store.layout().index_key(&listing.folder);
    let fetched = store.read_index_throttled(&key, throttle).await;
    // Only fetches tell the limit about the store's rate (unchanged
    // folders are decided above without a request).
    limit.completed();
    let (index, etag) = match fetched {
        Ok(fetched) => fetched,
        // Deleted between the listing and now: as if it was never listed.
        Err(Error::NotFound { .. }) => return Ok(Outcome::NoIndex),
        Err(e @ (Error::Decode { .. } | Error::Shape { .. } | Error::TooLarge { .. })) => {
            return Ok(Outcome::Index(UserRecord {
                email: listing.folder.guessed_email(),
                email_from_index: false,
                index_etag: listing.index_etag,
                index_error: Some(e.to_string()),
                objects_signature: listing.signature,
                entries: Vec::new(),
                folder,
            }));
        }
        Err(e) => return Err(e),
    };
    let (email, email_from_index) = match index.user_email() {
        Some(e) => (Some(e.to_owned()), true),
        None => (listing.folder.guessed_email(), false),
    };
    let entries = index
        .entries()
        .map(|e| {
            let conversation_id = e.conversation_id();
            EntryRecord {
                title: e.title().map(str::to_owned),
                created_at: e.created_at().map(str::to_owned),
                archived_at: e.archived_at().map(str::to_owned),
                message_count: e.message_count(),
                storage_class: listing.classes.get(&conversation_id).cloned(),
                conversation_id,
            }
        })
        .collect();
    Ok(Outcome::Index(UserRecord {
        folder,
        email,
        email_from_index,
        // The listing's ETag, compared with the next listing's (some stores
        // give a GET another ETag form than a listing).
        index_etag: listing.index_etag.or(etag),
        index_error: None,
        objects_signature: listing.signature,
        entries,
    }))
}
