//! `archive-desk-bench`: the catalog, open and export budgets (docs/BENCHMARKS.md),
//! measured side by side with rclone and the AWS CLI in one run, on
//! generated data, against servers this program starts (rclone `serve s3`,
//! and moto at a smaller scale). A benchmark, not a test: it prints a table
//! of ratios and writes it to docs/BENCHMARKS.md (`--out` elsewhere).
//!
//! `scripts/bench.sh` installs the peers and runs it in release mode.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use archive_desk_core::catalog::{self, EntryRecord, UserRecord};
use archive_desk_core::codec::{encode, Encoding};
use archive_desk_core::export_user::{ExportFormat, ExportProgress, ExportUserOptions};
use archive_desk_core::{
    AuditLog, CancellationToken, Catalog, ConversationId, Layout, Session, Store, SyncOptions, SyncProgress, UserFolder,
};
use archive_desk_harness::fixtures;
use archive_desk_harness::servers::{self, S3Server, ServerKind};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::watch;

struct Config {
    users: usize,
    conversations_per_user: usize,
    moto_users: usize,
    search_entries: usize,
    out: PathBuf,
}

fn parse_args() -> Config {
    let mut c = Config {
        users: 10_000,
        conversations_per_user: 10,
        moto_users: 1_000,
        search_entries: 1_000_000,
        out: Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/BENCHMARKS.md"),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = || args.get(i + 1).cloned().expect("a value after the flag");
        match args[i].as_str() {
            "--users" => c.users = value().parse().expect("a number"),
            "--conversations-per-user" => c.conversations_per_user = value().parse().expect("a number"),
            "--moto-users" => c.moto_users = value().parse().expect("a number"),
            "--search-entries" => c.search_entries = value().parse().expect("a number"),
            "--out" => c.out = PathBuf::from(value()),
            other => panic!("unknown argument {other}; see crates/bench/src/main.rs"),
        }
        i += 2;
    }
    c
}

const FIRST: [&str; 16] = [
    "maria", "li", "ahmed", "sofia", "john", "ana", "kenji", "fatima", "lucas", "olga", "noah", "priya", "zoë",
    "jürgen", "chloé", "søren",
];
const LAST: [&str; 10] = [
    "garcia", "wang", "khan", "rossi", "smith", "silva", "tanaka", "novak", "müller", "dubois",
];
const DOMAINS: [&str; 6] = [
    "example.com",
    "mail.example.org",
    "corp.example.net",
    "uni.example.edu",
    "example.co.uk",
    "bücher.example.de",
];
const SUBJECTS: [&str; 20] = [
    "Refund",
    "Billing",
    "Password reset",
    "Login",
    "Invoice",
    "Subscription",
    "Account deletion",
    "Upgrade",
    "Data export",
    "API rate limits",
    "PDF upload",
    "Slack integration",
    "Two-factor auth",
    "Team plan",
    "Mobile app",
    "Webhook",
    "Réclamation",
    "返品",
    "Datenschutz",
    "Zahlung",
];
const DETAILS: [&str; 16] = [
    "for a double charge",
    "fails after update",
    "not working",
    "question",
    "in March",
    "for my team",
    "request (GDPR)",
    "keeps timing out",
    "on Android",
    "with SSO",
    "— urgent",
    "help needed",
    "🙂 thanks",
    "über die Rechnung",
    "について",
    "again",
];

fn email_of(i: usize) -> String {
    format!(
        "{}.{}{}@{}",
        FIRST[i % FIRST.len()],
        LAST[(i / FIRST.len()) % LAST.len()],
        i,
        DOMAINS[i % DOMAINS.len()]
    )
}

fn title_of(i: usize, j: usize) -> String {
    let n = i.wrapping_mul(31).wrapping_add(j.wrapping_mul(7));
    format!(
        "{} {}",
        SUBJECTS[n % SUBJECTS.len()],
        DETAILS[(n / SUBJECTS.len()) % DETAILS.len()]
    )
}

fn index_doc(email: &str, ids: &[(String, String, usize)], version: usize) -> Value {
    json!({
        "user_email": email,
        "archived_conversations": ids.iter().map(|(id, title, n)| json!({
            "conversation_id": id, "title": title, "created_at": "2025-01-15T10:30:00Z",
            "archived_at": format!("2025-02-{:02}T09:00:00Z", 1 + (version % 28)), "message_count": n,
        })).collect::<Vec<_>>(),
    })
}

/// The generated archive, written straight into rclone's data dir (a bucket
/// is a folder there) before the server first lists it: writing 110k
/// objects through S3 would take longer than the benchmark itself.
fn generate_on_disk(bucket_dir: &Path, users: usize, per_user: usize) -> usize {
    let layout = Layout::default();
    let mut written = 0;
    for i in 0..users {
        let email = email_of(i);
        let folder = UserFolder::from_email(&email).expect("generated email");
        let dir = bucket_dir.join(layout.user_prefix(&folder));
        std::fs::create_dir_all(&dir).expect("user dir");
        let mut ids = Vec::with_capacity(per_user);
        for j in 0..per_user {
            let id = format!("{i:06}-{j:03}-{:08x}", fastrand::u32(..));
            let title = title_of(i, j);
            let doc = fixtures::conversation(&id, &email, &title, 2);
            let gz = j % 3 == 0;
            let name = if gz {
                format!("{id}.json.gz")
            } else {
                format!("{id}.json")
            };
            let enc = if gz { Encoding::Gzip } else { Encoding::Plain };
            std::fs::write(dir.join(name), encode(&doc, enc)).expect("conversation file");
            ids.push((id, title, 2));
            written += 1;
        }
        std::fs::write(
            dir.join("metadata.json"),
            encode(&index_doc(&email, &ids, 0), Encoding::Plain),
        )
        .expect("index file");
        written += 1;
    }
    written
}

/// The same archive through S3 PUTs (moto keeps everything in memory).
async fn generate_through_s3(store: &Store, users: usize, per_user: usize) -> usize {
    let layout = store.layout().clone();
    let mut puts = Vec::new();
    for i in 0..users {
        let email = email_of(i);
        let folder = UserFolder::from_email(&email).expect("generated email");
        let mut ids = Vec::new();
        for j in 0..per_user {
            let id = format!("{i:06}-{j:03}");
            let title = title_of(i, j);
            let doc = fixtures::conversation(&id, &email, &title, 2);
            let cid = ConversationId::parse(&id).expect("generated id");
            puts.push((
                layout.conversation_key(&folder, &cid, false),
                encode(&doc, Encoding::Plain),
            ));
            ids.push((id, title, 2));
        }
        puts.push((
            layout.index_key(&folder),
            encode(&index_doc(&email, &ids, 0), Encoding::Plain),
        ));
    }
    let n = puts.len();
    put_all(store, puts, 16).await;
    n
}

async fn put_all(store: &Store, puts: Vec<(String, Vec<u8>)>, concurrency: usize) {
    // Bytes as given (already encoded), no condition: seeding, not measured.
    let results: Vec<_> = futures::stream::iter(puts)
        .map(|(key, body)| async move {
            store
                .put(&key, body, Encoding::Plain, None)
                .await
                .map_err(|e| e.to_string())
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    for r in results {
        r.expect("PUT");
    }
}

async fn connect(server: &S3Server, bucket: &str) -> Store {
    Store::connect(server.store_config(bucket))
        .await
        .expect("store connects")
}

async fn create_bucket(store: &Store) {
    archive_desk_harness::create_bucket(store).await;
}

/// One catalog sync; its wall time.
async fn timed_sync(store: &Store, catalog: &Catalog) -> (Duration, catalog::SyncReport) {
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

/// Run a peer command; its wall time and how many files it wrote.
fn timed_peer(mut cmd: Command, dest: &Path) -> Option<(Duration, usize)> {
    let _ = std::fs::remove_dir_all(dest);
    std::fs::create_dir_all(dest).expect("peer dest");
    let started = Instant::now();
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench: {:?} did not run: {e}", cmd.get_program());
            return None;
        }
    };
    let elapsed = started.elapsed();
    if !out.status.success() {
        eprintln!(
            "bench: {:?} failed: {}",
            cmd.get_program(),
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    Some((elapsed, count_files(dest)))
}

fn count_files(dir: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(e.path());
            } else {
                n += 1;
            }
        }
    }
    n
}

fn rclone_copy(server: &S3Server, bucket: &str, dest: &Path) -> Command {
    let mut cmd = Command::new(servers::tools_dir().join("venv/bin/rclone"));
    cmd.env("RCLONE_CONFIG", "/dev/null")
        .env("RCLONE_CONFIG_SRC_TYPE", "s3")
        .env("RCLONE_CONFIG_SRC_PROVIDER", "Other")
        .env("RCLONE_CONFIG_SRC_ENDPOINT", &server.endpoint)
        .env("RCLONE_CONFIG_SRC_REGION", "us-east-1")
        .env("RCLONE_CONFIG_SRC_ACCESS_KEY_ID", &server.access_key_id)
        .env("RCLONE_CONFIG_SRC_SECRET_ACCESS_KEY", &server.secret_access_key)
        .args(["copy", &format!("src:{bucket}/archived_conversations")])
        .arg(dest)
        .args(["--include", "*/metadata.json", "--transfers", "32"]);
    cmd
}

fn aws_cli() -> Option<PathBuf> {
    let path = servers::tools_dir().join("bench-venv/bin/aws");
    path.exists().then_some(path)
}

fn aws_cp(server: &S3Server, bucket: &str, dest: &Path) -> Option<Command> {
    let mut cmd = Command::new(aws_cli()?);
    cmd.envs(server.aws_env())
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .args(["--endpoint-url", &server.endpoint, "s3", "cp"])
        .arg(format!("s3://{bucket}/archived_conversations/"))
        .arg(dest)
        .args([
            "--recursive",
            "--exclude",
            "*",
            "--include",
            "*/metadata.json",
            "--only-show-errors",
        ]);
    Some(cmd)
}

struct SyncColumn {
    server: &'static str,
    users: usize,
    objects: usize,
    ours_cold: Duration,
    ours_users: u64,
    rclone: Option<(Duration, usize)>,
    aws: Option<(Duration, usize)>,
    warm: Duration,
    warm_fetched: u64,
}

/// Cold sync vs the peers, then a warm sync with 1% of the indexes changed.
async fn sync_column(server: &S3Server, store: &Store, users: usize, objects: usize, work: &Path) -> SyncColumn {
    let name = server.kind.name();
    // Warm the server's caches once, unmeasured, so no contender pays for them.
    let warmup = Catalog::open(&work.join(format!("warmup-{name}.sqlite"))).expect("catalog");
    timed_sync(store, &warmup).await;
    drop(warmup);

    let catalog = Catalog::open(&work.join(format!("catalog-{name}.sqlite"))).expect("catalog");
    eprintln!("bench[{name}]: cold catalog sync");
    let (ours_cold, report) = timed_sync(store, &catalog).await;
    eprintln!("bench[{name}]:   {ours_cold:?} ({report:?})");
    eprintln!("bench[{name}]: rclone copy --transfers 32");
    let rclone = timed_peer(
        rclone_copy(server, store.bucket(), &work.join("rclone-out")),
        &work.join("rclone-out"),
    );
    eprintln!("bench[{name}]:   {rclone:?}");
    eprintln!("bench[{name}]: aws s3 cp --recursive");
    let aws = match aws_cp(server, store.bucket(), &work.join("aws-out")) {
        Some(cmd) => timed_peer(cmd, &work.join("aws-out")),
        None => {
            eprintln!("bench: no AWS CLI in the tools dir (scripts/bench.sh installs it); column left empty");
            None
        }
    };
    eprintln!("bench[{name}]:   {aws:?}");

    // 1% of the indexes change (through the server, as the archiver would).
    let changed = (users / 100).max(1);
    let layout = store.layout().clone();
    let mut puts = Vec::new();
    for k in 0..changed {
        let i = k * 100 + 7;
        let email = email_of(i % users);
        let folder = UserFolder::from_email(&email).expect("generated email");
        let entries = catalog.user_entries(folder.as_str()).expect("entries");
        let ids: Vec<_> = entries
            .iter()
            .map(|e| (e.conversation_id.clone(), e.title.clone().unwrap_or_default(), 2))
            .collect();
        puts.push((
            layout.index_key(&folder),
            encode(&index_doc(&email, &ids, 1), Encoding::Plain),
        ));
    }
    put_all(store, puts, 16).await;
    eprintln!("bench[{name}]: warm sync, {changed} indexes changed");
    let (warm, warm_report) = timed_sync(store, &catalog).await;
    eprintln!("bench[{name}]:   {warm:?} ({warm_report:?})");
    SyncColumn {
        server: name,
        users,
        objects,
        ours_cold,
        ours_users: report.users,
        rclone,
        aws,
        warm,
        warm_fetched: warm_report.indexes_fetched,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

struct SearchResult {
    entries: u64,
    generate: Duration,
    file_mb: u64,
    per_kind: Vec<(&'static str, Duration, Duration)>,
    all_p50: Duration,
    all_p95: Duration,
    all_max: Duration,
}

/// Search over `entries` generated straight into a catalog.
fn search_bench(work: &Path, entries: usize) -> SearchResult {
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

/// p50/p95 of opening a 1,000-message conversation, plain and gzip.
async fn open_bench(store: &Store) -> Vec<(&'static str, u64, Duration, Duration)> {
    let email = "open.bench@example.com";
    let folder = UserFolder::from_email(email).expect("email");
    let layout = store.layout().clone();
    let mut out = Vec::new();
    for (label, id, enc) in [
        ("plain", "open-1000-plain", Encoding::Plain),
        ("gzip", "open-1000-gzip", Encoding::Gzip),
    ] {
        let doc = fixtures::conversation(id, email, "A long conversation", 1_000);
        let cid = ConversationId::parse(id).expect("id");
        let key = layout.conversation_key(&folder, &cid, enc == Encoding::Gzip);
        let body = encode(&doc, enc);
        let size = body.len() as u64;
        put_all(store, vec![(key, body)], 1).await;
        let mut times = Vec::new();
        for round in 0..60 {
            let started = Instant::now();
            let opened = store.get_conversation(&folder, &cid).await.expect("opens");
            let took = started.elapsed();
            assert_eq!(opened.document.messages().len(), 1_000);
            if round >= 10 {
                times.push(took); // the first rounds warm connections and caches
            }
        }
        times.sort();
        out.push((label, size, percentile(&times, 0.5), percentile(&times, 0.95)));
    }
    out
}

/// Writes a user with `n` conversations of `messages` messages each.
async fn put_export_user(store: &Store, email: &str, n: usize, messages: usize) {
    let folder = UserFolder::from_email(email).expect("email");
    let layout = store.layout().clone();
    let mut puts = Vec::new();
    let mut ids = Vec::new();
    for j in 0..n {
        let id = format!("exp-{j:05}");
        let doc = fixtures::conversation(&id, email, &title_of(j, j), messages);
        let cid = ConversationId::parse(&id).expect("id");
        puts.push((
            layout.conversation_key(&folder, &cid, j % 2 == 1),
            encode(&doc, if j % 2 == 1 { Encoding::Gzip } else { Encoding::Plain }),
        ));
        ids.push((id, title_of(j, j), messages));
    }
    puts.push((
        layout.index_key(&folder),
        encode(&index_doc(email, &ids, 0), Encoding::Plain),
    ));
    put_all(store, puts, 16).await;
}

/// Runs in a child process (`--export-child`), so its peak RSS is the
/// export's own: prints `{peak_rss_kb, elapsed_ms, bytes, conversations}`.
async fn export_child(args: &[String]) {
    let [endpoint, key_id, secret, bucket, user, out] = args else {
        panic!("--export-child ENDPOINT KEY_ID SECRET BUCKET USER OUT");
    };
    let config = archive_desk_bench::child_store_config(endpoint, key_id, secret, bucket);
    let store = Store::connect(config).await.expect("store");
    let dir = tempfile::tempdir().expect("dir");
    let session = Session::new(store, AuditLog::at(dir.path().join("audit.jsonl")));
    let (progress, _) = watch::channel(ExportProgress::default());
    let started = Instant::now();
    let report = session
        .export_user(
            user,
            Path::new(out),
            &ExportUserOptions {
                format: ExportFormat::Json,
                gzip: true,
                ..Default::default()
            },
            &progress,
            &CancellationToken::new(),
        )
        .await
        .expect("export");
    let elapsed = started.elapsed();
    let peak_kb = archive_desk_bench::peak_rss_kb();
    println!(
        "{}",
        json!({"peak_rss_kb": peak_kb, "elapsed_ms": elapsed.as_millis() as u64,
               "json_bytes": report.json_bytes, "conversations": report.conversations})
    );
}

fn run_export_child(server: &S3Server, bucket: &str, user: &str, out: &Path) -> Value {
    let output = Command::new(std::env::current_exe().expect("own path"))
        .args([
            "--export-child",
            &server.endpoint,
            &server.access_key_id,
            &server.secret_access_key,
            bucket,
            user,
        ])
        .arg(out)
        .output()
        .expect("export child runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("child prints JSON")
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem_kb: u64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let os = std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_owned()))
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    format!("{cores} cores ({cpu}), {} GiB RAM, {os}", mem_kb >> 20)
}

fn version_of(program: &Path, arg: &str) -> String {
    Command::new(program)
        .arg(arg)
        .output()
        .ok()
        .map(|o| {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            text.lines().next().unwrap_or("").trim().to_owned()
        })
        .unwrap_or_else(|| "not installed".into())
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--export-child") {
        export_child(&args[2..]).await;
        return;
    }
    let config = parse_args();
    let total_started = Instant::now();
    let work = tempfile::Builder::new()
        .prefix("archive-desk-bench-")
        .tempdir()
        .expect("work dir");
    let mut columns = Vec::new();

    // rclone serve s3: the full-size bucket, generated on its disk.
    let rclone = servers::start(ServerKind::Rclone);
    let bucket = "bench";
    let bucket_dir = rclone.data_dir.as_ref().expect("rclone data dir").join(bucket);
    eprintln!(
        "bench: generating {} users x {} conversations on rclone's disk",
        config.users, config.conversations_per_user
    );
    let started = Instant::now();
    let objects = generate_on_disk(&bucket_dir, config.users, config.conversations_per_user);
    eprintln!("bench:   {objects} objects in {:?}", started.elapsed());
    let store = connect(&rclone, bucket).await;
    columns.push(sync_column(&rclone, &store, config.users, objects, work.path()).await);

    eprintln!("bench: open a 1,000-message conversation");
    let open = open_bench(&store).await;
    eprintln!("bench: export-user");
    put_export_user(&store, "export.small@example.com", 100, 100).await;
    put_export_user(&store, "export.bench@example.com", 1_000, 100).await;
    let small = run_export_child(
        &rclone,
        bucket,
        "export.small@example.com",
        &work.path().join("small.json.gz"),
    );
    let export = run_export_child(
        &rclone,
        bucket,
        "export.bench@example.com",
        &work.path().join("big.json.gz"),
    );
    // A peer for throughput: the AWS CLI downloading the same folder's objects.
    let export_peer = aws_cli().and_then(|aws| {
        let dest = work.path().join("aws-export");
        let mut cmd = Command::new(aws);
        cmd.envs(rclone.aws_env())
            .args([
                "--endpoint-url",
                &rclone.endpoint,
                "s3",
                "cp",
                "--recursive",
                "--only-show-errors",
            ])
            .arg(format!(
                "s3://{bucket}/archived_conversations/export_bench_at_example_com/"
            ))
            .arg(&dest);
        timed_peer(cmd, &dest)
    });
    drop(store);
    drop(rclone);

    // moto: the same shape at a smaller scale (it is slow to fill).
    if config.moto_users > 0 {
        let moto = servers::start(ServerKind::Moto);
        let store = connect(&moto, bucket).await;
        create_bucket(&store).await;
        eprintln!(
            "bench: generating {} users x {} conversations on moto (S3 PUTs)",
            config.moto_users, config.conversations_per_user
        );
        let started = Instant::now();
        let objects = generate_through_s3(&store, config.moto_users, config.conversations_per_user).await;
        eprintln!("bench:   {objects} objects in {:?}", started.elapsed());
        columns.push(sync_column(&moto, &store, config.moto_users, objects, work.path()).await);
    }

    eprintln!("bench: search over {} generated catalog entries", config.search_entries);
    let search = search_bench(work.path(), config.search_entries);

    // ---- the table
    let tools = servers::tools_dir();
    let rclone_version = version_of(&tools.join("venv/bin/rclone"), "version");
    let aws_version = aws_cli().map_or_else(|| "not installed".into(), |p| version_of(&p, "--version"));
    let mut md = String::new();
    let date = archive_desk_core::audit::now_rfc3339();
    md.push_str(&format!(
        "Measured {date} on {}.\nCommand: `scripts/bench.sh` (= `cargo run -p archive-desk-bench --release`), one run, {} in total.\nPeers: {rclone_version}; {aws_version}.\n\n",
        machine(),
        secs(total_started.elapsed())
    ));
    md.push_str("### Catalog sync (all users' `metadata.json`)\n\n");
    md.push_str("| server | bucket | ours, cold | rclone copy --transfers 32 | aws s3 cp --recursive | cold vs rclone (goal ≥ 1.5x) | cold vs aws | warm, 1% changed | warm / cold (goal ≤ 5%) |\n|---|---|---|---|---|---|---|---|---|\n");
    for c in &columns {
        let peer = |p: &Option<(Duration, usize)>| match p {
            Some((d, files)) => format!("{} ({files} files)", secs(*d)),
            None => "n/a".into(),
        };
        let vs = |p: &Option<(Duration, usize)>| match p {
            Some((d, _)) => format!("{:.2}x", ratio(*d, c.ours_cold)),
            None => "n/a".into(),
        };
        md.push_str(&format!(
            "| {} | {} users, {} objects | {} ({} users) | {} | {} | {} | {} | {} ({} fetched) | {:.1}% |\n",
            c.server,
            c.users,
            c.objects,
            secs(c.ours_cold),
            c.ours_users,
            peer(&c.rclone),
            peer(&c.aws),
            vs(&c.rclone),
            vs(&c.aws),
            secs(c.warm),
            c.warm_fetched,
            100.0 * ratio(c.warm, c.ours_cold)
        ));
    }
    md.push_str(&format!(
        "\n### Search ({} catalog entries, generated in {}, file {} MiB; 420 queries, 50 hits a page)\n\n| query | p50 | p95 |\n|---|---|---|\n",
        search.entries,
        secs(search.generate),
        search.file_mb
    ));
    for (kind, p50, p95) in &search.per_kind {
        md.push_str(&format!("| {kind} | {} | {} |\n", ms(*p50), ms(*p95)));
    }
    md.push_str(&format!(
        "| **all** (goal p95 ≤ 20 ms) | **{}** | **{}** (max {}) |\n",
        ms(search.all_p50),
        ms(search.all_p95),
        ms(search.all_max)
    ));
    md.push_str("\n### Open a 1,000-message conversation (rclone, `Store::get_conversation`, 50 rounds)\n\n| stored as | size | p50 (goal ≤ 30 ms) | p95 |\n|---|---|---|---|\n");
    for (label, size, p50, p95) in &open {
        md.push_str(&format!(
            "| {label} | {} KiB | {} | {} |\n",
            size >> 10,
            ms(*p50),
            ms(*p95)
        ));
    }
    let mb = |v: &Value, k: &str| v[k].as_u64().unwrap_or(0) as f64 / 1024.0;
    let rate = |v: &Value| {
        v["json_bytes"].as_u64().unwrap_or(0) as f64 / 1e6 / (v["elapsed_ms"].as_u64().unwrap_or(1) as f64 / 1000.0)
    };
    md.push_str("\n### Export a whole user (JSON, gzip; a child process, peak RSS from `VmHWM`)\n\n| user | conversations | JSON written | time | throughput | peak RSS (goal < 150 MB) |\n|---|---|---|---|---|---|\n");
    for (label, v) in [("100 x 100 messages", &small), ("1,000 x 100 messages", &export)] {
        md.push_str(&format!(
            "| {label} | {} | {:.1} MB | {:.2} s | {:.1} MB/s | {:.1} MB |\n",
            v["conversations"],
            v["json_bytes"].as_u64().unwrap_or(0) as f64 / 1e6,
            v["elapsed_ms"].as_u64().unwrap_or(0) as f64 / 1000.0,
            rate(v),
            mb(v, "peak_rss_kb")
        ));
    }
    if let Some((d, files)) = export_peer {
        md.push_str(&format!(
            "| peer: `aws s3 cp --recursive` of the same folder | {files} files | | {} | | |\n",
            secs(d)
        ));
    }

    println!("{md}");
    let doc = std::fs::read_to_string(&config.out).unwrap_or_default();
    let marker = "<!-- bench:results -->";
    let new_doc = match doc.split_once(marker) {
        Some((head, _)) => format!("{head}{marker}\n\n{md}"),
        None => format!("# Benchmarks\n\n{marker}\n\n{md}"),
    };
    std::fs::write(&config.out, new_doc).expect("write the results");
    eprintln!("bench: wrote {}", config.out.display());
}
