//! `archive-desk-memory`: peak memory when many maximal objects are read at
//! once (docs/RELIABILITY.md). 64 users whose `metadata.json` is as large as
//! the object limit allows (plain: 64 MiB stored; gzip: 64 MiB of JSON in a
//! small object) are read 64 at a time, by a catalog sync with concurrency 64
//! and by 64 concurrent `Store::read_index` calls, each in a fresh child
//! process so its peak RSS (VmHWM) is its own.
//!
//! `cargo run --release -p archive-desk-bench --bin archive-desk-memory`

use std::process::Command;
use std::time::Instant;

use archive_desk_core::catalog;
use archive_desk_core::codec::{encode, Encoding, Limits};
use archive_desk_core::store::DEFAULT_MEMORY_BUDGET;
use archive_desk_core::{CancellationToken, Catalog, Layout, Store, SyncOptions, SyncProgress, UserFolder};
use archive_desk_harness::servers::{self, ServerKind};
use serde_json::json;
use tokio::sync::watch;

const USERS: usize = 64;

/// A valid index of exactly `size` bytes of JSON: one entry, and an unknown
/// field (kept, as every unknown field is) that fills the rest.
fn maximal_index(email: &str, size: usize) -> Vec<u8> {
    let mut doc = json!({
        "user_email": email,
        "archived_conversations": [{"conversation_id": "c1", "title": "t", "archived_at": "2025-01-01T00:00:00Z", "message_count": 1}],
        "padding": "",
    });
    let base = serde_json::to_vec(&doc).expect("json").len();
    doc["padding"] = json!("x".repeat(size - base));
    let bytes = serde_json::to_vec(&doc).expect("json");
    assert_eq!(bytes.len(), size);
    bytes
}

/// Child: read every index 64 at once (`sync` or `read`), print peak RSS.
async fn child(args: &[String]) {
    let [mode, endpoint, key_id, secret, bucket, budget] = args else {
        panic!("--child MODE ENDPOINT KEY_ID SECRET BUCKET BUDGET");
    };
    let mut config = archive_desk_bench::child_store_config(endpoint, key_id, secret, bucket);
    config.memory_budget_bytes = budget.parse().expect("budget");
    let store = Store::connect(config).await.expect("store");
    let started = Instant::now();
    let read = match mode.as_str() {
        "sync" => {
            let dir = tempfile::tempdir().expect("dir");
            let catalog = Catalog::open(&dir.path().join("c.sqlite")).expect("catalog");
            let (tx, _) = watch::channel(SyncProgress::default());
            let options = SyncOptions {
                concurrency: USERS,
                ..Default::default()
            };
            let report = catalog::sync(&store, &catalog, &options, &tx, &CancellationToken::new())
                .await
                .expect("sync");
            assert_eq!(report.indexes_fetched as usize, USERS, "{report:?}");
            USERS
        }
        _ => {
            let reads = (0..USERS).map(|i| {
                let store = store.clone();
                async move {
                    let folder = UserFolder::from_email(&format!("user{i}@example.com")).expect("folder");
                    store.read_index(&folder).await.expect("index").index.entries().count()
                }
            });
            futures::future::join_all(reads).await.into_iter().sum()
        }
    };
    println!(
        "{}",
        json!({"peak_rss_mib": archive_desk_bench::peak_rss_kb() as f64 / 1024.0, "elapsed_ms": started.elapsed().as_millis() as u64, "read": read})
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        child(&args[2..]).await;
        return;
    }
    let server = servers::start(ServerKind::Rclone);
    let data = server.data_dir.clone().expect("rclone keeps its data on disk");
    let limit = Limits::default().max_object_bytes as usize;
    println!("| objects | reader | memory budget | peak RSS | time |");
    println!("|---|---|---|---|---|");
    for (name, encoding) in [
        ("plain 64 MiB", Encoding::Plain),
        ("gzip, 64 MiB of JSON", Encoding::Gzip),
    ] {
        let bucket = format!("mem-{}", name.split(' ').next().expect("name"));
        let layout = Layout::default();
        // One maximal object, hard-linked into every user's folder.
        let body = encode(
            &serde_json::from_slice::<serde_json::Value>(&maximal_index("x@example.com", limit - 1024)).expect("json"),
            encoding,
        );
        let first = data.join(&bucket).join("maximal.json");
        std::fs::create_dir_all(first.parent().expect("dir")).expect("bucket dir");
        std::fs::write(&first, &body).expect("object");
        for i in 0..USERS {
            let folder = UserFolder::from_email(&format!("user{i}@example.com")).expect("folder");
            let path = data.join(&bucket).join(layout.index_key(&folder));
            std::fs::create_dir_all(path.parent().expect("dir")).expect("user dir");
            std::fs::hard_link(&first, &path).expect("link");
        }
        std::fs::remove_file(&first).expect("remove the original");
        for mode in ["sync", "read"] {
            for budget in [DEFAULT_MEMORY_BUDGET, u64::MAX >> 1] {
                let out = Command::new(std::env::current_exe().expect("own path"))
                    .args([
                        "--child",
                        mode,
                        &server.endpoint,
                        &server.access_key_id,
                        &server.secret_access_key,
                    ])
                    .args([&bucket, &budget.to_string()])
                    .output()
                    .expect("child runs");
                assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("child JSON");
                let reader = if mode == "sync" {
                    "catalog sync, concurrency 64"
                } else {
                    "64 × read_index"
                };
                let budget = if budget == DEFAULT_MEMORY_BUDGET {
                    "256 MiB (default)".to_owned()
                } else {
                    "unbounded".to_owned()
                };
                println!(
                    "| 64 × {name} ({:.1} MiB stored) | {reader} | {budget} | {:.0} MiB | {:.1} s |",
                    body.len() as f64 / (1 << 20) as f64,
                    r["peak_rss_mib"].as_f64().unwrap_or(0.0),
                    r["elapsed_ms"].as_u64().unwrap_or(0) as f64 / 1000.0,
                );
            }
        }
    }
}
