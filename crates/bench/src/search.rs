//! Search over a generated 1M-entry catalog: seven kinds of query a
//! support person types, p50 and p95.

use std::path::Path;
use std::time::{Duration, Instant};

use archive_desk_core::catalog::{EntryRecord, UserRecord};
use archive_desk_core::{Catalog, UserFolder};

use crate::data::{email_of, title_of, DETAILS, LAST, SUBJECTS};
use crate::report::{ms, percentile, secs};

pub struct SearchResult {
    pub entries: u64,
    pub generate: Duration,
    pub file_mb: u64,
    pub per_kind: Vec<(&'static str, Duration, Duration)>,
    pub all_p50: Duration,
    pub all_p95: Duration,
    pub all_max: Duration,
}

/// Search over `entries` generated straight into a catalog.
pub fn search_bench(work: &Path, entries: usize) -> SearchResult {
    let per_user = 10;
    let users = entries / per_user;
    let path = work.join("search.sqlite");
    let catalog = Catalog::open(&path).expect("catalog");
    let started = Instant::now();
    let mut batch = Vec::with_capacity(5_000);
    for i in 0..users {
        let email = email_of(i);
        let folder = UserFolder::from_email(&email).expect("generated email");
        batch.push(UserRecord {
            folder: folder.to_string(),
            email: Some(email),
            email_from_index: true,
            index_etag: Some(format!("\"{i:032x}\"")),
            index_error: None,
            objects_signature: 0,
            entries: (0..per_user)
                .map(|j| EntryRecord {
                    conversation_id: format!("{i:07}-{j:02}"),
                    title: Some(title_of(i, j)),
                    created_at: Some("2025-01-15T10:30:00Z".into()),
                    archived_at: Some(format!("2025-{:02}-{:02}T09:00:00Z", 1 + j % 12, 1 + i % 28)),
                    message_count: Some((i + j) as u64 % 200),
                    storage_class: Some("STANDARD".into()),
                })
                .collect(),
        });
        if batch.len() == 5_000 {
            catalog.import(&batch).expect("import");
            batch.clear();
        }
    }
    catalog.import(&batch).expect("import");
    let generate = started.elapsed();
    let stats = catalog.stats().expect("stats");
    let file_mb = std::fs::metadata(&path).map(|m| m.len() >> 20).unwrap_or(0);

    // Queries a support person types: a whole email, the start of one, the
    // start of a title, a word inside titles, a fragment inside emails, two
    // words, and misses.
    let mut rng = fastrand::Rng::with_seed(7);
    let mut queries: Vec<(&'static str, String)> = Vec::new();
    for _ in 0..60 {
        let i = rng.usize(..users);
        let e = email_of(i);
        queries.push(("email, exact", e.clone()));
        queries.push(("email, prefix", e.chars().take(3 + rng.usize(..6)).collect()));
        let t = title_of(i, rng.usize(..per_user));
        let cut = t.char_indices().nth(3 + rng.usize(..5)).map_or(t.len(), |(k, _)| k);
        queries.push(("title, prefix", t[..cut].to_owned()));
        let d = DETAILS[rng.usize(..DETAILS.len())];
        let word = d.split_whitespace().find(|w| w.chars().count() >= 3).unwrap_or("again");
        queries.push(("title, word inside", word.to_owned()));
        queries.push((
            "email, fragment inside",
            format!("{}{}", LAST[rng.usize(..LAST.len())], rng.usize(..users)),
        ));
        queries.push((
            "title, two words",
            format!("{} {}", SUBJECTS[rng.usize(..SUBJECTS.len())].to_lowercase(), word),
        ));
        queries.push(("no match", format!("zq{}xv", rng.u32(..))));
    }
    // Warm the page cache once, as an app that has been open a moment would.
    for (_, q) in &queries {
        catalog.search(q, 0, 50).expect("search");
    }
    let mut by_kind: std::collections::BTreeMap<&'static str, Vec<Duration>> = Default::default();
    let mut all = Vec::new();
    for (kind, q) in &queries {
        let started = Instant::now();
        let page = catalog.search(q, 0, 50).expect("search");
        let took = started.elapsed();
        std::hint::black_box(page);
        by_kind.entry(kind).or_default().push(took);
        all.push(took);
    }
    all.sort();
    let mut per_kind = Vec::new();
    for (kind, mut times) in by_kind {
        times.sort();
        per_kind.push((kind, percentile(&times, 0.5), percentile(&times, 0.95)));
    }
    drop(catalog);
    // Hundreds of MB of scratch: gone before the report is written.
    let _ = std::fs::remove_file(&path);
    SearchResult {
        entries: stats.conversations,
        generate,
        file_mb,
        per_kind,
        all_p50: percentile(&all, 0.5),
        all_p95: percentile(&all, 0.95),
        all_max: *all.last().expect("queries"),
    }
}

pub fn markdown(search: &SearchResult) -> String {
    let mut md = format!(
        "\n### Search ({} catalog entries, generated in {}, file {} MiB; 420 queries, 50 hits a page)\n\n| query | p50 | p95 |\n|---|---|---|\n",
        search.entries,
        secs(search.generate),
        search.file_mb
    );
    for (kind, p50, p95) in &search.per_kind {
        md.push_str(&format!("| {kind} | {} | {} |\n", ms(*p50), ms(*p95)));
    }
    md.push_str(&format!(
        "| **all** (goal p95 ≤ 20 ms) | **{}** | **{}** (max {}) |\n",
        ms(search.all_p50),
        ms(search.all_p95),
        ms(search.all_max)
    ));
    md
}
