//! Find, in the real app: the conversations table fits its pane at the
//! default window size; Ctrl+F in a 10,000-message transcript finds a
//! message far beyond the first rendered batch, highlights it as a text
//! range and scrolls to it; copy a message and the conversation id;
//! "Search messages" across the user's conversations links to the
//! message; the `?` sheet; the dark theme follows the OS; a pane width
//! is kept across launches. axe-core on each
//! screen. Screenshots: `theme-light` (the find bar), `theme-dark`, `find-*`.

use std::ffi::OsString;

use archive_desk_core::{Encoding, Layout, Store, UserFolder};
use archive_desk_e2e::{axe_check, click, shot, users_listed, wait_for, wait_for_text, App, Home};
use archive_desk_harness::fixtures::{self, Expect, IndexState, Seeder};
use archive_desk_harness::RawS3;
use archive_desk_harness::{fresh_store, servers, ServerKind};
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::Client;
use serde_json::{json, Value};

const EMAIL: &str = "find.user@example.com";
const NEEDLE: &str = "zebra";

/// A 10,000-message conversation with the needle in messages 10 and 9,000,
/// a short one with it in message 1, one without it, and a broken object.
async fn seed() -> Store {
    let store = fresh_store(ServerKind::Moto, Layout::default()).await;
    let mut big = fixtures::conversation(
        "find-big",
        EMAIL,
        "Ten thousand messages about many things at once",
        10_000,
    );
    big["messages"][10]["content"] = json!("Is the Zebra plan still offered?");
    big["messages"][9_000]["content"] = json!("Yes, the zebra plan is offered until June.");
    let mut small = fixtures::conversation("find-small", EMAIL, "Plans", 3);
    small["messages"][1]["content"] = json!("We also have a zebra tier.");
    let other = fixtures::conversation("find-other", EMAIL, "Password reset", 4);
    let mut seeder = Seeder::new(Layout::default(), true);
    seeder.user(EMAIL, IndexState::Present, &[&big, &small, &other]);
    seeder.good(EMAIL, &big, ".json.gz", Encoding::Gzip);
    seeder.good(EMAIL, &small, ".json", Encoding::Plain);
    seeder.good(EMAIL, &other, ".json", Encoding::Plain);
    seeder.object(
        EMAIL,
        "find-broken",
        "find-broken.json",
        b"{\"conv".to_vec(),
        None,
        None,
        Expect::Fails("decode"),
    );
    seeder.write(&store.client(), store.bucket()).await;
    store
}

async fn js(client: &Client, script: &str) -> Value {
    client
        .execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("{script}: {e}"))
}

async fn open_user(client: &Client) {
    let folder = UserFolder::from_email(EMAIL).unwrap();
    wait_for_text(client, ".status", users_listed).await;
    click(client, &format!(".user-row[data-folder='{folder}']")).await;
    wait_for(client, "table.conversations").await;
}

/// The current match: its text, its message, and whether it is in view.
async fn current_match(client: &Client) -> Value {
    js(
        client,
        "const h = CSS.highlights.get('find-current'); const r = h && [...h][0];
         if (!r) return null;
         const article = r.startContainer.parentElement.closest('article');
         const box = r.getBoundingClientRect(), pane = document.querySelector('.transcript').getBoundingClientRect();
         return { text: r.toString(), message: Number(article.dataset.index),
                  visible: box.top >= pane.top && box.bottom <= pane.bottom };",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_in_a_transcript_and_across_a_user() {
    let store = seed().await;
    let home = Home::new();
    let _profile = home.add_profile(servers::shared(ServerKind::Moto), store.bucket(), None);
    let app = App::launch(&home).await;
    let client = &app.client;
    open_user(client).await;

    // The table fits its pane at the default size, the Archived column shown.
    let fit = js(
        client,
        "const t = document.querySelector('table.conversations'), pane = t.closest('.pane');
         const archived = document.querySelector('th.col-archived');
         return { table: t.scrollWidth, pane: pane.clientWidth, archived: archived.getBoundingClientRect().width,
                  tooltip: document.querySelector('tr[data-id=\"find-big\"] td.title').title };",
    )
    .await;
    assert!(fit["table"].as_f64().unwrap() <= fit["pane"].as_f64().unwrap(), "{fit}");
    assert!(fit["archived"].as_f64().unwrap() > 0.0, "{fit}");
    assert!(
        fit["tooltip"]
            .as_str()
            .unwrap()
            .starts_with("Ten thousand messages about many things at once\nfind-big"),
        "{fit}"
    );

    // Ctrl+F in the 10k-message transcript: 2 matches, the second far
    // beyond the first rendered batch.
    click(client, "tr[data-id='find-big'] td.title").await;
    wait_for(client, ".transcript .msg").await;
    assert_eq!(
        js(client, "return document.querySelectorAll('.transcript .msg').length").await,
        200
    );
    js(client, "document.querySelector('.transcript').focus()").await;
    client.perform_actions(chord(Key::Control, 'f')).await.unwrap();
    let input = wait_for(client, ".find-bar:not([hidden]) .find-input").await;
    assert_eq!(
        js(client, "return document.activeElement.className").await,
        "find-input"
    );
    input.send_keys(NEEDLE).await.unwrap();
    wait_for_text(client, ".find-count", |t| t == "1 of 2").await;
    let m = current_match(client).await;
    assert_eq!(
        (m["text"].as_str(), m["message"].as_u64()),
        (Some("Zebra"), Some(10)),
        "{m}"
    );
    // Checked while one batch is rendered: axe on 9,000 messages takes minutes.
    axe_check(client, "find bar").await;
    input.send_keys(&Key::Enter).await.unwrap();
    wait_for_text(client, ".find-count", |t| t == "2 of 2").await;
    let m = current_match(client).await;
    assert_eq!(
        (m["text"].as_str(), m["message"].as_u64(), m["visible"].as_bool()),
        (Some("zebra"), Some(9_000), Some(true)),
        "{m}"
    );
    // The highlight is a range over the text: no element was added.
    assert_eq!(
        js(
            client,
            "return document.querySelectorAll('.transcript .content *').length"
        )
        .await,
        0
    );
    shot(client, "theme-light").await;
    input.send_keys(&Key::Enter).await.unwrap();
    wait_for_text(client, ".find-count", |t| t == "1 of 2").await;
    input.send_keys(&format!("{}{}", Key::Shift, Key::Enter)).await.unwrap();
    wait_for_text(client, ".find-count", |t| t == "2 of 2").await;
    input.send_keys(&Key::Escape).await.unwrap();
    assert_eq!(
        js(client, "return document.querySelector('.find-bar').hidden").await,
        true
    );
    assert_eq!(js(client, "return CSS.highlights.has('find-current')").await, false);

    // Copy a message's text and the conversation's id.
    click(client, ".msg[data-index='3'] .copy-message").await;
    wait_for_text(client, "#status", |t| t == "Message text copied").await;
    assert_eq!(
        clipboard(client).await,
        "Answer 3: open Settings → Security and choose “Reset”."
    );
    click(client, "#copy-id").await;
    wait_for_text(client, "#status", |t| t == "Conversation id copied").await;
    assert_eq!(clipboard(client).await, "find-big");

    // Search this user's messages: every match of every conversation, the
    // broken object reported, a result opening its message.
    click(client, "#search-messages").await;
    wait_for(client, "#message-query")
        .await
        .send_keys(&format!("{NEEDLE}{}", Key::Enter))
        .await
        .unwrap();
    let summary = wait_for_text(client, ".message-search p.meta", |t| t.contains("in 4 conversations")).await;
    assert!(
        summary.starts_with("3 matching messages") && summary.contains("find-broken"),
        "{summary}"
    );
    let found = js(client, "return [...document.querySelectorAll('.match')].map(b => b.dataset.conversation + '#' + b.dataset.message).sort()").await;
    assert_eq!(found, json!(["find-big#10", "find-big#9000", "find-small#1"]));
    shot(client, "find-user-messages").await;
    axe_check(client, "search messages").await;
    click(client, ".match[data-conversation='find-small']").await;
    wait_for_text(client, ".conv-title", |t| t == "Plans").await;
    wait_for_text(client, ".find-count", |t| t == "1 of 1").await;
    let m = current_match(client).await;
    assert_eq!(
        (m["text"].as_str(), m["message"].as_u64()),
        (Some("zebra"), Some(1)),
        "{m}"
    );
    // Back to the results.
    click(client, ".pane-head .back").await;
    wait_for(client, ".match[data-conversation='find-big']").await;

    // The ? sheet lists the shortcuts, from the keyboard table.
    click(client, "#shortcuts").await;
    let sheet = wait_for_text(client, "dialog.modal .shortcuts", |t| t.contains("Ctrl+F")).await;
    assert!(
        sheet.contains("Find in the open transcript") && sheet.contains("Next match"),
        "{sheet}"
    );
    axe_check(client, "shortcuts sheet").await;
    shot(client, "find-shortcuts").await;
    click(client, "dialog.modal button[data-value='ok']").await;

    app.close().await;
}

/// Ctrl (or Shift) held around `key`, as the person types it.
fn chord(modifier: Key, key: char) -> KeyActions {
    KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: modifier.into() })
        .then(KeyAction::Down { value: key })
        .then(KeyAction::Up { value: key })
        .then(KeyAction::Up { value: modifier.into() })
}

/// What the system clipboard holds: pasted (Ctrl+V, as a person would)
/// into the find bar's empty box. The page may not read the clipboard itself.
async fn clipboard(client: &Client) -> String {
    js(client, "document.querySelector('.transcript').focus()").await;
    client.perform_actions(chord(Key::Control, 'f')).await.unwrap();
    js(
        client,
        "const i = document.querySelector('.find-input'); i.value = ''; i.focus();",
    )
    .await;
    client.perform_actions(chord(Key::Control, 'v')).await.unwrap();
    let pasted = js(client, "return document.querySelector('.find-input').value").await;
    client
        .perform_actions(
            KeyActions::new("keyboard".into())
                .then(KeyAction::Down {
                    value: Key::Escape.into(),
                })
                .then(KeyAction::Up {
                    value: Key::Escape.into(),
                }),
        )
        .await
        .unwrap();
    pasted.as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dark_theme_follows_the_os_and_pane_widths_are_remembered() {
    let store = seed().await;
    let home = Home::new();
    let _profile = home.add_profile(servers::shared(ServerKind::Moto), store.bucket(), None);
    let app = App::launch_with(&home, &[("GTK_THEME", OsString::from("Adwaita:dark"))]).await;
    let client = &app.client;
    open_user(client).await;
    assert_eq!(
        js(client, "return matchMedia('(prefers-color-scheme: dark)').matches").await,
        true
    );
    assert_eq!(
        js(client, "return getComputedStyle(document.body).backgroundColor").await,
        "rgb(22, 24, 27)"
    );
    click(client, "tr[data-id='find-small'] td.title").await;
    wait_for(client, ".transcript .msg").await;
    shot(client, "theme-dark").await;
    axe_check(client, "dark theme").await;

    // A pane divider moved with the keyboard: the width is kept for the next launch.
    let width = "return document.querySelector('.conv-pane').getBoundingClientRect().width";
    let before = js(client, width).await.as_f64().unwrap();
    js(
        client,
        "document.querySelector('.divider[data-pane=conversations]').focus()",
    )
    .await;
    for _ in 0..3 {
        client
            .perform_actions(
                KeyActions::new("keyboard".into())
                    .then(KeyAction::Down {
                        value: Key::Left.into(),
                    })
                    .then(KeyAction::Up {
                        value: Key::Left.into(),
                    }),
            )
            .await
            .unwrap();
    }
    assert_eq!(js(client, width).await.as_f64().unwrap(), before - 48.0);
    // Closed and launched again on the same dirs (`App::close` waits for a
    // clean exit, so the relaunch never meets the old instance).
    app.close().await;
    let app = App::launch_with(&home, &[("GTK_THEME", OsString::from("Adwaita:dark"))]).await;
    let client = &app.client;
    open_user(client).await;
    assert_eq!(js(client, width).await.as_f64().unwrap(), before - 48.0);
    app.close().await;
}
