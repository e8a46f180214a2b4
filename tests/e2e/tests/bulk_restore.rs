//! A whole-customer restore in the real app: the "In Supabase" column says
//! what is there (one conversation half restored, the others absent), the
//! preview of the half-restored one names what it will do and shows its
//! edited message side by side with the archive's, "Restore all…"
//! runs one task and shows a result per conversation, the column then says
//! every conversation is in Supabase, and the rows are in Postgres.
//! Screenshots `bulk-restore*.png`.

use archive_desk_core::restore::RestoreOptions;
use archive_desk_core::{AuditLog, CancellationToken, Encoding, Layout, Session, UserFolder};
use archive_desk_e2e::{click, shot, users_listed, wait_for, wait_for_text, App, Home};
use archive_desk_harness::fixtures::{self, IndexState, Seeder};
use archive_desk_harness::supabase::{rest_target, SupabaseStack};
use archive_desk_harness::RawS3;
use archive_desk_harness::{fresh_store, servers, ServerKind};

const EMAIL: &str = "bulk.customer@example.com";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_all_of_a_customer_in_the_real_app() {
    let store = fresh_store(ServerKind::Moto, Layout::default()).await;
    let docs = [
        fixtures::conversation("bk-0", EMAIL, "Invoice question", 3),
        fixtures::conversation("bk-1", EMAIL, "Password reset", 4),
        fixtures::conversation("bk-2", EMAIL, "Export my data", 5),
    ];
    let mut seeder = Seeder::new(Layout::default(), true);
    seeder.user(EMAIL, IndexState::Present, &docs.iter().collect::<Vec<_>>());
    for d in &docs {
        seeder.good(EMAIL, d, ".json", Encoding::Plain);
    }
    seeder.write(&store.client(), store.bucket()).await;
    let stack = SupabaseStack::start();
    // bk-1 is in Supabase with one message lost since and one edited.
    let audit_dir = tempfile::tempdir().unwrap();
    let session = Session::new(store.clone(), AuditLog::at(audit_dir.path().join("audit.jsonl")));
    session
        .restore(
            EMAIL,
            "bk-1",
            &rest_target(&stack.url, &stack.service_key, None),
            &RestoreOptions::default(),
            false,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    stack.psql(
        "delete from messages where id = 'bk-1-m00003'; \
         update messages set content = 'Edited in the app since' where id = 'bk-1-m00001'",
    );

    let home = Home::new();
    let _profile = home.add_profile(servers::shared(ServerKind::Moto), store.bucket(), Some(&stack));
    let app = App::launch(&home).await;
    let client = &app.client;
    let folder = UserFolder::from_email(EMAIL).unwrap();
    wait_for_text(client, ".status", users_listed).await;
    click(client, &format!(".user-row[data-folder='{folder}']")).await;

    // The live column, read in one go for the user.
    wait_for_text(client, "td[data-live='bk-1']", |t| t == "1 missing").await;
    wait_for_text(client, "td[data-live='bk-0']", |t| t == "Not in Supabase").await;

    // The preview of the half-restored one says what a restore would do.
    click(client, "tr[data-id='bk-1'] td.title").await;
    wait_for_text(client, ".conv-title", |t| t == "Password reset").await;
    click(client, "#restore").await;
    let preview = wait_for_text(client, "#restore-preview", |t| !t.is_empty()).await;
    assert!(
        preview.contains("Conversation row: present") && preview.contains("1 to insert, 3 already present"),
        "{preview}"
    );
    // The edited message side by side: the archive's text and the table's.
    let differs = wait_for_text(client, "#preview-differences tbody tr", |t| !t.is_empty()).await;
    assert!(
        differs.contains("bk-1-m00001") && differs.contains("Answer 1") && differs.contains("Edited in the app since"),
        "{differs}"
    );
    wait_for_text(client, "dialog.modal button[data-value='ok']", |t| {
        t == "Restore 1 missing message"
    })
    .await;
    shot(client, "bulk-restore-preview").await;
    click(client, "dialog.modal button[data-value='cancel']").await;

    // All of the customer: one task, a result per conversation.
    click(client, "#restore-all").await;
    wait_for(client, "#bulk-restore").await;
    click(client, "dialog.modal button[data-value='ok']").await;
    let report = wait_for_text(client, "#bulk-report", |t| !t.is_empty()).await;
    assert!(report.contains("3 restored, 0 already there, 0 failed"), "{report}");
    for id in ["bk-0", "bk-1", "bk-2"] {
        let row = wait_for_text(client, &format!("#bulk-report tr[data-id='{id}']"), |t| !t.is_empty()).await;
        assert!(row.contains("Restored"), "{id}: {row}");
    }
    let kept = wait_for_text(client, "#bulk-report tr[data-id='bk-1']", |t| !t.is_empty()).await;
    assert!(kept.contains("differing fields kept: 1"), "{kept}");
    shot(client, "bulk-restore").await;
    click(client, "dialog.modal button").await;

    // The column was refreshed after the restore.
    for id in ["bk-0", "bk-1", "bk-2"] {
        wait_for_text(client, &format!("td[data-live='{id}']"), |t| t == "In Supabase").await;
    }
    shot(client, "bulk-restore-live").await;
    assert_eq!(
        stack.psql("select count(*) from messages where conversation_id like 'bk-%'"),
        "12"
    );
    app.close().await;
}
