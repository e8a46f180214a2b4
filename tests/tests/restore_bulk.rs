//! Whole-customer restores on the real Supabase stand-in (PostgreSQL,
//! PostgREST, the gateway) and moto: the preview says exactly what the
//! restore then does (REST and direct Postgres), live status is read in
//! batches, a bulk restore reports each conversation, audits each and the
//! batch, and a second run finishes what the first left.

use archive_desk_core::restore::{LiveState, RestoreOptions, Target};
use archive_desk_core::session::{BulkOutcome, BulkProgress, Selection};
use archive_desk_core::{AuditFilter, AuditLog, CancellationToken, Session};
use archive_desk_harness::supabase::{rest_target, SupabaseStack};
use archive_desk_harness::{fixtures, Fault, FaultProxy, Match, RawS3, Rule, ServerKind};
use serde_json::Value;
use tokio::sync::watch;

const EMAIL: &str = "bulk@example.com";

/// An archive of `EMAIL` holding `docs`, and a session on it with its own
/// audit log in `dir`.
async fn archive(docs: &[Value], dir: &std::path::Path) -> Session {
    let store = archive_desk_harness::fresh_store(ServerKind::Moto, Default::default()).await;
    let mut seeder = fixtures::Seeder::new(Default::default(), true);
    seeder.user(EMAIL, fixtures::IndexState::Present, &docs.iter().collect::<Vec<_>>());
    for doc in docs {
        seeder.good(EMAIL, doc, ".json", archive_desk_core::Encoding::Plain);
    }
    seeder.write(&store.client(), store.bucket()).await;
    Session::new(store, AuditLog::at(dir.join("audit.jsonl")))
}

fn doc(id: &str, messages: usize) -> Value {
    fixtures::conversation(id, EMAIL, "Bulk", messages)
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i:03}")).collect()
}

/// Rows of conversation `id`: (conversations, messages).
fn rows(stack: &SupabaseStack, id: &str) -> (u64, u64) {
    let out = stack.psql(&format!(
        "select (select count(*) from conversations where id = '{id}'), \
         (select count(*) from messages where conversation_id = '{id}')"
    ));
    let (c, m) = out.split_once('|').unwrap();
    (c.parse().unwrap(), m.parse().unwrap())
}

/// One of the archived conversations is in the tables whole, one with two
/// messages gone and one changed by someone since; one is not there.
async fn previews_match_restores(stack: &SupabaseStack, target: &Target, name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (new, part) = (format!("{name}-new"), format!("{name}-part"));
    let session = archive(&[doc(&new, 5), doc(&part, 6)], dir.path()).await;
    let never = CancellationToken::new();
    session
        .restore(EMAIL, &part, target, &RestoreOptions::default(), false, &never)
        .await
        .unwrap();
    stack.psql(&format!(
        "delete from messages where id in ('{part}-m00000', '{part}-m00001'); \
         update messages set content = 'edited since' where id = '{part}-m00002'"
    ));

    let fresh = session.preview_restore(EMAIL, &new, target, false).await.unwrap();
    assert!(!fresh.conversation_present, "{name}: {fresh:?}");
    assert_eq!(
        (
            fresh.messages_to_insert,
            fresh.messages_already_present,
            fresh.differences_count
        ),
        (5, 0, 0),
        "{name}"
    );
    assert_eq!(fresh.summary, "Restore the conversation and 5 messages");
    let partial = session.preview_restore(EMAIL, &part, target, false).await.unwrap();
    assert!(partial.conversation_present, "{name}");
    assert_eq!(
        (partial.messages_to_insert, partial.messages_already_present),
        (2, 4),
        "{name}"
    );
    assert_eq!(partial.summary, "Restore 2 missing messages");
    assert_eq!(partial.differences_count, 1, "{name}: {:?}", partial.differences);
    let d = &partial.differences[0];
    assert_eq!(
        (d.row_id.as_str(), d.field.as_str(), d.target.as_str()),
        (format!("{part}-m00002").as_str(), "content", Some("edited since")),
        "{name}"
    );
    assert!(
        d.archive.as_str().is_some_and(|a| a.starts_with("Question 2")),
        "{name}: {d:?}"
    );
    assert_eq!(rows(stack, &new), (0, 0), "{name}: a preview writes nothing");
    assert_eq!(rows(stack, &part), (1, 4), "{name}: a preview writes nothing");

    for preview in [fresh, partial] {
        let id = preview.conversation_id.clone();
        let done = session
            .restore(EMAIL, &id, target, &RestoreOptions::default(), false, &never)
            .await
            .unwrap();
        assert_eq!(done.conversation_inserted, !preview.conversation_present, "{name} {id}");
        assert_eq!(done.messages_inserted, preview.messages_to_insert, "{name} {id}");
        assert_eq!(
            done.messages_already_present, preview.messages_already_present,
            "{name} {id}"
        );
        // The changed row is left as it is, and reported.
        assert_eq!(done.differences_count, preview.differences_count, "{name} {id}");
        let after = session.preview_restore(EMAIL, &id, target, false).await.unwrap();
        assert_eq!(after.messages_to_insert, 0, "{name} {id}");
        assert_eq!(after.summary, "Nothing to restore", "{name} {id}");
    }
    assert_eq!(
        stack.psql(&format!("select content from messages where id = '{part}-m00002'")),
        "edited since"
    );
}

#[tokio::test]
async fn the_preview_says_what_the_restore_then_does_over_rest_and_postgres() {
    let stack = SupabaseStack::start();
    previews_match_restores(&stack, &rest_target(&stack.url, &stack.service_key, None), "prev-rest").await;
    previews_match_restores(&stack, &stack.postgres_target(), "prev-pg").await;
}

#[tokio::test]
async fn live_status_is_read_in_batches_and_says_what_is_there() {
    let stack = SupabaseStack::start();
    let proxy = FaultProxy::start_http(&stack.url, 1);
    // Forwarded untouched; counted.
    let count = |name: &str, table: &str| {
        Rule::new(
            name,
            Match::any().method("GET").key_suffix(table),
            Fault::Latency {
                fixed_ms: 0,
                jitter_ms: 0,
            },
        )
    };
    let dir = tempfile::tempdir().unwrap();
    // 150 conversations: two `in.(...)` batches of at most 100 ids.
    let all = ids("live", 150);
    let docs: Vec<Value> = all.iter().map(|id| doc(id, 3)).collect();
    let session = archive(&docs, dir.path()).await;
    let target = rest_target(&proxy.endpoint(), &stack.service_key, None);
    let never = CancellationToken::new();
    for id in &all[..3] {
        session
            .restore(EMAIL, id, &target, &RestoreOptions::default(), false, &never)
            .await
            .unwrap();
    }
    stack.psql(&format!("delete from messages where id = '{}-m00001'", all[1]));
    stack.psql(&format!(
        "delete from messages where conversation_id = '{0}'; delete from conversations where id = '{0}'",
        all[2]
    ));

    proxy.set_rules(vec![
        count("conversations", "/conversations"),
        count("messages", "/messages"),
    ]);
    let live = session.live_status(EMAIL, &target).await.unwrap();
    assert_eq!(live.len(), 150);
    assert_eq!(
        (proxy.hits("conversations"), proxy.hits("messages")),
        (2, 2),
        "one request per batch of ids, not one per conversation"
    );
    let state = |id: &str| live.iter().find(|s| s.conversation_id == id).unwrap();
    assert_eq!(state(&all[0]).state, LiveState::Complete);
    assert_eq!(
        (
            state(&all[1]).state,
            state(&all[1]).messages_in_table,
            state(&all[1]).messages_missing
        ),
        (LiveState::Partial, 2, Some(1))
    );
    assert_eq!(state(&all[2]).state, LiveState::Absent);
    assert_eq!(live.iter().filter(|s| s.state == LiveState::Absent).count(), 148);

    // Postgres says the same, in one query.
    let direct = session.live_status(EMAIL, &stack.postgres_target()).await.unwrap();
    assert_eq!(direct, live);
}

#[tokio::test]
async fn a_bulk_restore_reports_each_conversation_audits_each_and_the_batch_and_resumes() {
    let stack = SupabaseStack::start();
    let dir = tempfile::tempdir().unwrap();
    let mut docs: Vec<Value> = ids("bulk", 5).iter().map(|id| doc(id, 4)).collect();
    // Archived on three days: the range takes the middle one.
    for (i, d) in docs.iter_mut().enumerate() {
        d["archive_metadata"]["archived_at"] = format!("2025-02-{:02}T09:00:00Z", 10 + i.min(2)).into();
    }
    let session = archive(&docs, dir.path()).await;
    let target = stack.postgres_target();
    let never = CancellationToken::new();
    // One conversation is there already.
    session
        .restore(EMAIL, "bulk-002", &target, &RestoreOptions::default(), false, &never)
        .await
        .unwrap();
    let in_range = session
        .select_conversations(
            EMAIL,
            &Selection::All {
                since: Some("2025-02-11".into()),
                until: Some("2025-02-11".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(in_range, ["bulk-001"]);

    // A cancel before anything ran leaves all of them for the next run.
    let (progress, updates) = watch::channel(BulkProgress::default());
    let all = Selection::All {
        since: None,
        until: None,
    };
    let cancelled = CancellationToken::new();
    cancelled.cancel();
    let report = session
        .restore_many(EMAIL, &all, &target, &RestoreOptions::default(), &cancelled, &progress)
        .await
        .unwrap();
    assert!(report.cancelled);
    assert_eq!(report.not_run, 5);
    assert_eq!(rows(&stack, "bulk-000"), (0, 0));

    // A named conversation that does not exist fails with its reason; the others go on.
    let named = Selection::Ids {
        ids: vec!["bulk-000".into(), "bulk-missing".into(), "bulk-002".into()],
    };
    let report = session
        .restore_many(EMAIL, &named, &target, &RestoreOptions::default(), &never, &progress)
        .await
        .unwrap();
    let outcomes: Vec<BulkOutcome> = report.conversations.iter().map(|c| c.outcome).collect();
    assert_eq!(
        outcomes,
        [BulkOutcome::Restored, BulkOutcome::Failed, BulkOutcome::AlreadyThere]
    );
    assert_eq!(
        report.conversations[1].error.as_ref().unwrap().code.as_str(),
        "not_found"
    );
    assert_eq!(updates.borrow().done, 3);

    // All of them: what is left is restored, nothing doubled.
    let report = session
        .restore_many(EMAIL, &all, &target, &RestoreOptions::default(), &never, &progress)
        .await
        .unwrap();
    assert_eq!((report.restored, report.already_there, report.failed), (3, 2, 0));
    for id in ids("bulk", 5) {
        assert_eq!(rows(&stack, &id), (1, 4), "{id}");
    }
    let again = session
        .restore_many(EMAIL, &all, &target, &RestoreOptions::default(), &never, &progress)
        .await
        .unwrap();
    assert_eq!((again.restored, again.already_there), (0, 5));

    let records = session.audit().read(&AuditFilter::default()).unwrap();
    let batches: Vec<_> = records.iter().filter(|r| r.action == "restore_batch").collect();
    assert_eq!(batches.len(), 4, "one record per batch");
    assert_eq!(batches[2].conversation_ids.len(), 5);
    assert_eq!(batches[2].detail["restored"], 3);
    assert_eq!(batches[2].detail["already_there"], 2);
    // One per conversation restored or attempted: 1 first + 3 named + 5 + 5.
    assert_eq!(records.iter().filter(|r| r.action == "restore").count(), 14);

    // A read-only session refuses the batch, and says so in the log.
    let read_only = Session::builder(session.store().clone(), session.audit().clone())
        .read_only(true)
        .build();
    let err = read_only
        .restore_many(EMAIL, &all, &target, &RestoreOptions::default(), &never, &progress)
        .await
        .unwrap_err();
    assert_eq!(err.code().as_str(), "read_only");
    let last = session
        .audit()
        .read(&AuditFilter::default())
        .unwrap()
        .records
        .pop()
        .unwrap();
    assert_eq!(
        (last.action.as_str(), last.outcome.as_str()),
        ("restore_batch", "error")
    );
}
