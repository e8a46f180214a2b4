//! What a restore costs on the wire, pinned against the real PostgREST and
//! PostgreSQL: requests per restore over REST (counted by the fault proxy,
//! by method), round trips over Postgres (counted by a relay), for a first
//! restore and a repeat. And that the column list a process keeps cannot
//! lose a field when the tables change between restores.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use archive_desk_core::restore::{self, LiveState, RestoreOptions, RestoreReport, Target};
use archive_desk_core::{CancellationToken, ConversationDocument};
use archive_desk_harness::supabase::{postgres_target, rest_target, SupabaseStack};
use archive_desk_harness::{fixtures, Fault, FaultProxy, Match, Rule};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MESSAGES: usize = 1_000;

fn doc(id: &str, messages: usize) -> ConversationDocument {
    ConversationDocument::from_value(
        id,
        fixtures::conversation(id, "round.trips@example.com", "Round trips", messages),
    )
    .unwrap()
}

async fn run(target: &Target, doc: &ConversationDocument, options: &RestoreOptions) -> RestoreReport {
    restore::restore(target, doc, options, &CancellationToken::new())
        .await
        .unwrap()
}

/// Rules that pass everything and count requests by method.
fn proxy_rules() -> Vec<Rule> {
    ["GET", "POST", "DELETE", "PATCH"]
        .map(|m| {
            Rule::new(
                m,
                Match::any().method(m),
                Fault::Latency {
                    fixed_ms: 0,
                    jitter_ms: 0,
                },
            )
        })
        .to_vec()
}

/// A proxy that passes everything and counts requests by method.
fn counting_proxy(stack: &SupabaseStack) -> FaultProxy {
    let proxy = FaultProxy::start_http(&stack.url, 1);
    proxy.set_rules(proxy_rules());
    proxy
}

/// Requests by method since the last call: (GET, POST, DELETE + PATCH).
fn requests(proxy: &FaultProxy, before: &mut [u64; 3]) -> [u64; 3] {
    let now = [
        proxy.hits("GET"),
        proxy.hits("POST"),
        proxy.hits("DELETE") + proxy.hits("PATCH"),
    ];
    let out = [now[0] - before[0], now[1] - before[1], now[2] - before[2]];
    *before = now;
    out
}

fn assert_first(report: &RestoreReport) {
    assert!(report.verified && report.conversation_inserted, "{report:?}");
    assert_eq!(report.messages_inserted, MESSAGES as u64);
    assert_eq!(report.messages_in_table, MESSAGES as u64);
}

fn assert_repeat(report: &RestoreReport) {
    assert!(report.verified && report.conversation_already_present, "{report:?}");
    assert_eq!(
        (report.messages_inserted, report.messages_already_present),
        (0, MESSAGES as u64)
    );
    assert_eq!(report.messages_in_table, MESSAGES as u64);
}

#[tokio::test]
async fn the_rpc_function_restores_and_verifies_in_one_request() {
    let stack = SupabaseStack::start();
    let proxy = counting_proxy(&stack);
    let target = rest_target(
        &proxy.endpoint(),
        &stack.service_key,
        Some("restore_archived_conversation"),
    );
    // The call goes to `_v3`, which takes the body whole, and names its
    // arguments in `columns`, so PostgREST passes the body on without
    // parsing it (a rule that only counts).
    let mut rules = proxy_rules();
    rules.push(Rule::new(
        "named",
        Match::any()
            .method("POST")
            .key_suffix("/rpc/restore_archived_conversation_v3")
            .query_has("columns=archive,options"),
        Fault::Latency {
            fixed_ms: 0,
            jitter_ms: 0,
        },
    ));
    proxy.set_rules(rules);
    let mut seen = [0; 3];
    let doc = doc("rpc-trips", MESSAGES);
    assert_first(&run(&target, &doc, &RestoreOptions::default()).await);
    assert_eq!(
        requests(&proxy, &mut seen),
        [0, 1, 0],
        "first restore: one call, nothing read"
    );
    assert_repeat(&run(&target, &doc, &RestoreOptions::default()).await);
    assert_eq!(requests(&proxy, &mut seen), [0, 1, 0], "repeat: one call");
    assert_eq!(proxy.hits("named"), 2, "both calls go to `_v3`, naming their arguments");
    assert_eq!(stack.rows_of("rpc-trips"), (1, MESSAGES as u64));
}

#[tokio::test]
async fn the_rpc_function_checks_the_columns_itself_and_the_older_forms_still_work() {
    let stack = SupabaseStack::start_with("alter table public.messages drop column feedback");
    let proxy = counting_proxy(&stack);
    let target = rest_target(
        &proxy.endpoint(),
        &stack.service_key,
        Some("restore_archived_conversation"),
    );
    let mut seen = [0; 3];
    // A field without a column: refused in the call, nothing written.
    let columns = doc("rpc-columns", 6);
    let err = restore::restore(&target, &columns, &RestoreOptions::default(), &CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "missing_columns", "{err}");
    assert!(err.to_string().contains("messages.feedback"), "{err}");
    assert_eq!(stack.rows_of("rpc-columns"), (0, 0));
    assert_eq!(requests(&proxy, &mut seen), [0, 1, 0]);
    // Allowed: left out, and said so.
    let allow = RestoreOptions {
        allow_missing_columns: true,
        ..Default::default()
    };
    let report = run(&target, &columns, &allow).await;
    assert!(report.verified, "{report:?}");
    assert_eq!(report.dropped_fields.messages, ["feedback"]);
    assert_eq!(stack.rows_of("rpc-columns"), (1, 6));

    // A database set up by the previous version (no `_v3`): the two-argument
    // form, called next, restores in that second request, nothing read.
    stack.psql("drop function public.restore_archived_conversation_v3(jsonb); notify pgrst, 'reload schema'");
    let two = doc("rpc-v2", 6);
    requests(&proxy, &mut seen);
    let report = run(&target, &two, &allow).await;
    assert!(report.verified, "{report:?}");
    assert_eq!(report.dropped_fields.messages, ["feedback"]);
    assert_eq!(stack.rows_of("rpc-v2"), (1, 6));
    assert_eq!(
        requests(&proxy, &mut seen),
        [0, 2, 0],
        "`_v3` missing, then the two-argument form"
    );

    // A database with only the one-argument form (not upgraded): the call
    // falls back to it, with the columns read first and the rows read back.
    stack.psql("drop function public.restore_archived_conversation(jsonb, jsonb); notify pgrst, 'reload schema'");
    let old = doc("rpc-v1", 6);
    let deadline = Instant::now() + Duration::from_secs(30);
    let report = loop {
        requests(&proxy, &mut seen);
        match restore::restore(&target, &old, &allow, &CancellationToken::new()).await {
            Ok(report) => break report,
            // PostgREST may still list the dropped form for a moment.
            Err(e) if Instant::now() < deadline => {
                eprintln!("not yet: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert!(report.verified, "{report:?}");
    assert_eq!(report.dropped_fields.messages, ["feedback"]);
    assert_eq!(stack.rows_of("rpc-v1"), (1, 6));
}

#[tokio::test]
async fn the_rpc_function_gives_messages_without_a_conversation_id_the_conversations() {
    let stack = SupabaseStack::start();
    let target = rest_target(&stack.url, &stack.service_key, Some("restore_archived_conversation"));
    // Absent, null, and present: the function sets it only where it lacks.
    let mut value = fixtures::conversation("rpc-fill", "round.trips@example.com", "Fill", 4);
    value["messages"][1].as_object_mut().unwrap().remove("conversation_id");
    value["messages"][2]["conversation_id"] = Value::Null;
    let doc = ConversationDocument::from_value("rpc-fill", value).unwrap();
    let report = run(&target, &doc, &RestoreOptions::default()).await;
    assert!(report.verified, "{report:?}");
    assert_eq!(report.messages_inserted, 4);
    assert_eq!(
        stack.psql("select string_agg(id || '=' || conversation_id, ' ' order by id) from messages"),
        "rpc-fill-m00000=rpc-fill rpc-fill-m00001=rpc-fill rpc-fill-m00002=rpc-fill rpc-fill-m00003=rpc-fill"
    );
    // A repeat writes nothing and still verifies.
    let again = run(&target, &doc, &RestoreOptions::default()).await;
    assert!(again.verified && again.messages_inserted == 0, "{again:?}");
}

#[tokio::test]
async fn plain_rest_inserts_in_two_rounds_and_reads_back_only_what_was_there() {
    let stack = SupabaseStack::start();
    let proxy = counting_proxy(&stack);
    let target = rest_target(&proxy.endpoint(), &stack.service_key, None);
    let mut seen = [0; 3];
    // GETs beside the conversation's insert: the conversation's key (1),
    // the conversation's messages with their count (1, none yet); the
    // first restore of this process also reads the columns (1). POSTs: the
    // conversation, then two chunks of 500 sent together. Nothing read back.
    let first = doc("plain-trips", MESSAGES);
    assert_first(&run(&target, &first, &RestoreOptions::default()).await);
    assert_eq!(
        requests(&proxy, &mut seen),
        [3, 3, 0],
        "first restore, columns not known yet"
    );
    let second = doc("plain-tripz", MESSAGES);
    assert_first(&run(&target, &second, &RestoreOptions::default()).await);
    assert_eq!(requests(&proxy, &mut seen), [2, 3, 0], "first restore, columns known");
    // A repeat inserts nothing, so every row is read back: the
    // conversation (1) and the messages (15 URL-sized key lists for these
    // ids, at most 1,500 characters each), all at once, after the same 2.
    assert_repeat(&run(&target, &first, &RestoreOptions::default()).await);
    assert_eq!(requests(&proxy, &mut seen), [18, 3, 0], "repeat");

    // The reads beside the conversation's insert go together with it.
    stack.reset();
    proxy.set_rules(vec![Rule::new(
        "slow",
        Match::any(),
        Fault::Latency {
            fixed_ms: 500,
            jitter_ms: 0,
        },
    )]);
    proxy.track_in_flight(Match::any());
    assert_first(&run(&target, &first, &RestoreOptions::default()).await);
    assert!(
        proxy.peak_in_flight() >= 3,
        "the conversation's insert and the 2 reads are in flight together: {}",
        proxy.peak_in_flight()
    );
}

#[tokio::test]
async fn plain_rest_reads_every_row_from_a_server_answering_with_fewer() {
    // 40 rows an answer ("max rows"): the key lists of these ids hold up
    // to 68 keys, so their answers come back cut short and are asked again
    // in parts; a count says how many there are.
    let stack = SupabaseStack::start_with_max_rows("", 40);
    let target = rest_target(&stack.url, &stack.service_key, None);
    let doc = doc("low-max-rows", 120);
    let first = run(&target, &doc, &RestoreOptions::default()).await;
    assert!(first.verified && first.messages_inserted == 120, "{first:?}");
    // A repeat reads all 120 back.
    let again = run(&target, &doc, &RestoreOptions::default()).await;
    assert!(again.verified && again.conversation_already_present, "{again:?}");
    assert_eq!((again.messages_inserted, again.messages_in_table), (0, 120));
    // Two gone: the conversation holds more than one answer, so what it
    // held is read by key, and the count is still exact.
    stack.psql("delete from messages where id in ('low-max-rows-m00007', 'low-max-rows-m00100')");
    let repair = run(&target, &doc, &RestoreOptions::default()).await;
    assert!(repair.verified, "{repair:?}");
    assert_eq!((repair.messages_inserted, repair.messages_in_table), (2, 120));
    assert_eq!(stack.rows_of("low-max-rows"), (1, 120));

    // Live status of 61 conversations (one list of ids), and 120 messages
    // in pages of 40: every row counted.
    stack.psql("insert into conversations (id) select 'lm-' || g from generate_series(0, 59) g");
    let mut asked: Vec<(String, Option<u64>)> = (0..60).map(|i| (format!("lm-{i}"), Some(0))).collect();
    asked.push(("low-max-rows".into(), Some(120)));
    let live = target.live_status(&asked).await.unwrap();
    assert!(live.iter().all(|s| s.state == LiveState::Complete), "{live:#?}");
    assert_eq!(live[60].messages_in_table, 120);

    // Another desk takes `lm-a`'s rows away while live status pages
    // through `lm-a` then `lm-b` (15 pages): `lm-b`'s rows never move and
    // are each counted once (paged by offset, rows slid past the pages).
    // Its ids hold what PostgREST's filters reserve, to be quoted.
    const B: &str = r#"lm-b, "odd" (1) \ é"#;
    stack.psql(&format!(
        "insert into conversations (id) values ('lm-a'), ('{B}'); \
         insert into messages (id, conversation_id) \
         select 'lm-a-' || lpad(g::text, 3, '0'), 'lm-a' from generate_series(1, 400) g \
         union all select '{B},m(' || lpad(g::text, 3, '0') || ')', '{B}' from generate_series(1, 200) g",
    ));
    let mut deleter = stack
        .psql_command()
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deletes = "delete from messages where id in (select id from messages \
                   where conversation_id = 'lm-a' order by id limit 10); select pg_sleep(0.05);\n"
        .repeat(40);
    deleter.stdin.take().unwrap().write_all(deletes.as_bytes()).unwrap();
    let pair = [("lm-a".to_owned(), Some(400)), (B.to_owned(), Some(200))];
    // `lm-a` as each read saw it: some read must have met it half deleted.
    let mut seen = Vec::new();
    let ended = loop {
        if let Some(status) = deleter.try_wait().unwrap() {
            break status;
        }
        let live = target.live_status(&pair).await.unwrap();
        assert_eq!(live[1].messages_in_table, 200, "after {seen:?}: {live:#?}");
        seen.push(live[0].messages_in_table);
    };
    assert!(ended.success(), "the deletes failed: {ended}");
    assert!(
        seen.iter().any(|n| (1..400).contains(n)),
        "no read overlapped the deletes: {seen:?}"
    );
    assert_eq!(stack.rows_of("lm-a"), (1, 0));
}

#[tokio::test]
async fn a_key_held_by_more_rows_than_one_answer_is_an_error_not_a_loop() {
    // Without its primary key the table can hold one id 50 times; at 40
    // rows an answer, asking again for that one key cannot get further.
    let stack = SupabaseStack::start_with_max_rows(
        "alter table public.messages drop constraint messages_conversation_id_fkey; \
         alter table public.conversations drop constraint conversations_pkey; \
         insert into public.conversations (id) select 'twin' from generate_series(1, 50)",
        40,
    );
    let target = rest_target(&stack.url, &stack.service_key, None);
    let live = tokio::time::timeout(
        Duration::from_secs(60),
        target.live_status(&[("twin".to_owned(), Some(0))]),
    )
    .await
    .expect("the read ended");
    let err = live.unwrap_err();
    assert_eq!(err.code(), "restore_failed", "{err}");
    assert!(
        err.to_string()
            .contains("counted 50 rows of conversations for 1 key but"),
        "{err}"
    );
    assert!(err.to_string().contains("not unique"), "{err}");
}

/// A loopback TCP relay to `upstream` counting round trips: each answer
/// from the server that follows something the client sent.
async fn counting_relay(upstream: u16) -> (u16, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let trips = Arc::new(AtomicU64::new(0));
    let counter = trips.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let trips = counter.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await else {
                    return;
                };
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_server, mut to_server) = server.into_split();
                let asked = Arc::new(AtomicBool::new(false));
                let ask = asked.clone();
                let up = tokio::spawn(async move {
                    let mut buf = vec![0; 64 * 1024];
                    while let Ok(n @ 1..) = from_client.read(&mut buf).await {
                        ask.store(true, Ordering::SeqCst);
                        if to_server.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
                let mut buf = vec![0; 64 * 1024];
                while let Ok(n @ 1..) = from_server.read(&mut buf).await {
                    if asked.swap(false, Ordering::SeqCst) {
                        trips.fetch_add(1, Ordering::SeqCst);
                    }
                    if to_client.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                let _ = up.await;
            });
        }
    });
    (port, trips)
}

fn through(stack: &SupabaseStack, port: u16) -> String {
    let url = stack.postgres_url.replace(
        &format!("@127.0.0.1:{}/", stack.db_port),
        &format!("@127.0.0.1:{port}/"),
    );
    format!("{url}?sslmode=disable")
}

#[tokio::test]
async fn postgres_restores_in_one_round_trip_on_a_kept_connection() {
    let stack = SupabaseStack::start();
    let (port, trips) = counting_relay(stack.db_port).await;
    let target = postgres_target(through(&stack, port));
    let since = |before: &mut u64| {
        let now = trips.load(Ordering::SeqCst);
        let out = now - *before;
        *before = now;
        out
    };
    let mut seen = 0;
    // A new process: the connect (startup and the SCRAM exchange, three),
    // the columns (one), the restore (one).
    let first = doc("pg-trips", MESSAGES);
    assert_first(&run(&target, &first, &RestoreOptions::default()).await);
    assert_eq!(since(&mut seen), 5, "connect, columns, restore");
    // Then the connection and the columns are kept: one round trip, for a
    // first restore and a repeat alike.
    let second = doc("pg-trips-2", MESSAGES);
    assert_first(&run(&target, &second, &RestoreOptions::default()).await);
    assert_eq!(since(&mut seen), 1, "first restore on a kept connection");
    assert_repeat(&run(&target, &first, &RestoreOptions::default()).await);
    assert_eq!(since(&mut seen), 1, "repeat");
    // Another target to the same server, as the app makes one per restore.
    let again = postgres_target(through(&stack, port));
    assert_repeat(&run(&again, &second, &RestoreOptions::default()).await);
    assert_eq!(since(&mut seen), 1, "a new target reuses the idle connection");
    assert_eq!(stack.rows_of("pg-trips"), (1, MESSAGES as u64));
}

/// Wait until PostgREST's OpenAPI description shows `messages.column`
/// (present or not), after a schema change and `notify pgrst`.
async fn until_postgrest_sees(stack: &SupabaseStack, column: &str, present: bool) {
    stack.psql("notify pgrst, 'reload schema'");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut req = http.get(format!("{}/", stack.rest_url));
        for (k, v) in stack.service_headers() {
            req = req.header(k, v);
        }
        let api: Value = req.send().await.unwrap().json().await.unwrap();
        if api["definitions"]["messages"]["properties"].get(column).is_some() == present {
            return;
        }
        assert!(Instant::now() < deadline, "PostgREST did not reload its schema");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_column_added_after_the_columns_were_read_is_written_not_dropped() {
    let stack = SupabaseStack::start_with("alter table public.messages drop column feedback");
    let allow = RestoreOptions {
        allow_missing_columns: true,
        ..Default::default()
    };
    let targets = [
        ("rest", rest_target(&stack.url, &stack.service_key, None)),
        ("postgres", stack.postgres_target()),
    ];
    // The process learns the tables without `feedback`.
    for (name, target) in &targets {
        let report = run(target, &doc(&format!("before-{name}"), 6), &allow).await;
        assert_eq!(report.dropped_fields.messages, ["feedback"], "{name}");
    }
    stack.psql("alter table public.messages add column feedback text");
    until_postgrest_sees(&stack, "feedback", true).await;
    // Even allowed to leave fields out, a restore does not trust the kept
    // list for a field it lacks: it asks again, and writes it.
    for (name, target) in &targets {
        let id = format!("after-{name}");
        let report = run(target, &doc(&id, 6), &allow).await;
        assert!(report.dropped_fields.messages.is_empty(), "{name}: {report:?}");
        assert!(report.verified, "{name}");
        assert_eq!(
            stack.psql(&format!(
                "select count(*) from messages where conversation_id = '{id}' and feedback = 'positive'"
            )),
            "1",
            "{name}: the feedback was written"
        );
    }
}

#[tokio::test]
async fn a_column_dropped_after_the_columns_were_read_is_refused_not_lost() {
    let stack = SupabaseStack::start();
    let targets = [
        ("rest", rest_target(&stack.url, &stack.service_key, None)),
        ("postgres", stack.postgres_target()),
    ];
    // The process learns the tables with `feedback`.
    for (name, target) in &targets {
        run(target, &doc(&format!("before-{name}"), 6), &RestoreOptions::default()).await;
    }
    stack.psql("alter table public.messages drop column feedback");
    until_postgrest_sees(&stack, "feedback", false).await;
    for (name, target) in &targets {
        // The write the kept list planned is rejected; the restore starts
        // over from the server's columns and refuses the field, as it would
        // have from the start: nothing written.
        let id = format!("after-{name}");
        let err = restore::restore(
            target,
            &doc(&id, 6),
            &RestoreOptions::default(),
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "missing_columns", "{name}: {err}");
        assert!(err.to_string().contains("messages.feedback"), "{name}: {err}");
        assert_eq!(stack.rows_of(&id), (0, 0), "{name}");
        // Allowed, it is left out and reported.
        let allow = RestoreOptions {
            allow_missing_columns: true,
            ..Default::default()
        };
        let report = run(target, &doc(&id, 6), &allow).await;
        assert_eq!(report.dropped_fields.messages, ["feedback"], "{name}");
        assert!(report.verified, "{name}");
    }
}
