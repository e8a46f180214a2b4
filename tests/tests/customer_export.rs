//! The whole-user export for the customer (a data-access request), on both
//! servers: a folder whose manifest lists every file with the SHA-256 and
//! size recomputed here, exactly the files there are; each conversation as
//! its stored JSON and as a transcript; what could not be exported named;
//! a cancelled export leaves nothing.

use std::collections::BTreeSet;
use std::path::Path;

use archive_desk_core::export_user::ExportProgress;
use archive_desk_core::{AuditFilter, CancellationToken, Encoding};
use archive_desk_harness::fixtures::{conversations, seed, IndexState};
use archive_desk_harness::{fresh_session, ServerKind};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Every file under `dir`, relative, `/`-separated.
fn files_under(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/");
                out.insert(rel);
            }
        }
    }
    out
}

async fn export_for_customer(kind: ServerKind) {
    const EMAIL: &str = "data.access@example.com";
    let (session, _audit_dir) = fresh_session(kind, |_| {}).await;
    let d = conversations(EMAIL, "a", 3);
    seed(session.store(), |s| {
        // a-0002 is listed in the index but has no object.
        s.user(EMAIL, IndexState::Present, &d.iter().collect::<Vec<_>>());
        s.good(EMAIL, &d[0], ".json", Encoding::Plain);
        s.good(EMAIL, &d[1], ".json.gz", Encoding::Gzip);
    })
    .await;
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("for-customer");
    let (progress, updates) = watch::channel(ExportProgress::default());
    let report = session
        .export_user_for_customer(EMAIL, &path, 4, &progress, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!((report.conversations, report.files), (2, 4));
    assert_eq!(updates.borrow().conversations_done, 2);
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].conversation_id, "a-0002");

    let manifest_bytes = std::fs::read(path.join("manifest.json")).unwrap();
    assert_eq!(sha256_hex(&manifest_bytes), report.manifest_sha256);
    let manifest: Value = serde_json::from_slice(&manifest_bytes).unwrap();
    assert_eq!(manifest["user_email"], EMAIL);
    let counts = &manifest["counts"];
    assert_eq!(
        (&counts["conversations"], &counts["files"], &counts["skipped"]),
        (&Value::from(2), &Value::from(4), &Value::from(1))
    );
    let messages: u64 = d[..2]
        .iter()
        .map(|c| c["messages"].as_array().unwrap().len() as u64)
        .sum();
    assert_eq!(counts["messages"], messages);

    // The manifest matches the files, hashes and sizes recomputed here,
    // and lists every file there is.
    let mut listed = BTreeSet::new();
    for f in manifest["files"].as_array().unwrap() {
        let rel = f["path"].as_str().unwrap();
        let bytes = std::fs::read(path.join(rel)).unwrap();
        assert_eq!(f["sha256"], sha256_hex(&bytes).as_str(), "{rel}");
        assert_eq!(f["bytes"], bytes.len() as u64, "{rel}");
        listed.insert(rel.to_owned());
    }
    listed.insert("manifest.json".into());
    assert_eq!(files_under(&path), listed);
    // No staging folder left beside it.
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 1);

    // Each conversation: its stored document, and a transcript of it.
    for doc in &d[..2] {
        let id = doc["conversation"]["id"].as_str().unwrap();
        let json: Value =
            serde_json::from_slice(&std::fs::read(path.join(format!("conversations/{id}.json"))).unwrap()).unwrap();
        assert_eq!(&json, doc);
        let text = std::fs::read_to_string(path.join(format!("conversations/{id}.txt"))).unwrap();
        assert!(text.contains(&format!("Conversation {id}")), "{text}");
        for m in doc["messages"].as_array().unwrap() {
            assert!(text.contains(m["content"].as_str().unwrap()), "{text}");
        }
    }

    let records = session
        .audit()
        .read(&AuditFilter {
            action: Some("export_user".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].detail["form"], "for_customer");
    assert_eq!(records[0].detail["manifest_sha256"], report.manifest_sha256.as_str());

    // The folder exists now: a second export there is refused.
    let err = session
        .export_user_for_customer(EMAIL, &path, 4, &progress, &CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_input");

    // Cancelled: no folder, no staging folder.
    let cancel = CancellationToken::new();
    cancel.cancel();
    let other = out.path().join("cancelled");
    let err = session
        .export_user_for_customer(EMAIL, &other, 4, &progress, &cancel)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "cancelled");
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 1);
}

#[tokio::test]
async fn customer_export_manifest_matches_its_files_on_moto() {
    export_for_customer(ServerKind::Moto).await;
}

#[tokio::test]
async fn customer_export_manifest_matches_its_files_on_rclone() {
    export_for_customer(ServerKind::Rclone).await;
}
