//! Delete never looks done while data stays, and never half-happens: what
//! could make it unsafe is checked before the first object is removed — an
//! unreadable index, versions that cannot be listed on a versioned bucket
//! (faults injected by the proxy in front of moto), Object Lock holds.

use archive_desk_core::browse::user_conversations;
use archive_desk_core::{Encoding, Error, Limits, Session, Store, UserFolder};
use archive_desk_harness::check::{exists, index_ids, version_ids};
use archive_desk_harness::fault_proxy::{Fault, FaultProxy, Match, Rule};
use archive_desk_harness::fixtures::{conversations, object_key, seed, IndexState};
use archive_desk_harness::RawS3;
use archive_desk_harness::{
    create_bucket, create_locked_bucket, enable_versioning, fresh_session, servers, session_for, ServerKind,
};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ObjectLockLegalHoldStatus, ObjectLockMode};

// ------------------------------------------------------------- index ----

#[tokio::test]
async fn corrupt_index_refuses_delete_before_any_object_goes() {
    const EMAIL: &str = "corrupt.idx@example.com";
    let (session, _dir) = fresh_session(ServerKind::Moto, |_| {}).await;
    let d = conversations(EMAIL, "c", 1);
    seed(session.store(), |s| {
        s.user(EMAIL, IndexState::Corrupt, &[]);
        s.good(EMAIL, &d[0], ".json", Encoding::Plain);
    })
    .await;
    let err = session.delete(EMAIL, &["c-0000"]).await.unwrap_err();
    assert_eq!(err.code(), "index_unreadable");
    let msg = err.to_string();
    let index = object_key(EMAIL, "metadata.json");
    assert!(msg.starts_with(&format!("{index}: nothing was deleted")), "{msg}");
    assert!(
        msg.contains("truncated JSON")
            && msg.contains("fix or replace metadata.json")
            && msg.contains("verify --repair"),
        "{msg}"
    );
    assert!(exists(session.store(), &object_key(EMAIL, "c-0000.json")).await);
}

#[tokio::test]
async fn oversized_index_refuses_delete_before_any_object_goes() {
    const EMAIL: &str = "big.idx@example.com";
    // The index of 20 entries is a few kilobytes; the limit is 1 KiB.
    let (session, _dir) = fresh_session(ServerKind::Moto, |c| {
        c.limits = Limits {
            max_object_bytes: 1024,
            max_json_bytes: 1024,
        }
    })
    .await;
    let d = conversations(EMAIL, "b", 20);
    seed(session.store(), |s| {
        s.user(EMAIL, IndexState::Present, &d.iter().collect::<Vec<_>>());
        s.good(EMAIL, &d[0], ".json", Encoding::Plain);
    })
    .await;
    let err = session.delete(EMAIL, &["b-0000"]).await.unwrap_err();
    assert_eq!(err.code(), "index_unreadable");
    assert!(err.to_string().contains("1024-byte limit"), "{err}");
    assert!(exists(session.store(), &object_key(EMAIL, "b-0000.json")).await);
}

#[tokio::test]
async fn missing_index_is_no_obstacle_to_delete() {
    const EMAIL: &str = "no.idx@example.com";
    let (session, _dir) = fresh_session(ServerKind::Moto, |_| {}).await;
    let d = conversations(EMAIL, "n", 2);
    seed(session.store(), |s| {
        s.user(EMAIL, IndexState::Missing, &[]);
        s.good(EMAIL, &d[0], ".json", Encoding::Plain);
        s.good(EMAIL, &d[1], ".json", Encoding::Plain);
    })
    .await;
    let r = session.delete(EMAIL, &["n-0000"]).await.unwrap();
    assert_eq!((r.deleted_keys.len(), r.index_entries_removed), (1, 0));
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert!(!exists(session.store(), &object_key(EMAIL, "n-0000.json")).await);
    assert!(exists(session.store(), &object_key(EMAIL, "n-0001.json")).await);
}

// ------------------------------------------------------- object lock ----

/// A fresh moto bucket with Object Lock enabled (which turns versioning on).
async fn locked_session() -> (Session, tempfile::TempDir) {
    let config = servers::shared(ServerKind::Moto).store_config(&format!("l-{}", servers::token()));
    let (session, dir) = session_for(config).await;
    create_locked_bucket(session.store()).await;
    (session, dir)
}

enum Hold {
    Free,
    Legal,
    Retention(ObjectLockMode, i64),
}

/// PUT a conversation document straight to the store, under `hold`.
async fn put_held(store: &Store, email: &str, doc: &serde_json::Value, hold: Hold) -> String {
    let id = doc["conversation"]["id"].as_str().unwrap();
    let key = object_key(email, &format!("{id}.json"));
    let mut put = store
        .client()
        .put_object()
        .bucket(store.bucket())
        .key(&key)
        .body(ByteStream::from(archive_desk_core::codec::encode(doc, Encoding::Plain)));
    put = match hold {
        Hold::Free => put,
        Hold::Legal => put.object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On),
        Hold::Retention(mode, secs) => {
            put.object_lock_mode(mode)
                .object_lock_retain_until_date(aws_sdk_s3::primitives::DateTime::from_secs(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_secs() as i64
                        + secs,
                ))
        }
    };
    put.send().await.unwrap().version_id().unwrap().to_owned()
}

#[tokio::test]
async fn held_objects_are_shown_and_refuse_the_whole_delete() {
    const EMAIL: &str = "held@example.com";
    let (session, _dir) = locked_session().await;
    let store = session.store();
    let d = conversations(EMAIL, "h", 4);
    seed(store, |s| {
        s.user(EMAIL, IndexState::Present, &d.iter().collect::<Vec<_>>())
    })
    .await;
    let legal = put_held(store, EMAIL, &d[0], Hold::Legal).await;
    put_held(store, EMAIL, &d[1], Hold::Free).await;
    put_held(store, EMAIL, &d[2], Hold::Retention(ObjectLockMode::Governance, 86_400)).await;
    // h-0003: an old version under legal hold, the current one free.
    let old = put_held(store, EMAIL, &d[3], Hold::Legal).await;
    put_held(store, EMAIL, &d[3], Hold::Free).await;

    // The listing shows the holds of the current objects.
    let listing = user_conversations(store, &UserFolder::from_email(EMAIL).unwrap())
        .await
        .unwrap();
    let held: Vec<(&str, Option<&str>)> = listing
        .conversations
        .iter()
        .map(|r| (r.conversation_id.as_str(), r.held.as_deref()))
        .collect();
    assert_eq!(held[0], ("h-0000", Some("legal hold ON")));
    assert_eq!(held[1], ("h-0001", None));
    assert!(
        held[2].1.is_some_and(|h| h.starts_with("retention GOVERNANCE until ")),
        "{held:?}"
    );
    assert_eq!(held[3], ("h-0003", None));

    // One held conversation in the request: nothing of it is deleted.
    let before = version_ids(store, "archived_conversations/").await;
    let err = session.delete(EMAIL, &["h-0000", "h-0001"]).await.unwrap_err();
    assert_eq!(err.code(), "object_locked");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "{} (version {legal}): legal hold ON",
            object_key(EMAIL, "h-0000.json")
        )),
        "{msg}"
    );
    assert!(
        msg.starts_with("nothing was deleted: 1 object version is under S3 Object Lock"),
        "{msg}"
    );

    let err = session.delete(EMAIL, &["h-0002"]).await.unwrap_err();
    assert_eq!(err.code(), "object_locked");
    assert!(
        err.to_string().contains(&object_key(EMAIL, "h-0002.json"))
            && err.to_string().contains("retention GOVERNANCE until "),
        "{err}"
    );

    // Every version is checked, not only the current one.
    let err = session.delete(EMAIL, &["h-0003"]).await.unwrap_err();
    assert_eq!(err.code(), "object_locked");
    assert!(
        err.to_string().contains(&format!("(version {old}): legal hold ON")),
        "{err}"
    );

    assert_eq!(version_ids(store, "archived_conversations/").await, before);
    assert_eq!(index_ids(store, EMAIL).await, ["h-0000", "h-0001", "h-0002", "h-0003"]);

    // Nothing held: deleted, every version.
    let r = session.delete(EMAIL, &["h-0001"]).await.unwrap();
    assert!(r.versioned_bucket && r.warnings.is_empty(), "{r:?}");
    assert_eq!((r.deleted_keys.len(), r.index_entries_removed), (1, 1));
    assert!(version_ids(store, &object_key(EMAIL, "h-0001.json")).await.is_empty());
    assert_eq!(index_ids(store, EMAIL).await, ["h-0000", "h-0002", "h-0003"]);
}

#[tokio::test]
async fn a_bucket_without_object_lock_shows_no_holds() {
    const EMAIL: &str = "unlocked@example.com";
    let (session, _dir) = fresh_session(ServerKind::Moto, |_| {}).await;
    let d = conversations(EMAIL, "u", 1);
    seed(session.store(), |s| {
        s.user(EMAIL, IndexState::Present, &[&d[0]]);
        s.good(EMAIL, &d[0], ".json", Encoding::Plain);
    })
    .await;
    assert!(!session.store().object_lock_enabled().await.unwrap());
    let listing = user_conversations(session.store(), &UserFolder::from_email(EMAIL).unwrap())
        .await
        .unwrap();
    assert_eq!(listing.conversations[0].held, None);
}

// -------------------------------------------------------- versioning ----

#[tokio::test]
async fn rclone_has_no_versions_and_deletes_with_a_warning() {
    const EMAIL: &str = "rclone.plain@example.com";
    let server = servers::shared(ServerKind::Rclone);
    let mut config = server.store_config(&format!("r-{}", servers::token()));
    // rclone ignores If-Match; the override lets the index update go ahead.
    config.allow_unsafe_index_writes = true;
    let (session, _dir) = session_for(config).await;
    create_bucket(session.store()).await;
    let d = conversations(EMAIL, "r", 2);
    seed(session.store(), |s| s.archived(EMAIL, &d)).await;
    // rclone answers ListObjectVersions with 501 NotImplemented and reports
    // no versioning: the delete goes ahead, and says on what grounds.
    let r = session.delete(EMAIL, &["r-0000"]).await.unwrap();
    assert!(!r.versioned_bucket, "{r:?}");
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    assert!(
        r.warnings[0].starts_with("this store does not list object versions (")
            && r.warnings[0].contains("NotImplemented")
            && r.warnings[0].contains("it reports versioning off"),
        "{:?}",
        r.warnings
    );
    assert_eq!((r.deleted_keys.len(), r.index_entries_removed), (1, 1));
    assert!(!exists(session.store(), &object_key(EMAIL, "r-0000.json")).await);
    assert!(!session.store().object_lock_enabled().await.unwrap());
}

#[tokio::test]
async fn versioning_turned_on_after_the_write_still_deletes_the_data() {
    const EMAIL: &str = "later.versioned@example.com";
    let (session, _dir) = fresh_session(ServerKind::Moto, |_| {}).await;
    let store = session.store();
    let d = conversations(EMAIL, "l", 2);
    seed(store, |s| s.archived(EMAIL, &d)).await;
    // The objects keep their "null" version; a delete without that id would
    // only add a delete marker.
    enable_versioning(store).await;
    let object = object_key(EMAIL, "l-0000.json");
    assert_eq!(version_ids(store, &object).await, ["null"]);
    let r = session.delete(EMAIL, &["l-0000"]).await.unwrap();
    assert_eq!((r.deleted_versions, r.index_entries_removed), (1, 1));
    assert!(
        version_ids(store, &object).await.is_empty(),
        "no version and no delete marker left"
    );
    assert!(exists(store, &object_key(EMAIL, "l-0001.json")).await);
}

/// A moto bucket reached through a fault proxy, with `EMAIL`'s two
/// conversations; v-0000 written twice (two versions) when `versioned`.
async fn proxied(email: &str, versioned: bool) -> (FaultProxy, Session, tempfile::TempDir) {
    let proxy = FaultProxy::start(servers::shared(ServerKind::Moto));
    let (session, dir) = session_for(proxy.store_config(&format!("p-{}", servers::token()))).await;
    create_bucket(session.store()).await;
    if versioned {
        enable_versioning(session.store()).await;
    }
    let d = conversations(email, "v", 2);
    for _ in 0..if versioned { 2 } else { 1 } {
        seed(session.store(), |s| s.archived(email, &d)).await;
    }
    (proxy, session, dir)
}

/// `fault` for every GET with `query` in its query string; the rule is
/// named after the query.
fn on_get(query: &str, fault: Fault) -> Rule {
    Rule::new(query, Match::any().method("GET").query_has(query), fault)
}

fn deny(query: &str) -> Rule {
    on_get(query, Fault::access_denied())
}

/// Delete v-0000 from a versioned bucket behind the proxy with `rules` set:
/// it must be refused as `versions_unavailable`, and once the faults are
/// cleared every version of it and both index entries must still be there.
/// Returns the error and how many requests each rule faulted, in order.
async fn refused_versioned_delete(email: &str, rules: Vec<Rule>) -> (Error, Vec<u64>) {
    let (proxy, session, _dir) = proxied(email, true).await;
    let object = object_key(email, "v-0000.json");
    let before = version_ids(session.store(), &object).await;

    let names: Vec<String> = rules.iter().map(|r| r.name.clone()).collect();
    proxy.set_rules(rules);
    let err = session.delete(email, &["v-0000"]).await.unwrap_err();
    let hits = names.iter().map(|n| proxy.hits(n)).collect();
    assert_eq!(err.code(), "versions_unavailable");
    proxy.clear();
    assert_eq!(version_ids(session.store(), &object).await, before);
    assert_eq!(index_ids(session.store(), email).await, ["v-0000", "v-0001"]);
    (err, hits)
}

#[tokio::test]
async fn versioned_bucket_refuses_delete_when_versions_cannot_be_listed() {
    const EMAIL: &str = "denied.versions@example.com";
    let (proxy, session, _dir) = proxied(EMAIL, true).await;
    let store = session.store();
    let object = object_key(EMAIL, "v-0000.json");
    let before = version_ids(store, &object).await;
    assert_eq!(before.len(), 2);

    proxy.set_rules(vec![deny("versions")]);
    let err = session.delete(EMAIL, &["v-0000"]).await.unwrap_err();
    assert!(proxy.hits("versions") >= 1);
    assert_eq!(err.code(), "versions_unavailable");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("{}: nothing was deleted", object_key(EMAIL, "")))
            && msg.contains("s3:ListBucketVersions")
            && msg.contains("AccessDenied")
            && !msg.contains("s3:GetBucketVersioning"),
        "{msg}"
    );
    proxy.clear();
    assert_eq!(version_ids(store, &object).await, before, "every version stays");
    assert!(exists(store, &object).await);
    assert_eq!(index_ids(store, EMAIL).await, ["v-0000", "v-0001"]);
}

#[tokio::test]
async fn bucket_of_unknown_versioning_refuses_delete() {
    let (err, hits) =
        refused_versioned_delete("denied.both@example.com", vec![deny("versions"), deny("versioning")]).await;
    assert_eq!((hits[0] >= 1, hits[1] >= 1), (true, true));
    let msg = err.to_string();
    assert!(
        msg.contains("s3:ListBucketVersions") && msg.contains("s3:GetBucketVersioning"),
        "{msg}"
    );
}

#[tokio::test]
async fn never_versioned_bucket_deletes_and_warns_when_versions_cannot_be_listed() {
    const EMAIL: &str = "never.versioned@example.com";
    let (proxy, session, _dir) = proxied(EMAIL, false).await;
    proxy.set_rules(vec![deny("versions")]);
    let r = session.delete(EMAIL, &["v-0000"]).await.unwrap();
    assert!(proxy.hits("versions") >= 1);
    proxy.clear();
    assert_eq!((r.deleted_keys.len(), r.index_entries_removed), (1, 1));
    assert!(!r.versioned_bucket);
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
    assert!(
        r.warnings[0].contains("could not be listed")
            && r.warnings[0].contains("AccessDenied")
            && r.warnings[0].contains("never versioned"),
        "{:?}",
        r.warnings
    );
    assert!(version_ids(session.store(), &object_key(EMAIL, "v-0000.json"))
        .await
        .is_empty());
    assert_eq!(index_ids(session.store(), EMAIL).await, ["v-0001"]);
}

#[tokio::test]
async fn slow_down_beyond_the_retries_refuses_delete_on_a_versioned_bucket() {
    let (err, hits) = refused_versioned_delete(
        "slow.versions@example.com",
        vec![on_get("versions", Fault::slow_down())],
    )
    .await;
    // The SDK retried (5 attempts) before giving up.
    assert_eq!(hits, [5]);
    assert!(err.to_string().contains("SlowDown"), "{err}");
}

/// Like a timeout, a dropped connection carries no S3 answer at all.
#[tokio::test]
async fn dropped_connections_on_versions_refuse_delete_on_a_versioned_bucket() {
    let (err, hits) = refused_versioned_delete(
        "dropped.versions@example.com",
        vec![on_get("versions", Fault::ResetBeforeResponse)],
    )
    .await;
    assert!(hits[0] >= 1);
    assert!(err.to_string().contains("s3:ListBucketVersions"), "{err}");
}

/// A 501 on `?versions` may come from a proxy or gateway in front of a
/// versioned store: with the versioning state unreadable too, refused.
#[tokio::test]
async fn unimplemented_versions_and_unreadable_versioning_refuse_delete() {
    let not_implemented = Fault::status(
        501,
        "NotImplemented",
        "A header you provided implies functionality that is not implemented",
    );
    let (err, hits) = refused_versioned_delete(
        "gateway.versions@example.com",
        vec![on_get("versions", not_implemented), deny("versioning")],
    )
    .await;
    assert_eq!((hits[0] >= 1, hits[1] >= 1), (true, true));
    let msg = err.to_string();
    assert!(
        msg.contains("NotImplemented") && msg.contains("AccessDenied") && msg.contains("s3:GetBucketVersioning"),
        "{msg}"
    );
}

// ------------------------------------------- object lock, unreadable ----

/// A lock-enabled moto bucket behind a fault proxy, with `EMAIL`'s
/// conversations k-0000 (free) and k-0001 (legal hold) in the index.
async fn locked_proxied(email: &str) -> (FaultProxy, Session, tempfile::TempDir) {
    let proxy = FaultProxy::start(servers::shared(ServerKind::Moto));
    let (session, dir) = session_for(proxy.store_config(&format!("k-{}", servers::token()))).await;
    create_locked_bucket(session.store()).await;
    let d = conversations(email, "k", 2);
    seed(session.store(), |s| s.user(email, IndexState::Present, &[&d[0], &d[1]])).await;
    put_held(session.store(), email, &d[0], Hold::Free).await;
    put_held(session.store(), email, &d[1], Hold::Legal).await;
    (proxy, session, dir)
}

/// HEAD leaves out the lock fields a caller may not read, so a held
/// version would look free; the delete asks the lock APIs and refuses,
/// naming the permission, when either is denied — before anything goes.
#[tokio::test]
async fn denied_lock_reads_refuse_delete_naming_the_permission() {
    const EMAIL: &str = "lock.denied@example.com";
    let (proxy, session, _dir) = locked_proxied(EMAIL).await;
    let store = session.store();
    let before = version_ids(store, "archived_conversations/").await;
    for (query, permission) in [
        ("legal-hold", "s3:GetObjectLegalHold"),
        ("retention", "s3:GetObjectRetention"),
    ] {
        proxy.set_rules(vec![deny(query)]);
        let err = session.delete(EMAIL, &["k-0000"]).await.unwrap_err();
        assert!(proxy.hits(query) >= 1, "{query}");
        assert_eq!(err.code(), "holds_unreadable", "{err}");
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!("{} (version ", object_key(EMAIL, "k-0000.json")))
                && msg.contains("nothing was deleted")
                && msg.contains("AccessDenied")
                && msg.contains(permission),
            "{msg}"
        );
        proxy.clear();
        assert_eq!(version_ids(store, "archived_conversations/").await, before);
        assert_eq!(index_ids(store, EMAIL).await, ["k-0000", "k-0001"]);
    }
}

/// "No lock configuration" (S3 answers 404 NoSuchObjectLockConfiguration
/// for a version never held) is no hold; a server error is no answer.
#[tokio::test]
async fn no_lock_configuration_is_no_hold_but_a_server_error_refuses() {
    const EMAIL: &str = "lock.none@example.com";
    let (proxy, session, _dir) = locked_proxied(EMAIL).await;
    let store = session.store();
    let before = version_ids(store, "archived_conversations/").await;

    proxy.set_rules(vec![on_get("retention", Fault::internal_error())]);
    let err = session.delete(EMAIL, &["k-0000"]).await.unwrap_err();
    assert!(proxy.hits("retention") >= 1);
    assert_eq!(err.code(), "holds_unreadable");
    assert!(
        err.to_string().contains("InternalError") && err.to_string().contains("s3:GetObjectRetention"),
        "{err}"
    );
    assert_eq!(version_ids(store, "archived_conversations/").await, before);

    let none = || {
        Fault::status(
            404,
            "NoSuchObjectLockConfiguration",
            "The specified object does not have a ObjectLock configuration",
        )
    };
    proxy.set_rules(vec![on_get("legal-hold", none()), on_get("retention", none())]);
    let r = session.delete(EMAIL, &["k-0000"]).await.unwrap();
    assert_eq!((proxy.hits("legal-hold"), proxy.hits("retention")), (1, 1));
    proxy.clear();
    assert_eq!((r.deleted_versions, r.index_entries_removed), (1, 1));
    assert!(version_ids(store, &object_key(EMAIL, "k-0000.json")).await.is_empty());
    assert_eq!(index_ids(store, EMAIL).await, ["k-0001"]);
}

/// An `?object-lock` answer that is neither a lock configuration nor a
/// listing leaves the lock state unknown: the holds are checked anyway.
#[tokio::test]
async fn unrecognised_object_lock_answer_still_checks_holds() {
    const EMAIL: &str = "lock.unknown@example.com";
    let (proxy, session, _dir) = locked_proxied(EMAIL).await;
    let store = session.store();
    let before = version_ids(store, "archived_conversations/").await;
    proxy.set_rules(vec![on_get(
        "object-lock",
        Fault::status(200, "Weird", "not a lock configuration"),
    )]);
    assert!(store.object_lock_enabled().await.is_err());
    let err = session.delete(EMAIL, &["k-0001"]).await.unwrap_err();
    assert_eq!(err.code(), "object_locked", "{err}");
    assert!(err.to_string().contains("legal hold ON"), "{err}");

    // Browse cannot tell whether the free object is held: it says so.
    let listing = user_conversations(store, &UserFolder::from_email(EMAIL).unwrap())
        .await
        .unwrap();
    let rows: Vec<(&str, Option<&str>, bool)> = listing
        .conversations
        .iter()
        .map(|r| (r.conversation_id.as_str(), r.held.as_deref(), r.hold_unknown))
        .collect();
    assert_eq!(rows, [("k-0000", None, true), ("k-0001", Some("legal hold ON"), false)]);
    proxy.clear();
    assert_eq!(version_ids(store, "archived_conversations/").await, before);
}

/// Browse marks an object whose HEAD fails as "hold unknown", not free.
#[tokio::test]
async fn browse_marks_unreadable_holds_unknown() {
    const EMAIL: &str = "lock.head@example.com";
    let (proxy, session, _dir) = locked_proxied(EMAIL).await;
    proxy.set_rules(vec![Rule::new(
        "head",
        Match::any().method("HEAD").key_suffix("k-0000.json"),
        Fault::access_denied(),
    )]);
    let listing = user_conversations(session.store(), &UserFolder::from_email(EMAIL).unwrap())
        .await
        .unwrap();
    assert!(proxy.hits("head") >= 1);
    let rows: Vec<(&str, Option<&str>, bool)> = listing
        .conversations
        .iter()
        .map(|r| (r.conversation_id.as_str(), r.held.as_deref(), r.hold_unknown))
        .collect();
    assert_eq!(rows, [("k-0000", None, true), ("k-0001", Some("legal hold ON"), false)]);
}
