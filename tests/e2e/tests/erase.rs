//! An erasure in the real app (Xvfb, tauri-driver, WebKitWebDriver) on a
//! versioned moto bucket: "Erase user…" asks for the email typed, the
//! receipt's place comes from the save dialog (answered from the dialogs
//! directory), then every version of the user is gone (ListObjectVersions
//! through the tests' own client), the receipt's hash is in the audit log,
//! and "Verify a receipt…" in the audit view verifies it. Screenshots
//! `erase-*.png`.

use archive_desk_core::erase::{ErasureOutcome, ErasureReceipt};
use archive_desk_core::{AuditFilter, AuditLog, Encoding, Layout, UserFolder};
use archive_desk_e2e::{click, shot, users_listed, wait_for, wait_for_text, wait_gone, App, Home};
use archive_desk_harness::check::version_ids;
use archive_desk_harness::fixtures::{self, object_key, IndexState, Seeder};
use archive_desk_harness::{enable_versioning, fresh_store, servers, RawS3, ServerKind};
use fantoccini::Locator;

const EMAIL: &str = "erase.e2e@example.com";
const OTHER: &str = "stays.e2e@example.com";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erase_a_user_with_a_receipt_in_the_real_app() {
    let store = fresh_store(ServerKind::Moto, Layout::default()).await;
    enable_versioning(&store).await;
    let a = fixtures::conversation("erase-a", EMAIL, "Close my account", 4);
    let b = fixtures::conversation("erase-b", EMAIL, "Delete all my data", 2);
    let o = fixtures::conversation("stays-a", OTHER, "Unrelated", 2);
    // Written twice: two versions of each object and of each index.
    for _ in 0..2 {
        let mut seeder = Seeder::new(Layout::default(), true);
        seeder.user(EMAIL, IndexState::Present, &[&a, &b]);
        seeder.good(EMAIL, &a, ".json", Encoding::Plain);
        seeder.good(EMAIL, &b, ".json.gz", Encoding::Gzip);
        seeder.user(OTHER, IndexState::Present, &[&o]);
        seeder.good(OTHER, &o, ".json", Encoding::Plain);
        seeder.write(&store.client(), store.bucket()).await;
    }
    let user_prefix = object_key(EMAIL, "");
    assert_eq!(version_ids(&store, &user_prefix).await.len(), 6);
    let others = version_ids(&store, &object_key(OTHER, "")).await;

    let home = Home::new();
    let dialogs = home.dialogs();
    let _profile = home.add_profile(servers::shared(ServerKind::Moto), store.bucket(), None);
    let app = App::launch(&home).await;
    let client = &app.client;

    let folder = UserFolder::from_email(EMAIL).unwrap();
    wait_for_text(client, ".status", users_listed).await;
    click(client, &format!(".user-row[data-folder='{folder}']")).await;
    wait_for(client, "tr[data-id='erase-b']").await;

    // The email must be typed before the button does anything.
    click(client, "#erase-user").await;
    let ok = wait_for(client, "dialog.modal button[data-value='ok']").await;
    assert!(!ok.is_enabled().await.unwrap(), "enabled before the email was typed");
    let typed = client
        .find(Locator::Css("dialog.modal input[aria-label='Type to confirm']"))
        .await
        .unwrap();
    typed.send_keys("erase.e2e@example.co").await.unwrap();
    assert!(!ok.is_enabled().await.unwrap(), "enabled by a wrong email");
    typed.send_keys("m").await.unwrap();
    assert!(ok.is_enabled().await.unwrap());
    shot(client, "erase-1-confirm").await;
    ok.click().await.unwrap();

    let report = wait_for_text(client, "#erase-report", |t| t.contains("Receipt SHA-256")).await;
    assert!(report.contains("Erased: nothing of this user is left"), "{report}");
    shot(client, "erase-2-report").await;
    // The users list no longer offers the erased user; the other stays.
    wait_gone(client, &format!(".user-row[data-folder='{folder}']")).await;
    let other = UserFolder::from_email(OTHER).unwrap();
    wait_for(client, &format!(".user-row[data-folder='{other}']")).await;

    // Nothing of the user is left, not a version; the other user is untouched.
    assert!(version_ids(&store, &user_prefix).await.is_empty());
    assert_eq!(version_ids(&store, &object_key(OTHER, "")).await, others);

    // The receipt is where the save dialog said; its hash is in the audit log.
    let saved: Vec<_> = std::fs::read_dir(&dialogs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("erasure-receipt-"))
        .collect();
    assert_eq!(saved.len(), 1, "{saved:?}");
    let (receipt, sha256) = ErasureReceipt::read(&saved[0]).unwrap();
    assert_eq!(receipt.outcome, ErasureOutcome::Complete);
    assert_eq!(receipt.user_email.as_deref(), Some(EMAIL));
    assert!(report.contains(&sha256), "{report}");
    let records = AuditLog::at(home.data_dir().join("audit.jsonl"))
        .read(&AuditFilter {
            action: Some("erase_user".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(records.last().unwrap().detail["receipt_sha256"], sha256.as_str());

    // The audit view checks the receipt against the bucket (the open
    // dialog answers with `receipt.json`).
    std::fs::copy(&saved[0], dialogs.join("receipt.json")).unwrap();
    click(client, "#audit-log").await;
    click(client, "#verify-receipt").await;
    let check = wait_for_text(client, "#receipt-check", |t| !t.is_empty()).await;
    assert!(
        check.starts_with("Verified: none of the keys or versions it lists exists any more."),
        "{check}"
    );
    shot(client, "erase-3-receipt-verified").await;
    app.close().await;
}
