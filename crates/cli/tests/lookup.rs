//! `search` with a complete email or folder name looks the user up in the
//! bucket at once, through the real binary on rclone: found without a
//! catalog and beside the catalog's hits after a sync; an unknown email is
//! a clear `not_found`; other text still needs the catalog.

use archive_desk_harness::fixtures;
use archive_desk_harness::{seeded, ServerKind};
use serde_json::Value;

mod common;
use common::{json_of, run_on_rclone as run};

#[test]
fn search_looks_up_an_exact_email_in_the_bucket() {
    let cache = tempfile::tempdir().unwrap();
    let alice = seeded(ServerKind::Rclone).manifest.user(fixtures::ALICE);

    // No catalog yet: the email is still found, with its conversations.
    let found = json_of(&run(cache.path(), &["search", fixtures::ALICE, "--json"]));
    assert_eq!(found["catalog"], false);
    assert_eq!(found["user"]["email"], fixtures::ALICE);
    assert_eq!(found["user"]["folder"], alice.folder.as_str());
    let ids: Vec<&str> = found["user"]["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["conversation_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"a-plain"), "{ids:?}");
    assert_eq!(found["hits"], Value::Array(Vec::new()));
    // By folder name too; and as text, saying where it was read.
    let by_folder = json_of(&run(cache.path(), &["search", &alice.folder, "--json"]));
    assert_eq!(by_folder["user"]["folder"], alice.folder.as_str());
    let text = String::from_utf8(run(cache.path(), &["search", fixtures::ALICE]).stdout).unwrap();
    assert!(
        text.starts_with("found in the bucket now:") && text.contains("a-plain"),
        "{text}"
    );

    // Unknown: a clear not-found naming the email, exit 1.
    let out = run(cache.path(), &["search", "nobody@example.com", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["code"], "not_found");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("no user \"nobody@example.com\""),
        "{err}"
    );
    // Words still need the catalog.
    let out = run(cache.path(), &["search", "refund"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("run `archive-desk-cli sync` first"));

    // After a sync: the user from the bucket and the catalog's hits.
    json_of(&run(cache.path(), &["sync", "--json"]));
    let found = json_of(&run(cache.path(), &["search", fixtures::ALICE, "--json"]));
    assert_eq!(found["catalog"], true);
    assert_eq!(found["user"]["email"], fixtures::ALICE);
    let hits = found["hits"].as_array().unwrap();
    assert!(
        !hits.is_empty() && hits.iter().all(|h| h["matched"] == "email"),
        "{hits:?}"
    );
}
