//! Erasure of a whole user with its deletion receipt, on moto (versioned
//! and never-versioned buckets) and rclone (no versions): nothing of the
//! user is left — checked with ListObjectVersions through the tests' own
//! client — the receipt lists exactly what went, with the hashes of its
//! bytes, and verifies; it stops verifying once a listed key is back. A
//! refused erasure (Object Lock, read-only, cancel) leaves everything; one
//! failing after removal began saves a `failed` receipt of what went.

use std::collections::BTreeSet;

use archive_desk_core::erase::{EraseProgress, ErasureOutcome, ErasureReceipt};
use archive_desk_core::{AuditFilter, CancellationToken, Encoding, Session};
use archive_desk_harness::check::{exists, index_ids, version_ids};
use archive_desk_harness::fixtures::{conversations, object_key, seed, IndexState};
use archive_desk_harness::{
    create_bucket, create_locked_bucket, enable_versioning, fresh_session, servers, session_for, Fault, FaultProxy,
    Match, RawS3, Rule, ServerKind,
};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ObjectLockLegalHoldStatus;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

const PREFIX: &str = "archived_conversations/";

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn user_prefix(email: &str) -> String {
    object_key(email, "")
}

/// Every (key, version id, sha256 of its bytes; None for a delete marker)
/// under `prefix`, read straight from S3.
async fn stored_versions(session: &Session, prefix: &str) -> BTreeSet<(String, String, Option<String>)> {
    let store = session.store();
    let out = store
        .client()
        .list_object_versions()
        .bucket(store.bucket())
        .prefix(prefix)
        .send()
        .await
        .unwrap();
    let mut all = BTreeSet::new();
    for v in out.versions() {
        let (key, id) = (v.key().unwrap(), v.version_id().unwrap());
        let body = store
            .client()
            .get_object()
            .bucket(store.bucket())
            .key(key)
            .version_id(id)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        all.insert((key.to_owned(), id.to_owned(), Some(sha256_hex(&body))));
    }
    for m in out.delete_markers() {
        all.insert((m.key().unwrap().to_owned(), m.version_id().unwrap().to_owned(), None));
    }
    all
}

/// Two users; `email` has three conversations (one plain written twice,
/// one gzip, one indexed with no object) and an object of another name.
async fn seed_two_users(session: &Session, email: &str, other: &str) {
    let d = conversations(email, "e", 3);
    let o = conversations(other, "o", 1);
    for _ in 0..2 {
        seed(session.store(), |s| {
            s.user(email, IndexState::Present, &d.iter().collect::<Vec<_>>());
            s.good(email, &d[0], ".json", Encoding::Plain);
            s.user(other, IndexState::Present, &[&o[0]]);
            s.good(other, &o[0], ".json", Encoding::Plain);
        })
        .await;
    }
    seed(session.store(), |s| s.good(email, &d[1], ".json.gz", Encoding::Gzip)).await;
}

async fn erase(session: &Session, user: &str, receipt: &std::path::Path) -> archive_desk_core::ErasureReport {
    let (progress, _) = watch::channel(EraseProgress::default());
    session
        .erase_user(user, receipt, &progress, &CancellationToken::new())
        .await
        .unwrap()
        .into_inner()
}

/// The erasure on a moto bucket, versioned or never versioned.
async fn erasure_on_moto(versioned: bool) {
    const EMAIL: &str = "erase.me@example.com";
    const OTHER: &str = "keep.me@example.com";
    let (session, dir) = fresh_session(ServerKind::Moto, |_| {}).await;
    if versioned {
        enable_versioning(session.store()).await;
    }
    seed_two_users(&session, EMAIL, OTHER).await;
    let before = stored_versions(&session, &user_prefix(EMAIL)).await;
    let others = version_ids(session.store(), &user_prefix(OTHER)).await;
    // Versioned: two versions of e-0000.json and of metadata.json.
    assert_eq!(before.len(), if versioned { 5 } else { 3 }, "{before:?}");

    let path = dir.path().join("receipt.json");
    let report = erase(&session, EMAIL, &path).await;
    let r = &report.receipt;

    // Nothing of the user is left, not a version, not a delete marker.
    assert_eq!(
        version_ids(session.store(), &user_prefix(EMAIL)).await,
        Vec::<String>::new()
    );
    assert_eq!(version_ids(session.store(), &user_prefix(OTHER)).await, others);
    assert_eq!(index_ids(session.store(), OTHER).await, ["o-0000"]);

    // The receipt lists exactly what was stored, with the hash of each version's bytes.
    assert_eq!(r.outcome, ErasureOutcome::Complete, "{r:?}");
    assert!(r.index_deleted && r.kept.is_empty() && r.error.is_none(), "{r:?}");
    assert_eq!(r.versioned_bucket, versioned);
    assert_eq!(r.user_email.as_deref(), Some(EMAIL));
    assert_eq!(r.bucket, session.store().bucket());
    assert_eq!(r.operator, archive_desk_core::audit::os_user());
    assert!(r.started_at <= r.finished_at, "{r:?}");
    let listed: BTreeSet<(String, String, Option<String>)> = r
        .removed
        .iter()
        .map(|o| {
            // The current metadata.json of a never-versioned bucket is
            // removed as the object itself (no version id).
            let id = o.version_id.clone().unwrap_or_else(|| "null".into());
            (o.key.clone(), id, o.sha256.clone())
        })
        .collect();
    let index = object_key(EMAIL, "metadata.json");
    let conversations = |all: &BTreeSet<(String, String, Option<String>)>| -> BTreeSet<_> {
        all.iter().filter(|(k, _, _)| *k != index).cloned().collect()
    };
    assert_eq!(conversations(&listed), conversations(&before));
    // metadata.json: every version stored before, plus the emptied index
    // the erasure wrote (and, versioned, the delete marker of its
    // conditional delete), each once.
    let index_lines: Vec<_> = listed.iter().filter(|(k, _, _)| *k == index).collect();
    let index_before: Vec<_> = before.iter().filter(|(k, _, _)| *k == index).collect();
    if versioned {
        assert!(index_before.iter().all(|v| index_lines.contains(v)), "{index_lines:?}");
        assert_eq!(index_lines.len(), index_before.len() + 2, "{index_lines:?}");
        assert_eq!(index_lines.iter().filter(|(_, _, h)| h.is_none()).count(), 1);
    } else {
        assert_eq!(index_lines.len(), 1, "{index_lines:?}");
    }
    let entries: Vec<&str> = r
        .index_entries_removed
        .iter()
        .map(|e| e.conversation_id.as_str())
        .collect();
    assert_eq!(entries, ["e-0000", "e-0001", "e-0002"]);

    // The file is the receipt; its hash is in the audit log.
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(sha256_hex(&bytes), report.receipt_sha256);
    assert_eq!(&ErasureReceipt::read(&path).unwrap().0, r);
    let records = session
        .audit()
        .read(&AuditFilter {
            action: Some("erase_user".into()),
            ..Default::default()
        })
        .unwrap();
    let outcomes: Vec<&str> = records.iter().map(|r| r.outcome.as_str()).collect();
    assert_eq!(outcomes, ["intent", "ok"]);
    assert_eq!(records[1].detail["receipt_sha256"], report.receipt_sha256.as_str());
    assert_eq!(records[1].user_email.as_deref(), Some(EMAIL));

    // It verifies, until a listed key is back.
    let v = session.verify_receipt(&path).await.unwrap();
    assert!(v.is_clean() && v.versions_checked, "{v:?}");
    assert_eq!(v.checked, r.removed.len() as u64);
    let key = object_key(EMAIL, "e-0000.json");
    session
        .store()
        .client()
        .put_object()
        .bucket(session.store().bucket())
        .key(&key)
        .body(ByteStream::from_static(b"{}"))
        .send()
        .await
        .unwrap();
    let v = session.verify_receipt(&path).await.unwrap();
    assert!(!v.is_clean());
    // Each listed version of that key (two of e-0000.json when versioned).
    assert_eq!(v.still_present.len(), if versioned { 2 } else { 1 }, "{v:?}");
    // Unversioned, the object put back is version "null" again, which the receipt lists.
    let found_as = if versioned { "current object" } else { "version" };
    for p in &v.still_present {
        assert_eq!((p.key.as_str(), p.found_as.as_str()), (key.as_str(), found_as), "{v:?}");
    }
}

#[tokio::test]
async fn erasure_on_a_versioned_bucket_leaves_no_version_and_its_receipt_verifies() {
    erasure_on_moto(true).await;
}

#[tokio::test]
async fn erasure_on_a_never_versioned_bucket_leaves_nothing_and_its_receipt_verifies() {
    erasure_on_moto(false).await;
}

#[tokio::test]
async fn erasure_on_rclone_removes_the_objects_and_checks_keys_only() {
    const EMAIL: &str = "rclone.erase@example.com";
    let mut config = servers::shared(ServerKind::Rclone).store_config(&format!("r-{}", servers::token()));
    // rclone ignores If-Match; the override lets the index writes go ahead.
    config.allow_unsafe_index_writes = true;
    let (session, dir) = session_for(config).await;
    create_bucket(session.store()).await;
    let d = conversations(EMAIL, "r", 2);
    seed(session.store(), |s| s.archived(EMAIL, &d)).await;
    let path = dir.path().join("receipt.json");
    let r = erase(&session, EMAIL, &path).await.receipt;
    assert_eq!(r.outcome, ErasureOutcome::Complete, "{r:?}");
    assert!(
        r.warnings[0].starts_with("this store does not list object versions"),
        "{r:?}"
    );
    let keys: Vec<&str> = r.removed.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            object_key(EMAIL, "r-0000.json"),
            object_key(EMAIL, "r-0001.json"),
            object_key(EMAIL, "metadata.json")
        ]
    );
    for key in keys {
        assert!(!exists(session.store(), key).await, "{key}");
    }
    let v = session.verify_receipt(&path).await.unwrap();
    assert!(v.is_clean() && !v.versions_checked, "{v:?}");
}

#[tokio::test]
async fn object_lock_refuses_the_erasure_and_leaves_everything() {
    const EMAIL: &str = "locked.erase@example.com";
    let config = servers::shared(ServerKind::Moto).store_config(&format!("l-{}", servers::token()));
    let (session, dir) = session_for(config).await;
    create_locked_bucket(session.store()).await;
    let d = conversations(EMAIL, "k", 2);
    seed(session.store(), |s| {
        s.user(EMAIL, IndexState::Present, &[&d[0], &d[1]]);
        s.good(EMAIL, &d[0], ".json", Encoding::Plain);
    })
    .await;
    let held = object_key(EMAIL, "k-0001.json");
    session
        .store()
        .client()
        .put_object()
        .bucket(session.store().bucket())
        .key(&held)
        .body(ByteStream::from(archive_desk_core::codec::encode(
            &d[1],
            Encoding::Plain,
        )))
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .send()
        .await
        .unwrap();
    let before = version_ids(session.store(), PREFIX).await;

    let path = dir.path().join("receipt.json");
    let (progress, _) = watch::channel(EraseProgress::default());
    let err = session
        .erase_user(EMAIL, &path, &progress, &CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "object_locked", "{err}");
    assert!(err.to_string().contains(&held), "{err}");
    assert_eq!(version_ids(session.store(), PREFIX).await, before);
    assert_eq!(index_ids(session.store(), EMAIL).await, ["k-0000", "k-0001"]);
    // No receipt, and no partial file beside it.
    assert_eq!(
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| { e.as_ref().unwrap().file_name().to_string_lossy().contains("receipt") })
            .count(),
        0
    );
    let outcomes: Vec<(String, Option<String>)> = session
        .audit()
        .read(&AuditFilter::default())
        .unwrap()
        .iter()
        .map(|r| (r.outcome.clone(), r.error_code.clone()))
        .collect();
    assert_eq!(
        outcomes,
        [("intent".into(), None), ("error".into(), Some("object_locked".into()))]
    );
}

#[tokio::test]
async fn read_only_and_cancelled_erasures_remove_nothing() {
    const EMAIL: &str = "stays@example.com";
    let (session, dir) = fresh_session(ServerKind::Moto, |_| {}).await;
    enable_versioning(session.store()).await;
    seed_two_users(&session, EMAIL, "other.stays@example.com").await;
    let before = version_ids(session.store(), PREFIX).await;
    let path = dir.path().join("receipt.json");
    let (progress, _) = watch::channel(EraseProgress::default());

    let read_only = Session::builder(session.store().clone(), session.audit().clone())
        .read_only(true)
        .build();
    let err = read_only
        .erase_user(EMAIL, &path, &progress, &CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "read_only");

    let cancel = CancellationToken::new();
    cancel.cancel();
    let err = session.erase_user(EMAIL, &path, &progress, &cancel).await.unwrap_err();
    assert_eq!(err.code(), "cancelled");

    assert_eq!(version_ids(session.store(), PREFIX).await, before);
    assert_eq!(index_ids(session.store(), EMAIL).await, ["e-0000", "e-0001", "e-0002"]);
    assert!(!path.exists());
}

#[tokio::test]
async fn an_erasure_failing_after_removal_began_saves_a_failed_receipt_of_what_went() {
    const EMAIL: &str = "half.erased@example.com";
    let proxy = FaultProxy::start(servers::shared(ServerKind::Moto));
    let (session, dir) = session_for(proxy.store_config(&format!("f-{}", servers::token()))).await;
    create_bucket(session.store()).await;
    enable_versioning(session.store()).await;
    seed_two_users(&session, EMAIL, "other.half@example.com").await;
    let conversations_before: BTreeSet<String> = stored_versions(&session, &user_prefix(EMAIL))
        .await
        .into_iter()
        .filter(|(k, _, _)| !k.ends_with("metadata.json"))
        .map(|(_, v, _)| v)
        .collect();
    // The objects go; then the index update is denied.
    proxy.set_rules(vec![Rule::new(
        "index-put",
        Match::any().method("PUT").key_suffix("metadata.json"),
        Fault::access_denied(),
    )]);
    let path = dir.path().join("receipt.json");
    let report = erase(&session, EMAIL, &path).await;
    assert!(proxy.hits("index-put") > 0);
    proxy.clear();
    let r = &report.receipt;
    assert_eq!(r.outcome, ErasureOutcome::Failed, "{r:?}");
    assert!(r.error.as_deref().is_some_and(|e| e.starts_with("s3: ")), "{r:?}");
    assert!(r.index_entries_removed.is_empty() && !r.index_deleted, "{r:?}");
    let listed: BTreeSet<String> = r.removed.iter().filter_map(|o| o.version_id.clone()).collect();
    assert_eq!(listed, conversations_before);
    assert_eq!(report.problem().unwrap().code(), "erasure_incomplete");
    // The index stays whole; what the receipt lists is gone.
    assert_eq!(index_ids(session.store(), EMAIL).await, ["e-0000", "e-0001", "e-0002"]);
    assert!(session.verify_receipt(&path).await.unwrap().is_clean());
    // The audit has an error outcome that still carries the receipt's hash.
    let records = session.audit().read(&AuditFilter::default()).unwrap();
    let last = records.last().unwrap();
    assert_eq!(
        (last.outcome.as_str(), last.error_code.as_deref()),
        ("error", Some("s3"))
    );
    assert_eq!(last.detail["receipt_sha256"], report.receipt_sha256.as_str());
}
