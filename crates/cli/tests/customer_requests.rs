//! Whole-customer requests through the real binary on moto: `erase-user`
//! (no erasure without `--yes`; the receipt saved, its hash in
//! `audit --json`), `verify-receipt` (exit 0 while nothing listed exists,
//! 1 `receipt_not_verified` once a listed key is back), and
//! `export-user --for-customer` (a folder and its manifest).

use std::path::Path;
use std::process::Output;

use archive_desk_core::{Encoding, Layout};
use archive_desk_harness::check::version_ids;
use archive_desk_harness::fixtures::{conversations, object_key, seed, IndexState};
use archive_desk_harness::{enable_versioning, fresh_store, process, servers, RawS3, ServerKind};
use aws_sdk_s3::primitives::ByteStream;
use serde_json::Value;
use sha2::{Digest, Sha256};

mod common;
use common::command;

const EMAIL: &str = "cli.erase@example.com";

fn run(bucket: &str, home: &Path, args: &[&str]) -> Output {
    let mut cmd = command(
        servers::shared(ServerKind::Moto),
        bucket,
        home,
        &["ARCHIVE_DESK_DATA_DIR"],
    );
    let out = process::output(cmd.args(args));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    out
}

fn code_of(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    err["code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn erase_user_saves_a_receipt_that_verify_receipt_checks() {
    let store = fresh_store(ServerKind::Moto, Layout::default()).await;
    enable_versioning(&store).await;
    let d = conversations(EMAIL, "x", 2);
    seed(&store, |s| {
        s.user(EMAIL, IndexState::Present, &[&d[0], &d[1]]);
        s.good(EMAIL, &d[0], ".json", Encoding::Plain);
        s.good(EMAIL, &d[1], ".json.gz", Encoding::Gzip);
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let bucket = store.bucket();
    let receipt = home.path().join("receipt.json");
    let receipt_arg = receipt.to_str().unwrap();

    let out = run(
        bucket,
        home.path(),
        &["erase-user", EMAIL, "--receipt", receipt_arg, "--json"],
    );
    assert_eq!(code_of(&out), "invalid_input");
    assert!(!receipt.exists());
    assert_eq!(version_ids(&store, &object_key(EMAIL, "")).await.len(), 3);

    let out = run(
        bucket,
        home.path(),
        &["erase-user", EMAIL, "--receipt", receipt_arg, "--yes", "--json"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["receipt"]["outcome"], "complete");
    let bytes = std::fs::read(&receipt).unwrap();
    let sha: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(report["receipt_sha256"], sha.as_str());
    assert!(version_ids(&store, &object_key(EMAIL, "")).await.is_empty());

    let out = run(bucket, home.path(), &["audit", "--action", "erase_user", "--json"]);
    let lines: Vec<Value> = out
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "intent and outcome");
    assert_eq!(lines[1]["detail"]["receipt_sha256"], sha.as_str());

    let out = run(bucket, home.path(), &["verify-receipt", receipt_arg]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("verified: none of them exists any more"));

    let key = object_key(EMAIL, "x-0001.json.gz");
    store
        .client()
        .put_object()
        .bucket(bucket)
        .key(&key)
        .body(ByteStream::from_static(b"back"))
        .send()
        .await
        .unwrap();
    let out = run(bucket, home.path(), &["verify-receipt", receipt_arg, "--json"]);
    assert_eq!(code_of(&out), "receipt_not_verified");
    assert!(String::from_utf8_lossy(&out.stderr).contains(&key));
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["still_present"][0]["key"], key.as_str());
}

#[tokio::test]
async fn export_user_for_customer_writes_a_folder_with_its_manifest() {
    const USER: &str = "cli.access@example.com";
    let store = fresh_store(ServerKind::Moto, Layout::default()).await;
    let d = conversations(USER, "f", 2);
    seed(&store, |s| s.archived(USER, &d)).await;
    let home = tempfile::tempdir().unwrap();
    let folder = home.path().join("copy");
    let folder_arg = folder.to_str().unwrap();
    let out = run(
        store.bucket(),
        home.path(),
        &["export-user", USER, "--for-customer", "--gzip", "-o", folder_arg],
    );
    assert_eq!(out.status.code(), Some(2), "--gzip does not go with --for-customer");
    let out = run(
        store.bucket(),
        home.path(),
        &["export-user", USER, "--for-customer", "-o", folder_arg, "--json"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (report["conversations"].as_u64(), report["files"].as_u64()),
        (Some(2), Some(4))
    );
    let manifest = std::fs::read(folder.join("manifest.json")).unwrap();
    let sha: String = Sha256::digest(&manifest).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(report["manifest_sha256"], sha.as_str());
    for name in ["f-0000.json", "f-0000.txt", "f-0001.json", "f-0001.txt"] {
        assert!(folder.join("conversations").join(name).is_file(), "{name}");
    }
}
