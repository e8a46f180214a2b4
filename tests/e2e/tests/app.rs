//! The real app in a real window (Xvfb), driven through tauri-driver and
//! WebKitWebDriver, against the real local servers: moto (S3), the Supabase
//! stand-in, the Secret Service (the test run is inside with-keyring.sh).
//! Open the profile → users → a conversation → restore (rows checked in
//! Postgres) → export → delete (object and index entry checked) → the
//! audit log verified, plus hostile content rendered inert. Saves a
//! screenshot of each screen to `$ARCHIVE_DESK_SCREENSHOTS` (default: target dir).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use archive_desk_core::profile::{AwsAuth, Profile};
use archive_desk_core::{Encoding, Keychain, Layout, Profiles, Secret, SecretKind, UserFolder};
use archive_desk_harness::fixtures::{self, IndexState, Seeder};
use archive_desk_harness::supabase::SupabaseStack;
use archive_desk_harness::RawS3;
use archive_desk_harness::{fresh_store, servers, ServerKind};
use fantoccini::{Client, ClientBuilder, Locator};

const EMAIL: &str = "e2e.user@example.com";

/// Kills its process (SIGTERM first, so tauri-driver stops WebKitWebDriver).
struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

fn free_display() -> u32 {
    (100..200)
        .find(|n| !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists())
        .expect("a free X display")
}

async fn wait_for(client: &Client, css: &str) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} did not appear: {e}"))
}

/// The text of the first element matching `css`, read in the page: views
/// re-render, so an element found a moment ago may be gone (stale).
async fn text_of(client: &Client, css: &str) -> String {
    let value = client
        .execute(
            "const el = document.querySelector(arguments[0]); return el ? el.textContent : '';",
            vec![css.into()],
        )
        .await
        .expect("script runs");
    value.as_str().unwrap_or_default().to_owned()
}

/// Wait until the text of `css` satisfies `ok`.
async fn wait_for_text(client: &Client, css: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = text_of(client, css).await;
        if ok(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{css} never got the expected text; last: {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn shot(client: &Client, dir: &Path, name: &str) {
    let png = client.screenshot().await.expect("screenshot");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_restore_export_delete_in_the_real_app() {
    // Both rustls back ends are linked in this workspace; pick one for fantoccini.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let app = target_dir().join("debug/archive-desk");
    assert!(
        app.exists(),
        "{} is missing: build it with `cargo build -p archive-desk` (scripts/test.sh does)",
        app.display()
    );
    let driver = servers::tools_dir().join("cargo/bin/tauri-driver");
    assert!(
        driver.exists(),
        "{} is missing: run scripts/install-tools.sh",
        driver.display()
    );
    let shots = std::env::var_os("ARCHIVE_DESK_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("screenshots"));
    std::fs::create_dir_all(&shots).unwrap();

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
    let home = tempfile::tempdir().unwrap();
    let config_dir = home.path().join("config");
    // Where the native file dialogs are answered (see ARCHIVE_DESK_E2E_DIALOG_DIR).
    let dialogs = home.path().join("dialogs");
    std::fs::create_dir_all(&dialogs).unwrap();
    let profile_name = format!("e2e-{}", servers::token());
    let profiles = Profiles::new(config_dir.join("profiles.toml"), Keychain::default());
    let mut profile = Profile::new(store.bucket());
    profile.endpoint = Some(server.endpoint.clone());
    profile.region = Some("us-east-1".into());
    profile.aws = AwsAuth::Keychain {
        access_key_id: server.access_key_id.clone(),
    };
    profile.supabase_url = Some(stack.url.clone());
    profiles.put(&profile_name, profile).unwrap();
    profiles
        .set_secret(
            &profile_name,
            SecretKind::AwsSecretAccessKey,
            &Secret::new(server.secret_access_key.clone()),
        )
        .unwrap();
    profiles
        .set_secret(
            &profile_name,
            SecretKind::SupabaseKey,
            &Secret::new(stack.service_key.clone()),
        )
        .unwrap();

    // Xvfb, then tauri-driver (which starts the app through WebKitWebDriver).
    let display = free_display();
    let _xvfb = Proc(
        Command::new("Xvfb")
            .args([
                format!(":{display}"),
                "-screen".into(),
                "0".into(),
                "1280x800x24".into(),
                "-nolisten".into(),
                "tcp".into(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb starts"),
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let native_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _driver = Proc(
        Command::new(&driver)
            .args(["--port", &port.to_string(), "--native-port", &native_port.to_string()])
            .env("DISPLAY", format!(":{display}"))
            .env("ARCHIVE_DESK_CONFIG_DIR", &config_dir)
            .env("ARCHIVE_DESK_DATA_DIR", home.path().join("data"))
            .env("ARCHIVE_DESK_CACHE_DIR", home.path().join("cache"))
            .env("ARCHIVE_DESK_E2E_DIALOG_DIR", &dialogs)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tauri-driver starts"),
    );
    let mut caps = serde_json::Map::new();
    caps.insert("tauri:options".into(), serde_json::json!({ "application": app }));
    let deadline = Instant::now() + Duration::from_secs(60);
    let client = loop {
        match ClientBuilder::rustls()
            .expect("rustls")
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => break c,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(e) => panic!("could not start a WebDriver session: {e}"),
        }
    };

    // The only profile opens by itself; the users stream in.
    let folder = UserFolder::from_email(EMAIL).unwrap();
    // Rows are redrawn as batches arrive: wait for the listing to end
    // before holding on to one.
    wait_for_text(&client, ".status", |t| t.contains("users in")).await;
    let user_row = wait_for(&client, &format!(".user-row[data-folder='{folder}']")).await;
    shot(&client, &shots, "1-users").await;
    user_row.click().await.unwrap();
    wait_for(&client, "tr[data-id='e2e-plain'] td.title")
        .await
        .click()
        .await
        .unwrap();
    wait_for_text(&client, ".conv-title", |t| t == "Refund for a double charge").await;
    let first = wait_for(&client, ".transcript .msg .content").await;
    assert!(first
        .text()
        .await
        .unwrap()
        .starts_with("Question 0: how do I reset my password?"));
    shot(&client, &shots, "2-transcript").await;

    // Restore: one click, then the report; the rows are in Postgres.
    client
        .find(Locator::Css("#restore"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&client, "dialog.modal button[data-value='ok']")
        .await
        .click()
        .await
        .unwrap();
    let report = wait_for(&client, "#restore-report").await;
    let text = report.text().await.unwrap();
    assert!(
        text.contains("Conversation: inserted") && text.contains("6 inserted"),
        "{text}"
    );
    shot(&client, &shots, "3-restored").await;
    client
        .find(Locator::Css("dialog.modal button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
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
    client
        .find(Locator::Css("#export"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(&client, "#status", |t| t.starts_with("Exported 6 messages")).await;
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
    wait_for(&client, "#sync").await.click().await.unwrap();
    wait_for_text(&client, "#catalog-status", |t| {
        t.contains("synced") && t.contains("3 conversations")
    })
    .await;
    wait_for(&client, "#search").await.send_keys("cannot").await.unwrap();
    // Results are redrawn per keystroke: wait for those of the whole word.
    wait_for_text(&client, ".results-head", |t| t.contains("“cannot”")).await;
    let hit = wait_for(&client, ".hit[data-id='e2e-gzip']").await;
    shot(&client, &shots, "7-search").await;
    hit.click().await.unwrap();
    wait_for_text(&client, ".conv-title", |t| t == "Cannot log in").await;

    // Hostile content renders as text and runs nothing.
    wait_for(&client, &format!("tr[data-id='{}'] td.title", fixtures::HOSTILE_ID))
        .await
        .click()
        .await
        .unwrap();
    wait_for_text(&client, ".conv-title", |t| t == "<b>Hostile</b>").await;
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
    let content = text_of(&client, ".transcript .msg .content").await;
    assert!(content.contains("<script>window.__xss=2</script>"), "{content}");
    shot(&client, &shots, "4-hostile-as-text").await;

    // Delete permanently, confirmed in the dialog; object and entry are gone.
    wait_for(&client, "tr[data-id='e2e-gzip'] input[type=checkbox]")
        .await
        .click()
        .await
        .unwrap();
    wait_for(&client, "#user-actions button.danger")
        .await
        .click()
        .await
        .unwrap();
    shot(&client, &shots, "5-confirm-delete").await;
    wait_for(&client, "dialog.modal button[data-value='ok']")
        .await
        .click()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = client.find_all(Locator::Css("tr[data-id='e2e-gzip']")).await.unwrap();
        if rows.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "the deleted row is still listed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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
    shot(&client, &shots, "6-after-delete").await;
    // The search still showing "cannot" dropped the deleted conversation.
    wait_for_text(&client, ".search-results .empty p", |t| t.contains("“cannot”")).await;

    // The audit view's "Verify log" checks the chain the actions above wrote.
    let audit = archive_desk_core::AuditLog::at(home.path().join("data/audit.jsonl"));
    let records = audit.verify().unwrap().records;
    assert!(records >= 4, "restore, export, delete intent and outcome: {records}");
    wait_for(&client, "#audit-log").await.click().await.unwrap();
    wait_for(&client, "#verify-log").await.click().await.unwrap();
    let verdict = wait_for_text(&client, "#audit-verify", |t| !t.is_empty()).await;
    assert!(
        verdict.starts_with(&format!("{records} records, no damaged lines")) && verdict.contains("Chain intact"),
        "{verdict}"
    );
    let class = wait_for(&client, "#audit-verify").await.attr("class").await.unwrap();
    assert_eq!(class.as_deref(), Some("report"));
    shot(&client, &shots, "8-audit-verified").await;
    // Its head file gone: the same log is no longer called intact, in the danger colour.
    std::fs::remove_file(audit.head_path()).unwrap();
    wait_for(&client, "#verify-log").await.click().await.unwrap();
    let verdict = wait_for_text(&client, "#audit-verify", |t| t.contains("Not verified to the end")).await;
    assert!(!verdict.contains("intact"), "{verdict}");
    let class = wait_for(&client, "#audit-verify").await.attr("class").await.unwrap();
    assert_eq!(class.as_deref(), Some("report error"));
    wait_for(&client, "dialog.modal button[data-value='ok']")
        .await
        .click()
        .await
        .unwrap();

    client.close().await.unwrap();
    profiles.remove(&profile_name).unwrap();
}
