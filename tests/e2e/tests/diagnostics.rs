//! The desktop conventions in the real app (Xvfb, tauri-driver, moto, the
//! real Secret Service): a walk over a customer's conversation (open it,
//! sync the catalog and search their email, save a secret, a failing command), then Help → Copy
//! diagnostics; a second launch focusing the first instead of starting;
//! and the diagnostic log scanned: it has the actions, their times and error
//! codes, and never the customer's email, the message content, the title
//! or a secret.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use archive_desk_core::{Encoding, Layout, UserFolder};
use archive_desk_e2e::{click, shot, target_dir, users_listed, wait_for, wait_for_text, App, Home, Xvfb};
use archive_desk_harness::fixtures::{self, IndexState, Seeder};
use archive_desk_harness::RawS3;
use archive_desk_harness::{fresh_store, servers, ServerKind};

const EMAIL: &str = "diag.customer.7f3a@example.com";
const TITLE: &str = "Canary title 5be1 about a refund";
const CONTENT: &str = "Canary message 91c4: my card ends in 4242, please call me";

/// Every file of the log directory (the current log and rotated ones).
fn read_logs(dir: &Path) -> String {
    let mut all = String::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        all += &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    all
}

/// Waits until the logs contain `line`.
async fn wait_for_log(dir: &Path, line: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let logs = if dir.exists() { read_logs(dir) } else { String::new() };
        if logs.contains(line) {
            return logs;
        }
        assert!(Instant::now() < deadline, "the log never got {line:?}; it has:\n{logs}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Calls a command from the page, as the UI does; `Ok(())` or the error's `(code, message)`.
async fn invoke(client: &fantoccini::Client, command: &str, args: serde_json::Value) -> Result<(), (String, String)> {
    let outcome = client
        .execute_async(
            "const [command, args, done] = arguments; window.__TAURI_INTERNALS__.invoke(command, args).then(() => done(null), e => done([e.code, e.message]));",
            vec![command.into(), args],
        )
        .await
        .expect("script runs");
    match outcome {
        serde_json::Value::Null => Ok(()),
        other => {
            let pair: (String, String) = serde_json::from_value(other).expect("[code, message]");
            Err(pair)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_diagnostic_log_has_actions_and_codes_but_no_customer_data_or_secrets() {
    let store = fresh_store(ServerKind::Moto, Layout::default()).await;
    let mut conversation = fixtures::conversation("diag-1", EMAIL, TITLE, 4);
    conversation["messages"][0]["content"] = serde_json::json!(CONTENT);
    let mut seeder = Seeder::new(Layout::default(), true);
    seeder.user(EMAIL, IndexState::Present, &[&conversation]);
    seeder.good(EMAIL, &conversation, ".json", Encoding::Plain);
    seeder.write(&store.client(), store.bucket()).await;
    let server = servers::shared(ServerKind::Moto);

    let home = Home::new();
    let profile = home.add_profile(server, store.bucket(), None);
    // Every app the e2e launches logs there (`ARCHIVE_DESK_LOG_DIR`).
    let log_dir = home.log_dir();
    let postgres_secret = format!("postgresql://desk:pw-canary-{}@db.example.com/app", servers::token());
    let folder = UserFolder::from_email(EMAIL).unwrap().to_string();

    let app = App::launch(&home).await;
    let client = &app.client;

    // The walk: the user, the conversation (its content shown), a search
    // for the customer's email, a secret saved, a command that fails.
    wait_for_text(client, ".status", users_listed).await;
    click(client, &format!(".user-row[data-folder='{folder}']")).await;
    click(client, "tr[data-id='diag-1'] td.title").await;
    wait_for_text(client, ".transcript .msg .content", |t| t == CONTENT).await;
    // Search works on the synced catalog.
    click(client, "#sync").await;
    wait_for_log(&log_dir, "sync_catalog ok ").await;
    let search = wait_for(client, "#search").await;
    search.send_keys(EMAIL).await.unwrap();
    wait_for_log(&log_dir, "search_catalog ok ").await;
    invoke(
        client,
        "set_secret",
        serde_json::json!({ "name": profile.name, "kind": "postgres-url", "value": postgres_secret }),
    )
    .await
    .expect("the secret is saved");
    let (code, message) = invoke(
        client,
        "open_conversation",
        serde_json::json!({ "user": folder, "id": "no-such-conversation" }),
    )
    .await
    .expect_err("no such conversation");
    assert_eq!(code, "not_found");
    assert!(message.contains(&folder), "the message names the key: {message}");

    // Help → Copy diagnostics: version, OS, the store, the recent error.
    click(client, "#help").await;
    click(client, "#copy-diagnostics").await;
    let report = wait_for_text(client, "#diagnostics-text", |t| t.contains("Recent errors")).await;
    assert!(report.starts_with("Archive Desk "), "{report}");
    assert!(
        report.contains("Keychain: Secret Service (until-delete, secrets are kept)"),
        "{report}"
    );
    assert!(report.contains(" open_conversation not_found\n"), "{report}");
    assert!(!report.contains(&folder) && !report.contains(EMAIL), "{report}");
    shot(client, "diagnostics-copy").await;
    click(client, "dialog.modal button[data-value='done']").await;

    // A second launch on the same config dir hands over to this one and exits.
    let xvfb = Xvfb::start();
    let mut second = Command::new(target_dir().join("debug/archive-desk"))
        .env("DISPLAY", format!(":{}", xvfb.display))
        .env("ARCHIVE_DESK_CONFIG_DIR", home.config_dir())
        .env("ARCHIVE_DESK_DATA_DIR", home.data_dir())
        .env("ARCHIVE_DESK_CACHE_DIR", home.cache_dir())
        .env("ARCHIVE_DESK_LOG_DIR", &log_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("a second app starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = second.kill();
            panic!("the second launch kept running beside the first");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    drop(xvfb);
    assert!(status.success(), "{status}");
    wait_for_log(&log_dir, "second launch: focusing the open window").await;
    // The first one still answers.
    wait_for(client, "#help").await;

    app.close().await;

    // The log: actions with times and codes, nothing of the customer's.
    let logs = read_logs(&log_dir);
    for expected in [
        "start version=",
        "persists=true",
        "list_users ok ",
        "open_conversation ok ",
        "set_secret ok ",
        "open_conversation failed ",
        "code=not_found",
        "diagnostics ok ",
    ] {
        assert!(logs.contains(expected), "the log lacks {expected:?}:\n{logs}");
    }
    for (what, secret) in [
        ("the email", EMAIL),
        ("the user folder", folder.as_str()),
        ("the title", TITLE),
        ("the message content", CONTENT),
        ("the S3 secret key", server.secret_access_key.as_str()),
        ("the Postgres URL", postgres_secret.as_str()),
    ] {
        assert!(!logs.contains(secret), "the log holds {what}:\n{logs}");
    }
    // Nothing is written but the app's own lines.
    assert!(
        logs.lines().all(|l| l.contains("[archive_desk]")),
        "a line from another source:\n{logs}"
    );
    drop(profile);
}
