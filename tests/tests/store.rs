//! Every core read operation against real S3 servers: moto and rclone.

use std::collections::BTreeSet;

use archive_desk_core::browse::{self, EmailSource};
use archive_desk_core::browse::{UserBatch, FIRST_USER_BATCH, USER_BATCH};
use archive_desk_core::{CancellationToken, ConversationId, Layout, Store, StoreConfig, UserFolder};
use archive_desk_harness::fixtures::{self, IndexState};
use archive_desk_harness::RawS3;
use archive_desk_harness::{fresh_store, seeded, servers, Fault, FaultProxy, Match, Rule, ServerKind};
use futures::{StreamExt, TryStreamExt};

/// Run each check once per server kind, as its own test.
macro_rules! on_both_servers {
    ($($check:ident),* $(,)?) => {
        mod moto { $( #[tokio::test] async fn $check() { super::$check(super::ServerKind::Moto).await } )* }
        mod rclone { $( #[tokio::test] async fn $check() { super::$check(super::ServerKind::Rclone).await } )* }
    };
}

on_both_servers!(
    users_are_listed_page_by_page,
    every_well_formed_fixture_opens_with_all_fields,
    every_malformed_fixture_fails_naming_its_key,
    index_missing_and_corrupt,
    user_conversations_show_drift_and_storage,
    user_summaries_use_the_true_email,
    users_stream_with_their_summaries,
    unsafe_names_never_reach_the_store,
    custom_prefix_and_root_layout,
);

async fn users_are_listed_page_by_page(kind: ServerKind) {
    let archive = seeded(kind);
    let store = archive.store().await;
    let pages: Vec<_> = store.list_users_paged(2).try_collect().await.unwrap();
    assert!(pages.len() >= 4, "expected several pages of 2, got {}", pages.len());
    assert!(pages.iter().all(|p| p.users.len() + p.unusable.len() <= 2));
    let listed: BTreeSet<String> = pages
        .iter()
        .flat_map(|p| p.users.iter().map(|u| u.to_string()))
        .collect();
    let expected: BTreeSet<String> = archive.manifest.users.iter().map(|u| u.folder.clone()).collect();
    assert_eq!(listed, expected);
    let unusable: Vec<String> = pages.into_iter().flat_map(|p| p.unusable).collect();
    assert_eq!(unusable, archive.manifest.unusable_folders);

    // The default page size gives the same users.
    let all: Vec<_> = store.list_users().try_collect().await.unwrap();
    assert_eq!(all.iter().map(|p| p.users.len()).sum::<usize>(), expected.len());
}

async fn every_well_formed_fixture_opens_with_all_fields(kind: ServerKind) {
    let archive = seeded(kind);
    let store = archive.store().await;
    let mut opened = 0;
    for (c, value) in archive.manifest.opens() {
        let folder = UserFolder::from_email(&c.email).unwrap();
        let id = ConversationId::parse(&c.id).unwrap();
        let got = store
            .get_conversation(&folder, &id)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", c.key));
        assert_eq!(got.key, c.key);
        assert_eq!(&got.document.into_value(), value, "{}", c.key);
        opened += 1;
    }
    // moto keeps the two cold ones cold.
    assert_eq!(opened, if kind.keeps_storage_class() { 14 } else { 16 });

    let big = store
        .get_conversation(
            &UserFolder::from_email(fixtures::BIG).unwrap(),
            &ConversationId::parse(fixtures::BIG_ID).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(big.document.messages().len(), 10_000);
    assert_eq!(big.encoding, archive_desk_core::Encoding::Gzip);
}

async fn every_malformed_fixture_fails_naming_its_key(kind: ServerKind) {
    let archive = seeded(kind);
    let store = archive.store().await;
    let mut failed = 0;
    for (c, code) in archive.manifest.fails() {
        let folder = UserFolder::from_email(&c.email).unwrap();
        let id = ConversationId::parse(&c.id).unwrap();
        let err = store.get_conversation(&folder, &id).await.expect_err(&c.key);
        assert_eq!(err.code(), code, "{}: {err}", c.key);
        assert!(err.to_string().contains(&c.key), "error does not name {}: {err}", c.key);
        failed += 1;
    }
    let cold = if kind.keeps_storage_class() { 2 } else { 0 };
    assert_eq!(failed, 9 + cold);

    // Not there at all: both candidate keys are named.
    let err = store
        .get_conversation(
            &UserFolder::from_email(fixtures::DRIFT).unwrap(),
            &ConversationId::parse("d-gone").unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_found");
    assert!(err.to_string().contains("drift_at_example_com/d-gone.json"), "{err}");
}

async fn index_missing_and_corrupt(kind: ServerKind) {
    let archive = seeded(kind);
    let store = archive.store().await;
    for u in &archive.manifest.users {
        let folder = UserFolder::parse(&u.folder).unwrap();
        let read = store.read_index(&folder).await;
        match u.index {
            IndexState::Present => {
                let read = read.unwrap();
                assert!(!read.missing && read.etag.is_some());
                assert_eq!(read.index.user_email(), Some(u.email.as_str()));
                let ids: Vec<String> = read.index.entries().map(|e| e.conversation_id()).collect();
                assert_eq!(ids, u.indexed);
            }
            IndexState::Missing => {
                let read = read.unwrap();
                assert!(read.missing && read.etag.is_none());
                assert_eq!(read.index.entries().len(), 0);
            }
            IndexState::Corrupt => {
                let err = read.unwrap_err();
                assert_eq!(err.code(), "decode");
                assert!(
                    err.to_string().contains(&format!("{}/metadata.json", u.folder)),
                    "{err}"
                );
            }
        }
    }
}

async fn user_conversations_show_drift_and_storage(kind: ServerKind) {
    let archive = seeded(kind);
    let store = archive.store().await;

    let drift = browse::user_conversations(&store, &UserFolder::from_email(fixtures::DRIFT).unwrap())
        .await
        .unwrap();
    let flags: Vec<(&str, bool, bool)> = drift
        .conversations
        .iter()
        .map(|r| (r.conversation_id.as_str(), r.in_index, r.in_store))
        .collect();
    assert_eq!(
        flags,
        [
            ("d-gone", true, false),
            ("d-kept", true, true),
            ("d-unindexed", false, true)
        ]
    );
    assert_eq!(drift.email.as_deref(), Some(fixtures::DRIFT));
    assert_eq!(drift.email_source, EmailSource::Index);
    let kept = &drift.conversations[1];
    assert_eq!(kept.title.as_deref(), Some("Indexed and present"));
    assert_eq!(kept.message_count, Some(2));
    assert!(kept.size.unwrap() > 100 && kept.last_modified.is_some());

    let cold = browse::user_conversations(&store, &UserFolder::from_email(fixtures::COLD).unwrap())
        .await
        .unwrap();
    let classes: Vec<&str> = cold
        .conversations
        .iter()
        .map(|r| r.storage_class.as_deref().unwrap())
        .collect();
    let expected: Vec<&str> = ["cold-glacier", "cold-deep"]
        .iter()
        .map(|id| archive.manifest.conversation(id).storage_class)
        .collect();
    assert_eq!(classes, expected);
    if kind.keeps_storage_class() {
        assert_eq!(classes, ["GLACIER", "DEEP_ARCHIVE"]);
    }

    // A corrupt index still shows the objects, and says what is wrong.
    let corrupt = browse::user_conversations(&store, &UserFolder::from_email(fixtures::CORRUPT_INDEX).unwrap())
        .await
        .unwrap();
    assert_eq!(corrupt.index_error.as_ref().unwrap().code, "decode");
    assert_eq!(corrupt.conversations.len(), 1);
    assert!(!corrupt.conversations[0].in_index);
    assert_eq!(corrupt.email_source, EmailSource::Guessed);
}

async fn user_summaries_use_the_true_email(kind: ServerKind) {
    let archive = seeded(kind);
    let store = archive.store().await;
    let s = browse::user_summary(&store, &UserFolder::from_email(fixtures::UNICODE).unwrap()).await;
    assert_eq!(s.email.as_deref(), Some(fixtures::UNICODE));
    assert_eq!(s.email_source, EmailSource::Index);
    assert_eq!(s.conversation_count, 2);
    assert_eq!(s.last_archived_at.as_deref(), Some("2025-01-20T09:00:00Z"));

    let s = browse::user_summary(&store, &UserFolder::from_email(fixtures::NO_INDEX).unwrap()).await;
    assert!(s.index_missing && s.index_error.is_none());
    // The folder cannot say whether the local part had dots: a guess.
    assert_eq!(
        (s.email.as_deref(), s.email_source),
        (Some("no_index@example.com"), EmailSource::Guessed)
    );
}

/// The users listing both front ends show: per page, its unusable names
/// first, then its users in listing order, each with the summary
/// `user_summary` gives (a broken index is that user's error, not the
/// listing's).
async fn users_stream_with_their_summaries(kind: ServerKind) {
    let archive = seeded(kind);
    let store = archive.store().await;
    let never = CancellationToken::new();
    let batches: Vec<UserBatch> = browse::user_batches_paged(&store, 2, 16, &never)
        .try_collect()
        .await
        .unwrap();
    let pages: Vec<_> = store.list_users_paged(2).try_collect().await.unwrap();
    let mut expected = Vec::new();
    for page in &pages {
        if !page.unusable.is_empty() {
            expected.push((Vec::new(), page.unusable.clone()));
        }
        if !page.users.is_empty() {
            expected.push((page.users.iter().map(|u| u.to_string()).collect(), Vec::new()));
        }
    }
    let got: Vec<(Vec<String>, Vec<String>)> = batches
        .iter()
        .map(|b| (b.users.iter().map(|u| u.folder.clone()).collect(), b.unusable.clone()))
        .collect();
    assert_eq!(got, expected);
    assert!(
        batches.iter().any(|b| !b.unusable.is_empty()),
        "the fixture has unusable names"
    );

    for summary in batches.iter().flat_map(|b| &b.users) {
        let one = browse::user_summary(&store, &UserFolder::from_user_arg(&summary.folder).unwrap()).await;
        assert_eq!(
            serde_json::to_value(summary).unwrap(),
            serde_json::to_value(&one).unwrap()
        );
    }
    let corrupt = UserFolder::from_email(fixtures::CORRUPT_INDEX).unwrap().to_string();
    let broken = batches
        .iter()
        .flat_map(|b| &b.users)
        .find(|u| u.folder == corrupt)
        .unwrap();
    assert_eq!(broken.index_error.as_ref().unwrap().code, "decode");
}

/// Batches of `USER_BATCH` within each listing page (never across pages;
/// the first of the listing: `FIRST_USER_BATCH`), whatever the concurrency; a cancel ends the stream with `cancelled`; a
/// listing that fails ends it with the failure.
#[tokio::test]
async fn users_stream_in_batches_and_stops_on_cancel_or_failure() {
    let store = fresh_store(ServerKind::Moto, Layout::default()).await;
    fixtures::seed(&store, |s| {
        for i in 0..120 {
            let email = format!("u{i:03}@example.com");
            let docs = fixtures::conversations(&email, "c", 1);
            s.user(&email, IndexState::Present, &[&docs[0]]);
        }
    })
    .await;
    let never = CancellationToken::new();
    let sizes = |batches: &[UserBatch]| batches.iter().map(|b| b.users.len()).collect::<Vec<_>>();

    let one_page: Vec<UserBatch> = browse::user_batches(&store, 16, &never).try_collect().await.unwrap();
    assert_eq!((FIRST_USER_BATCH, USER_BATCH), (8, 50));
    assert_eq!(sizes(&one_page), [8, 50, 50, 12]);
    let folders: Vec<&str> = one_page
        .iter()
        .flat_map(|b| &b.users)
        .map(|u| u.folder.as_str())
        .collect();
    let mut sorted = folders.clone();
    sorted.sort();
    assert_eq!(folders, sorted, "listing order");
    assert_eq!(folders[0], "u000_at_example_com");
    assert!(one_page
        .iter()
        .flat_map(|b| &b.users)
        .all(|u| u.conversation_count == 1));

    // Pages of 70: 8 + 50 + 12, then 50 (a batch never spans two pages).
    let paged: Vec<UserBatch> = browse::user_batches_paged(&store, 70, 1, &never)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(sizes(&paged), [8, 50, 12, 50]);

    // Cancelled after the first batch: the next item is the cancel, then the end.
    let cancel = CancellationToken::new();
    let mut stream = std::pin::pin!(browse::user_batches(&store, 16, &cancel));
    assert_eq!(stream.next().await.unwrap().unwrap().users.len(), FIRST_USER_BATCH);
    cancel.cancel();
    let err = stream.next().await.unwrap().unwrap_err();
    assert_eq!(err.code(), "cancelled");
    assert!(err.to_string().contains("users listing"), "{err}");
    assert!(stream.next().await.is_none());
    // Cancelled before it starts: nothing is listed.
    let mut stream = std::pin::pin!(browse::user_batches(&store, 16, &cancel));
    assert_eq!(stream.next().await.unwrap().unwrap_err().code(), "cancelled");
    assert!(stream.next().await.is_none());

    // A bucket that is not there: the listing's error, then the end.
    let config: StoreConfig = servers::shared(ServerKind::Moto).store_config(&format!("t-{}", servers::token()));
    let missing = Store::connect(config).await.unwrap();
    let mut stream = std::pin::pin!(browse::user_batches(&missing, 16, &never));
    let err = stream.next().await.unwrap().unwrap_err();
    assert_eq!(err.code(), "s3", "{err}");
    assert!(stream.next().await.is_none());
}

/// The first rows do not wait for later users' indexes: with the 11th
/// user's index read stalled, the first batch (the first `FIRST_USER_BATCH`
/// users, each summarised from its index) still arrives, and a cancel then
/// ends the listing.
#[tokio::test]
async fn the_first_users_batch_does_not_wait_for_later_indexes() {
    let seeded_store = fresh_store(ServerKind::Moto, Layout::default()).await;
    fixtures::seed(&seeded_store, |s| {
        for i in 0..60 {
            let email = format!("u{i:03}@example.com");
            let docs = fixtures::conversations(&email, "c", 1);
            s.user(&email, IndexState::Present, &[&docs[0]]);
        }
    })
    .await;
    let proxy = FaultProxy::start(servers::shared(ServerKind::Moto));
    let stalled = UserFolder::from_email("u010@example.com").unwrap();
    proxy.set_rules(vec![Rule::new(
        "stall",
        Match::any()
            .method("GET")
            .key_suffix(&seeded_store.layout().index_key(&stalled)),
        Fault::Stall,
    )]);
    let store = Store::connect(proxy.store_config(seeded_store.bucket())).await.unwrap();
    let cancel = CancellationToken::new();
    let mut stream = std::pin::pin!(browse::user_batches(&store, 16, &cancel));
    let first = stream.next().await.unwrap().unwrap();
    let folders: Vec<String> = (0..FIRST_USER_BATCH)
        .map(|i| {
            UserFolder::from_email(&format!("u{i:03}@example.com"))
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        first.users.iter().map(|u| u.folder.clone()).collect::<Vec<_>>(),
        folders
    );
    assert!(first
        .users
        .iter()
        .all(|u| u.index_error.is_none() && u.conversation_count == 1));
    cancel.cancel();
    assert_eq!(stream.next().await.unwrap().unwrap_err().code(), "cancelled");
}

async fn unsafe_names_never_reach_the_store(kind: ServerKind) {
    let archive = seeded(kind);
    let _store: Store = archive.store().await;
    for bad in ["../x", "a/b", "..", "x\u{7}y"] {
        assert_eq!(ConversationId::parse(bad).unwrap_err().code(), "invalid_name");
        assert_eq!(UserFolder::from_user_arg(bad).unwrap_err().code(), "invalid_name");
    }
}

async fn custom_prefix_and_root_layout(kind: ServerKind) {
    for prefix in ["support/archive/", ""] {
        let layout = Layout::new(prefix).unwrap();
        let store = fresh_store(kind, layout.clone()).await;
        let mut seeder = fixtures::Seeder::new(layout, kind.keeps_storage_class());
        let doc = fixtures::conversation("p-1", "p@x.io", "Prefixed", 2);
        seeder.user("p@x.io", IndexState::Present, &[&doc]);
        seeder.good("p@x.io", &doc, ".json", archive_desk_core::Encoding::Plain);
        seeder.write(&store.client(), store.bucket()).await;

        let users: Vec<_> = store.list_users().try_collect().await.unwrap();
        let folders: Vec<String> = users
            .iter()
            .flat_map(|p| p.users.iter().map(|u| u.to_string()))
            .collect();
        assert_eq!(folders, ["p_at_x_io"], "prefix {prefix:?}");
        let folder = UserFolder::from_email("p@x.io").unwrap();
        let got = store
            .get_conversation(&folder, &ConversationId::parse("p-1").unwrap())
            .await
            .unwrap();
        assert_eq!(got.key, format!("{prefix}p_at_x_io/p-1.json"));
        assert_eq!(got.document.into_value(), doc);
    }
}
