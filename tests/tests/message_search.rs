//! "Search this user's messages" against a real S3 server (moto): matches
//! across plain and gzip conversations, an unreadable object reported and
//! not fatal, a cancel that stops the search, the match limit.

use archive_desk_core::codec::Encoding;
use archive_desk_core::message_search::{self, MessageMatch, MessageSearchOptions};
use archive_desk_core::{CancellationToken, ErrorCode, Layout, UserFolder};
use archive_desk_harness::fixtures::{self, Expect, IndexState};
use archive_desk_harness::{fresh_store, ServerKind};
use serde_json::{json, Value};

const EMAIL: &str = "searcher@example.com";

/// A conversation whose message `i` says `texts[i]`.
fn conversation(id: &str, texts: &[&str]) -> Value {
    let mut doc = fixtures::conversation(id, EMAIL, &format!("Title of {id}"), texts.len());
    for (i, text) in texts.iter().enumerate() {
        doc["messages"][i]["content"] = json!(text);
    }
    doc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finds_text_across_conversations_plain_and_gzip() {
    let store = fresh_store(ServerKind::Moto, Layout::default()).await;
    let plain = conversation(
        "s-plain",
        &["hello", "My INVOICE is wrong", "ok", "invoice again, invoice"],
    );
    let gz = conversation("s-gz", &["Where is the invoice?", "here"]);
    let none = conversation("s-none", &["nothing to see"]);
    let missing = conversation("s-missing", &["never stored"]);
    fixtures::seed(&store, |s| {
        s.user(EMAIL, IndexState::Present, &[&plain, &gz, &none, &missing]);
        s.good(EMAIL, &plain, ".json", Encoding::Plain);
        s.good(EMAIL, &gz, ".json.gz", Encoding::Gzip);
        s.good(EMAIL, &none, ".json", Encoding::Plain);
        s.object(
            EMAIL,
            "s-broken",
            "s-broken.json",
            b"{\"conversation\": {\"id\": \"s-br".to_vec(),
            None,
            None,
            Expect::Fails("decode"),
        );
    })
    .await;
    let folder = UserFolder::from_email(EMAIL).unwrap();

    let mut updates = Vec::new();
    let report = message_search::search_user_messages(
        &store,
        &folder,
        "Invoice",
        &MessageSearchOptions::default(),
        |u| updates.push(u),
        &CancellationToken::new(),
    )
    .await
    .unwrap();

    let mut found: Vec<MessageMatch> = updates.iter().flat_map(|u| u.matches.clone()).collect();
    found.sort_by(|a, b| (&a.conversation_id, a.message_index).cmp(&(&b.conversation_id, b.message_index)));
    let got: Vec<_> = found
        .iter()
        .map(|m| {
            (
                m.conversation_id.as_str(),
                m.message_index,
                m.occurrences,
                m.snippet.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("s-gz", 0, 1, "Where is the invoice?"),
            ("s-plain", 1, 1, "My INVOICE is wrong"),
            ("s-plain", 3, 2, "invoice again, invoice"),
        ]
    );
    assert_eq!(found[0].conversation_title.as_deref(), Some("Title of s-gz"));
    // Four objects searched (the broken one counted as done), one per update.
    assert_eq!((report.conversations_searched, report.matching_messages), (4, 3));
    assert_eq!(updates.len(), 4);
    assert!(updates.iter().all(|u| u.conversations_total == 4));
    assert!(!report.truncated);
    // The unreadable object and the index entry without one: reported, not fatal.
    let mut unsearched: Vec<_> = report
        .unsearched
        .iter()
        .map(|u| (u.conversation_id.as_str(), u.error.code.as_str()))
        .collect();
    unsearched.sort();
    assert_eq!(unsearched, [("s-broken", "decode"), ("s-missing", "not_found")]);
    let broken = report
        .unsearched
        .iter()
        .find(|u| u.conversation_id == "s-broken")
        .unwrap();
    assert!(
        broken.error.message.contains("s-broken.json"),
        "{}",
        broken.error.message
    );

    // The match limit stops the search and says so.
    let limited = MessageSearchOptions {
        concurrency: 1,
        max_matches: 2,
    };
    let mut seen = 0;
    let report = message_search::search_user_messages(
        &store,
        &folder,
        "invoice",
        &limited,
        |u| seen += u.matches.len(),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!((seen, report.matching_messages, report.truncated), (2, 2, true));

    let empty =
        message_search::search_user_messages(&store, &folder, "  ", &limited, |_| {}, &CancellationToken::new())
            .await
            .unwrap_err();
    assert_eq!(empty.code(), ErrorCode::InvalidInput);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_the_search() {
    let store = fresh_store(ServerKind::Moto, Layout::default()).await;
    let docs: Vec<Value> = (0..30)
        .map(|i| conversation(&format!("c-{i:02}"), &["the word needle", "other"]))
        .collect();
    fixtures::seed(&store, |s| {
        s.user(EMAIL, IndexState::Present, &docs.iter().collect::<Vec<_>>());
        for d in &docs {
            s.good(EMAIL, d, ".json", Encoding::Plain);
        }
    })
    .await;
    let folder = UserFolder::from_email(EMAIL).unwrap();
    let cancel = CancellationToken::new();
    let options = MessageSearchOptions {
        concurrency: 2,
        ..Default::default()
    };
    let mut done = 0;
    let error = message_search::search_user_messages(
        &store,
        &folder,
        "needle",
        &options,
        |u| {
            done = u.conversations_done;
            // The person clicks Cancel after the third conversation.
            if done == 3 {
                cancel.cancel();
            }
        },
        &cancel,
    )
    .await
    .unwrap_err();
    assert_eq!(error.code(), ErrorCode::Cancelled);
    assert_eq!(done, 3, "no conversation is searched after the cancel");
}
