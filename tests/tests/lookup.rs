//! Finding a user at once, on both servers: the exact look-up by email or
//! folder (`browse::look_up_user`) without a catalog, with a stale one, for
//! a user whose index holds no conversation and for an unknown email; the
//! catalog search naming users without conversations; and the users list
//! served from a synced catalog equal to the one streamed from the bucket.

use archive_desk_core::browse::{self, UserSummary};
use archive_desk_core::catalog::MatchKind;
use archive_desk_core::codec::{encode, Encoding};
use archive_desk_core::{CancellationToken, Catalog, ErrorCode, Layout, Store, SyncOptions, UserBatch, UserFolder};
use archive_desk_harness::fault_proxy::{Fault, FaultProxy, Match, Rule};
use archive_desk_harness::fixtures::{self, IndexState, Seeder};
use archive_desk_harness::on_both_servers;
use archive_desk_harness::servers;
use archive_desk_harness::RawS3;
use archive_desk_harness::{fresh_store, seeded, sync_catalog, ServerKind};
use futures::TryStreamExt;
use serde_json::{json, Value};

on_both_servers!(
    exact_lookup_without_a_catalog,
    exact_lookup_finds_a_user_archived_after_the_sync,
    user_whose_index_holds_no_conversation_is_found,
    unknown_email_is_a_clear_not_found,
    users_list_from_the_catalog_equals_the_streamed_one,
    a_look_up_goes_before_the_users_listing,
    a_look_up_goes_before_a_background_sync,
);

async fn sync(store: &Store, catalog: &Catalog) {
    sync_catalog(store, catalog, &SyncOptions::default()).await;
}

/// A fresh bucket with users `u{i}@example.com` (`n` of them), each with
/// an index of two conversations and their objects.
async fn small_archive(kind: ServerKind, n: usize) -> Store {
    let store = fresh_store(kind, Layout::default()).await;
    let mut seeder = Seeder::new(Layout::default(), kind.keeps_storage_class());
    for i in 0..n {
        add_user(&mut seeder, &format!("u{i}@example.com"), 2);
    }
    seeder.write(&store.client(), store.bucket()).await;
    store
}

fn add_user(seeder: &mut Seeder, email: &str, conversations: usize) -> Vec<Value> {
    let docs: Vec<Value> = (0..conversations)
        .map(|j| {
            let id = format!("{}-{j}", email.split('@').next().unwrap().replace('.', "-"));
            fixtures::conversation(&id, email, &format!("Topic {j} of {email}"), 2)
        })
        .collect();
    seeder.user(email, IndexState::Present, &docs.iter().collect::<Vec<_>>());
    for d in &docs {
        seeder.good(email, d, ".json", Encoding::Plain);
    }
    docs
}

/// An index holding no conversation, written as the archiver would.
async fn put_empty_index(store: &Store, email: &str) {
    let folder = UserFolder::from_email(email).unwrap();
    store
        .client()
        .put_object()
        .bucket(store.bucket())
        .key(store.layout().index_key(&folder))
        .body(
            encode(
                &json!({"user_email": email, "archived_conversations": []}),
                Encoding::Plain,
            )
            .into(),
        )
        .send()
        .await
        .unwrap();
}

fn ids(found: &browse::UserConversations) -> Vec<&str> {
    found.conversations.iter().map(|c| c.conversation_id.as_str()).collect()
}

async fn exact_lookup_without_a_catalog(kind: ServerKind) {
    let archive = seeded(kind);
    let store = archive.store().await;
    let alice = archive.manifest.user(fixtures::ALICE);
    let folder = UserFolder::from_email(fixtures::ALICE).unwrap();
    let listed = browse::user_conversations(&store, &folder).await.unwrap();

    // By email (surrounding blanks ignored) and by folder name: the same user.
    let by_email = browse::look_up_user(&store, &format!("  {}  ", fixtures::ALICE))
        .await
        .unwrap();
    assert_eq!(by_email.folder, alice.folder);
    assert_eq!(by_email.email.as_deref(), Some(fixtures::ALICE));
    assert_eq!(ids(&by_email), ids(&listed));
    assert!(!by_email.conversations.is_empty());
    let by_folder = browse::look_up_user(&store, &alice.folder).await.unwrap();
    assert_eq!(ids(&by_folder), ids(&listed));
    // The row it makes is the users list's row for that user.
    let summary = browse::user_summary(&store, &folder).await;
    assert_same_summary(&by_email.summary(), &summary);

    // A folder holding objects but no metadata.json is a user too.
    let no_index = browse::look_up_user(&store, fixtures::NO_INDEX).await.unwrap();
    assert!(no_index.index_missing);
    assert!(!no_index.conversations.is_empty());
}

async fn exact_lookup_finds_a_user_archived_after_the_sync(kind: ServerKind) {
    let store = small_archive(kind, 3).await;
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(&dir.path().join("catalog.sqlite")).unwrap();
    sync(&store, &catalog).await;

    // Archived after the sync: the catalog does not know them.
    let late = "late.comer@example.com";
    let mut seeder = Seeder::new(Layout::default(), kind.keeps_storage_class());
    let docs = add_user(&mut seeder, late, 3);
    seeder.write(&store.client(), store.bucket()).await;
    let page = catalog.search(late, 0, 20).unwrap();
    assert!(page.hits.is_empty() && page.users_without_conversations.is_empty());

    let found = browse::look_up_user(&store, late).await.unwrap();
    assert_eq!(found.email.as_deref(), Some(late));
    let want: Vec<&str> = docs.iter().map(|d| d["conversation"]["id"].as_str().unwrap()).collect();
    assert_eq!(ids(&found), want);
    assert!(found.conversations.iter().all(|c| c.in_index && c.in_store));
    assert_eq!(found.summary().conversation_count, 3);
}

async fn user_whose_index_holds_no_conversation_is_found(kind: ServerKind) {
    let store = small_archive(kind, 2).await;
    let empty = "nothing.yet@example.com";
    put_empty_index(&store, empty).await;

    // Looked up in the bucket: found, with no conversation.
    let found = browse::look_up_user(&store, empty).await.unwrap();
    assert_eq!(found.email.as_deref(), Some(empty));
    assert!(found.conversations.is_empty() && !found.index_missing && found.index_error.is_none());

    // In the catalog: no hit can name them, so the page names the user.
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(&dir.path().join("catalog.sqlite")).unwrap();
    sync(&store, &catalog).await;
    let folder = UserFolder::from_email(empty).unwrap().to_string();
    for (query, matched) in [
        ("NOTHING.YET@example.com", MatchKind::Email),
        ("nothing.yet@ex", MatchKind::EmailPrefix),
        ("ing.yet@", MatchKind::EmailContains),
    ] {
        let page = catalog.search(query, 0, 20).unwrap();
        assert!(page.hits.is_empty(), "{query}: {:?}", page.hits);
        let users: Vec<_> = page
            .users_without_conversations
            .iter()
            .map(|u| (u.folder.as_str(), u.email.as_deref(), u.matched))
            .collect();
        assert_eq!(users, [(folder.as_str(), Some(empty), matched)], "{query}");
    }
    // Users with conversations are hits, never listed as without.
    let page = catalog.search("@example.com", 0, 20).unwrap();
    assert_eq!(page.hits.len(), 4);
    assert_eq!(page.users_without_conversations.len(), 1);
    assert_eq!(page.users_without_conversations[0].email.as_deref(), Some(empty));
    // Only the first page names them, and only for an email search.
    assert!(catalog
        .search("@example.com", 1, 20)
        .unwrap()
        .users_without_conversations
        .is_empty());
    assert!(catalog
        .search("nothing.yet", 0, 20)
        .unwrap()
        .users_without_conversations
        .is_empty());
}

async fn unknown_email_is_a_clear_not_found(kind: ServerKind) {
    let store = small_archive(kind, 1).await;
    let e = browse::look_up_user(&store, "nobody@example.com").await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::NotFound);
    let message = e.to_string();
    assert!(
        message.contains("nobody@example.com") && message.contains("nobody_at_example_com/metadata.json"),
        "{message}"
    );
    // Text that cannot name a user is refused before any request.
    let e = browse::look_up_user(&store, "../u0@example.com").await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidName);
}

/// What the users list shows of a user. An index the sync could not read
/// is `index_unreadable` from the catalog (it keeps the message, not the
/// read's code), so the code is left out.
type Row = (
    String,
    Option<String>,
    String,
    usize,
    Option<String>,
    bool,
    Option<String>,
);

fn row(s: &UserSummary) -> Row {
    (
        s.folder.clone(),
        s.email.clone(),
        format!("{:?}", s.email_source),
        s.conversation_count,
        s.last_archived_at.clone(),
        s.index_missing,
        s.index_error.as_ref().map(|e| e.message.clone()),
    )
}

fn assert_same_summary(a: &UserSummary, b: &UserSummary) {
    assert_eq!(row(a), row(b));
}

async fn users_list_from_the_catalog_equals_the_streamed_one(kind: ServerKind) {
    let archive = seeded(kind);
    let store = archive.store().await;
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(&dir.path().join("catalog.sqlite")).unwrap();
    let (bucket, prefix) = (store.bucket().to_owned(), store.layout().prefix().to_owned());
    // Never synced: only the bucket can list the users.
    assert!(catalog.synced_user_summaries(&bucket, &prefix).unwrap().is_none());
    sync(&store, &catalog).await;

    let batches: Vec<UserBatch> = browse::user_batches(&store, 4, &CancellationToken::new())
        .try_collect()
        .await
        .unwrap();
    let streamed: Vec<UserSummary> = batches.into_iter().flat_map(|b| b.users).collect();
    let (_, from_catalog) = catalog.synced_user_summaries(&bucket, &prefix).unwrap().unwrap();

    // The catalog holds the users with a metadata.json; in the same order,
    // the same rows.
    let with_index: Vec<Row> = streamed.iter().filter(|s| !s.index_missing).map(row).collect();
    assert_eq!(from_catalog.iter().map(row).collect::<Vec<_>>(), with_index);
    assert!(with_index.len() > 5);
    let missing: Vec<&str> = streamed
        .iter()
        .filter(|s| s.index_missing)
        .map(|s| s.folder.as_str())
        .collect();
    assert_eq!(missing, [archive.manifest.user(fixtures::NO_INDEX).folder.as_str()]);
    let corrupt = from_catalog
        .iter()
        .find(|s| s.folder == archive.manifest.user(fixtures::CORRUPT_INDEX).folder)
        .unwrap();
    assert_eq!(corrupt.index_error.as_ref().unwrap().code, ErrorCode::IndexUnreadable);

    // A catalog synced from another place does not answer for this one.
    assert!(catalog
        .synced_user_summaries("another-bucket", &prefix)
        .unwrap()
        .is_none());
}

/// The archive of `small_archive` reached through a fault proxy that
/// holds the look-up's index GET (`u0`'s) for 400 ms and counts every
/// request for the other users' indexes as "background".
async fn behind_a_slow_look_up(kind: ServerKind) -> (FaultProxy, Store) {
    let direct = small_archive(kind, 3).await;
    let proxy = FaultProxy::start(servers::shared(kind));
    let store = Store::connect(proxy.store_config(direct.bucket())).await.unwrap();
    let layout = Layout::default();
    let key = |email: &str| layout.index_key(&UserFolder::from_email(email).unwrap());
    proxy.set_rules(vec![
        Rule::new(
            "look-up",
            Match::any().method("GET").key_suffix(&key("u0@example.com")),
            Fault::Latency {
                fixed_ms: 400,
                jitter_ms: 0,
            },
        ),
        Rule::new(
            "background",
            Match::any().method("GET").key_suffix(&key("u1@example.com")),
            Fault::Latency {
                fixed_ms: 0,
                jitter_ms: 0,
            },
        ),
        Rule::new(
            "background",
            Match::any().method("GET").key_suffix(&key("u2@example.com")),
            Fault::Latency {
                fixed_ms: 0,
                jitter_ms: 0,
            },
        ),
    ]);
    (proxy, store)
}

/// While an exact look-up runs (`Store::foreground`), the users listing
/// sends no request: none of its index GETs reaches the server before the
/// look-up is done (without the gate they would, in the look-up's 400 ms),
/// and the listing then completes.
async fn a_look_up_goes_before_the_users_listing(kind: ServerKind) {
    let (proxy, store) = behind_a_slow_look_up(kind).await;
    let foreground = store.foreground();
    let listing = tokio::spawn({
        let store = store.clone();
        async move {
            let batches: Vec<UserBatch> = browse::user_batches(&store, 8, &CancellationToken::new())
                .try_collect()
                .await
                .unwrap();
            batches.iter().map(|b| b.users.len()).sum::<usize>()
        }
    });
    let found = browse::look_up_user(&store, "u0@example.com").await.unwrap();
    assert_eq!(found.conversations.len(), 2);
    assert_eq!(proxy.hits("look-up"), 1);
    assert_eq!(
        proxy.hits("background"),
        0,
        "the listing read indexes during the look-up"
    );
    assert!(!listing.is_finished());
    drop(foreground);
    assert_eq!(listing.await.unwrap(), 3);
    assert_eq!(proxy.hits("background"), 2);
}

/// The same for a catalog sync run on the store's background clone
/// (`Store::in_background`, as the app's background refresh runs it): it
/// waits out the look-up, then syncs every user.
async fn a_look_up_goes_before_a_background_sync(kind: ServerKind) {
    let (proxy, store) = behind_a_slow_look_up(kind).await;
    let foreground = store.foreground();
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(&dir.path().join("catalog.sqlite")).unwrap();
    let syncing = tokio::spawn({
        let (store, catalog) = (store.in_background(), catalog.clone());
        async move { sync(&store, &catalog).await }
    });
    browse::look_up_user(&store, "u0@example.com").await.unwrap();
    assert_eq!(proxy.hits("background"), 0, "the sync read indexes during the look-up");
    assert!(!syncing.is_finished());
    drop(foreground);
    syncing.await.unwrap();
    assert_eq!(proxy.hits("background"), 2);
    assert_eq!(catalog.stats().unwrap().users, 3);
}
