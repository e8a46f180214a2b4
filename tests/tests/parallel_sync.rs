//! Range-parallel listing and adaptive concurrency against real servers
//! (moto and rclone): key ranges cut at folders list every key exactly once,
//! in order, whatever the names at their edges (spaces, `+`, `%`, `.`,
//! unicode, emoji, names sorting next to a cut); a sync listing many ranges
//! builds the same catalog as one listing them as one, cold and warm, while
//! folders appear and vanish; under injected 503 SlowDown the adaptive
//! limit backs off (settling lower than without) and the sync still ends
//! with the same catalog; the whole-user export reads ahead adaptively but
//! never holds more than the store's memory budget, in index order.

use archive_desk_harness::on_both_servers;
use std::collections::BTreeMap;

use archive_desk_core::codec::{encode, Encoding};
use archive_desk_core::export_user::{ExportFormat, ExportProgress, ExportUserOptions};
use archive_desk_core::store::KeyRange;
use archive_desk_core::{CancellationToken, Catalog, Layout, ObjectInfo, Store, SyncOptions, SyncReport};
use archive_desk_harness::fault_proxy::{Fault, FaultProxy, Match, Rule};
use archive_desk_harness::fixtures::{self, IndexState, Seeder};
use archive_desk_harness::{fresh_store, servers, session_for, sync_catalog, RawS3, ServerKind};
use aws_sdk_s3::primitives::ByteStream;
use futures::TryStreamExt;
use serde_json::{json, Value};
use tokio::sync::watch;

on_both_servers!(
    ranges_list_every_key_once_in_order,
    parallel_sync_equals_sequential_as_folders_come_and_go,
    sync_backs_off_under_slow_down_and_ends_the_same,
    export_reads_ahead_within_the_memory_budget,
);

/// Folder names that sort around each other in surprising ways: `a b/`,
/// `a+b/`, `a./`, `a.b/` and `a-b/` all come before `a/` (their second
/// byte is below `/`), `a0/` after it; `é` precomposed and decomposed;
/// emoji and CJK beyond every ASCII name.
fn odd_names(kind: ServerKind) -> Vec<&'static str> {
    ODD_NAMES
        .iter()
        .copied()
        // rclone stores keys as files and normalises names to NFC: a
        // decomposed `é` is the precomposed one there.
        .filter(|name| kind == ServerKind::Moto || *name != DECOMPOSED)
        .collect()
}

const DECOMPOSED: &str = "e\u{301}";

const ODD_NAMES: &[&str] = &[
    "a",
    "a b",
    "a+b",
    "a%20b",
    "a%2Fb",
    "a.",
    "a.b",
    "a-b",
    "a!",
    "a0",
    "a_at_x_com",
    "aa",
    "Z",
    "~tilde",
    "é",
    DECOMPOSED,
    "日本語",
    "😀 emoji",
];

async fn put(store: &Store, key: &str, body: Vec<u8>) {
    store
        .client()
        .put_object()
        .bucket(store.bucket())
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {key}: {}", aws_sdk_s3::error::DisplayErrorContext(e)));
}

async fn delete(store: &Store, key: &str) {
    store
        .client()
        .delete_object()
        .bucket(store.bucket())
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("delete {key}: {}", aws_sdk_s3::error::DisplayErrorContext(e)));
}

/// A folder named `name`: its index (`titled` in its one title) and two
/// conversation objects, one gzip.
async fn put_folder(store: &Store, name: &str, titled: &str) -> Vec<String> {
    let prefix = store.layout().prefix();
    let index = json!({
        "user_email": format!("{name}@odd.test"),
        "archived_conversations": [
            {"conversation_id": "c1", "title": format!("{titled} one")},
            {"conversation_id": "c2", "title": format!("{titled} two")},
        ],
    });
    let keys = vec![
        format!("{prefix}{name}/metadata.json"),
        format!("{prefix}{name}/c1.json"),
        format!("{prefix}{name}/c2.json.gz"),
    ];
    put(store, &keys[0], encode(&index, Encoding::Plain)).await;
    put(store, &keys[1], b"{}".to_vec()).await;
    put(store, &keys[2], encode(&json!({}), Encoding::Gzip)).await;
    keys
}

async fn listed(store: &Store, range: KeyRange, page_size: i32) -> Vec<String> {
    let pages: Vec<Vec<ObjectInfo>> = store.list_range_paged(range, page_size).try_collect().await.unwrap();
    pages.into_iter().flatten().map(|o| o.key).collect()
}

async fn ranges_list_every_key_once_in_order(kind: ServerKind) {
    let store = fresh_store(kind, Layout::default()).await;
    let names = odd_names(kind);
    let mut keys = Vec::new();
    for name in &names {
        keys.extend(put_folder(&store, name, name).await);
    }
    // Keys beside the folders: files named like a cut's stem and its
    // `StartAfter` (moto only: rclone keeps keys as files, and a file
    // cannot share a folder's name), one between, one outside the prefix.
    let prefix = store.layout().prefix().to_owned();
    let mut beside = vec![format!("{prefix}a-")];
    if kind == ServerKind::Moto {
        beside.extend([format!("{prefix}a"), format!("{prefix}a.")]);
    }
    for key in beside {
        put(&store, &key, b"x".to_vec()).await;
        keys.push(key);
    }
    put(&store, "elsewhere/a/metadata.json", b"{}".to_vec()).await;
    keys.sort_unstable();

    let sequential = listed(&store, KeyRange::default(), 1000).await;
    assert_eq!(sequential, keys, "one range is the whole prefix, in byte order");

    let layout = store.layout().clone();
    let mut cut_sets: Vec<Vec<&str>> = vec![names.clone(), vec![]];
    cut_sets.extend(names.iter().map(|name| vec![*name]));
    // Cuts at names that are no folder but sort right next to ones that are
    // (and `a/b`, not a folder name at all, ignored).
    cut_sets.push(vec!["a.", "a!", "a b!", "a/b", "0", "a0", "\u{10FFFF}"]);
    let mut range_sets: Vec<(String, Vec<KeyRange>)> = cut_sets
        .iter()
        .map(|cuts| {
            (
                format!("{cuts:?}"),
                KeyRange::split_at_folders(&layout, cuts.iter().copied()),
            )
        })
        .collect();
    // Cuts at starts of names, as the warm sync makes them.
    let starts = ["a", "a ", "a.", "a0", "aa", "a_", "b", "é", "😀", "\u{10FFFF}"].map(str::to_owned);
    range_sets.push((format!("{starts:?}"), KeyRange::split_at(&layout, starts.clone())));
    for page_size in [1000, 2] {
        for (cuts, ranges) in &range_sets {
            let ranges = ranges.clone();
            let mut side_by_side = Vec::new();
            for range in ranges {
                let part = listed(&store, range.clone(), page_size).await;
                assert!(part.iter().all(|k| range.contains(k)), "{range:?} listed {part:?}");
                side_by_side.extend(part);
            }
            assert_eq!(side_by_side, sequential, "cut at {cuts}, {page_size} keys a page");
        }
    }
}

/// What a catalog holds, comparable: folder -> (email, error?, entries with
/// their titles and storage classes).
type Contents = BTreeMap<String, (Option<String>, bool, Vec<(String, Option<String>, Option<String>)>)>;

fn contents(catalog: &Catalog) -> Contents {
    catalog
        .users()
        .unwrap()
        .into_iter()
        .map(|u| {
            let entries = catalog
                .user_entries(&u.folder)
                .unwrap()
                .into_iter()
                .map(|e| (e.conversation_id, e.title, e.storage_class))
                .collect();
            (u.folder, (u.email, u.index_error.is_some(), entries))
        })
        .collect()
}

/// The parts of two reports that must agree whatever the ranges.
fn same_listing(a: &SyncReport, b: &SyncReport) {
    let view = |r: &SyncReport| {
        let mut unusable = r.unusable_folders.clone();
        unusable.sort();
        (
            r.objects_listed,
            r.users_listed,
            r.indexes_fetched,
            r.users_unchanged,
            r.users_dropped,
            r.users,
            r.conversations,
            unusable,
        )
    };
    assert_eq!(view(a), view(b), "\nside by side: {a:?}\none range: {b:?}");
}

async fn parallel_sync_equals_sequential_as_folders_come_and_go(kind: ServerKind) {
    let store = fresh_store(kind, Layout::default()).await;
    let names = odd_names(kind);
    for name in &names {
        put_folder(&store, name, name).await;
    }
    // A folder whose name is not a safe key part: listed, reported, skipped.
    put_folder(&store, "x..y", "unsafe").await;
    let dir = tempfile::tempdir().unwrap();
    let (side_by_side, one) = (
        Catalog::open(&dir.path().join("ranges.sqlite")).unwrap(),
        Catalog::open(&dir.path().join("one.sqlite")).unwrap(),
    );
    // Cut at every folder (cold: from the delimiter listing; warm: from the
    // catalog), against never cut.
    let cut_everywhere = SyncOptions {
        range_keys: 1,
        range_folders: 1,
        ..SyncOptions::default()
    };
    let never_cut = SyncOptions {
        range_keys: u64::MAX,
        range_folders: usize::MAX,
        ..SyncOptions::default()
    };

    let cold = sync_catalog(&store, &side_by_side, &cut_everywhere).await;
    let cold_one = sync_catalog(&store, &one, &never_cut).await;
    assert_eq!(cold_one.list_ranges, 1);
    assert_eq!(cold.list_ranges, names.len() as u64, "a range per usable folder");
    same_listing(&cold, &cold_one);
    assert_eq!(cold.users, names.len() as u64);
    assert_eq!(cold.unusable_folders, ["archived_conversations/x..y/"]);
    let want = contents(&one);
    assert_eq!(contents(&side_by_side), want);
    assert_eq!(want["a b"].2[0].1.as_deref(), Some("a b one"));
    assert_eq!(want["😀 emoji"].2[1].2.as_deref(), Some("STANDARD"));

    // Between syncs: folders vanish (one at an edge of the first range, one
    // in the middle, the last), new ones appear right beside the cuts the
    // catalog now makes, and one index changes.
    let prefix = store.layout().prefix().to_owned();
    for gone in ["a b", "a.", "😀 emoji"] {
        for name in ["metadata.json", "c1.json", "c2.json.gz"] {
            delete(&store, &format!("{prefix}{gone}/{name}")).await;
        }
    }
    for new in ["a b!", "a", "a..b", "a.c", "a/", "a0 ", "é2", "😀", "🦀 crab"] {
        // Folder names with `/`, `..` or an edge space are not made here:
        // those are the layout's to refuse, not the listing's.
        if !new.contains('/') && !new.contains("..") && new.trim() == new && new != "a" {
            put_folder(&store, new, new).await;
        }
    }
    put_folder(&store, "a", "changed").await;

    let warm = sync_catalog(&store, &side_by_side, &cut_everywhere).await;
    let warm_one = sync_catalog(&store, &one, &never_cut).await;
    same_listing(&warm, &warm_one);
    assert_eq!(warm.users_dropped, 3, "{warm:?}");
    assert!(
        warm.list_ranges > 10,
        "warm ranges come from the catalog's folders: {warm:?}"
    );
    assert_eq!(
        warm.indexes_fetched,
        1 + 5,
        "the changed index and the 5 new ones: {warm:?}"
    );
    let want = contents(&one);
    assert_eq!(contents(&side_by_side), want);
    assert!(!want.contains_key("a b") && want.contains_key("a b!") && want.contains_key("🦀 crab"));
    assert_eq!(want["a"].2[0].1.as_deref(), Some("changed one"));
}

/// `n` users `u{i}@example.com`, each with an index of one conversation and its object.
async fn users_archive(kind: ServerKind, n: usize) -> Store {
    let store = fresh_store(kind, Layout::default()).await;
    let mut seeder = Seeder::new(Layout::default(), kind.keeps_storage_class());
    for i in 0..n {
        let email = format!("u{i:04}@example.com");
        let doc = fixtures::conversation(&format!("c{i:04}"), &email, &format!("Topic of user {i}"), 1);
        seeder.user(&email, IndexState::Present, &[&doc]);
        seeder.good(&email, &doc, ".json", Encoding::Plain);
    }
    seeder.write(&store.client(), store.bucket()).await;
    store
}

async fn sync_backs_off_under_slow_down_and_ends_the_same(kind: ServerKind) {
    let direct = users_archive(kind, 400).await;
    let proxy = FaultProxy::start(servers::shared(kind));
    let store = Store::connect(proxy.store_config(direct.bucket())).await.unwrap();
    // Latency makes concurrency pay: throughput follows the limit up.
    let latency = || {
        Rule::new(
            "latency",
            Match::any(),
            Fault::Latency {
                fixed_ms: 40,
                jitter_ms: 10,
            },
        )
    };
    let dir = tempfile::tempdir().unwrap();

    proxy.set_rules(vec![latency()]);
    let calm_catalog = Catalog::open(&dir.path().join("calm.sqlite")).unwrap();
    let calm = sync_catalog(&store, &calm_catalog, &SyncOptions::default()).await;

    proxy.set_rules(vec![
        latency(),
        Rule::new(
            "slow-down",
            Match::any().method("GET").key_suffix("metadata.json"),
            Fault::slow_down(),
        )
        .probability(0.2),
    ]);
    let pushed_catalog = Catalog::open(&dir.path().join("pushed.sqlite")).unwrap();
    let pushed = sync_catalog(&store, &pushed_catalog, &SyncOptions::default()).await;

    eprintln!("calm: {calm:?}\npushed: {pushed:?}");
    assert!(proxy.hits("slow-down") > 20, "{} SlowDowns", proxy.hits("slow-down"));
    let (calm_f, pushed_f) = (calm.fetch_concurrency, pushed.fetch_concurrency);
    assert_eq!(calm_f.backoffs, 0, "{calm:?}");
    // Two runs' settled limits are not compared: on a busy machine a calm
    // run's throughput stops rising early too (the unit tests in
    // adaptive.rs compare them on a simulated clock). What must hold here:
    // the calm run ramped past its start of 8, and under SlowDown the limit
    // was cut and ended below the highest it reached.
    assert!(calm_f.peak >= 16, "it ramped up while throughput followed: {calm_f:?}");
    assert!(pushed_f.backoffs > 0, "{pushed_f:?}");
    assert!(
        pushed_f.settled < pushed_f.peak,
        "under SlowDown it comes down from its peak: {pushed_f:?}"
    );
    assert_eq!(calm_f.ceiling, 256);
    assert_eq!((pushed.users, pushed.indexes_fetched), (400, 400));
    same_listing(&pushed, &calm);
    assert_eq!(contents(&pushed_catalog), contents(&calm_catalog));
}

async fn export_reads_ahead_within_the_memory_budget(kind: ServerKind) {
    const EMAIL: &str = "reader@example.com";
    let direct = fresh_store(kind, Layout::default()).await;
    // 80 conversations of the same size; ids end in `-x` so the proxy can
    // tell their GETs from the index's.
    let docs: Vec<Value> = (0..80)
        .map(|i| fixtures::conversation(&format!("c{i:03}-x"), EMAIL, &format!("Ahead {i}"), 40))
        .collect();
    let mut seeder = Seeder::new(Layout::default(), false);
    seeder.user(EMAIL, IndexState::Present, &docs.iter().collect::<Vec<_>>());
    for doc in &docs {
        seeder.good(EMAIL, doc, ".json", Encoding::Plain);
    }
    seeder.write(&direct.client(), direct.bucket()).await;
    let size = encode(&docs[0], Encoding::Plain).len() as u64;

    let proxy = FaultProxy::start(servers::shared(kind));
    proxy.set_rules(vec![Rule::new(
        "latency",
        Match::any(),
        Fault::Latency {
            fixed_ms: 20,
            jitter_ms: 5,
        },
    )]);
    let dir = tempfile::tempdir().unwrap();
    let export = |budget: Option<u64>, out: &'static str| {
        let (proxy, dir, bucket) = (&proxy, &dir, direct.bucket().to_owned());
        async move {
            let mut config = proxy.store_config(&bucket);
            if let Some(budget) = budget {
                config.limits.max_object_bytes = budget;
                config.memory_budget_bytes = budget;
            }
            let (session, _audit) = session_for(config).await;
            proxy.track_in_flight(Match::any().method("GET").key_suffix("-x.json"));
            let path = dir.path().join(out);
            let (progress, _) = watch::channel(ExportProgress::default());
            let options = ExportUserOptions {
                format: ExportFormat::JsonLines,
                ..ExportUserOptions::default()
            };
            let report = session
                .export_user(EMAIL, &path, &options, &progress, &CancellationToken::new())
                .await
                .unwrap();
            let ids: Vec<String> = std::fs::read_to_string(&path)
                .unwrap()
                .lines()
                .map(|l| {
                    serde_json::from_str::<Value>(l).unwrap()["conversation"]["id"]
                        .as_str()
                        .unwrap()
                        .to_owned()
                })
                .collect();
            (report, ids, proxy.peak_in_flight())
        }
    };
    let in_order: Vec<String> = (0..80).map(|i| format!("c{i:03}-x")).collect();

    // A budget of four conversations' worth: never more than four fetched
    // or waiting at once, however far the limit would go.
    let four = 4 * size.div_ceil(1024) * 1024;
    let (small, small_ids, small_peak) = export(Some(four), "small.jsonl").await;
    assert_eq!(small_ids, in_order);
    assert!(small.skipped.is_empty(), "{:?}", small.skipped);
    assert!(
        (2..=4).contains(&small_peak),
        "{small_peak} GETs at once within a budget of 4"
    );

    // The default budget: it reads ahead beyond the old fixed 4, and ramps.
    let (large, large_ids, large_peak) = export(None, "large.jsonl").await;
    assert_eq!(large_ids, in_order);
    assert!(large_peak > 4, "{large_peak} GETs at once");
    assert!(large.read_ahead.peak >= 16, "{:?}", large.read_ahead);
    assert_eq!(large.read_ahead.ceiling, 64);
}
