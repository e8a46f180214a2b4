//! Catalog sync at each link: our cold sync, the raw GET ceiling at the
//! sync's concurrency, the peers, and a warm sync with 1% of the indexes
//! changed — all through the same link, in one run.

use std::path::Path;
use std::time::{Duration, Instant};

use archive_desk_core::catalog;
use archive_desk_core::codec::{encode, Encoding};
use archive_desk_core::{CancellationToken, Catalog, Store, SyncOptions, SyncProgress, UserFolder};
use archive_desk_harness::S3Server;
use tokio::sync::watch;

use crate::ceiling::{raw_get_ceiling, Ceiling};
use crate::data::{email_of, index_doc, put_all};
use crate::link::{Link, S3Link};
use crate::peers::{aws_cp, rclone_copy, timed_peer, PeerRun};
use crate::report::{ratio, secs, Sections};

pub struct SyncRow {
    pub server: &'static str,
    pub link: Link,
    pub users: usize,
    pub objects: usize,
    pub cold: Duration,
    pub cold_users: u64,
    /// What the cold sync's report says about itself (requests, concurrency).
    pub cold_report: String,
    /// At the sync's ceiling of concurrency (256).
    pub ceiling: Ceiling,
    /// At the concurrency our cold sync's fetches settled on, when lower.
    pub ceiling_settled: Option<Ceiling>,
    pub rclone: PeerRun,
    pub aws: PeerRun,
    /// Requests sent (counted by the proxy): ours cold, rclone, aws.
    pub requests: [u64; 3],
    /// A warm sync after 1% of the indexes changed, how many it fetched,
    /// and the requests it sent.
    pub warm: Option<(Duration, u64, u64)>,
}

impl SyncRow {
    /// The faster of the two ceilings: what ours is judged against.
    pub fn best_ceiling(&self) -> &Ceiling {
        match &self.ceiling_settled {
            Some(c) if c.elapsed < self.ceiling.elapsed => c,
            _ => &self.ceiling,
        }
    }
}

/// One catalog sync; its wall time and report.
pub async fn timed_sync(store: &Store, catalog: &Catalog) -> (Duration, catalog::SyncReport) {
    let (progress, _) = watch::channel(SyncProgress::default());
    let started = Instant::now();
    let report = catalog::sync(
        store,
        catalog,
        &SyncOptions::default(),
        &progress,
        &CancellationToken::new(),
    )
    .await
    .expect("catalog sync");
    (started.elapsed(), report)
}

/// The key of every user's `metadata.json`: what the ceiling fetches.
fn index_keys(store: &Store, users: usize) -> Vec<String> {
    (0..users)
        .map(|i| {
            let folder = UserFolder::from_email(&email_of(i)).expect("generated email");
            store.layout().index_key(&folder)
        })
        .collect()
}

/// Every link's row for one server. `seed_store` reaches the server
/// directly, for the unmeasured warm-up and the 1% changes.
pub async fn sync_rows(
    server: &S3Server,
    seed_store: &Store,
    links: &[Link],
    users: usize,
    objects: usize,
    work: &Path,
    sections: &mut Sections,
) -> Vec<SyncRow> {
    let name = server.kind.name();
    let bucket = seed_store.bucket().to_owned();
    // Warm the server's caches once, unmeasured, so no contender pays for them.
    let warmup = Catalog::open(&work.join(format!("warmup-{name}.sqlite"))).expect("catalog");
    timed_sync(seed_store, &warmup).await;
    drop(warmup);
    let keys = index_keys(seed_store, users);
    let concurrency = SyncOptions::default().concurrency;
    let mut rows = Vec::new();
    for (round, &link) in links.iter().enumerate() {
        let section = sections.start(format!("sync, {name}, {link}"));
        let s3 = S3Link::open(server, link);
        let store = Store::connect(s3.store_config(&bucket)).await.expect("store connects");
        eprintln!("bench[{name}, {link}]: raw GET ceiling, {concurrency} at once");
        let ceiling = raw_get_ceiling(&s3, &bucket, &keys, concurrency).await;
        eprintln!("bench[{name}, {link}]:   {:?} ({} GETs)", ceiling.elapsed, ceiling.gets);

        let catalog_path = work.join(format!("catalog-{name}-{round}.sqlite"));
        let catalog = Catalog::open(&catalog_path).expect("catalog");
        eprintln!("bench[{name}, {link}]: cold catalog sync");
        let before = s3.requests();
        let (cold, report) = timed_sync(&store, &catalog).await;
        let mut requests = [s3.requests() - before, 0, 0];
        eprintln!("bench[{name}, {link}]:   {cold:?} ({report:?})");
        let settled = report.fetch_concurrency.settled as usize;
        let cold_report = format!(
            "{} list requests, {} indexes fetched, {settled} at once settled, {} peak",
            report.list_requests, report.indexes_fetched, report.fetch_concurrency.peak
        );
        // The ceiling again where ours settled: is ours slower than the
        // server at the same concurrency, or did it settle too low?
        let ceiling_settled = if settled > 0 && settled < concurrency {
            eprintln!("bench[{name}, {link}]: raw GET ceiling, {settled} at once (where ours settled)");
            let c = raw_get_ceiling(&s3, &bucket, &keys, settled).await;
            eprintln!("bench[{name}, {link}]:   {:?}", c.elapsed);
            Some(c)
        } else {
            None
        };

        // The direct link only checks the proxy: ours and the ceiling.
        let (rclone, aws, warm) = if link == Link::Direct {
            (None, None, None)
        } else {
            eprintln!("bench[{name}, {link}]: rclone copy --transfers 32");
            let dest = work.join("rclone-out");
            let before = s3.requests();
            let rclone = timed_peer(rclone_copy(&s3, &bucket, &dest), &dest);
            requests[1] = s3.requests() - before;
            eprintln!("bench[{name}, {link}]:   {rclone:?}");
            eprintln!("bench[{name}, {link}]: aws s3 cp --recursive");
            let dest = work.join("aws-out");
            let before = s3.requests();
            let aws = match aws_cp(&s3, &bucket, "archived_conversations/", Some("*/metadata.json"), &dest) {
                Some(cmd) => timed_peer(cmd, &dest),
                None => {
                    eprintln!("bench: no AWS CLI in the tools dir (scripts/bench.sh installs it); column left empty");
                    None
                }
            };
            requests[2] = s3.requests() - before;
            eprintln!("bench[{name}, {link}]:   {aws:?}");
            change_one_percent(seed_store, &catalog, users, round + 1).await;
            eprintln!("bench[{name}, {link}]: warm sync, 1% of indexes changed");
            let before_warm = s3.requests();
            let (warm, warm_report) = timed_sync(&store, &catalog).await;
            eprintln!("bench[{name}, {link}]:   {warm:?} ({warm_report:?})");
            let warm_requests = s3.requests() - before_warm;
            (rclone, aws, Some((warm, warm_report.indexes_fetched, warm_requests)))
        };
        drop(catalog);
        let _ = std::fs::remove_file(&catalog_path);
        sections.end(section);
        rows.push(SyncRow {
            server: name,
            link,
            users,
            objects,
            cold,
            cold_users: report.users,
            cold_report,
            ceiling,
            ceiling_settled,
            rclone,
            aws,
            requests,
            warm,
        });
    }
    rows
}

/// 1% of the indexes change (through the server, as the archiver would
/// write them); `version` makes each round's content new.
async fn change_one_percent(store: &Store, catalog: &Catalog, users: usize, version: usize) {
    let changed = (users / 100).max(1);
    let layout = store.layout().clone();
    let mut puts = Vec::new();
    for k in 0..changed {
        let i = (k * 100 + 7) % users;
        let email = email_of(i);
        let folder = UserFolder::from_email(&email).expect("generated email");
        let entries = catalog.user_entries(folder.as_str()).expect("entries");
        let ids: Vec<_> = entries
            .iter()
            .map(|e| (e.conversation_id.clone(), e.title.clone().unwrap_or_default(), 2))
            .collect();
        puts.push((
            layout.index_key(&folder),
            encode(&index_doc(&email, &ids, version), Encoding::Plain),
        ));
    }
    put_all(store, puts, 16).await;
}

pub fn markdown(rows: &[SyncRow]) -> String {
    let mut md = String::from(
        "\n### Catalog sync (every user's `metadata.json`), at each link\n\n\
         The raw GET ceiling: the same `metadata.json` objects as presigned GETs from a plain \
         HTTP client at the sync's ceiling of concurrency, and again where our cold sync settled \
         when lower; no listing (the server's limit for that setup). Ours is judged against the \
         faster of the two.\n\n\
         | server | link | bucket | ours, cold | raw GET ceiling | ours vs ceiling (goal ≥ 80%) | \
         rclone copy --transfers 32 | cold vs rclone (goal ≥ 2x) | aws s3 cp --recursive | cold vs aws | \
         warm, 1% changed | warm / cold (goal ≤ 5%) |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        // Requests are counted by the proxy only.
        let sent = |n: u64| {
            if r.link == Link::Direct {
                String::new()
            } else {
                format!(", {n} requests")
            }
        };
        let peer = |p: &PeerRun, n: u64| match p {
            Some((d, files)) => format!("{} ({files} files{})", secs(*d), sent(n)),
            None => "n/a".into(),
        };
        let vs = |p: &PeerRun| match p {
            Some((d, _)) => format!("{:.2}x", ratio(*d, r.cold)),
            None => "n/a".into(),
        };
        let warm = match r.warm {
            Some((d, fetched, requests)) => (
                format!("{} ({fetched} fetched{})", secs(d), sent(requests)),
                format!("{:.1}%", 100.0 * ratio(d, r.cold)),
            ),
            None => ("n/a".into(), "n/a".into()),
        };
        md.push_str(&format!(
            "| {} | {} | {} users, {} objects | {} ({} users; {}{}) | {} ({} at once){} | {:.0}% | {} | {} | {} | {} | {} | {} |\n",
            r.server,
            r.link,
            r.users,
            r.objects,
            secs(r.cold),
            r.cold_users,
            r.cold_report,
            sent(r.requests[0]),
            secs(r.ceiling.elapsed),
            r.ceiling.concurrency,
            r.ceiling_settled.as_ref().map_or_else(String::new, |c| format!(
                "; {} ({} at once, where ours settled)",
                secs(c.elapsed),
                c.concurrency
            )),
            100.0 * ratio(r.best_ceiling().elapsed, r.cold),
            peer(&r.rclone, r.requests[1]),
            vs(&r.rclone),
            peer(&r.aws, r.requests[2]),
            vs(&r.aws),
            warm.0,
            warm.1,
        ));
    }
    // Is the proxy itself a bottleneck? The same work direct and through it at 0 ms.
    for direct in rows.iter().filter(|r| r.link == Link::Direct) {
        if let Some(zero) = rows
            .iter()
            .find(|r| r.server == direct.server && r.link == Link::Latency(0))
        {
            md.push_str(&format!(
                "\nThe proxy at 0 ms vs direct ({}): our cold sync {} vs {} ({:+.0}%), the raw GET ceiling {} vs {} ({:+.0}%).\n",
                direct.server,
                secs(zero.cold),
                secs(direct.cold),
                100.0 * (ratio(zero.cold, direct.cold) - 1.0),
                secs(zero.ceiling.elapsed),
                secs(direct.ceiling.elapsed),
                100.0 * (ratio(zero.ceiling.elapsed, direct.ceiling.elapsed) - 1.0),
            ));
        }
    }
    md
}
