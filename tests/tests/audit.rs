//! The audit log around irreversible actions, against moto: an intent
//! record before each delete and repair, its outcome after (same operation
//! id), and no action at all when the intent cannot be written.

use archive_desk_core::{AuditFilter, AuditLog, AuditRecord, Encoding, Layout, Session, Store};
use archive_desk_harness::check::{exists, index_ids};
use archive_desk_harness::fixtures::{conversations, seed, IndexState};
use archive_desk_harness::{fresh_store, servers, ServerKind};

const EMAIL: &str = "audited.twice@example.com";

/// A fresh bucket with two conversations of `EMAIL` (`a-0000`, `a-0001`)
/// and a third entry in the index (`a-0002`) with no object.
async fn seeded_store() -> Store {
    let store = fresh_store(ServerKind::Moto, Layout::default()).await;
    let docs = conversations(EMAIL, "a", 3);
    seed(&store, |s| {
        s.user(EMAIL, IndexState::Present, &[&docs[0], &docs[1], &docs[2]]);
        s.good(EMAIL, &docs[0], ".json", Encoding::Plain);
        s.good(EMAIL, &docs[1], ".json", Encoding::Plain);
    })
    .await;
    store
}

fn key(id: &str) -> String {
    format!("archived_conversations/audited_twice_at_example_com/{id}.json")
}

fn records(log: &AuditLog) -> Vec<AuditRecord> {
    log.read(&AuditFilter::default()).unwrap().records
}

/// An intent and its outcome: same action, subject and operation id.
fn assert_pair(intent: &AuditRecord, outcome: &AuditRecord, action: &str, result: &str) {
    assert_eq!((intent.action.as_str(), intent.outcome.as_str()), (action, "intent"));
    assert_eq!((outcome.action.as_str(), outcome.outcome.as_str()), (action, result));
    assert!(intent.operation.is_some(), "an operation id");
    assert_eq!(intent.operation, outcome.operation);
    assert_eq!(intent.conversation_ids, outcome.conversation_ids);
    assert_eq!(outcome.seq, intent.seq.map(|s| s + 1));
}

#[tokio::test]
async fn delete_writes_its_intent_before_and_its_outcome_after() {
    let store = seeded_store().await;
    let dir = tempfile::tempdir().unwrap();
    let session = Session::new(store, AuditLog::at(dir.path().join("audit.jsonl")));
    let done = session.delete(EMAIL, &["a-0000"]).await.unwrap();
    assert_eq!(done.audit_warning, None);
    assert_eq!(done.deleted_keys, [key("a-0000")]);

    let log = records(session.audit());
    assert_eq!(log.len(), 2);
    assert_pair(&log[0], &log[1], "delete", "ok");
    assert_eq!(log[0].conversation_ids, ["a-0000"]);
    assert_eq!(log[0].user_email.as_deref(), Some(EMAIL));
    assert!(
        log[0].detail.is_empty(),
        "the intent says what will be done, not how it went"
    );
    assert_eq!(log[1].detail["index_entries_removed"], 1);
    assert!(session.audit().verify().unwrap().is_intact());
}

#[tokio::test]
async fn repair_writes_its_intent_with_the_entries_it_will_touch() {
    let store = seeded_store().await;
    let dir = tempfile::tempdir().unwrap();
    let session = Session::new(store, AuditLog::at(dir.path().join("audit.jsonl")));
    let done = session.repair(EMAIL).await.unwrap();
    let (_, report) = &done.value;
    assert_eq!(report.entries_removed, 1);
    assert_eq!(index_ids(session.store(), EMAIL).await, ["a-0000", "a-0001"]);

    let log = records(session.audit());
    assert_eq!(log.len(), 2);
    assert_pair(&log[0], &log[1], "repair", "ok");
    assert_eq!(
        log[0].conversation_ids,
        ["a-0002"],
        "the dangling entry, named before the repair"
    );
    assert_eq!(log[1].detail["entries_removed"], 1);
    let v = session.audit().verify().unwrap();
    assert!(v.is_intact() && v.unfinished_intents.is_empty(), "{v:?}");
}

#[tokio::test]
async fn a_delete_that_fails_leaves_its_intent_and_an_error_outcome() {
    // A bucket that does not exist: every request of the delete fails.
    let server = servers::shared(ServerKind::Moto);
    let store = Store::connect(server.store_config(&format!("missing-{}", servers::token())))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let session = Session::new(store, AuditLog::at(dir.path().join("audit.jsonl")));
    let err = session.delete(EMAIL, &["a-0000"]).await.unwrap_err();

    let log = records(session.audit());
    assert_eq!(log.len(), 2);
    assert_pair(&log[0], &log[1], "delete", "error");
    assert_eq!(log[1].error_code.as_deref(), Some(err.code()));
}

/// Each way the log can be unwritable refuses the delete before any request:
/// the object and its index entry stay.
#[tokio::test]
async fn an_unwritable_log_refuses_the_delete_and_deletes_nothing() {
    let store = seeded_store().await;
    let dir = tempfile::tempdir().unwrap();
    // A directory where the file should be.
    let dir_in_place = dir.path().join("audit.jsonl");
    std::fs::create_dir(&dir_in_place).unwrap();
    // A regular file where its directory should be.
    let file_as_dir = dir.path().join("not-a-dir");
    std::fs::write(&file_as_dir, b"").unwrap();
    for path in [dir_in_place, file_as_dir.join("audit.jsonl")] {
        let session = Session::new(store.clone(), AuditLog::at(&path));
        let err = session.delete(EMAIL, &["a-0000"]).await.unwrap_err();
        assert_eq!(err.code(), "audit_unwritable", "{err}");
        let message = err.to_string();
        assert!(
            message.contains(&path.display().to_string()),
            "names the log: {message}"
        );
        assert!(exists(&store, &key("a-0000")).await, "nothing deleted");
        assert_eq!(index_ids(&store, EMAIL).await, ["a-0000", "a-0001", "a-0002"]);

        // The same for a repair.
        let err = session.repair(EMAIL).await.unwrap_err();
        assert_eq!(err.code(), "audit_unwritable", "{err}");
        assert_eq!(index_ids(&store, EMAIL).await, ["a-0000", "a-0001", "a-0002"]);
    }
    assert!(dir.path().join("audit.jsonl").is_dir(), "left as it was");
}
