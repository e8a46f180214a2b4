//! Restores end: a target that never answers, a lock held by another
//! session and a cancel each end the restore with a clear error and nothing
//! written. Against the Supabase stand-in (PostgreSQL + PostgREST) and a
//! loopback TCP listener that accepts and stays silent.
//!
//! `tokio::time::timeout` around a restore is only a guard that turns a
//! hang into a failure; no test asserts how long anything took.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use archive_desk_core::restore::{self, RestoreOptions, RestoreReport, Target, Timeouts};
use archive_desk_core::{CancellationToken, ConversationDocument, Error};
use archive_desk_harness::fixtures;
use archive_desk_harness::supabase::{postgres_target, rest_target, SupabaseStack};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Far longer than any restore here needs: only a hang reaches it.
const GUARD: Duration = Duration::from_secs(90);

/// This project's PostgREST sessions get `statement_timeout` = `value`
/// (Supabase's is 8 s; `alter role ... in database` wins over the role's).
fn rest_statement_timeout(value: &str) -> String {
    format!(
        "do $$ begin execute format('alter role authenticator in database %I set statement_timeout = %L', \
         current_database(), '{value}'); end $$"
    )
}

fn rest(stack: &SupabaseStack) -> Target {
    rest_target(&stack.url, &stack.service_key, None)
}

fn doc(id: &str, messages: usize) -> ConversationDocument {
    ConversationDocument::from_value("k", fixtures::conversation(id, "t@example.com", "Timeouts", messages)).unwrap()
}

async fn guarded(
    target: &Target,
    doc: &ConversationDocument,
    cancel: &CancellationToken,
) -> Result<RestoreReport, Error> {
    tokio::time::timeout(GUARD, restore::restore(target, doc, &RestoreOptions::default(), cancel))
        .await
        .expect("the restore hung (guard reached)")
}

/// A second session with an open transaction that ran `sql` (and so holds
/// its locks until `rollback`).
async fn hold(stack: &SupabaseStack, sql: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(
        &format!("{}?sslmode=disable", stack.postgres_url),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    client.batch_execute(&format!("begin; {sql}")).await.unwrap();
    client
}

/// Wait (polling) until a session of this database waits for a lock.
async fn until_waiting_for_a_lock(stack: &SupabaseStack) {
    tokio::time::timeout(GUARD, async {
        while stack.psql(
            "select count(*) from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'",
        ) == "0"
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("no session started waiting for the lock");
}

/// A loopback TCP server that accepts every connection and never says a word.
fn silent_server() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut open = Vec::new();
        for stream in listener.incoming() {
            open.push(stream);
        }
    });
    port
}

#[tokio::test]
async fn a_target_that_accepts_and_never_answers_ends_as_unavailable() {
    let port = silent_server();
    let short = Timeouts {
        connect: Duration::from_secs(1),
        request: Duration::from_secs(2),
        ..Default::default()
    };
    let rest_silent = rest_target(&format!("http://127.0.0.1:{port}"), "sb_secret_silent", None);
    let targets = [
        (
            "postgres without TLS",
            postgres_target(format!("postgres://postgres:pw@127.0.0.1:{port}/db?sslmode=disable")),
        ),
        (
            "postgres with TLS",
            postgres_target(format!("postgres://postgres:pw@127.0.0.1:{port}/db?sslmode=require")),
        ),
        ("supabase rest", rest_silent),
    ];
    let doc = doc("silent", 2);
    for (name, target) in targets {
        let target = target.with_timeouts(short).unwrap();
        let err = guarded(&target, &doc, &CancellationToken::new()).await.unwrap_err();
        assert_eq!(err.code(), "target_unavailable", "{name}: {err}");
        assert!(err.to_string().contains("did not answer"), "{name}: {err}");
    }
}

#[tokio::test]
async fn a_lock_held_by_another_session_ends_as_busy_with_nothing_written() {
    let stack = SupabaseStack::start_with(&rest_statement_timeout("1s"));

    // Postgres: the conversation row goes in, the messages wait for the
    // table, lock_timeout ends the wait, the transaction rolls back.
    let holder = hold(&stack, "lock table public.messages in exclusive mode").await;
    let target = stack
        .postgres_target()
        .with_timeouts(Timeouts {
            lock: Duration::from_secs(1),
            ..Default::default()
        })
        .unwrap();
    let err = guarded(&target, &doc("locked-pg", 3), &CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "target_busy", "{err}");
    assert!(err.to_string().contains("lock"), "{err}");
    holder.batch_execute("rollback").await.unwrap();
    assert_eq!(stack.rows_of("locked-pg"), (0, 0));

    // REST: another session is inserting one of our message ids; PostgREST's
    // statement timeout (the database's, as on Supabase) ends the wait and
    // what was written before is taken back.
    stack.psql("insert into conversations (id) values ('decoy')");
    let holder = hold(
        &stack,
        "insert into messages (id, conversation_id) values ('locked-rest-m00001', 'decoy')",
    )
    .await;
    let err = guarded(&rest(&stack), &doc("locked-rest", 3), &CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "target_busy", "{err}");
    holder.batch_execute("rollback").await.unwrap();
    assert_eq!(stack.rows_of("locked-rest"), (0, 0));
}

#[tokio::test]
async fn a_cancel_during_a_restore_held_by_a_lock_writes_nothing() {
    // Long server timeouts: only the cancel can end these restores.
    let stack = SupabaseStack::start_with(&rest_statement_timeout("120s"));
    let patient = Timeouts {
        lock: Duration::from_secs(120),
        ..Default::default()
    };

    // Postgres: the transaction is rolled back and the server's statement
    // stopped, so the lock holder is not even needed to end it.
    let holder = hold(&stack, "lock table public.messages in exclusive mode").await;
    let target = stack.postgres_target().with_timeouts(patient).unwrap();
    let cancel = CancellationToken::new();
    let running = {
        let cancel = cancel.clone();
        tokio::spawn(async move { guarded(&target, &doc("cancel-pg", 3), &cancel).await })
    };
    until_waiting_for_a_lock(&stack).await;
    cancel.cancel();
    let err = running.await.unwrap().unwrap_err();
    assert_eq!(err.code(), "cancelled", "{err}");
    assert_eq!(
        stack.psql(
            "select count(*) from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'"
        ),
        "0",
        "the server still runs the cancelled statement"
    );
    holder.batch_execute("rollback").await.unwrap();
    assert_eq!(stack.rows_of("cancel-pg"), (0, 0));

    // Plain REST, 600 messages (two requests, sent together): the second waits for a
    // message id another session is inserting. A request under way is never
    // abandoned, so the cancel takes effect once it returns, and everything
    // this attempt wrote (conversation, both chunks) is deleted again.
    stack.psql("insert into conversations (id) values ('decoy')");
    let holder = hold(
        &stack,
        "insert into messages (id, conversation_id) values ('cancel-rest-m00550', 'decoy')",
    )
    .await;
    let target = rest(&stack).with_timeouts(patient).unwrap();
    let cancel = CancellationToken::new();
    let running = {
        let cancel = cancel.clone();
        tokio::spawn(async move { guarded(&target, &doc("cancel-rest", 600), &cancel).await })
    };
    until_waiting_for_a_lock(&stack).await;
    // The chunks go at once: the first commits beside the waiting second.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while stack.rows_of("cancel-rest") != (1, 500) {
        assert!(std::time::Instant::now() < deadline, "the first chunk is in");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cancel.cancel();
    holder.batch_execute("rollback").await.unwrap();
    let err = running.await.unwrap().unwrap_err();
    assert_eq!(err.code(), "cancelled", "{err}");
    assert_eq!(stack.rows_of("cancel-rest"), (0, 0));

    // A cancel before anything is written: nothing is.
    let cancel = CancellationToken::new();
    cancel.cancel();
    let err = guarded(&rest(&stack), &doc("cancel-early", 2), &cancel)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "cancelled");
    assert_eq!(stack.rows_of("cancel-early"), (0, 0));
}

/// Without `on delete cascade` (a schema may lack it), so deleting the
/// conversation does not take its messages along: what the compensation
/// misses stays.
const NO_CASCADE: &str = "alter table public.messages drop constraint messages_conversation_id_fkey";

/// A loopback TCP proxy to `upstream` that passes everything, except that on
/// a connection that sent `POST /rest/v1/messages` it throws the answers
/// away: the insert reaches Supabase and commits, the client never hears of
/// it. Returns its port, the number of answer bytes thrown away and the
/// request lines it passed on (`DELETE /rest/v1/messages?...`).
async fn answer_eating_proxy(upstream: u16) -> (u16, Arc<AtomicUsize>, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let eaten = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let (counter, seen) = (eaten.clone(), requests.clone());
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let eaten = counter.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await else {
                    return;
                };
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_server, mut to_server) = server.into_split();
                let swallow = Arc::new(AtomicBool::new(false));
                let set = swallow.clone();
                let up = tokio::spawn(async move {
                    let mut buf = vec![0; 64 * 1024];
                    while let Ok(n @ 1..) = from_client.read(&mut buf).await {
                        let text = String::from_utf8_lossy(&buf[..n]);
                        if let Some(line) = text.split("\r\n").next().filter(|l| l.ends_with("HTTP/1.1")) {
                            seen.lock().unwrap().push(line.to_owned());
                        }
                        // Set before the request goes on, so its answer is caught.
                        if buf[..n].starts_with(b"POST /rest/v1/messages") {
                            set.store(true, Ordering::SeqCst);
                        }
                        if to_server.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
                let mut buf = vec![0; 64 * 1024];
                while let Ok(n @ 1..) = from_server.read(&mut buf).await {
                    if swallow.load(Ordering::SeqCst) {
                        eaten.fetch_add(n, Ordering::SeqCst);
                    } else if to_client.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                let _ = up.await;
            });
        }
    });
    (port, eaten, requests)
}

/// Restore `doc` through [`answer_eating_proxy`]: the message inserts
/// reach Supabase, their answers never come back, and the client gives up
/// after 3 s. Returns the restore's error, which must say so, and the
/// request lines sent.
async fn restore_with_answers_lost(stack: &SupabaseStack, doc: &ConversationDocument) -> (Error, Vec<String>) {
    let upstream: u16 = stack.url.rsplit(':').next().unwrap().parse().unwrap();
    let (proxy, eaten, requests) = answer_eating_proxy(upstream).await;
    let target = rest_target(&format!("http://127.0.0.1:{proxy}"), &stack.service_key, None)
        .with_timeouts(Timeouts {
            request: Duration::from_secs(3),
            ..Default::default()
        })
        .unwrap();
    let err = guarded(&target, doc, &CancellationToken::new()).await.unwrap_err();
    assert!(
        eaten.load(Ordering::SeqCst) > 0,
        "Supabase answered the insert (the answer was thrown away)"
    );
    assert_eq!(err.code(), "target_unavailable", "{err}");
    assert!(err.to_string().contains("did not answer in time"), "{err}");
    let requests = requests.lock().unwrap().clone();
    (err, requests)
}

#[tokio::test]
async fn a_message_insert_whose_answer_is_lost_is_found_and_taken_back() {
    let stack = SupabaseStack::start_with(NO_CASCADE);
    restore_with_answers_lost(&stack, &doc("lost-answer", 3)).await;
    // The rows it committed unheard were found and deleted with the rest.
    assert_eq!(stack.rows_of("lost-answer"), (0, 0));
}

#[tokio::test]
async fn taking_back_a_lost_answer_never_deletes_another_conversations_message() {
    // One of the archive's message keys is held by another conversation:
    // the insert skips it, and what the conversation lacked before is read
    // by conversation, so the owner check must keep it out of the undo
    // (the undo's own conversation filter would be the last guard).
    let stack = SupabaseStack::start_with(NO_CASCADE);
    stack.psql(
        "insert into public.conversations (id) values ('other-owner'); \
         insert into public.messages (id, conversation_id, content) \
         values ('lost-foreign-m00001', 'other-owner', 'kept')",
    );
    let (_, requests) = restore_with_answers_lost(&stack, &doc("lost-foreign", 3)).await;
    let deletes: Vec<&String> = requests
        .iter()
        .filter(|r| r.starts_with("DELETE /rest/v1/messages"))
        .collect();
    assert!(
        !deletes.is_empty() && deletes.iter().all(|r| !r.contains("lost-foreign-m00001")),
        "only the rows this restore wrote are deleted: {deletes:#?}"
    );
    assert_eq!(
        stack.rows_of("lost-foreign"),
        (0, 0),
        "what it wrote unheard was taken back"
    );
    assert_eq!(
        stack.psql("select conversation_id || ':' || content from public.messages where id = 'lost-foreign-m00001'"),
        "other-owner:kept"
    );
}

#[tokio::test]
async fn taking_back_a_lost_answer_keeps_every_message_there_before_past_one_answer() {
    // 1,195 of 1,200 messages are there already: more than one answer
    // holds, so what was there is read by key. Only the 5 this attempt
    // wrote unheard are taken back.
    let stack = SupabaseStack::start_with(NO_CASCADE);
    let doc = doc("lost-many", 1_200);
    let first = guarded(&rest(&stack), &doc, &CancellationToken::new()).await.unwrap();
    assert!(first.verified, "{first:?}");
    stack.psql("delete from public.messages where id between 'lost-many-m00100' and 'lost-many-m00104'");
    assert_eq!(stack.rows_of("lost-many"), (1, 1_195));
    restore_with_answers_lost(&stack, &doc).await;
    assert_eq!(stack.rows_of("lost-many"), (1, 1_195));
}

#[tokio::test]
async fn an_insert_still_waiting_when_the_client_gives_up_is_reported_as_unknown_and_a_rerun_completes() {
    // The server waits as long as the lock is held; the client gives up
    // after 2 s, with its insert still queued on the server.
    let stack = SupabaseStack::start_with(&format!("{}; {NO_CASCADE}", rest_statement_timeout("120s")));
    let holder = hold(&stack, "lock table public.messages in exclusive mode").await;
    let impatient = rest(&stack)
        .with_timeouts(Timeouts {
            request: Duration::from_secs(2),
            ..Default::default()
        })
        .unwrap();
    let doc = doc("unknown-rest", 3);
    let err = guarded(&impatient, &doc, &CancellationToken::new()).await.unwrap_err();
    assert_eq!(err.code(), "restore_failed", "{err}");
    let text = err.to_string();
    assert!(text.contains("did not answer in time"), "{text}");
    assert!(text.contains("cannot be told"), "{text}");
    assert!(text.contains("run the restore again to complete it"), "{text}");
    assert_eq!(
        stack.psql(
            "select count(*) from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'"
        ),
        "1",
        "the abandoned insert still waits on the server"
    );
    // The lock goes, the abandoned insert commits; a second restore
    // completes whatever the first did.
    holder.batch_execute("rollback").await.unwrap();
    let report = guarded(&rest(&stack), &doc, &CancellationToken::new()).await.unwrap();
    assert!(report.verified, "{report:?}");
    assert_eq!(stack.rows_of("unknown-rest"), (1, 3));
}
