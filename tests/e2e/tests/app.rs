//! The real app in a real window (Xvfb), driven through tauri-driver and
//! WebKitWebDriver, against the real local servers: moto (S3), the Supabase
//! stand-in, the Secret Service (the test run is inside with-keyring.sh).
//! Open the profile → users → a conversation → restore (rows checked in
//! Postgres) → export → delete (object and index entry checked) → the
//! audit log verified, plus hostile content rendered inert. Saves a
//! screenshot of each screen to `$ARCHIVE_DESK_SCREENSHOTS` (default: target dir).

use archive_desk_core::{Encoding, Layout, UserFolder};
use archive_desk_e2e::{axe_check, click, shot, text_of, users_listed, wait_for, wait_for_text, wait_gone, App, Home};
use archive_desk_harness::fixtures::{self, IndexState, Seeder};
use archive_desk_harness::supabase::SupabaseStack;
use archive_desk_harness::RawS3;
use archive_desk_harness::{fresh_store, servers, ServerKind};

const EMAIL: &str = "e2e.user@example.com";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_restore_export_delete_in_the_real_app() {
    // The archive: one user with a plain, a gzip and a hostile conversation.
    let store = fresh_store(ServerKind::Moto, Layout::default()).await;
    let plain = fixtures::conversation("e2e-plain", EMAIL, "Refund for a double charge", 6);
    let gz = fixtures::conversation("e2e-gzip", EMAIL, "Cannot log in", 4);
    let mut hostile = fixtures::conversation(fixtures::HOSTILE_ID, EMAIL, "<b>Hostile</b>", 2);
    hostile["messages"][0]["content"] = serde_json::json!(fixtures::HOSTILE_CONTENT);
    let mut seeder = Seeder::new(Layout::default(), true);
    seeder.user(EMAIL, IndexState::Present, &[&plain, &gz, &hostile]);
    seeder.good(EMAIL, &plain, ".json", Encoding::Plain);
    seeder.good(EMAIL, &gz, ".json.gz", Encoding::Gzip);
    seeder.good(EMAIL, &hostile, ".json", Encoding::Plain);
    seeder.write(&store.client(), store.bucket()).await;
    let stack = SupabaseStack::start();
    let server = servers::shared(ServerKind::Moto);

    // A profile in a config dir of its own; its secrets in the real keychain.
    let home = Home::new();
    let dialogs = home.dialogs();
    let _profile = home.add_profile(server, store.bucket(), Some(&stack));
    let app = App::launch(&home).await;
    let client = &app.client;

    // The only profile opens by itself; the users stream in.
    let folder = UserFolder::from_email(EMAIL).unwrap();
    // Rows are redrawn as batches arrive: wait for the listing to end
    // before holding on to one.
    wait_for_text(client, ".status", users_listed).await;
    let user_row = format!(".user-row[data-folder='{folder}']");
    wait_for(client, &user_row).await;
    shot(client, "1-users").await;
    axe_check(client, "users").await;
    click(client, &user_row).await;
    click(client, "tr[data-id='e2e-plain'] td.title").await;
    wait_for_text(client, ".conv-title", |t| t == "Refund for a double charge").await;
    wait_for(client, ".transcript .msg .content").await;
    let first = text_of(client, ".transcript .msg .content").await;
    assert!(first.starts_with("Question 0: how do I reset my password?"), "{first}");
    shot(client, "2-transcript").await;
    axe_check(client, "transcript").await;

    // Restore: one click, then the report; the rows are in Postgres.
    click(client, "#restore").await;
    click(client, "dialog.modal button[data-value='ok']").await;
    wait_for(client, "#restore-report").await;
    let text = text_of(client, "#restore-report").await;
    assert!(
        text.contains("Conversation: inserted") && text.contains("6 inserted"),
        "{text}"
    );
    shot(client, "3-restored").await;
    click(client, "dialog.modal button").await;
    assert_eq!(
        stack.psql("select count(*) from messages where conversation_id = 'e2e-plain'"),
        "6"
    );

    // The page cannot name a file: a raw path is refused and nothing is written.
    let forged = home.path().join("forged.json");
    let refused = client
        .execute_async(
            "const [user, id, file, done] = arguments; window.__TAURI_INTERNALS__.invoke('export_conversation', {user, id, file, gzip: false}).then(() => done('written'), e => done(e.code));",
            vec![folder.to_string().into(), "e2e-plain".into(), forged.to_str().unwrap().into()],
        )
        .await
        .unwrap();
    assert_eq!(refused, serde_json::json!("invalid_input"));
    assert!(!forged.exists());

    // An argument outside its core bound is refused as `{code, message}` too,
    // naming the argument, before the command runs.
    let refused = client
        .execute_async(
            "const [user, done] = arguments; window.__TAURI_INTERNALS__.invoke('thaw_conversation', {user, id: 'e2e-plain', days: 0, tier: 'standard'}).then(() => done('thawed'), e => done(e));",
            vec![folder.to_string().into()],
        )
        .await
        .unwrap();
    assert_eq!(refused["code"], "invalid_input", "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("days"), "{refused}");

    // Export JSON…: the backend opens the save dialog (answered from
    // `dialogs`, as WebDriver cannot drive a native dialog) and writes.
    click(client, "#export").await;
    wait_for_text(client, "#status", |t| t.starts_with("Exported 6 messages")).await;
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dialogs.join("e2e-plain.json")).unwrap()).unwrap();
    assert_eq!(written, plain);

    // The whole user: a file chosen through the dialog command, then the
    // export with its progress channel (a raw IPC callback: withGlobalTauri is off).
    let exported = client
        .execute_async(
            "const [user, done] = arguments; const seen = [];
             const id = window.__TAURI_INTERNALS__.transformCallback(m => { if (m && m.message) seen.push(m.message); });
             window.__TAURI_INTERNALS__.invoke('choose_file', {purpose: 'export_user', suggestedName: 'user.json'})
               .then(f => window.__TAURI_INTERNALS__.invoke('export_user', {user, file: f.token, format: 'json', gzip: false, task: 'e2e-export', onProgress: '__CHANNEL__:' + id}))
               .then(r => done({conversations: r.conversations, last: seen[seen.length - 1] || null}), e => done(String(e.message)));",
            vec![folder.to_string().into()],
        )
        .await
        .unwrap();
    assert_eq!(exported["conversations"], 3, "{exported}");
    assert_eq!(exported["last"]["conversations_done"], 3, "{exported}");
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dialogs.join("user.json")).unwrap()).unwrap();
    assert_eq!(written["conversations"].as_array().unwrap().len(), 3);
    assert!(written["conversations"].as_array().unwrap().contains(&plain));

    // Search: build the catalog with one click, then find a conversation by
    // its title and open it from the hit (a conversation not opened before).
    click(client, "#sync").await;
    wait_for_text(client, "#catalog-status", |t| {
        t.contains("synced") && t.contains("3 conversations")
    })
    .await;
    wait_for(client, "#search").await.send_keys("cannot").await.unwrap();
    // Results are redrawn per keystroke: wait for those of the whole word.
    wait_for_text(client, ".results-head", |t| t.contains("“cannot”")).await;
    wait_for(client, ".hit[data-id='e2e-gzip']").await;
    shot(client, "7-search").await;
    click(client, ".hit[data-id='e2e-gzip']").await;
    wait_for_text(client, ".conv-title", |t| t == "Cannot log in").await;

    // Hostile content renders as text and runs nothing.
    click(client, &format!("tr[data-id='{}'] td.title", fixtures::HOSTILE_ID)).await;
    wait_for_text(client, ".conv-title", |t| t == "<b>Hostile</b>").await;
    let found = client
        .execute(
            "return document.querySelectorAll('.transcript img, .transcript script, .transcript b').length",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(found, serde_json::json!(0));
    let xss = client
        .execute("return window.__xss === undefined", vec![])
        .await
        .unwrap();
    assert_eq!(xss, serde_json::json!(true));
    let content = text_of(client, ".transcript .msg .content").await;
    assert!(content.contains("<script>window.__xss=2</script>"), "{content}");
    shot(client, "4-hostile-as-text").await;

    // The Raw JSON tab fetches the stored document when opened (it is not
    // part of open_conversation's answer): exactly what the bucket holds, as text.
    click(client, ".tabs button:nth-child(2)").await;
    let raw = wait_for_text(client, "pre.raw", |t| !t.is_empty()).await;
    assert_eq!(serde_json::from_str::<serde_json::Value>(&raw).unwrap(), hostile);
    let elements = client
        .execute("return document.querySelectorAll('pre.raw *').length", vec![])
        .await
        .unwrap();
    assert_eq!(elements, serde_json::json!(0));
    click(client, ".tabs button:nth-child(1)").await;
    wait_for(client, ".transcript .msg").await;

    // Delete permanently, confirmed in the dialog; object and entry are gone.
    click(client, "tr[data-id='e2e-gzip'] input[type=checkbox]").await;
    click(client, "#user-actions button.danger").await;
    shot(client, "5-confirm-delete").await;
    axe_check(client, "confirm-delete dialog").await;
    click(client, "dialog.modal button[data-value='ok']").await;
    wait_gone(client, "tr[data-id='e2e-gzip']").await;
    let key = store.layout().conversation_key(
        &folder,
        &archive_desk_core::ConversationId::parse("e2e-gzip").unwrap(),
        true,
    );
    assert!(store
        .client()
        .head_object()
        .bucket(store.bucket())
        .key(&key)
        .send()
        .await
        .is_err());
    let ids: Vec<String> = store
        .read_index(&folder)
        .await
        .unwrap()
        .index
        .entries()
        .map(|e| e.conversation_id())
        .collect();
    assert_eq!(ids, ["e2e-plain", fixtures::HOSTILE_ID]);
    shot(client, "6-after-delete").await;
    // The search still showing "cannot" dropped the deleted conversation.
    wait_for_text(client, ".search-results .empty p", |t| t.contains("“cannot”")).await;

    // The audit view's "Verify log" checks the chain the actions above wrote.
    let audit = archive_desk_core::AuditLog::at(home.data_dir().join("audit.jsonl"));
    let records = audit.verify().unwrap().records;
    assert!(records >= 4, "restore, export, delete intent and outcome: {records}");
    click(client, "#audit-log").await;
    click(client, "#verify-log").await;
    let verdict = wait_for_text(client, "#audit-verify", |t| !t.is_empty()).await;
    assert!(
        verdict.starts_with(&format!("{records} records, no damaged lines")) && verdict.contains("Chain intact"),
        "{verdict}"
    );
    let class = wait_for(client, "#audit-verify").await.attr("class").await.unwrap();
    assert_eq!(class.as_deref(), Some("report"));
    shot(client, "8-audit-verified").await;
    axe_check(client, "audit").await;
    // Its head file gone: the same log is no longer called intact, in the danger colour.
    std::fs::remove_file(audit.head_path()).unwrap();
    click(client, "#verify-log").await;
    let verdict = wait_for_text(client, "#audit-verify", |t| t.contains("Not verified to the end")).await;
    assert!(!verdict.contains("intact"), "{verdict}");
    let class = wait_for(client, "#audit-verify").await.attr("class").await.unwrap();
    assert_eq!(class.as_deref(), Some("report error"));
    click(client, "dialog.modal button[data-value='ok']").await;

    // The profiles dialog.
    click(client, "#profiles").await;
    wait_for(client, "dialog.modal .profile-row").await;
    axe_check(client, "profiles").await;
    click(client, "dialog.modal button[data-value='done']").await;

    app.close().await;
}
