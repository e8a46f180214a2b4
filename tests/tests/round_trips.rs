//! Requests and round trips at latency, counted at the fault proxy against
//! moto and rclone: a warm sync lists every range of the catalog's folders
//! at once (one page each; in the background of the app it starts slow
//! instead) and sends its changed fetches together, starting
//! where the last sync settled; a gzip conversation whose folder was listed
//! opens with one GET, and one opened by id alone still opens (two GETs).

use archive_desk_harness::on_both_servers;

use archive_desk_core::adaptive::INITIAL_LIMIT;
use archive_desk_core::codec::Encoding;
use archive_desk_core::UserFolder;
use archive_desk_core::{browse, Catalog, ConversationId, Layout, Store, SyncOptions};
use archive_desk_harness::fault_proxy::{Fault, FaultProxy, Match, Rule};
use archive_desk_harness::fixtures::{self, IndexState, Seeder};
use archive_desk_harness::{fresh_store, servers, sync_catalog, RawS3, ServerKind};
use aws_sdk_s3::primitives::ByteStream;

on_both_servers!(
    warm_sync_lists_every_range_at_once_and_fetches_changes_together,
    a_listed_gzip_conversation_opens_with_one_get,
);

/// Counts the requests it matches (a latency of nothing).
fn counter(name: &str, on: Match) -> Rule {
    Rule::new(
        name,
        on,
        Fault::Latency {
            fixed_ms: 0,
            jitter_ms: 0,
        },
    )
}

fn latency(ms: u64) -> Rule {
    Rule::new(
        "latency",
        Match::any(),
        Fault::Latency {
            fixed_ms: ms,
            jitter_ms: ms / 4,
        },
    )
}

/// Requests `on` answered after two seconds.
fn slow(name: &str, on: Match) -> Rule {
    Rule::new(
        name,
        on,
        Fault::Latency {
            fixed_ms: 2_000,
            jitter_ms: 0,
        },
    )
}

fn lists() -> Match {
    Match::any().method("GET").query_has("list-type")
}

fn index_gets() -> Match {
    Match::any().method("GET").key_suffix("metadata.json")
}

fn email(i: usize) -> String {
    format!("u{i:04}@example.com")
}

/// Users `users` rewritten with a new title: their indexes change.
async fn change(store: &Store, users: impl Iterator<Item = usize>, round: usize) {
    let mut seeder = Seeder::new(Layout::default(), false);
    for i in users {
        let doc = fixtures::conversation(&format!("c{i:04}"), &email(i), &format!("Changed {round}"), 1);
        seeder.user(&email(i), IndexState::Present, &[&doc]);
    }
    seeder.write(&store.client(), store.bucket()).await;
}

async fn warm_sync_lists_every_range_at_once_and_fetches_changes_together(kind: ServerKind) {
    const USERS: usize = 400;
    let direct = fresh_store(kind, Layout::default()).await;
    let mut seeder = Seeder::new(Layout::default(), kind.keeps_storage_class());
    for i in 0..USERS {
        let doc = fixtures::conversation(&format!("c{i:04}"), &email(i), &format!("Topic {i}"), 1);
        seeder.user(&email(i), IndexState::Present, &[&doc]);
        seeder.good(&email(i), &doc, ".json", Encoding::Plain);
    }
    seeder.write(&direct.client(), direct.bucket()).await;

    let proxy = FaultProxy::start(servers::shared(kind));
    let store = Store::connect(proxy.store_config(direct.bucket())).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(&dir.path().join("catalog.sqlite")).unwrap();
    // 800 keys, ranges of about 100: several ranges of one page each.
    let options = SyncOptions {
        range_keys: 100,
        ..SyncOptions::default()
    };
    proxy.set_rules(vec![latency(40)]);
    let cold = sync_catalog(&store, &catalog, &options).await;
    assert_eq!(cold.indexes_fetched, USERS as u64, "{cold:?}");
    let settled = cold.fetch_concurrency.settled as usize;
    assert!(
        settled >= 16,
        "the cold sync's fetches settled above what the changes need: {cold:?}"
    );

    // 12 indexes change (more than a slow start's first round of 8).
    // Lists answer after a second: far longer than sending them all takes,
    // so all are in flight at once unless the limit holds some back.
    let changed = 12;
    assert!(changed > INITIAL_LIMIT);
    change(&direct, (0..changed).map(|k| k * 31), 1).await;
    proxy.set_rules(vec![
        slow("slow-lists", lists()),
        counter("lists", lists()),
        counter("index-gets", index_gets()),
    ]);
    proxy.track_in_flight(lists());
    let warm = sync_catalog(&store, &catalog, &options).await;
    let lists_at_once = proxy.peak_in_flight();
    eprintln!("warm: {warm:?}");
    assert_eq!(warm.indexes_fetched, changed as u64, "{warm:?}");
    assert_eq!(
        proxy.hits("index-gets"),
        changed as u64,
        "only the changed indexes are fetched"
    );
    assert!(warm.list_ranges >= 6, "{warm:?}");
    assert_eq!(proxy.hits("lists"), warm.list_ranges, "one page a range: {warm:?}");
    assert_eq!(warm.list_requests, warm.list_ranges);
    assert_eq!(
        lists_at_once as u64, warm.list_ranges,
        "every range listed at once: one round trip"
    );

    // In the background of the app (`Store::in_background`) the same
    // listing starts slow instead: a burst of listings would sit at the
    // server ahead of the person's next look-up. Finer ranges, so there
    // are more than two slow-start rounds' worth.
    let fine = SyncOptions {
        range_keys: 20,
        ..options.clone()
    };
    proxy.set_rules(vec![slow("slow-lists", lists()), counter("lists", lists())]);
    proxy.track_in_flight(lists());
    let background = sync_catalog(&store.in_background(), &catalog, &fine).await;
    let background_at_once = proxy.peak_in_flight();
    assert_eq!(background.indexes_fetched, 0, "{background:?}");
    // Slow start sends 8, then 16, then 32 at most while the rate rises.
    let slow_start_rounds = 4 * INITIAL_LIMIT;
    assert!(background.list_ranges > slow_start_rounds as u64, "{background:?}");
    assert!(
        background_at_once <= slow_start_rounds,
        "a background sync's listings start at {INITIAL_LIMIT} and grow by slow start: \
         {background_at_once} at once of {}",
        background.list_ranges
    );

    // Ten neighbours change (`u0020`…`u0029`: one range, one page, so the
    // listing hands them over together), with their index GETs slow: all
    // ten are in flight at once, the limit starting where the last sync
    // settled rather than at a slow start's 8.
    let neighbours = 20..30;
    assert!(neighbours.len() > INITIAL_LIMIT);
    change(&direct, neighbours.clone(), 2).await;
    proxy.set_rules(vec![
        slow("slow-gets", index_gets()),
        counter("index-gets", index_gets()),
    ]);
    proxy.track_in_flight(index_gets());
    let warm = sync_catalog(&store, &catalog, &options).await;
    let fetches_at_once = proxy.peak_in_flight();
    assert_eq!(proxy.hits("index-gets"), neighbours.len() as u64, "{warm:?}");
    assert_eq!(
        fetches_at_once,
        neighbours.len(),
        "the changed indexes fetched at once: {warm:?}"
    );

    // The same catalog as a sync from scratch.
    let fresh = Catalog::open(&dir.path().join("fresh.sqlite")).unwrap();
    proxy.clear();
    let scratch = sync_catalog(&store, &fresh, &options).await;
    assert_eq!((scratch.users, scratch.conversations), (warm.users, warm.conversations));
    for i in [0, 20, 29, 31, 399] {
        let folder = UserFolder::from_email(&email(i)).unwrap();
        assert_eq!(
            catalog.user_entries(folder.as_str()).unwrap(),
            fresh.user_entries(folder.as_str()).unwrap(),
            "user {i}"
        );
    }
}

async fn a_listed_gzip_conversation_opens_with_one_get(kind: ServerKind) {
    const EMAIL: &str = "opener@example.com";
    let direct = fresh_store(kind, Layout::default()).await;
    let packed = fixtures::conversation("packed", EMAIL, "Stored as gzip", 20);
    let plain = fixtures::conversation("plain", EMAIL, "Stored as JSON", 20);
    let mut seeder = Seeder::new(Layout::default(), false);
    seeder.user(EMAIL, IndexState::Present, &[&packed, &plain]);
    seeder.good(EMAIL, &packed, ".json.gz", Encoding::Gzip);
    seeder.good(EMAIL, &plain, ".json", Encoding::Plain);
    seeder.write(&direct.client(), direct.bucket()).await;

    let proxy = FaultProxy::start(servers::shared(kind));
    proxy.set_rules(vec![
        counter("gz", Match::any().method("GET").key_suffix(".json.gz")),
        counter("json", Match::any().method("GET").key_suffix(".json")),
    ]);
    let counts = || {
        let counts = (proxy.hits("gz"), proxy.hits("json"));
        proxy.set_rules(vec![
            counter("gz", Match::any().method("GET").key_suffix(".json.gz")),
            counter("json", Match::any().method("GET").key_suffix(".json")),
        ]);
        counts
    };
    let folder = UserFolder::from_email(EMAIL).unwrap();
    let (packed_id, plain_id) = (
        ConversationId::parse("packed").unwrap(),
        ConversationId::parse("plain").unwrap(),
    );
    let gz_key = direct.layout().conversation_key(&folder, &packed_id, true);
    let plain_key = direct.layout().conversation_key(&folder, &packed_id, false);

    // By id alone (nothing listed): `<id>.json` first, then the gzip.
    let store = Store::connect(proxy.store_config(direct.bucket())).await.unwrap();
    let opened = store.get_conversation(&folder, &packed_id).await.unwrap();
    assert_eq!(
        (opened.key.as_str(), opened.encoding),
        (gz_key.as_str(), Encoding::Gzip)
    );
    assert_eq!(counts(), (1, 1), "a 404 on `.json`, then the gzip");
    // Opened once, known: the next open is one GET.
    store.get_conversation(&folder, &packed_id).await.unwrap();
    assert_eq!(counts(), (1, 0));

    // As in the app: the user's folder listed, then a conversation opened.
    let store = Store::connect(proxy.store_config(direct.bucket())).await.unwrap();
    let listed = browse::user_conversations(&store, &folder).await.unwrap();
    assert_eq!(listed.conversations.len(), 2);
    counts();
    let opened = store.get_conversation(&folder, &packed_id).await.unwrap();
    assert_eq!(opened.document.messages().len(), 20);
    assert_eq!(counts(), (1, 0), "one GET, of the listed gzip");
    store.get_conversation(&folder, &plain_id).await.unwrap();
    assert_eq!(counts(), (0, 1), "a plain conversation: one GET, as always");

    // The hint goes stale (the gzip replaced by plain JSON): still opened,
    // with the second GET, and the next open is one GET again.
    let client = direct.client();
    let body = archive_desk_core::codec::encode(&packed, Encoding::Plain);
    client
        .put_object()
        .bucket(direct.bucket())
        .key(&plain_key)
        .body(ByteStream::from(body))
        .send()
        .await
        .unwrap();
    client
        .delete_object()
        .bucket(direct.bucket())
        .key(&gz_key)
        .send()
        .await
        .unwrap();
    let opened = store.get_conversation(&folder, &packed_id).await.unwrap();
    assert_eq!(
        (opened.key.as_str(), opened.encoding),
        (plain_key.as_str(), Encoding::Plain)
    );
    assert_eq!(counts(), (1, 1), "a 404 on the gzip, then `.json`");
    store.get_conversation(&folder, &packed_id).await.unwrap();
    assert_eq!(counts(), (0, 1));

    // Neither exists: the same not-found error as before.
    client
        .delete_object()
        .bucket(direct.bucket())
        .key(&plain_key)
        .send()
        .await
        .unwrap();
    let err = store.get_conversation(&folder, &packed_id).await.unwrap_err();
    assert_eq!(err.code(), "not_found", "{err}");
    assert!(err.to_string().contains("packed.json (or .json.gz)"), "{err}");
}
