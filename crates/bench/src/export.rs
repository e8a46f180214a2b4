//! Whole-user export over each link: `Session::export_user` in a child
//! process (so its peak RSS, `VmHWM`, is the export's own), users of 100
//! and 1,000 conversations; the AWS CLI downloading the same folder is the
//! throughput peer.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use archive_desk_core::codec::{encode, Encoding};
use archive_desk_core::export_user::{ExportFormat, ExportProgress, ExportUserOptions};
use archive_desk_core::{AuditLog, CancellationToken, ConversationId, Session, Store, UserFolder};
use archive_desk_harness::fixtures;
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::data::{index_doc, put_all, title_of};
use crate::link::{Link, S3Link};
use crate::peers::{aws_cp, timed_peer, PeerRun};
use crate::report::secs;

/// The users exported: (label, email, conversations of 100 messages).
pub const USERS: [(&str, &str, usize); 2] = [
    ("100 x 100 messages", "export.small@example.com", 100),
    ("1,000 x 100 messages", "export.bench@example.com", 1_000),
];

pub struct ExportRow {
    pub link: Link,
    pub label: &'static str,
    pub conversations: u64,
    pub json_bytes: u64,
    pub elapsed: Duration,
    pub peak_rss_kb: u64,
    /// Where the adaptive read-ahead settled, and its peak.
    pub read_ahead: (u64, u64),
    /// `aws s3 cp --recursive` of the same folder.
    pub peer: PeerRun,
}

/// Write the users (directly, unmeasured).
pub async fn seed(store: &Store) {
    for (_, email, n) in USERS {
        put_export_user(store, email, n, 100).await;
    }
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
/// export's own: prints `{peak_rss_kb, elapsed_ms, json_bytes, conversations,
/// read_ahead_settled, read_ahead_peak}`.
pub async fn export_child(args: &[String]) {
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
               "json_bytes": report.json_bytes, "conversations": report.conversations,
               "read_ahead_settled": report.read_ahead.settled, "read_ahead_peak": report.read_ahead.peak})
    );
}

fn run_export_child(link: &S3Link, bucket: &str, user: &str, out: &Path) -> Value {
    let output = Command::new(std::env::current_exe().expect("own path"))
        .args([
            "--export-child",
            &link.endpoint,
            &link.access_key_id,
            &link.secret_access_key,
            bucket,
            user,
        ])
        .arg(out)
        .output()
        .expect("export child runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let _ = std::fs::remove_file(out);
    serde_json::from_slice(&output.stdout).expect("child prints JSON")
}

/// Both users exported over `link`, each with its peer.
pub fn export_rows(link: &S3Link, bucket: &str, work: &Path) -> Vec<ExportRow> {
    let mut rows = Vec::new();
    for (label, email, _) in USERS {
        eprintln!("bench[export, {}]: {label}", link.link);
        let v = run_export_child(link, bucket, email, &work.join("export.json.gz"));
        let folder = UserFolder::from_email(email).expect("email");
        let dest = work.join("aws-export");
        let peer = aws_cp(link, bucket, &format!("archived_conversations/{folder}/"), None, &dest)
            .and_then(|cmd| timed_peer(cmd, &dest));
        let n = |k: &str| v[k].as_u64().unwrap_or(0);
        rows.push(ExportRow {
            link: link.link,
            label,
            conversations: n("conversations"),
            json_bytes: n("json_bytes"),
            elapsed: Duration::from_millis(n("elapsed_ms")),
            peak_rss_kb: n("peak_rss_kb"),
            read_ahead: (n("read_ahead_settled"), n("read_ahead_peak")),
            peer,
        });
    }
    rows
}

pub fn markdown(rows: &[ExportRow]) -> String {
    let mut md = String::from(
        "\n### Export a whole user (JSON, gzip; a child process, peak RSS from `VmHWM`)\n\n\
         | link | user | conversations | JSON written | time (goal 1,000 at 80 ms ≤ 8 s) | throughput | peak RSS (goal < 150 MB) | read ahead: settled / peak | peer: `aws s3 cp --recursive` of the folder |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let peer = match r.peer {
            Some((d, files)) => format!("{} ({files} files)", secs(d)),
            None => "n/a".into(),
        };
        md.push_str(&format!(
            "| {} | {} | {} | {:.1} MB | {} | {:.1} MB/s | {:.1} MB | {} / {} | {peer} |\n",
            r.link,
            r.label,
            r.conversations,
            r.json_bytes as f64 / 1e6,
            secs(r.elapsed),
            r.json_bytes as f64 / 1e6 / r.elapsed.as_secs_f64().max(1e-9),
            r.peak_rss_kb as f64 / 1024.0,
            r.read_ahead.0,
            r.read_ahead.1
        ));
    }
    md
}
