//! The catalog's search text, as typed in the app's search box or given to
//! `archive-desk-cli search`, against a fixed catalog of the fixtures'
//! users and titles (Unicode, emoji, RTL, markup). The input is the query on
//! its first line, optionally `offset limit` on the second. Checks: a search
//! never fails; a page is the slice of the full result list it claims to be,
//! with the right next offset, and no hit twice; every hit matches the way
//! it says; and for ASCII queries nothing that matches is missing.
#![no_main]

use std::collections::HashSet;
use std::sync::OnceLock;

use archive_desk_core::catalog::{EntryRecord, MatchKind, UserRecord};
use archive_desk_core::{Catalog, CatalogEntry};
use libfuzzer_sys::fuzz_target;

/// (folder, email, titles): the fixtures' users, and one without an email.
const USERS: &[(&str, Option<&str>, &[&str])] = &[
    (
        "alice_smith_at_example_com",
        Some("alice.smith@example.com"),
        &[
            "Billing question — refund 💸",
            "Gzip with .gz suffix",
            "Extra fields",
            "<b>Hostile</b> \u{1b}[31mcontent",
            "Conversation 7",
        ],
    ),
    (
        "zoë_ünïcode_at_bücher_de",
        Some("zoë.ünïcode@bücher.de"),
        &["返品について — 質問", "שאלה לגבי חשבון 🙂 é", "Café crème"],
    ),
    (
        "drift_at_example_com",
        Some("drift@example.com"),
        &["Deleted object", "Indexed and present"],
    ),
    ("legacy-user", None, &["Refund request", "\"quoted\" AND title OR NOT"]),
    (
        "cold_at_example_com",
        Some("cold@example.com"),
        &["In Glacier", "In Deep Archive", ""],
    ),
];

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<(Catalog, tempfile::TempDir)> = OnceLock::new();
    &CATALOG
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let catalog = Catalog::open(&dir.path().join("catalog.sqlite")).unwrap();
            let users: Vec<UserRecord> = USERS
                .iter()
                .map(|(folder, email, titles)| UserRecord {
                    folder: folder.to_string(),
                    email: email.map(str::to_owned),
                    email_from_index: email.is_some(),
                    index_etag: None,
                    index_error: None,
                    objects_signature: 0,
                    entries: titles
                        .iter()
                        .enumerate()
                        .map(|(i, t)| EntryRecord {
                            conversation_id: format!("c-{i}"),
                            title: (!t.is_empty()).then(|| t.to_string()),
                            created_at: None,
                            archived_at: Some(format!("2025-01-{:02}T00:00:00Z", i + 1)),
                            message_count: Some(2),
                            storage_class: None,
                        })
                        .collect(),
                })
                .collect();
            catalog.import(&users).unwrap();
            (catalog, dir)
        })
        .0
}

/// What "contains" compares: lower case without the diacritics used above.
fn plain(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .map(|c| match c {
            'é' | 'è' | 'ë' => 'e',
            'ü' => 'u',
            'ï' => 'i',
            _ => c,
        })
        .collect()
}

fn email_key(e: &CatalogEntry) -> String {
    e.email.as_deref().unwrap_or(&e.folder).to_lowercase()
}

fn id(e: &CatalogEntry) -> (String, String) {
    (e.folder.clone(), e.conversation_id.clone())
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (query, paging) = text.split_once('\n').unwrap_or((&text, ""));
    let mut numbers = paging
        .split_whitespace()
        .map(|n| n.parse::<u128>().map_or(0, |n| n.min(usize::MAX as u128) as usize));
    let (offset, limit) = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(20));

    let catalog = catalog();
    let page = catalog.search(query, offset, limit).expect("a search never fails");
    let all = catalog.search(query, 0, 10_000).expect("a search never fails").hits;

    // The page is its slice of the whole list.
    let want: Vec<_> = all.iter().skip(offset).take(limit).cloned().collect();
    assert_eq!(page.hits, want);
    // Asking for nothing gives nothing, and no next page to loop on.
    let more = limit > 0 && all.len().saturating_sub(offset) > limit;
    assert_eq!(page.next_offset, more.then(|| offset + limit));
    let mut seen = HashSet::new();
    assert!(all.iter().all(|h| seen.insert(id(&h.entry))), "a hit twice");

    let q = query.trim().to_lowercase();
    if q.is_empty() {
        assert!(all.is_empty());
        return;
    }
    let words: Vec<&str> = q.split_whitespace().collect();
    // SQLite folds more diacritics than `plain` knows (ê, ā, combining
    // marks...): "contains" hits are checked only for queries without them.
    let unknown_fold =
        |c: char| matches!(c, '\u{c0}'..='\u{36f}' | '\u{1e00}'..='\u{1eff}') && plain(&c.to_string()) == c.to_string();
    let folds_known = !q.chars().any(unknown_fold);
    // Every hit matches as it says.
    for h in &all {
        let e = &h.entry;
        let title = e.title.as_deref().unwrap_or("");
        match h.matched {
            MatchKind::Email => assert_eq!(email_key(e), q),
            MatchKind::EmailPrefix => assert!(email_key(e).starts_with(&q)),
            MatchKind::TitlePrefix => assert!(title.to_lowercase().starts_with(&q), "{title:?}"),
            MatchKind::EmailContains if folds_known => {
                assert!(plain(&email_key(e)).contains(&plain(&q)), "{e:?}")
            }
            MatchKind::TitleContains if folds_known => {
                assert!(
                    words.iter().all(|w| plain(title).contains(&plain(w))),
                    "{q:?} in {title:?}"
                )
            }
            MatchKind::EmailContains | MatchKind::TitleContains => {}
        }
    }

    // Nothing missing, where the oracle is exact (ASCII queries).
    if q.is_ascii() {
        let found: HashSet<_> = all.iter().map(|h| id(&h.entry)).collect();
        let long = words.iter().any(|w| w.chars().count() >= 3);
        for (folder, email, titles) in USERS {
            let key = email.unwrap_or(folder).to_lowercase();
            for (i, title) in titles.iter().enumerate() {
                let title = title.to_lowercase();
                let should = key.starts_with(&q)
                    || title.starts_with(&q)
                    || (long && words.len() == 1 && email.is_some() && plain(&key).contains(&q))
                    || (long
                        && words.iter().all(|w| {
                            if w.len() >= 3 {
                                plain(&title).contains(w)
                            } else {
                                title.contains(w)
                            }
                        }));
                if should {
                    assert!(
                        found.contains(&(folder.to_string(), format!("c-{i}"))),
                        "{q:?} misses {folder}/{title:?}"
                    );
                }
            }
        }
    }
});
