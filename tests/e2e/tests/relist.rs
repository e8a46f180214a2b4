//! The users list read again from the catalog once the window's background
//! sync ends keeps every user. Batches over 8 KB reach the page by a fetch
//! of their own, which can land after the command's answer: the list was
//! once swapped in before they came, and the demo's 300 users showed as
//! "No users found".

use archive_desk_core::{Layout, UserFolder};
use archive_desk_e2e::{count_of, text_of, users_listed, wait_for, wait_for_text, App, Home};
use archive_desk_harness::fixtures::{IndexState, Seeder};
use archive_desk_harness::{fresh_store, servers, RawS3, ServerKind};
use std::time::{Duration, Instant};

/// Enough users that every batch of the listing is over 8 KB.
const USERS: usize = 400;

fn email(i: usize) -> String {
    format!("relist.{i:03}@example.com")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_listed_again_after_the_background_sync_are_all_shown() {
    let store = fresh_store(ServerKind::Moto, Layout::default()).await;
    let mut seeder = Seeder::new(Layout::default(), true);
    for i in 0..USERS {
        seeder.user(&email(i), IndexState::Present, &[]);
    }
    seeder.write(&store.client(), store.bucket()).await;
    let home = Home::new();
    let profile = home.add_profile(servers::shared(ServerKind::Moto), store.bucket(), None);
    home.sync_catalog(&profile, &store).await;

    let app = App::launch(&home).await;
    let client = &app.client;
    let status = wait_for_text(client, ".status", users_listed).await;
    assert!(
        status.contains(&format!("{USERS} users in")) && status.contains("from the catalog synced"),
        "{status}"
    );
    let first = UserFolder::from_email(&email(0)).unwrap();
    wait_for(client, &format!(".user-row[data-folder='{first}']")).await;

    // A catalog synced before is refreshed once the window is quiet, then
    // the list is read from it again.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let marks = client
            .execute(
                "return performance.getEntriesByName('archive-desk:users-relisted').length",
                vec![],
            )
            .await
            .unwrap();
        if marks.as_u64() == Some(1) {
            break;
        }
        assert!(Instant::now() < deadline, "the list was never read again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pane = text_of(client, ".users-pane").await;
    assert!(!pane.contains("No users found"), "{pane}");
    assert!(
        count_of(client, &format!(".user-row[data-folder='{first}']")).await == 1,
        "{pane}"
    );
    let status = text_of(client, "#catalog-status").await;
    assert!(status.contains(&format!("{USERS} users")), "{status}");

    app.close().await;
}
