//! `sync`, `search` and `export-user` through the real binary, against the
//! fixture archive on a real S3 server (rclone: it checks signatures).

use archive_desk_harness::fixtures;
use archive_desk_harness::{seeded, ServerKind};

mod common;
use common::{json_of, run_on_rclone as run};

#[test]
fn sync_then_search_then_export_user() {
    let cache = tempfile::tempdir().unwrap();
    let archive = seeded(ServerKind::Rclone);

    // Searching before any sync says what to do.
    let out = run(cache.path(), &["search", "refund"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("run `archive-desk-cli sync` first"));

    let report = json_of(&run(cache.path(), &["sync", "--json"]));
    let with_index = archive
        .manifest
        .users
        .iter()
        .filter(|u| u.index != fixtures::IndexState::Missing)
        .count();
    assert_eq!(report["users"], with_index);
    assert_eq!(report["indexes_fetched"], with_index);
    let file = cache.path().join(format!("catalog-{}.sqlite", archive.bucket));
    assert!(file.exists(), "the catalog lives in ARCHIVE_DESK_CACHE_DIR");
    let warm = json_of(&run(cache.path(), &["sync", "--json"]));
    assert_eq!(warm["indexes_fetched"], 0);
    // `--concurrency` is the ceiling of both adaptive limits; the text
    // report says where they settled.
    let out = run(cache.path(), &["sync", "--concurrency", "3"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("concurrency: fetches settled at "), "{text}");
    assert!(text.contains("ceiling 3, 0 back-offs); "), "{text}");
    assert!(text.contains(" key ranges listed, settled at "), "{text}");
    let capped = json_of(&run(cache.path(), &["sync", "--concurrency", "2", "--json"]));
    assert_eq!(capped["fetch_concurrency"]["ceiling"], 2);
    assert_eq!(capped["list_concurrency"]["ceiling"], 2);
    assert!(capped["list_concurrency"]["peak"].as_u64().unwrap() <= 2, "{capped}");
    assert!(capped["list_ranges"].as_u64().unwrap() >= 1, "{capped}");

    let page = json_of(&run(cache.path(), &["search", "について", "--json"]));
    assert_eq!(page["hits"][0]["conversation_id"], "u-cjk");
    assert_eq!(page["hits"][0]["email"], fixtures::UNICODE);
    assert_eq!(page["hits"][0]["matched"], "title_contains");
    let page = json_of(&run(cache.path(), &["search", "example.com", "--limit", "2", "--json"]));
    assert_eq!(page["hits"].as_array().unwrap().len(), 2);
    assert_eq!(page["next_offset"], 2);
    // Titles are untrusted: the text view escapes terminal controls.
    let out = run(cache.path(), &["search", "hostile"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(fixtures::HOSTILE_ID) && !text.contains('\u{1b}'),
        "{text}"
    );

    let path = cache.path().join("alice.jsonl.gz");
    let out = run(
        cache.path(),
        &[
            "export-user",
            fixtures::ALICE,
            "-o",
            path.to_str().unwrap(),
            "--jsonl",
            "--gzip",
        ],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (text, encoding) =
        archive_desk_core::codec::decode_text("export", std::fs::read(&path).unwrap(), &Default::default()).unwrap();
    assert_eq!(encoding, archive_desk_core::Encoding::Gzip);
    assert_eq!(text.lines().count(), 7);
    let out = run(
        cache.path(),
        &["export-user", fixtures::DRIFT, "-o", path.to_str().unwrap()],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("skipped d-gone"));
}
