//! `archive-desk-bench`: the catalog, open, export and restore budgets
//! (docs/BENCHMARKS.md), measured side by side with rclone, the AWS CLI and
//! the archiver's supabase-py restore in one run, on generated data, against
//! servers this program starts (rclone `serve s3`, moto at a smaller scale,
//! the Supabase stand-in), at each added latency through the harness's fault
//! proxy. A benchmark, not a test: it prints tables of ratios and writes
//! them to docs/BENCHMARKS.md (`--out` elsewhere).
//!
//! `scripts/bench.sh` installs the peers and runs it in release mode.
//! Modules by concern: `data` (the generated archive), `link` (direct, proxy
//! latency, the Postgres delay relay), `sync`, `ceiling`, `peers`, `open`,
//! `export`, `restore`, `search`, `goals`, `report`.

mod ceiling;
mod data;
mod export;
mod goals;
mod link;
mod open;
mod peers;
mod report;
mod restore;
mod search;
mod sync;

use std::path::{Path, PathBuf};
use std::time::Instant;

use archive_desk_core::Store;
use archive_desk_harness::servers::{self, ServerKind};

use link::{Link, S3Link};
use report::{secs, Sections};

struct Config {
    users: usize,
    conversations_per_user: usize,
    moto_users: usize,
    search_entries: usize,
    links: Vec<Link>,
    restore_rounds: usize,
    /// `--only`: the sections to run (all when empty).
    only: Vec<String>,
    out: PathBuf,
}

impl Config {
    fn runs(&self, section: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == section)
    }
}

const USAGE: &str =
    "flags: --users N (rclone bucket, 10000) --conversations-per-user N (10) --moto-users N (1000; 0 skips) \
     --search-entries N (1000000; 0 skips) --latencies LIST (direct,0,20,80) --restore-rounds N (5; 0 skips) \
     --only LIST (sync,open,export,restore,search; all) --out FILE";

fn parse_args() -> Config {
    let mut c = Config {
        users: 10_000,
        conversations_per_user: 10,
        moto_users: 1_000,
        search_entries: 1_000_000,
        links: Link::parse_list("direct,0,20,80"),
        restore_rounds: 5,
        only: Vec::new(),
        out: Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/BENCHMARKS.md"),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = || {
            args.get(i + 1)
                .cloned()
                .unwrap_or_else(|| panic!("a value after the flag; {USAGE}"))
        };
        let number = || value().parse::<usize>().unwrap_or_else(|_| panic!("a number; {USAGE}"));
        match args[i].as_str() {
            "--users" => c.users = number(),
            "--conversations-per-user" => c.conversations_per_user = number(),
            "--moto-users" => c.moto_users = number(),
            "--search-entries" => c.search_entries = number(),
            "--latencies" => c.links = Link::parse_list(&value()),
            "--restore-rounds" => c.restore_rounds = number(),
            "--only" => {
                c.only = value().split(',').map(|s| s.trim().to_owned()).collect();
                for s in &c.only {
                    assert!(
                        ["sync", "open", "export", "restore", "search"].contains(&s.as_str()),
                        "unknown section {s:?}; {USAGE}"
                    );
                }
            }
            "--out" => c.out = PathBuf::from(value()),
            other => panic!("unknown argument {other}; {USAGE}"),
        }
        i += 2;
    }
    c
}

/// The command line a run was started with, for the report.
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        "scripts/bench.sh".into()
    } else {
        format!("scripts/bench.sh {}", args.join(" "))
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--export-child") {
        export::export_child(&args[2..]).await;
        return;
    }
    let config = parse_args();
    let total_started = Instant::now();
    let mut sections = Sections::default();
    let work = tempfile::Builder::new()
        .prefix("archive-desk-bench-")
        .tempdir()
        .expect("work dir");
    let work = work.path();
    let bucket = "bench";
    // The links with a proxy: peers, open, export and restore run over these.
    let proxied: Vec<Link> = config.links.iter().copied().filter(|l| *l != Link::Direct).collect();

    let mut sync_rows = Vec::new();
    let mut open_rows = Vec::new();
    let mut export_rows = Vec::new();
    if config.runs("sync") || config.runs("open") || config.runs("export") {
        // rclone serve s3: the full-size bucket, generated on its disk.
        let rclone = servers::start(ServerKind::Rclone);
        let bucket_dir = rclone.data_dir.as_ref().expect("rclone data dir").join(bucket);
        eprintln!(
            "bench: generating {} users x {} conversations on rclone's disk",
            config.users, config.conversations_per_user
        );
        let started = Instant::now();
        let objects = data::generate_on_disk(&bucket_dir, config.users, config.conversations_per_user);
        eprintln!("bench:   {objects} objects in {:?}", started.elapsed());
        let seed_store = Store::connect(rclone.store_config(bucket))
            .await
            .expect("store connects");
        sync_rows = sync::sync_rows(
            &rclone,
            &seed_store,
            &config.links,
            config.users,
            objects,
            work,
            &mut sections,
        )
        .await;

        open::seed(&seed_store).await;
        export::seed(&seed_store).await;
        for &link in &config.links {
            let s3 = S3Link::open(&rclone, link);
            let store = Store::connect(s3.store_config(bucket)).await.expect("store connects");
            let section = sections.start(format!("open, {link}"));
            eprintln!("bench[open, {link}]");
            open_rows.extend(open::open_rows(&store, link).await);
            sections.end(section);
            if link != Link::Direct {
                let section = sections.start(format!("export, {link}"));
                export_rows.extend(export::export_rows(&s3, bucket, work));
                sections.end(section);
            }
        }
        drop(seed_store);
        drop(rclone);

        // moto: the same shape at a smaller scale (it is slow to fill).
        if config.moto_users > 0 {
            let moto = servers::start(ServerKind::Moto);
            let store = Store::connect(moto.store_config(bucket)).await.expect("store connects");
            archive_desk_harness::create_bucket(&store).await;
            eprintln!(
                "bench: generating {} users x {} conversations on moto (S3 PUTs)",
                config.moto_users, config.conversations_per_user
            );
            let started = Instant::now();
            let objects = data::generate_through_s3(&store, config.moto_users, config.conversations_per_user).await;
            eprintln!("bench:   {objects} objects in {:?}", started.elapsed());
            sync_rows.extend(
                sync::sync_rows(
                    &moto,
                    &store,
                    &config.links,
                    config.moto_users,
                    objects,
                    work,
                    &mut sections,
                )
                .await,
            );
        }
    }

    let restore_rows = if config.restore_rounds > 0 && config.runs("restore") {
        let section = sections.start("restore");
        let rows = restore::restore_rows(&proxied, config.restore_rounds, work).await;
        sections.end(section);
        rows
    } else {
        Vec::new()
    };

    let search = (config.search_entries > 0 && config.runs("search")).then(|| {
        eprintln!("bench: search over {} generated catalog entries", config.search_entries);
        let section = sections.start("search");
        let result = search::search_bench(work, config.search_entries);
        sections.end(section);
        result
    });

    // ---- the report
    let rclone_version = peers::version_of(&peers::rclone_bin(), "version");
    let aws_version = peers::aws_cli().map_or_else(|| "not installed".into(), |p| peers::version_of(&p, "--version"));
    let date = archive_desk_core::audit::now_rfc3339();
    let mut md = format!(
        "Measured {date} on {}.\nCommand: `{}` ({} build), one run, {} in total.\n\
         Peers: {rclone_version}; {aws_version}; {}.\n\
         Links: {}; a proxied link adds its latency ± 20% to every request (one request per connection).\n",
        report::machine(),
        command_line(),
        if cfg!(debug_assertions) { "debug" } else { "release" },
        secs(total_started.elapsed()),
        restore::snippet_version(),
        config
            .links
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    md.push_str(&goals::markdown(
        &sync_rows,
        &open_rows,
        &export_rows,
        &restore_rows,
        search.as_ref(),
    ));
    md.push_str(&sync::markdown(&sync_rows));
    if !restore_rows.is_empty() {
        md.push_str(&restore::markdown(&restore_rows));
    }
    md.push_str(&open::markdown(&open_rows));
    md.push_str(&export::markdown(&export_rows));
    if let Some(search) = &search {
        md.push_str(&search::markdown(search));
    }
    md.push_str(&sections.markdown());
    println!("{md}");
    report::write_results(&config.out, &md);
}
