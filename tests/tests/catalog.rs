//! The local catalog against real servers (moto and rclone): a cold sync
//! equals the union of all indexes; warm syncs converge when indexes change,
//! vanish or appear; an interrupted sync resumes; search finds unicode
//! titles and emails; a whole user exports as one streamed document.

use archive_desk_harness::on_both_servers;
use std::collections::BTreeMap;
use std::path::Path;

use archive_desk_core::catalog::{self, MatchKind};
use archive_desk_core::codec::{encode, Encoding};
use archive_desk_core::export_user::{ExportFormat, ExportProgress, ExportUserOptions};
use archive_desk_core::{
    AuditFilter, AuditLog, CancellationToken, Catalog, Layout, Session, Store, SyncOptions, SyncProgress, UserFolder,
};
use archive_desk_harness::fixtures::{self, IndexState, Seeder};
use archive_desk_harness::RawS3;
use archive_desk_harness::{fresh_store, seeded, sync_catalog, ServerKind};
use futures::TryStreamExt;
use serde_json::{json, Value};
use tokio::sync::watch;

on_both_servers!(
    cold_sync_equals_the_union_of_all_indexes,
    warm_sync_converges_when_indexes_change_vanish_or_appear,
    interrupted_sync_resumes,
    export_user_streams_every_conversation,
    oversized_index_is_an_error_naming_it,
);

/// What a user's entry must look like in the catalog:
/// (conversation id, title, created, archived, message count).
type Entry = (String, Option<String>, Option<String>, Option<String>, Option<u64>);

/// The union of all indexes, read straight from the bucket: folder ->
/// (email, index error?, entries in index order). Users without an index
/// are not in it.
async fn union_of_indexes(store: &Store) -> BTreeMap<String, (Option<String>, bool, Vec<Entry>)> {
    let pages: Vec<_> = store.list_users().try_collect().await.unwrap();
    let mut union = BTreeMap::new();
    for folder in pages.into_iter().flat_map(|p| p.users) {
        match store.read_index(&folder).await {
            Ok(read) if read.missing => {}
            Ok(read) => {
                let email = read
                    .index
                    .user_email()
                    .map(str::to_owned)
                    .or_else(|| folder.guessed_email());
                let entries = read
                    .index
                    .entries()
                    .map(|e| {
                        (
                            e.conversation_id(),
                            e.title().map(str::to_owned),
                            e.created_at().map(str::to_owned),
                            e.archived_at().map(str::to_owned),
                            e.message_count(),
                        )
                    })
                    .collect();
                union.insert(folder.to_string(), (email, false, entries));
            }
            Err(_) => {
                union.insert(folder.to_string(), (folder.guessed_email(), true, Vec::new()));
            }
        }
    }
    union
}

fn catalog_contents(catalog: &Catalog) -> BTreeMap<String, (Option<String>, bool, Vec<Entry>)> {
    catalog
        .users()
        .unwrap()
        .into_iter()
        .map(|u| {
            let entries = catalog
                .user_entries(&u.folder)
                .unwrap()
                .into_iter()
                .map(|e| (e.conversation_id, e.title, e.created_at, e.archived_at, e.message_count))
                .collect();
            (u.folder, (u.email, u.index_error.is_some(), entries))
        })
        .collect()
}

async fn assert_catalog_matches_bucket(store: &Store, catalog: &Catalog) {
    let want = union_of_indexes(store).await;
    let got = catalog_contents(catalog);
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>());
    for (folder, want) in &want {
        assert_eq!(&got[folder], want, "user {folder}");
    }
}

fn temp_catalog(dir: &tempfile::TempDir) -> Catalog {
    Catalog::open(&dir.path().join("catalog.sqlite")).unwrap()
}

async fn cold_sync_equals_the_union_of_all_indexes(kind: ServerKind) {
    let archive = seeded(kind);
    let store = archive.store().await;
    let dir = tempfile::tempdir().unwrap();
    let catalog = temp_catalog(&dir);
    let report = sync_catalog(&store, &catalog, &SyncOptions::default()).await;

    assert_catalog_matches_bucket(&store, &catalog).await;
    let manifest = &archive.manifest;
    let with_index = manifest.users.iter().filter(|u| u.index != IndexState::Missing).count() as u64;
    assert_eq!(report.indexes_fetched, with_index);
    assert_eq!(report.users, with_index);
    assert_eq!(report.index_errors, 1, "the corrupt index");
    assert_eq!(report.unusable_folders, manifest.unusable_folders);
    assert!(!report.resumed && !report.reset);

    // Storage classes come from the listing; an entry without an object has none.
    let drift = catalog.user_entries(&manifest.user(fixtures::DRIFT).folder).unwrap();
    let class_of = |id: &str| {
        drift
            .iter()
            .find(|e| e.conversation_id == id)
            .unwrap()
            .storage_class
            .clone()
    };
    assert_eq!(class_of("d-gone"), None);
    assert_eq!(class_of("d-kept").as_deref(), Some("STANDARD"));
    let cold = catalog.user_entries(&manifest.user(fixtures::COLD).folder).unwrap();
    let want = if kind.keeps_storage_class() {
        "GLACIER"
    } else {
        "STANDARD"
    };
    assert_eq!(cold[0].storage_class.as_deref(), Some(want));

    // Search: unicode titles (CJK, RTL, emoji) and emails, across users.
    let ids = |q: &str| -> Vec<(String, MatchKind)> {
        catalog
            .search(q, 0, 20)
            .unwrap()
            .hits
            .into_iter()
            .map(|h| (h.entry.conversation_id, h.matched))
            .collect()
    };
    assert_eq!(ids("返品"), [("u-cjk".to_owned(), MatchKind::TitlePrefix)]);
    assert_eq!(ids("について"), [("u-cjk".to_owned(), MatchKind::TitleContains)]);
    assert_eq!(ids("לגבי"), [("u-rtl".to_owned(), MatchKind::TitleContains)]);
    assert_eq!(ids("refund 💸"), [("a-plain".to_owned(), MatchKind::TitleContains)]);
    let unicode_user = ids("ZOË.ÜNÏCODE@BÜCHER.DE");
    assert_eq!(unicode_user.len(), 2);
    assert!(unicode_user.iter().all(|(_, m)| *m == MatchKind::Email));
    let by_domain = ids("bucher.de");
    assert_eq!(by_domain.len(), 2, "diacritics are ignored inside emails");
    assert!(by_domain.iter().all(|(_, m)| *m == MatchKind::EmailContains));
    let hit = &catalog.search("zoë", 0, 1).unwrap().hits[0];
    assert_eq!(hit.entry.email.as_deref(), Some(fixtures::UNICODE));
    assert_eq!(hit.matched, MatchKind::EmailPrefix);
    // Paging: every hit once, in the same order as one big page.
    let all = catalog.search("example.com", 0, 100).unwrap().hits;
    assert!(all.len() > 10);
    let mut paged = Vec::new();
    let mut offset = Some(0);
    while let Some(o) = offset {
        let page = catalog.search("example.com", o, 3).unwrap();
        paged.extend(page.hits);
        offset = page.next_offset;
    }
    assert_eq!(paged, all);
}

/// A fresh bucket with `n` users `u{i}@example.com`, each with an index of
/// three conversations; the first conversation of every fifth user has an object.
async fn small_archive(kind: ServerKind, n: usize) -> Store {
    let store = fresh_store(kind, Layout::default()).await;
    let mut seeder = Seeder::new(Layout::default(), kind.keeps_storage_class());
    for i in 0..n {
        let email = format!("u{i:03}@example.com");
        let docs: Vec<Value> = (0..3)
            .map(|j| fixtures::conversation(&format!("c{i:03}-{j}"), &email, &format!("Topic {j} of user {i}"), 1))
            .collect();
        seeder.user(&email, IndexState::Present, &docs.iter().collect::<Vec<_>>());
        if i % 5 == 0 {
            seeder.good(&email, &docs[0], ".json", Encoding::Plain);
        }
    }
    seeder.write(&store.client(), store.bucket()).await;
    store
}

async fn put_index(store: &Store, email: &str, entries: Value) {
    let folder = UserFolder::from_email(email).unwrap();
    store
        .client()
        .put_object()
        .bucket(store.bucket())
        .key(store.layout().index_key(&folder))
        .body(
            encode(
                &json!({"user_email": email, "archived_conversations": entries}),
                Encoding::Plain,
            )
            .into(),
        )
        .send()
        .await
        .unwrap();
}

async fn delete_key(store: &Store, key: &str) {
    store
        .client()
        .delete_object()
        .bucket(store.bucket())
        .key(key)
        .send()
        .await
        .unwrap();
}

async fn warm_sync_converges_when_indexes_change_vanish_or_appear(kind: ServerKind) {
    let store = small_archive(kind, 30).await;
    let dir = tempfile::tempdir().unwrap();
    let catalog = temp_catalog(&dir);
    let cold = sync_catalog(&store, &catalog, &SyncOptions::default()).await;
    assert_eq!((cold.indexes_fetched, cold.users, cold.conversations), (30, 30, 90));
    assert_catalog_matches_bucket(&store, &catalog).await;

    // Nothing changed: nothing fetched.
    let again = sync_catalog(&store, &catalog, &SyncOptions::default()).await;
    assert_eq!((again.indexes_fetched, again.users_unchanged), (0, 30));

    // Two indexes change, two vanish (one with its objects), two users appear.
    put_index(
        &store,
        "u001@example.com",
        json!([{"conversation_id": "c001-9", "title": "Nouveau titre — ünïcode", "message_count": 4}]),
    )
    .await;
    put_index(&store, "u002@example.com", json!([])).await;
    let layout = store.layout().clone();
    delete_key(
        &store,
        &layout.index_key(&UserFolder::from_email("u003@example.com").unwrap()),
    )
    .await;
    let u005 = UserFolder::from_email("u005@example.com").unwrap();
    delete_key(&store, &layout.index_key(&u005)).await;
    delete_key(&store, &format!("{}c005-0.json", layout.user_prefix(&u005))).await;
    put_index(
        &store,
        "new.one@example.com",
        json!([{"conversation_id": "n1", "title": "Fresh"}]),
    )
    .await;
    put_index(&store, "new.two@example.com", json!([])).await;
    // On moto, a lifecycle move to Glacier changes a storage class, not the index.
    if kind.keeps_storage_class() {
        let key = format!(
            "{}c010-0.json",
            layout.user_prefix(&UserFolder::from_email("u010@example.com").unwrap())
        );
        store
            .client()
            .copy_object()
            .bucket(store.bucket())
            .key(&key)
            .copy_source(format!("{}/{key}", store.bucket()))
            .storage_class(aws_sdk_s3::types::StorageClass::Glacier)
            .send()
            .await
            .unwrap();
    }

    let warm = sync_catalog(&store, &catalog, &SyncOptions::default()).await;
    assert_eq!(warm.indexes_fetched, 4, "{warm:?}");
    assert_eq!(warm.users_dropped, 2);
    assert_eq!(warm.users, 30);
    let moved = u64::from(kind.keeps_storage_class());
    assert_eq!(warm.storage_class_updates, moved);
    assert_eq!(warm.users_unchanged, 30 - 4 - moved);
    assert_catalog_matches_bucket(&store, &catalog).await;
    if kind.keeps_storage_class() {
        let entries = catalog.user_entries("u010_at_example_com").unwrap();
        assert_eq!(entries[0].storage_class.as_deref(), Some("GLACIER"));
    }
    let hits = catalog.search("ünïcode", 0, 5).unwrap().hits;
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].entry.conversation_id, "c001-9");
    assert!(catalog.search("u003@example.com", 0, 5).unwrap().hits.is_empty());

    // A delete in the app drops the entries at once (search stops finding
    // them) and marks the index stale: here the index still lists the
    // conversation, so the next sync fetches it and the entry comes back.
    assert_eq!(catalog.forget("u001_at_example_com", &["c001-9"]).unwrap(), 1);
    assert!(catalog.search("ünïcode", 0, 5).unwrap().hits.is_empty());
    let healed = sync_catalog(&store, &catalog, &SyncOptions::default()).await;
    assert_eq!(healed.indexes_fetched, 1, "{healed:?}");
    assert_eq!(catalog.search("ünïcode", 0, 5).unwrap().hits.len(), 1);
    assert_catalog_matches_bucket(&store, &catalog).await;

    // The catalog is only a cache: deleted, it is rebuilt by the next sync.
    drop(catalog);
    std::fs::remove_file(dir.path().join("catalog.sqlite")).unwrap();
    let catalog = temp_catalog(&dir);
    let rebuilt = sync_catalog(&store, &catalog, &SyncOptions::default()).await;
    assert_eq!(rebuilt.indexes_fetched, 30);
    assert_catalog_matches_bucket(&store, &catalog).await;
}

/// The sync reads indexes through the store's capped, streamed read: an
/// index over the object limit is recorded as that user's error (naming the
/// key), the others sync.
async fn oversized_index_is_an_error_naming_it(kind: ServerKind) {
    let seeded = small_archive(kind, 3).await;
    put_index(
        &seeded,
        "u001@example.com",
        json!([{"conversation_id": "c001-0", "title": "x".repeat(8192)}]),
    )
    .await;
    let mut config = archive_desk_harness::servers::shared(kind).store_config(seeded.bucket());
    config.limits.max_object_bytes = 4096;
    let store = Store::connect(config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let catalog = temp_catalog(&dir);
    let report = sync_catalog(&store, &catalog, &SyncOptions::default()).await;
    assert_eq!(report.index_errors, 1, "{report:?}");
    let users = catalog.users().unwrap();
    let errors: Vec<_> = users.iter().filter_map(|u| u.index_error.as_deref()).collect();
    assert_eq!(errors.len(), 1, "{users:?}");
    assert!(
        errors[0].contains("u001_at_example_com/metadata.json") && errors[0].contains("4096-byte limit"),
        "{}",
        errors[0]
    );
    assert_eq!(users.len(), 3);
}

async fn interrupted_sync_resumes(kind: ServerKind) {
    let store = small_archive(kind, 60).await;
    let dir = tempfile::tempdir().unwrap();
    let catalog = temp_catalog(&dir);
    let options = SyncOptions {
        concurrency: 2,
        batch_users: 5,
        ..SyncOptions::default()
    };

    // Cancel once a third of the users are done.
    let (progress, mut updates) = watch::channel(SyncProgress::default());
    let cancel = CancellationToken::new();
    let canceller = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            while updates.changed().await.is_ok() {
                if updates.borrow().users_done >= 20 {
                    cancel.cancel();
                    break;
                }
            }
        })
    };
    let err = catalog::sync(&store, &catalog, &options, &progress, &cancel)
        .await
        .unwrap_err();
    canceller.await.unwrap();
    assert_eq!(err.code(), "cancelled");
    let stats = catalog.stats().unwrap();
    assert!(stats.sync_interrupted);
    assert!(
        (20..60).contains(&stats.users),
        "what was fetched before the cancel is kept: {stats:?}"
    );
    let done_before = stats.users;

    // Meanwhile one of the synced users' index vanishes and a new user appears.
    let first = catalog.users().unwrap().remove(0);
    delete_key(
        &store,
        &store.layout().index_key(&UserFolder::parse(&first.folder).unwrap()),
    )
    .await;
    put_index(
        &store,
        "late@example.com",
        json!([{"conversation_id": "l1", "title": "Late"}]),
    )
    .await;

    let (progress, updates) = watch::channel(SyncProgress::default());
    let resumed = catalog::sync(
        &store,
        &catalog,
        &SyncOptions::default(),
        &progress,
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert!(resumed.resumed);
    assert_eq!(
        resumed.indexes_fetched,
        60 - done_before + 1,
        "only what the first run did not write is fetched"
    );
    assert_eq!(resumed.users_dropped, 1);
    assert_eq!(resumed.users, 60);
    let last = updates.borrow().clone();
    assert!(
        last.listing_complete && last.users_done == last.estimated_total && last.resumed,
        "{last:?}"
    );
    assert!(!catalog.stats().unwrap().sync_interrupted);
    assert_catalog_matches_bucket(&store, &catalog).await;
}

fn read_export(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    let (text, _) = archive_desk_core::codec::decode_text("export", bytes, &Default::default()).unwrap();
    text.into_bytes()
}

async fn export_user_streams_every_conversation(kind: ServerKind) {
    let archive = seeded(kind);
    let dir = tempfile::tempdir().unwrap();
    let audit = AuditLog::at(dir.path().join("audit.jsonl"));
    let session = Session::new(archive.store().await, audit.clone());
    let manifest = &archive.manifest;
    let alice: Vec<_> = manifest.opens().filter(|(c, _)| c.email == fixtures::ALICE).collect();
    assert_eq!(alice.len(), 7);

    // One JSON document, gzip: every stored document, every field kept.
    let path = dir.path().join("alice.json.gz");
    let options = ExportUserOptions {
        format: ExportFormat::Json,
        gzip: true,
        read_ahead: 3,
    };
    let (progress, updates) = watch::channel(ExportProgress::default());
    let report = session
        .export_user(fixtures::ALICE, &path, &options, &progress, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!((report.conversations, report.skipped.len()), (7, 0));
    assert_eq!(updates.borrow().conversations_done, 7);
    let doc: Value = serde_json::from_slice(&read_export(&path)).unwrap();
    assert_eq!(doc["user_email"], fixtures::ALICE);
    let exported = doc["conversations"].as_array().unwrap();
    for (c, want) in &alice {
        assert!(exported.contains(want), "{} missing or changed", c.id);
    }
    assert_eq!(exported.len(), 7);

    // JSON Lines, plain; what cannot be read is skipped and reported.
    let path = dir.path().join("drift.jsonl");
    let options = ExportUserOptions {
        format: ExportFormat::JsonLines,
        ..Default::default()
    };
    let report = session
        .export_user(fixtures::DRIFT, &path, &options, &progress, &CancellationToken::new())
        .await
        .unwrap();
    let text = String::from_utf8(read_export(&path)).unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let ids: Vec<&str> = lines
        .iter()
        .map(|d| d["conversation"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["d-kept", "d-unindexed"]);
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(
        (
            report.skipped[0].conversation_id.as_str(),
            report.skipped[0].error.code.as_str()
        ),
        ("d-gone", "not_found")
    );
    let malformed = session
        .export_user(
            fixtures::MALFORMED,
            &dir.path().join("malformed.json"),
            &ExportUserOptions::default(),
            &progress,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(malformed.conversations, 0);
    assert_eq!(
        malformed.skipped.len(),
        manifest.fails().filter(|(c, _)| c.email == fixtures::MALFORMED).count()
    );

    // Cancelled: an error and no file, not even a partial one.
    let cancel = CancellationToken::new();
    cancel.cancel();
    let path = dir.path().join("cancelled.json");
    let err = session
        .export_user(fixtures::BIG, &path, &ExportUserOptions::default(), &progress, &cancel)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "cancelled");
    assert!(!path.exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // One audit record per export, success or not.
    let records = audit
        .read(&AuditFilter {
            action: Some("export_user".into()),
            ..Default::default()
        })
        .unwrap();
    let outcomes: Vec<_> = records.iter().map(|r| r.outcome.as_str()).collect();
    assert_eq!(outcomes, ["ok", "ok", "ok", "error"]);
    assert_eq!(records[0].user_email.as_deref(), Some(fixtures::ALICE));
}
