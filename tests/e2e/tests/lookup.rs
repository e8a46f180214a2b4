//! Finding a user at once in the real app (moto behind the fault proxy):
//! with a catalog synced before, the users list comes from it at once (a
//! user archived since is not in it) while the background sync is held at
//! its listing; typing that user's complete email opens their
//! conversations straight from the bucket; an unknown email says so; a
//! user whose index holds no conversation is found by search, saying so;
//! once the background sync gets through, the list is read again and
//! holds the new user. Screenshots `lookup-*.png`.

use std::time::{Duration, Instant};

use archive_desk_core::{Layout, UserFolder};
use archive_desk_e2e::{click, count_of, shot, text_of, users_listed, wait_for, wait_for_text, App, Home};
use archive_desk_harness::fixtures::{self, IndexState, Seeder};
use archive_desk_harness::RawS3;
use archive_desk_harness::{fresh_store, servers, Fault, FaultProxy, Match, Rule, ServerKind};
use fantoccini::Client;
use serde_json::Value;

const EARLY: &str = "early.bird@example.com";
const QUIET: &str = "quiet.one@example.com";
const LATE: &str = "late.comer@example.com";

fn user(seeder: &mut Seeder, email: &str, ids: &[&str]) -> Vec<Value> {
    let docs: Vec<Value> = ids
        .iter()
        .map(|id| fixtures::conversation(id, email, &format!("About {id}"), 2))
        .collect();
    seeder.archived(email, &docs);
    docs
}

/// Type `text` into the emptied search box.
async fn type_search(client: &Client, text: &str) {
    let search = wait_for(client, "#search").await;
    search.clear().await.unwrap();
    if !text.is_empty() {
        search.send_keys(text).await.unwrap();
    }
}

/// The conversation ids shown in the middle pane.
async fn shown_ids(client: &Client) -> Vec<String> {
    let v = client
        .execute(
            "return [...document.querySelectorAll('.conv-pane tbody tr')].map((tr) => tr.dataset.id)",
            vec![],
        )
        .await
        .unwrap();
    serde_json::from_value(v).unwrap()
}

async fn has_row(client: &Client, folder: &str) -> bool {
    count_of(client, &format!(".user-row[data-folder='{folder}']")).await > 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exact_email_opens_a_user_the_catalog_does_not_know() {
    let store = fresh_store(ServerKind::Moto, Layout::default()).await;
    let mut seeder = Seeder::new(Layout::default(), true);
    user(&mut seeder, EARLY, &["early-1", "early-2"]);
    seeder.user(QUIET, IndexState::Present, &[]);
    seeder.write(&store.client(), store.bucket()).await;

    let server = servers::shared(ServerKind::Moto);
    let proxy = FaultProxy::start(server);
    let home = Home::new();
    let profile = home.add_profile_at(&proxy.endpoint(), server, store.bucket(), None);
    // The catalog the app will open, synced now; then a user is archived.
    home.sync_catalog(&profile, &store).await;
    let mut seeder = Seeder::new(Layout::default(), true);
    user(&mut seeder, LATE, &["late-1", "late-2", "late-3"]);
    seeder.write(&store.client(), store.bucket()).await;

    // The background sync's listing (the bucket's whole prefix) is held
    // until the client's read timeout, so what the list shows meanwhile
    // can only come from the catalog.
    proxy.set_rules(vec![Rule::new(
        "hold-sync-listing",
        Match::any().query_has("prefix=archived_conversations%2F"),
        Fault::Stall,
    )
    .limit(1)]);
    let app = App::launch(&home).await;
    let client = &app.client;

    let [early, quiet, late] = [EARLY, QUIET, LATE].map(|e| UserFolder::from_email(e).unwrap().to_string());
    let status = wait_for_text(client, ".status", users_listed).await;
    assert!(
        status.contains("2 users in") && status.contains("from the catalog synced"),
        "{status}"
    );
    wait_for(client, &format!(".user-row[data-folder='{early}']")).await;
    assert!(has_row(client, &quiet).await);
    // The background sync starts once the list is shown.
    let deadline = Instant::now() + Duration::from_secs(30);
    while proxy.hits("hold-sync-listing") == 0 {
        assert!(Instant::now() < deadline, "the background sync never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        proxy.hits("hold-sync-listing"),
        1,
        "the background sync is held at its listing"
    );
    assert!(!has_row(client, &late).await, "the catalog does not know the late user");
    shot(client, "lookup-1-users-from-catalog").await;

    // The complete email opens the user from the bucket, though no list knows them.
    type_search(client, LATE).await;
    wait_for_text(client, ".conv-pane .pane-head h2", |t| t == LATE).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while shown_ids(client).await.len() < 3 {
        assert!(Instant::now() < deadline, "the late user's conversations never showed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut ids = shown_ids(client).await;
    ids.sort();
    assert_eq!(ids, ["late-1", "late-2", "late-3"]);
    // The search results say where it came from, not "No matches".
    wait_for_text(client, ".search-results .found-user", |t| t == LATE).await;
    shot(client, "lookup-2-late-user-opened").await;
    // And opens their conversations like any other.
    click(client, "tr[data-id='late-2'] td.title").await;
    wait_for_text(client, ".conv-title", |t| t == "About late-2").await;

    // An unknown email: said plainly.
    type_search(client, "nobody@example.com").await;
    wait_for_text(client, ".status", |t| t.starts_with("No user nobody@example.com in")).await;

    // A user whose index holds no conversation: the search names them.
    type_search(client, QUIET).await;
    wait_for(client, &format!(".search-results .empty-user[data-folder='{quiet}']")).await;
    let results = text_of(client, ".search-results").await;
    assert!(results.contains("Its index holds no conversation."), "{results}");
    wait_for_text(client, ".conv-pane .pane-head h2", |t| t == QUIET).await;
    wait_for_text(client, ".conv-pane .empty p", |t| {
        t.contains("No conversations archived")
    })
    .await;
    shot(client, "lookup-3-user-without-conversations").await;

    // Once the held listing times out and is retried, the background sync
    // ends and the list is read again from the catalog: the late user is in it.
    type_search(client, "").await;
    client
        .execute(
            "const s = document.getElementById('search'); s.dispatchEvent(new Event('input', {bubbles: true}));",
            vec![],
        )
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(180);
    while !has_row(client, &late).await {
        assert!(
            Instant::now() < deadline,
            "the list was never refreshed after the background sync"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    wait_for_text(client, "#catalog-status", |t| t.contains("3 users")).await;

    app.close().await;
}
