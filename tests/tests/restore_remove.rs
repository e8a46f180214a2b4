//! Restore, then remove from the archive, against the real Supabase
//! stand-in: the archive copy goes only once every row was read back and
//! verified (a row already there with other content, fields the tables
//! lack, formats of the real schema), refused read-only, audited, and
//! stopped by Object Lock after the restore. Each test has a project of
//! its own.

use archive_desk_core::restore::{self, RestoreOptions};
use archive_desk_core::{
    AuditFilter, AuditLog, CancellationToken, ConversationDocument, ConversationId, Session, UserFolder,
};
use archive_desk_harness::supabase::{rest_target, SupabaseStack};
use archive_desk_harness::RawS3;
use archive_desk_harness::{assert_still_archived, fixtures, ServerKind};
use serde_json::{json, Value};

/// A cancel token nobody cancels.
fn never() -> CancellationToken {
    CancellationToken::new()
}

#[tokio::test]
async fn restore_and_remove_from_archive_is_audited_and_refused_when_read_only() {
    const EMAIL: &str = "restore.me@example.com";
    let stack = SupabaseStack::start();
    let store = archive_desk_harness::fresh_store(ServerKind::Moto, Default::default()).await;
    let doc = fixtures::conversation("r-1", EMAIL, "Restore me", 4);
    let mut seeder = fixtures::Seeder::new(Default::default(), true);
    seeder.user(EMAIL, fixtures::IndexState::Present, &[&doc]);
    seeder.good(EMAIL, &doc, ".json.gz", archive_desk_core::Encoding::Gzip);
    seeder.write(&store.client(), store.bucket()).await;
    let dir = tempfile::tempdir().unwrap();
    let audit = AuditLog::at(dir.path().join("audit.jsonl"));
    let read_only = Session::builder(store.clone(), audit.clone()).read_only(true).build();
    let session = Session::new(store, audit);
    let target = rest_target(&stack.url, &stack.service_key, None);

    let err = read_only
        .restore(EMAIL, "r-1", &target, &RestoreOptions::default(), true, &never())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "read_only");
    assert_eq!(stack.rows_of("r-1"), (0, 0));

    let report = session
        .restore(EMAIL, "r-1", &target, &RestoreOptions::default(), true, &never())
        .await
        .unwrap()
        .into_inner();
    assert!(report.verified);
    let removed = report.removed_from_archive.unwrap();
    assert_eq!(
        removed.deleted_keys,
        ["archived_conversations/restore_me_at_example_com/r-1.json.gz"]
    );
    assert_eq!(removed.index_entries_removed, 1);
    assert_eq!(stack.rows_of("r-1"), (1, 4));
    let folder = UserFolder::from_email(EMAIL).unwrap();
    assert_eq!(
        session.store().read_index(&folder).await.unwrap().index.entries().len(),
        0
    );

    let log = session.audit().read(&AuditFilter::default()).unwrap();
    let summary: Vec<(&str, &str)> = log.iter().map(|r| (r.action.as_str(), r.outcome.as_str())).collect();
    // Refused (read-only): one record. Restore-and-remove: intent, then outcome.
    assert_eq!(
        summary,
        [("restore", "error"), ("restore", "intent"), ("restore", "ok")]
    );
    assert_eq!(log[1].operation, log[2].operation);
    assert_eq!(log[2].detail["messages_inserted"], json!(4));
    let text = std::fs::read_to_string(session.audit().path()).unwrap();
    assert!(!text.contains(&stack.service_key) && !text.contains("reset my password"));
}

/// A fresh bucket with these conversations of one user (4 messages each),
/// and a session on it with its own audit log.
async fn archive_with(email: &str, ids: &[&str], dir: &std::path::Path) -> Session {
    let store = archive_desk_harness::fresh_store(ServerKind::Moto, Default::default()).await;
    let docs: Vec<Value> = ids
        .iter()
        .map(|id| fixtures::conversation(id, email, "Collide", 4))
        .collect();
    let mut seeder = fixtures::Seeder::new(Default::default(), true);
    seeder.user(email, fixtures::IndexState::Present, &docs.iter().collect::<Vec<_>>());
    for doc in &docs {
        seeder.good(email, doc, ".json", archive_desk_core::Encoding::Plain);
    }
    seeder.write(&store.client(), store.bucket()).await;
    Session::new(store, AuditLog::at(dir.join("audit.jsonl")))
}

#[tokio::test]
async fn a_row_with_the_archives_id_but_other_content_is_not_verified_and_the_archive_copy_stays() {
    const EMAIL: &str = "collide@example.com";
    const THEIRS: &str = "not what the archive says";
    let stack = SupabaseStack::start();
    let dir = tempfile::tempdir().unwrap();
    let ids = ["x-rest", "x-rpc", "x-pg"];
    let session = archive_with(EMAIL, &ids, dir.path()).await;
    let folder = UserFolder::from_email(EMAIL).unwrap();
    let targets = stack.every_target().map(|(_, target)| target);
    let opts = RestoreOptions::default();
    for (id, target) in ids.iter().zip(&targets) {
        // Another conversation's message holds the archive's message id.
        let taken = format!("{id}-m00001");
        stack.psql(&format!(
            "insert into conversations (id, title) values ('other-{id}', 'other'); \
             insert into messages (id, conversation_id, role, content) values ('{taken}', 'other-{id}', 'assistant', '{THEIRS}')"
        ));

        let err = session
            .restore(EMAIL, id, target, &opts, true, &never())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "not_verified", "{id}: {err}");
        let msg = err.to_string();
        assert!(msg.contains(&format!("messages.content of row {taken}")), "{msg}");
        assert!(
            !msg.contains(THEIRS) && !msg.contains("Answer 1"),
            "no content in errors: {msg}"
        );
        // The archive copy and its index entry are still there.
        let cid = ConversationId::parse(id).unwrap();
        session.store().get_conversation(&folder, &cid).await.unwrap();
        let index = session.store().read_index(&folder).await.unwrap().index;
        assert!(
            index.entries().any(|e| e.conversation_id() == *id),
            "{id} left the index"
        );

        // Without removal the report shows where and what, for the person.
        let report = session
            .restore(EMAIL, id, target, &opts, false, &never())
            .await
            .unwrap();
        assert!(!report.verified, "{id}");
        let content = report
            .differences
            .iter()
            .find(|d| d.row_id == taken && d.field == "content")
            .unwrap_or_else(|| panic!("{id}: {:?}", report.differences));
        assert_eq!(content.table, "messages");
        assert_eq!(content.target, json!(THEIRS));
        assert!(content.archive.as_str().unwrap().starts_with("Answer 1"));
        assert!(report
            .differences
            .iter()
            .any(|d| d.row_id == taken && d.field == "conversation_id" && d.target == json!(format!("other-{id}"))));
        assert!(
            report.differences.iter().all(|d| d.row_id == taken),
            "{:?}",
            report.differences
        );
        assert_eq!(report.differences_count, report.differences.len() as u64);

        // The clash resolved, the same call verifies and removes it.
        stack.psql(&format!("delete from messages where id = '{taken}'"));
        let report = session.restore(EMAIL, id, target, &opts, true, &never()).await.unwrap();
        assert!(
            report.verified && report.differences.is_empty(),
            "{:?}",
            report.differences
        );
        assert!(report.removed_from_archive.is_some());
        assert_eq!(stack.rows_of(id), (1, 4));
    }
    assert_eq!(
        session.store().read_index(&folder).await.unwrap().index.entries().len(),
        0
    );

    // The audit log counts differences but never holds their values.
    let log = session.audit().read(&AuditFilter::default()).unwrap();
    let outcomes: Vec<(&str, Option<&str>)> = log
        .iter()
        .map(|r| (r.outcome.as_str(), r.error_code.as_deref()))
        .collect();
    // Per target: restore-and-remove (intent, refused), a plain restore,
    // restore-and-remove once the rows match (intent, done).
    assert_eq!(
        outcomes,
        [
            ("intent", None),
            ("error", Some("not_verified")),
            ("ok", None),
            ("intent", None),
            ("ok", None)
        ]
        .repeat(3)
    );
    assert!(log[2].detail["differences_count"].as_u64().unwrap() > 0);
    assert!(log.iter().all(|r| !r.detail.contains_key("differences")));
    let text = std::fs::read_to_string(session.audit().path()).unwrap();
    for content in [THEIRS, "Answer 1", "reset my password"] {
        assert!(!text.contains(content), "{content:?} in the audit log");
    }
}

#[tokio::test]
async fn the_real_schemas_formats_verify_and_unrelated_rows_do_not_matter() {
    let stack = SupabaseStack::start();
    let targets = stack.every_target();
    for (name, target) in &targets {
        let id = format!("fmt-{name}");
        // What PostgREST and to_jsonb give back differs in form, not in value:
        // `+00:00` for `Z`, offsets moved to UTC, 12 for 12.0, floats.
        let doc = ConversationDocument::from_value(
            "k",
            json!({
                "conversation": {
                    "id": id, "user_id": "f@example.com", "title": "Formats ✓",
                    "created_at": "2024-01-01T00:00:00Z",
                    "updated_at": "2024-02-29T23:59:59.999Z",
                    "timestamp": "2024-03-05T10:11:12.345678+02:00",
                    "provider": "openai", "model": "gpt-4o"
                },
                "messages": [
                    {"id": format!("{id}-1"), "role": "user", "content": "quotes \" and \\ and 🙂",
                     "created_at": "2024-01-01T00:00:00.5Z", "input_tokens": 0, "output_tokens": 2147483647,
                     "cost": 0.30000000000000004},
                    {"id": format!("{id}-2"), "role": "assistant", "content": "",
                     "created_at": "2023-12-31T19:00:00-05:00", "cost": 1e-7, "feedback": null},
                    {"id": format!("{id}-3"), "role": "assistant", "content": "twelve", "cost": 12.0,
                     "input_tokens": 12}
                ]
            }),
        )
        .unwrap();
        let report = restore::restore(target, &doc, &RestoreOptions::default(), &never())
            .await
            .unwrap();
        assert!(report.verified, "{name}: {:?}", report.differences);
        // The same instants, stored in UTC.
        assert_eq!(
            stack.psql(&format!(
                "select extract(epoch from \"timestamp\"), (select extract(epoch from created_at) from messages where id = '{id}-2') from conversations where id = '{id}'"
            )),
            "1709626272.345678|1704067200.000000"
        );

        // A message added to the conversation since is no difference.
        stack.psql(&format!(
            "insert into messages (id, conversation_id, role, content) values ('{id}-added', '{id}', 'user', 'later')"
        ));
        let again = restore::restore(target, &doc, &RestoreOptions::default(), &never())
            .await
            .unwrap();
        assert!(again.verified, "{name}: {:?}", again.differences);
        assert_eq!((again.messages_in_table, again.messages_inserted), (4, 0));
    }
}

/// A field the tables lack is left out when allowed; with "remove from
/// archive" the copy then stays (the field would exist nowhere else), even
/// though every restored field verifies.
#[tokio::test]
async fn fields_left_out_keep_the_archive_copy_when_removal_is_asked() {
    const EMAIL: &str = "leftout@example.com";
    const ID: &str = "left-out";
    let stack = SupabaseStack::start_with("alter table public.messages drop column feedback");
    let dir = tempfile::tempdir().unwrap();
    let session = archive_with(EMAIL, &[ID], dir.path()).await;
    let folder = UserFolder::from_email(EMAIL).unwrap();
    let allow = RestoreOptions {
        allow_missing_columns: true,
        ..Default::default()
    };
    for target in [
        rest_target(&stack.url, &stack.service_key, None),
        stack.postgres_target(),
    ] {
        let err = session
            .restore(EMAIL, ID, &target, &allow, true, &never())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "not_verified", "{err}");
        let msg = err.to_string();
        assert!(msg.contains("messages.feedback"), "{msg}");
        assert!(msg.contains("stays there"), "{msg}");
        // The rows are written; the archive object and its index entry stay.
        assert_eq!(stack.rows_of(ID), (1, 4));
        assert_still_archived(&session, &folder, ID).await;
    }
    let log = session.audit().read(&AuditFilter::default()).unwrap();
    assert!(
        log.iter().all(|r| r.outcome != "ok"),
        "{:?}",
        log.iter().map(|r| &r.outcome).collect::<Vec<_>>()
    );
}

/// The rows are restored and verified, then the removal is refused by
/// Object Lock (a legal hold on the archive object): the error says it was
/// restored, its code is the removal's, and the archive copy stays.
#[tokio::test]
async fn a_removal_refused_by_object_lock_says_the_conversation_was_restored() {
    use archive_desk_harness::servers;
    use aws_sdk_s3::primitives::ByteStream;
    use aws_sdk_s3::types::ObjectLockLegalHoldStatus;
    const EMAIL: &str = "held-restore@example.com";
    const ID: &str = "held-restore";
    let stack = SupabaseStack::start();
    let config = servers::shared(ServerKind::Moto).store_config(&format!("l-{}", servers::token()));
    let store = archive_desk_core::Store::connect(config).await.unwrap();
    archive_desk_harness::create_locked_bucket(&store).await;
    let doc = fixtures::conversation(ID, EMAIL, "Held", 3);
    let mut seeder = fixtures::Seeder::new(Default::default(), true);
    seeder.user(EMAIL, fixtures::IndexState::Present, &[&doc]);
    seeder.write(&store.client(), store.bucket()).await;
    let folder = UserFolder::from_email(EMAIL).unwrap();
    let key = format!("archived_conversations/{folder}/{ID}.json");
    store
        .client()
        .put_object()
        .bucket(store.bucket())
        .key(&key)
        .body(ByteStream::from(archive_desk_core::codec::encode(
            &doc,
            archive_desk_core::Encoding::Plain,
        )))
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .send()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let session = Session::new(store, AuditLog::at(dir.path().join("audit.jsonl")));

    let err = session
        .restore(
            EMAIL,
            ID,
            &rest_target(&stack.url, &stack.service_key, None),
            &RestoreOptions::default(),
            true,
            &never(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "object_locked", "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("conversation {ID} was restored and verified")),
        "{msg}"
    );
    assert!(msg.contains("legal hold ON"), "{msg}");
    assert_eq!(stack.rows_of(ID), (1, 3));
    assert_still_archived(&session, &folder, ID).await;
    let log = session.audit().read(&AuditFilter::default()).unwrap();
    assert_eq!(log.last().unwrap().error_code.as_deref(), Some("object_locked"));
}
