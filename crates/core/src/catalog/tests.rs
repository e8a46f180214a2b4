//! The catalog's own tests: search ranking, rebuilt files, names, paths, emptiness.

use rusqlite::Connection;

use super::*;

fn user(folder: &str, email: &str, titles: &[&str]) -> UserRecord {
    UserRecord {
        folder: folder.into(),
        email: Some(email.into()),
        email_from_index: true,
        index_etag: Some(format!("\"{folder}\"")),
        index_error: None,
        objects_signature: 0,
        entries: titles
            .iter()
            .enumerate()
            .map(|(i, t)| EntryRecord {
                conversation_id: format!("{folder}-{i}"),
                title: Some((*t).into()),
                created_at: None,
                archived_at: Some(format!("2025-01-0{}T00:00:00Z", i + 1)),
                message_count: Some(i as u64),
                storage_class: Some("STANDARD".into()),
            })
            .collect(),
    }
}

fn ids(page: &SearchPage) -> Vec<(&str, MatchKind)> {
    page.hits
        .iter()
        .map(|h| (h.entry.conversation_id.as_str(), h.matched))
        .collect()
}

#[test]
fn search_ranks_email_then_title_prefix_then_substrings() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(&dir.path().join("c.sqlite")).unwrap();
    catalog
        .import(&[
            user("ann_at_x_io", "Ann@x.io", &["Refund please", "Login broken"]),
            user("annabel_at_x_io", "annabel@x.io", &["Hello"]),
            user("bob_at_ann_org", "bob@ann.org", &["Anniversary refund"]),
            user(
                "zoe_at_b_de",
                "zoë@bücher.de",
                &["返品について — 質問", "Ünïcode Straße"],
            ),
        ])
        .unwrap();
    let page = catalog.search("ann@x.io", 0, 10).unwrap();
    assert_eq!(
        ids(&page),
        [("ann_at_x_io-1", MatchKind::Email), ("ann_at_x_io-0", MatchKind::Email)]
    );
    let page = catalog.search("ANN", 0, 10).unwrap();
    assert_eq!(
        ids(&page),
        [
            ("ann_at_x_io-1", MatchKind::EmailPrefix),
            ("ann_at_x_io-0", MatchKind::EmailPrefix),
            ("annabel_at_x_io-0", MatchKind::EmailPrefix),
            ("bob_at_ann_org-0", MatchKind::TitlePrefix),
            ("bob_at_ann_org-0", MatchKind::EmailContains),
        ][..4]
    );
    // Paging walks the same ranked list.
    let first = catalog.search("refund", 0, 1).unwrap();
    assert_eq!(ids(&first), [("ann_at_x_io-0", MatchKind::TitlePrefix)]);
    assert_eq!(first.next_offset, Some(1));
    let second = catalog.search("refund", 1, 1).unwrap();
    assert_eq!(ids(&second), [("bob_at_ann_org-0", MatchKind::TitleContains)]);
    assert_eq!(second.next_offset, None);
    // Unicode: CJK substrings, case folding, diacritics ignored in substrings.
    assert_eq!(
        ids(&catalog.search("について", 0, 5).unwrap()),
        [("zoe_at_b_de-0", MatchKind::TitleContains)]
    );
    assert_eq!(
        ids(&catalog.search("ünï", 0, 5).unwrap()),
        [("zoe_at_b_de-1", MatchKind::TitlePrefix)]
    );
    assert_eq!(ids(&catalog.search("STRASSE", 0, 5).unwrap()), []);
    assert_eq!(
        ids(&catalog.search("straße", 0, 5).unwrap()),
        [("zoe_at_b_de-1", MatchKind::TitleContains)]
    );
    let page = catalog.search("bucher", 0, 5).unwrap();
    assert_eq!(page.hits.len(), 2);
    assert!(page.hits.iter().all(|h| h.matched == MatchKind::EmailContains));
    // Words in any order; short words are checked too.
    assert_eq!(
        ids(&catalog.search("broken lo", 0, 5).unwrap()),
        [("ann_at_x_io-1", MatchKind::TitleContains)]
    );
    assert_eq!(ids(&catalog.search("broken xy", 0, 5).unwrap()), []);
    assert!(catalog.search("  ", 0, 5).unwrap().hits.is_empty());
    assert!(catalog
        .search("\"; DROP TABLE users; --", 0, 5)
        .unwrap()
        .hits
        .is_empty());
}

/// Found by fuzzing (fuzz/seeds/search_query/nul-in-query): a NUL in the
/// query ended FTS5's parse of the quoted phrase, and the search failed
/// with an `io` error naming the catalog file.
#[test]
fn a_nul_in_the_query_is_matched_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(&dir.path().join("c.sqlite")).unwrap();
    catalog
        .import(&[user("a_at_b_c", "a@b.c", &["refund\0please", "refund later"])])
        .unwrap();
    for q in ["\u{fffd}\u{fffd}p\0", "\0", "abc\0", "refund \0"] {
        assert!(catalog.search(q, 0, 10).is_ok(), "{q:?}");
    }
    // A word with a NUL is still a condition on the title.
    assert_eq!(
        ids(&catalog.search("refund d\0p", 0, 10).unwrap()),
        [("a_at_b_c-0", MatchKind::TitleContains)]
    );
}

/// Found by fuzzing (fuzz/seeds/search_query/huge-numbers): an offset
/// near `usize::MAX` overflowed `offset + limit`.
#[test]
fn an_offset_at_the_end_of_the_range_is_an_empty_last_page() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(&dir.path().join("c.sqlite")).unwrap();
    catalog
        .import(&[user("a_at_b_c", "a@b.c", &["alpha", "alps"])])
        .unwrap();
    for (offset, limit) in [(usize::MAX, 1), (usize::MAX - 1, 5), (1, usize::MAX)] {
        let page = catalog.search("a", offset, limit).unwrap();
        assert_eq!(page.next_offset, None, "{offset} {limit}");
        assert_eq!(page.hits.len(), usize::from(offset == 1), "{offset} {limit}");
    }
}

#[test]
fn a_foreign_or_outdated_file_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/c.sqlite");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"not a database at all, just text").unwrap();
    let catalog = Catalog::open(&path).unwrap();
    catalog.import(&[user("a_at_b_c", "a@b.c", &["t"])]).unwrap();
    assert_eq!(catalog.stats().unwrap().conversations, 1);
    drop(catalog);
    let c = Connection::open(&path).unwrap();
    c.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'", [])
        .unwrap();
    drop(c);
    let catalog = Catalog::open(&path).unwrap();
    assert_eq!(catalog.stats().unwrap().users, 0);
}

#[test]
fn the_catalog_is_the_profiles_else_the_buckets() {
    assert_eq!(catalog_name(Some("prod"), "bucket"), "prod");
    assert_eq!(catalog_name(None, "bucket"), "bucket");
}

#[test]
fn a_catalog_is_empty_until_synced_or_filled() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(&dir.path().join("c.sqlite")).unwrap();
    assert!(catalog.stats().unwrap().is_empty());
    catalog.import(&[user("a_at_b_c", "a@b.c", &["t"])]).unwrap();
    assert!(!catalog.stats().unwrap().is_empty());
    let synced_but_no_users = CatalogStats {
        last_synced_at: Some("2026-01-01T00:00:00Z".into()),
        ..Default::default()
    };
    assert!(!synced_but_no_users.is_empty());
}

#[test]
fn catalog_path_is_per_profile_in_the_cache_dir() {
    let p = default_path("prod/eu west").unwrap();
    assert!(p.ends_with("catalog-prod_eu_west.sqlite"), "{}", p.display());
}

/// A cold sync writes rows without their full-text entries and indexes
/// them all at its end, also when it was interrupted and resumed; later
/// syncs keep the index in step row by row again.
#[test]
fn a_cold_sync_indexes_substrings_at_its_end_and_warm_ones_row_by_row() {
    use super::storage::Outcome;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.sqlite");
    let found = |catalog: &Catalog, text: &str| -> Vec<String> {
        let page = catalog.search(text, 0, 10).unwrap();
        let mut ids: Vec<String> = page.hits.iter().map(|h| h.entry.conversation_id.clone()).collect();
        ids.sort();
        ids
    };
    let deferred = |catalog: &Catalog| {
        catalog
            .with_reader(|c| {
                c.query_row("SELECT count(*) FROM meta WHERE key = 'fts_deferred'", [], |r| {
                    r.get::<_, i64>(0)
                })
            })
            .unwrap()
            == 1
    };

    let catalog = Catalog::open(&path).unwrap();
    let start = catalog.begin_sync("b", "p/").unwrap();
    catalog
        .write_batch(
            start.sync_id,
            &[Outcome::Index(user("ann_at_x_io", "ann@x.io", &["Refund please"]))],
        )
        .unwrap();
    assert!(deferred(&catalog));
    assert!(found(&catalog, "efund").is_empty(), "not indexed before the end");
    drop(catalog);

    // Interrupted, then resumed: still deferred, and indexed at the end.
    let catalog = Catalog::open(&path).unwrap();
    let start = catalog.begin_sync("b", "p/").unwrap();
    assert!(start.resumed && deferred(&catalog));
    catalog
        .write_batch(
            start.sync_id,
            &[
                Outcome::Index(user("ann_at_x_io", "ann@x.io", &["Refund please"])),
                Outcome::Index(user("bob_at_y_io", "bob@y.io", &["Partial refund"])),
            ],
        )
        .unwrap();
    catalog.finish_sync(start.sync_id, 8).unwrap();
    assert!(!deferred(&catalog));
    assert_eq!(found(&catalog, "efund"), ["ann_at_x_io-0", "bob_at_y_io-0"]);
    assert_eq!(found(&catalog, "y.io"), ["bob_at_y_io-0"]);

    // A warm sync: a title changes, a user goes; the triggers keep up.
    let start = catalog.begin_sync("b", "p/").unwrap();
    assert!(!deferred(&catalog));
    assert_eq!(start.last_fetch_concurrency, Some(8));
    catalog
        .write_batch(
            start.sync_id,
            &[Outcome::Index(user("ann_at_x_io", "ann@x.io", &["Invoice late"]))],
        )
        .unwrap();
    assert_eq!(found(&catalog, "nvoice"), ["ann_at_x_io-0"], "indexed as written");
    catalog.finish_sync(start.sync_id, 8).unwrap();
    assert!(found(&catalog, "efund").is_empty(), "{:?}", found(&catalog, "efund"));
    assert!(found(&catalog, "y.io").is_empty());
    assert_eq!(found(&catalog, "nvoice"), ["ann_at_x_io-0"]);
}
