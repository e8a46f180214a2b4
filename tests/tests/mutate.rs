//! Writes against real servers: safe index updates racing an archiver,
//! permanent delete (versioned too), cold storage, integrity repair, the
//! audit log and the read-only rule. moto gives AWS behaviour; rclone shows
//! that a store ignoring If-Match is caught.

use std::collections::HashSet;
use std::sync::Arc;

use archive_desk_core::index_write::update_index;
use archive_desk_core::{AuditFilter, ColdState, Encoding, Session, Store, ThawDays, ThawTier, UserFolder};
use archive_desk_harness::check::{exists, index_ids};
use archive_desk_harness::fault_proxy::{Fault, FaultProxy, Match, Rule};
use archive_desk_harness::fixtures::{self, archiver_append, conversations, seed, IndexState};
use archive_desk_harness::RawS3;
use archive_desk_harness::{enable_versioning, fresh_session, servers, session_for, ServerKind};
use aws_sdk_s3::types::StorageClass;
use serde_json::json;

#[tokio::test]
async fn probe_tells_which_store_honours_if_match() {
    let (moto, _d1) = fresh_session(ServerKind::Moto, |_| {}).await;
    assert!(moto.store().probe_conditional_writes().await.unwrap());
    let (rclone, _d2) = fresh_session(ServerKind::Rclone, |_| {}).await;
    assert!(!rclone.store().probe_conditional_writes().await.unwrap());
    // The probe cleans up after itself.
    for s in [moto.store(), rclone.store()] {
        let listed = s.client().list_objects_v2().bucket(s.bucket()).send().await.unwrap();
        assert_eq!(listed.contents().len(), 0);
    }
}

static ATTEMPTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_archiver_and_deletes_lose_nothing() {
    const EMAIL: &str = "race@example.com";
    const DELETES: usize = 250;
    const ARCHIVERS: usize = 3;
    const APPENDS: usize = 250;
    let (session, _dir) = fresh_session(ServerKind::Moto, |_| {}).await;
    let store = session.store().clone();
    let existing = conversations(EMAIL, "old", DELETES);
    seed(&store, |s| {
        s.user(EMAIL, IndexState::Present, &existing.iter().collect::<Vec<_>>());
        for d in &existing {
            s.good(EMAIL, d, ".json", Encoding::Plain);
        }
    })
    .await;
    let folder = UserFolder::from_email(EMAIL).unwrap();
    let session = Arc::new(session);

    let mut tasks = Vec::new();
    for a in 0..ARCHIVERS {
        let (store, folder) = (store.clone(), folder.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..APPENDS {
                let doc = fixtures::conversation(&format!("new-{a}-{i:04}"), EMAIL, "fresh", 2);
                let entry = archive_desk_core::ConversationDocument::from_value("new", doc)
                    .unwrap()
                    .index_entry();
                let n = archiver_append(&store, &folder, entry).await;
                ATTEMPTS.fetch_add(n as usize, std::sync::atomic::Ordering::Relaxed);
            }
        }));
    }
    let deleter = {
        let session = session.clone();
        tokio::spawn(async move {
            let ids: Vec<String> = (0..DELETES).map(|i| format!("old-{i:04}")).collect();
            // Two deleters, each taking every other batch of five ids.
            let batches: Vec<Vec<String>> = ids.chunks(5).map(<[String]>::to_vec).collect();
            let mut inner = Vec::new();
            for half in [0, 1] {
                let session = session.clone();
                let mine: Vec<Vec<String>> = batches.iter().skip(half).step_by(2).cloned().collect();
                inner.push(tokio::spawn(async move {
                    for batch in mine {
                        let ids: Vec<&str> = batch.iter().map(String::as_str).collect();
                        let r = session.delete(EMAIL, &ids).await.unwrap();
                        assert_eq!((r.deleted_keys.len(), r.index_entries_removed), (5, 5), "{ids:?}");
                    }
                }));
            }
            for t in inner {
                t.await.unwrap();
            }
        })
    };
    for t in tasks {
        t.await.unwrap();
    }
    deleter.await.unwrap();
    eprintln!(
        "archiver attempts: {}",
        ATTEMPTS.load(std::sync::atomic::Ordering::Relaxed)
    );

    let ids: HashSet<String> = index_ids(&store, EMAIL).await.into_iter().collect();
    let appended: HashSet<String> = (0..ARCHIVERS)
        .flat_map(|a| (0..APPENDS).map(move |i| format!("new-{a}-{i:04}")))
        .collect();
    assert_eq!(ids, appended, "every appended entry present, every deleted one gone");
    let left = store.list_objects(&folder).await.unwrap();
    assert_eq!(left.len(), 1, "only metadata.json remains: {left:?}");
    // An intent and an outcome per delete, chained in one valid chain
    // although the two deleters appended concurrently.
    let audit = session.audit().read(&AuditFilter::default()).unwrap();
    assert_eq!(audit.len(), 2 * DELETES / 5);
    assert_eq!(audit.iter().filter(|r| r.outcome == "ok").count(), DELETES / 5);
    assert!(session.audit().verify().unwrap().is_intact());
}

#[tokio::test]
async fn versioned_delete_removes_every_version() {
    const EMAIL: &str = "versions@example.com";
    let (session, _dir) = fresh_session(ServerKind::Moto, |_| {}).await;
    let store = session.store();
    enable_versioning(store).await;
    let d = conversations(EMAIL, "v", 2);
    // Written twice: two versions of v-0000, plus an old delete marker.
    for _ in 0..2 {
        seed(store, |s| s.archived(EMAIL, &d)).await;
    }
    let key = "archived_conversations/versions_at_example_com/v-0000.json";
    store
        .client()
        .delete_object()
        .bucket(store.bucket())
        .key(key)
        .send()
        .await
        .unwrap();
    seed(store, |s| s.good(EMAIL, &d[0], ".json", Encoding::Plain)).await;

    let report = session.delete(EMAIL, &["v-0000"]).await.unwrap();
    assert!(report.versioned_bucket);
    assert_eq!(report.deleted_versions, 4, "3 versions + 1 delete marker");
    let versions = store
        .client()
        .list_object_versions()
        .bucket(store.bucket())
        .prefix(key)
        .send()
        .await
        .unwrap();
    assert!(versions.versions().is_empty() && versions.delete_markers().is_empty());
    assert_eq!(index_ids(store, EMAIL).await, ["v-0001"]);
    assert!(exists(store, "archived_conversations/versions_at_example_com/v-0001.json").await);
}

#[tokio::test]
async fn cold_object_thaws_then_opens() {
    const EMAIL: &str = "cold@example.com";
    let (session, _dir) = fresh_session(ServerKind::Moto, |_| {}).await;
    let store = session.store();
    let d = fixtures::conversation("frozen-1", EMAIL, "Frozen", 3);
    seed(store, |s| {
        s.user(EMAIL, IndexState::Present, &[&d]);
        s.object(
            EMAIL,
            "frozen-1",
            "frozen-1.json",
            archive_desk_core::codec::encode(&d, Encoding::Plain),
            None,
            Some(StorageClass::Glacier),
            fixtures::Expect::Fails("cold_storage"),
        );
    })
    .await;
    let folder = UserFolder::from_email(EMAIL).unwrap();
    let id = archive_desk_core::ConversationId::parse("frozen-1").unwrap();
    let err = store.get_conversation(&folder, &id).await.unwrap_err();
    assert_eq!(err.code(), "cold_storage");
    assert!(
        err.to_string().contains("GLACIER") && err.to_string().contains("frozen-1.json"),
        "{err}"
    );

    let before = session.cold_status(EMAIL, "frozen-1").await.unwrap();
    assert_eq!(
        (before.storage_class.as_str(), &before.state),
        ("GLACIER", &ColdState::Frozen)
    );
    let after = session
        .thaw(EMAIL, "frozen-1", ThawDays::new(3).unwrap(), ThawTier::Bulk)
        .await
        .unwrap();
    assert!(
        matches!(after.state, ColdState::Restoring | ColdState::Available { .. }),
        "{after:?}"
    );
    // moto completes restores at once.
    let opened = store.get_conversation(&folder, &id).await.unwrap();
    assert_eq!(opened.document.into_value(), d);
    let audit = session.audit().read(&AuditFilter::default()).unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(
        (audit[0].action.as_str(), audit[0].detail["tier"].as_str()),
        ("thaw", Some("bulk"))
    );
}

/// moto keeps INTELLIGENT_TIERING but never moves an object to an archive
/// tier (no `x-amz-archive-status`; the archive-tier rules are unit tests
/// in cold.rs): such an object is warm. A GET answered InvalidObjectState is
/// cold whatever the listed class (faulted by the proxy).
#[tokio::test]
async fn intelligent_tiering_is_warm_outside_archive_tiers_and_invalid_object_state_is_cold() {
    const EMAIL: &str = "tiering@example.com";
    let (session, _dir) = fresh_session(ServerKind::Moto, |_| {}).await;
    let store = session.store();
    let d = fixtures::conversation("it-1", EMAIL, "Tiered", 2);
    seed(store, |s| s.user(EMAIL, IndexState::Present, &[&d])).await;
    let key = "archived_conversations/tiering_at_example_com/it-1.json";
    store
        .client()
        .put_object()
        .bucket(store.bucket())
        .key(key)
        .storage_class(StorageClass::IntelligentTiering)
        .body(archive_desk_core::codec::encode(&d, Encoding::Plain).into())
        .send()
        .await
        .unwrap();
    let status = session.cold_status(EMAIL, "it-1").await.unwrap();
    assert_eq!(
        (
            status.storage_class.as_str(),
            status.archive_status.as_deref(),
            &status.state
        ),
        ("INTELLIGENT_TIERING", None, &ColdState::Warm)
    );
    let folder = UserFolder::from_email(EMAIL).unwrap();
    let id = archive_desk_core::ConversationId::parse("it-1").unwrap();
    assert_eq!(
        store
            .get_conversation(&folder, &id)
            .await
            .unwrap()
            .document
            .into_value(),
        d
    );

    let proxy = FaultProxy::start(servers::shared(ServerKind::Moto));
    let proxied = Store::connect(proxy.store_config(store.bucket())).await.unwrap();
    proxy.set_rules(vec![Rule::new(
        "archived",
        Match::any().method("GET").key_suffix("it-1.json"),
        Fault::status(
            403,
            "InvalidObjectState",
            "The operation is not valid for the object's access tier",
        ),
    )]);
    let err = proxied.get_conversation(&folder, &id).await.unwrap_err();
    assert_eq!(proxy.hits("archived"), 1);
    assert_eq!(err.code(), "cold_storage");
    assert!(err.to_string().starts_with(&format!("{key}: in cold storage")), "{err}");

    // Verify counts it as cold, not unreadable, though it lists as
    // INTELLIGENT_TIERING.
    let v = archive_desk_core::integrity::verify(&proxied, &folder, 4)
        .await
        .unwrap();
    assert_eq!(proxy.hits("archived"), 2);
    assert!(v.unreadable_objects.is_empty(), "{:?}", v.unreadable_objects);
    assert_eq!(v.cold_objects, [key]);
    assert!(v.is_clean(), "{v:?}");
}

/// An index GET that fails on the way (here 500 on every attempt) is an
/// error of verify and repair naming the key, not a "corrupt" index that
/// repair refuses to touch (found by the chaos runs: a cut or throttled
/// read made `verify --repair` say to fix a sound index by hand).
#[tokio::test]
async fn an_index_read_failing_on_the_way_fails_verify_naming_the_key_not_corrupt() {
    const EMAIL: &str = "flaky@example.com";
    let (session, _dir) = fresh_session(ServerKind::Moto, |_| {}).await;
    let docs = conversations(EMAIL, "flaky", 2);
    seed(session.store(), |s| {
        s.user(EMAIL, IndexState::Present, &docs.iter().collect::<Vec<_>>());
        for d in &docs {
            s.good(EMAIL, d, ".json", Encoding::Plain);
        }
    })
    .await;
    let folder = UserFolder::from_email(EMAIL).unwrap();
    let index_key = session.store().layout().index_key(&folder);
    let proxy = FaultProxy::start(servers::shared(ServerKind::Moto));
    let (proxied, _dir2) = session_for(proxy.store_config(session.store().bucket())).await;
    proxy.set_rules(vec![Rule::new(
        "index-500",
        Match::any().method("GET").key_suffix("metadata.json"),
        Fault::internal_error(),
    )]);
    let err = proxied.verify(EMAIL).await.unwrap_err();
    assert_eq!(err.code(), "s3");
    assert!(err.to_string().starts_with(&format!("{index_key}: ")), "{err}");
    let err = proxied.repair(EMAIL).await.unwrap_err();
    assert_eq!(err.code(), "s3", "{err}");
    assert!(err.to_string().starts_with(&format!("{index_key}: ")), "{err}");
    // Once the store answers again, all is well and nothing was touched.
    proxy.clear();
    assert!(proxied.verify(EMAIL).await.unwrap().is_clean());
}

#[tokio::test]
async fn integrity_finds_and_repairs_drift() {
    const DRIFT: &str = "drift@example.com";
    const NO_INDEX: &str = "lost.index@example.com";
    const BROKEN: &str = "broken@example.com";
    let (session, _dir) = fresh_session(ServerKind::Moto, |_| {}).await;
    let store = session.store();
    let d = conversations(DRIFT, "d", 4);
    let n = conversations(NO_INDEX, "n", 2);
    let b = conversations(BROKEN, "b", 1);
    seed(store, |s| {
        // d-0000 dangling (no object), d-0003 unindexed, d-0001 listed twice.
        s.user(DRIFT, IndexState::Present, &[&d[0], &d[1], &d[1], &d[2]]);
        for doc in &d[1..] {
            s.good(DRIFT, doc, ".json", Encoding::Plain);
        }
        s.user(NO_INDEX, IndexState::Missing, &[]);
        for doc in &n {
            s.good(NO_INDEX, doc, ".json.gz", Encoding::Gzip);
        }
        s.user(BROKEN, IndexState::Present, &[&b[0]]);
        s.object(
            BROKEN,
            "b-0000",
            "b-0000.json",
            b"{\"conversation\": tru".to_vec(),
            None,
            None,
            fixtures::Expect::Fails("decode"),
        );
    })
    .await;

    let v = session.verify(DRIFT).await.unwrap();
    assert_eq!(v.dangling_entries, ["d-0000"]);
    assert_eq!(v.duplicate_entries, ["d-0001"]);
    assert_eq!(
        v.unindexed_objects
            .iter()
            .map(|u| u.conversation_id.as_str())
            .collect::<Vec<_>>(),
        ["d-0003"]
    );
    assert!(!v.is_clean());
    // Verification only reads.
    assert_eq!(index_ids(store, DRIFT).await, ["d-0000", "d-0001", "d-0001", "d-0002"]);

    let (_, r) = session.repair(DRIFT).await.unwrap().into_inner();
    assert_eq!((r.entries_removed, r.duplicates_removed, r.entries_added), (1, 1, 1));
    assert!(session.verify(DRIFT).await.unwrap().is_clean());
    assert_eq!(index_ids(store, DRIFT).await, ["d-0001", "d-0002", "d-0003"]);
    let read = store.read_index(&UserFolder::from_email(DRIFT).unwrap()).await.unwrap();
    let rebuilt = read.index.entries().last().unwrap();
    assert_eq!(
        (rebuilt.title(), rebuilt.message_count()),
        (Some("Conversation 3"), Some(2))
    );
    assert_eq!(
        read.index.as_map()["index_version"],
        json!(1),
        "unknown index fields kept"
    );

    // A missing index is rebuilt from the objects, with the true email.
    let v = session.verify(NO_INDEX).await.unwrap();
    assert_eq!((v.index_state, v.unindexed_objects.len()), ("missing", 2));
    session.repair(NO_INDEX).await.unwrap();
    let read = store
        .read_index(&UserFolder::from_email(NO_INDEX).unwrap())
        .await
        .unwrap();
    assert_eq!(read.index.user_email(), Some(NO_INDEX));
    assert_eq!(read.index.entries().len(), 2);
    assert!(session.verify(NO_INDEX).await.unwrap().is_clean());

    // Unreadable objects are listed and left alone.
    let v = session.verify(BROKEN).await.unwrap();
    assert_eq!(v.unreadable_objects.len(), 1);
    assert_eq!(v.unreadable_objects[0].error.code, "decode");
    let (_, r) = session.repair(BROKEN).await.unwrap().into_inner();
    assert!(!r.index_written && r.left_alone[0].contains("b-0000.json"));
    assert!(exists(store, "archived_conversations/broken_at_example_com/b-0000.json").await);
    assert_eq!(index_ids(store, BROKEN).await, ["b-0000"]);

    let repairs = session
        .audit()
        .read(&AuditFilter {
            action: Some("repair".into()),
            ..Default::default()
        })
        .unwrap();
    // An intent and an outcome for each of the three repairs.
    assert_eq!(repairs.len(), 6);
    assert_eq!(repairs.iter().filter(|r| r.outcome == "intent").count(), 3);
}

#[tokio::test]
async fn audit_records_every_action_and_no_content_or_secret() {
    const EMAIL: &str = "audited@example.com";
    let (session, dir) = fresh_session(ServerKind::Moto, |_| {}).await;
    let store = session.store();
    let d = conversations(EMAIL, "a", 2);
    seed(store, |s| s.archived(EMAIL, &d)).await;
    let out = dir.path().join("export.json");
    session.export(EMAIL, "a-0000", &out, Encoding::Plain).await.unwrap();
    session.delete(EMAIL, &["a-0000"]).await.unwrap();
    let err = session
        .export(EMAIL, "a-0000", &out, Encoding::Plain)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_found");
    let err = session.delete(EMAIL, &["../x"]).await.unwrap_err();
    assert_eq!(err.code(), "invalid_name");

    let log = session.audit().read(&AuditFilter::default()).unwrap();
    let summary: Vec<(&str, &str, Option<&str>)> = log
        .iter()
        .map(|r| (r.action.as_str(), r.outcome.as_str(), r.error_code.as_deref()))
        .collect();
    assert_eq!(
        summary,
        [
            ("export", "ok", None),
            ("delete", "intent", None),
            ("delete", "ok", None),
            ("export", "error", Some("not_found")),
            // Refused before anything was done: one record, no intent.
            ("delete", "error", Some("invalid_name"))
        ]
    );
    assert_eq!(log[0].user_email.as_deref(), Some(EMAIL));
    assert_eq!(log[1].conversation_ids, ["a-0000"]);
    assert_eq!(log[1].operation, log[2].operation);
    assert!(!log[0].os_user.is_empty() && log[0].time.ends_with('Z'));
    let text = std::fs::read_to_string(session.audit().path()).unwrap();
    assert_eq!(text.lines().count(), 5);
    let secret = &servers::shared(ServerKind::Moto).secret_access_key;
    assert!(!text.contains(secret.as_str()), "secret in the audit log");
    assert!(!text.contains("reset my password"), "message content in the audit log");
}

#[tokio::test]
async fn read_only_session_refuses_every_write() {
    const EMAIL: &str = "ro@example.com";
    let (writable, _dir) = fresh_session(ServerKind::Moto, |_| {}).await;
    let d = conversations(EMAIL, "r", 1);
    seed(writable.store(), |s| {
        s.user(EMAIL, IndexState::Present, &[&d[0]]);
        s.good(EMAIL, &d[0], ".json", Encoding::Plain);
    })
    .await;
    // Read-only from the start: a session cannot be switched afterwards.
    let session = Session::builder(writable.store().clone(), writable.audit().clone())
        .read_only(true)
        .build();
    assert_eq!(
        session.delete(EMAIL, &["r-0000"]).await.unwrap_err().code(),
        "read_only"
    );
    assert_eq!(session.repair(EMAIL).await.unwrap_err().code(), "read_only");
    assert_eq!(
        session
            .thaw(EMAIL, "r-0000", ThawDays::new(1).unwrap(), ThawTier::Standard)
            .await
            .unwrap_err()
            .code(),
        "read_only"
    );
    assert!(exists(session.store(), "archived_conversations/ro_at_example_com/r-0000.json").await);
    assert_eq!(index_ids(session.store(), EMAIL).await, ["r-0000"]);
    // Reading still works, and refusals are audited.
    assert!(session.verify(EMAIL).await.unwrap().is_clean());
    let log = session.audit().read(&AuditFilter::default()).unwrap();
    assert!(log.len() == 3 && log.iter().all(|r| r.error_code.as_deref() == Some("read_only")));
}

#[tokio::test]
async fn store_ignoring_if_match_refuses_index_writes_before_deleting() {
    const EMAIL: &str = "unsafe@example.com";
    let (session, _dir) = fresh_session(ServerKind::Rclone, |_| {}).await;
    let d = conversations(EMAIL, "u", 2);
    seed(session.store(), |s| s.archived(EMAIL, &d)).await;
    let err = session.delete(EMAIL, &["u-0000"]).await.unwrap_err();
    assert_eq!(err.code(), "conditional_writes_unsupported");
    assert!(err.to_string().contains("If-Match"), "{err}");
    assert!(
        exists(
            session.store(),
            "archived_conversations/unsafe_at_example_com/u-0000.json"
        )
        .await
    );
    let folder = UserFolder::from_email(EMAIL).unwrap();
    let e = update_index(session.store(), &folder, |_| true).await.unwrap_err();
    assert_eq!(e.code(), "conditional_writes_unsupported");

    // With the explicit override it goes ahead.
    let (unsafe_session, _dir2) = session_on(&session, true).await;
    let r = unsafe_session.delete(EMAIL, &["u-0000"]).await.unwrap();
    assert_eq!((r.deleted_keys.len(), r.index_entries_removed), (1, 1));
    assert_eq!(index_ids(session.store(), EMAIL).await, ["u-0001"]);
}

/// A second session on the same bucket, with the unsafe-write override set.
async fn session_on(other: &Session, allow_unsafe: bool) -> (Session, tempfile::TempDir) {
    let server = servers::shared(ServerKind::Rclone);
    let mut config = server.store_config(other.store().bucket());
    config.allow_unsafe_index_writes = allow_unsafe;
    session_for(config).await
}
