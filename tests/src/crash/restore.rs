//! Crashes in a restore, for each mode: the RPC function and direct
//! Postgres (one transaction: after a kill the conversation is in the
//! tables whole or not at all) and plain REST (compensated steps, which a
//! kill cannot run: whatever it leaves, the next restore completes, and its
//! report says what was already there).

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use archive_desk_core::Layout;
use serde_json::Value;

use super::{block_on, moments, Cli, KillAt, Plan, Tally};
use crate::fixtures::{self, IndexState};
use crate::supabase::SupabaseStack;
use crate::{fresh_store, servers, Fault, FaultProxy, Match, Rule, ServerKind};

const EMAIL: &str = "restore-crash@example.com";
/// Messages per conversation: more than one insert request of 500.
const MESSAGES: usize = 1200;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Rest,
    Rpc,
    Postgres,
}

pub fn restore_rest(binary: &Path, plan: &Plan) {
    run(binary, plan, Mode::Rest)
}

pub fn restore_rpc(binary: &Path, plan: &Plan) {
    run(binary, plan, Mode::Rpc)
}

pub fn restore_postgres(binary: &Path, plan: &Plan) {
    run(binary, plan, Mode::Postgres)
}

/// Rows of conversation `id` in the project: (conversations, messages).
pub(crate) fn rows(stack: &SupabaseStack, id: &str) -> (u64, u64) {
    let out = stack.psql(&format!(
        "select (select count(*) from public.conversations where id = '{id}'), \
         (select count(*) from public.messages where conversation_id = '{id}')"
    ));
    let (c, m) = out.split_once('|').expect("two counts");
    (c.parse().expect("a count"), m.parse().expect("a count"))
}

fn run(binary: &Path, plan: &Plan, mode: Mode) {
    let name = match mode {
        Mode::Rest => "restore-rest",
        Mode::Rpc => "restore-rpc",
        Mode::Postgres => "restore-postgres",
    };
    let mut tally = Tally::new(name, plan);
    let mut rng = fastrand::Rng::with_seed(plan.seed);
    let stack = SupabaseStack::start();
    // The REST modes reach the gateway through a proxy, to stall a chosen
    // request; Postgres is killed at random moments only.
    let gateway = FaultProxy::start_http(&stack.url, plan.seed);
    let server = servers::shared(ServerKind::Moto);
    let ids: Vec<String> = (0..=plan.runs)
        .map(|r| format!("{name}-{r}-{}", servers::token()))
        .collect();
    let docs: Vec<Value> = ids
        .iter()
        .map(|id| fixtures::conversation(id, EMAIL, "Crash", MESSAGES))
        .collect();
    let bucket = block_on(async {
        let store = fresh_store(ServerKind::Moto, Layout::default()).await;
        fixtures::seed(&store, |s| {
            s.user(EMAIL, IndexState::Present, &docs.iter().collect::<Vec<_>>());
            for doc in &docs {
                s.good(EMAIL, doc, ".json", archive_desk_core::codec::Encoding::Plain);
            }
        })
        .await;
        store.bucket().to_owned()
    });
    let mut env: Vec<(String, String)> = server.aws_env().into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    let mut target_args: Vec<String> = Vec::new();
    match mode {
        Mode::Postgres => {
            env.push((
                "ARCHIVE_DESK_POSTGRES_URL".into(),
                format!("{}?sslmode=disable", stack.postgres_url),
            ));
            target_args.extend(["--target", "postgres"].map(str::to_owned));
        }
        Mode::Rest | Mode::Rpc => {
            env.push(("SUPABASE_SERVICE_ROLE_KEY".into(), stack.service_key.clone()));
            target_args.extend([
                "--target".into(),
                "rest".into(),
                "--supabase-url".into(),
                gateway.endpoint(),
            ]);
            if mode == Mode::Rpc {
                target_args.extend(["--rpc-function", "restore_archived_conversation"].map(str::to_owned));
            }
        }
    }
    let stalls: Vec<(&str, Match)> = match mode {
        // The conversation row is in; its messages are not.
        Mode::Rest => vec![("messages-insert", Match::any().method("POST").key_suffix("/messages"))],
        // Before the call reaches the database. (The call answers with the
        // stored rows, so there is no read-back after it to stall.)
        Mode::Rpc => vec![(
            "rpc-call",
            Match::any()
                .method("POST")
                .key_suffix("/rpc/restore_archived_conversation_v3"),
        )],
        // Postgres is stalled inside its transaction instead (below).
        Mode::Postgres => Vec::new(),
    };
    let points = if mode == Mode::Postgres { 1 } else { stalls.len() };
    let cli = Cli::new(binary, &server.endpoint, &bucket, env);
    let args_for = |id: &str| -> Vec<String> {
        ["restore", EMAIL, id, "--json"]
            .map(str::to_owned)
            .into_iter()
            .chain(target_args.iter().cloned())
            .collect()
    };
    let clean_args = args_for(&ids[plan.runs]);
    let started = Instant::now();
    let report = cli.json(&clean_args.iter().map(String::as_str).collect::<Vec<_>>());
    let clean = started.elapsed();
    assert_eq!(report["verified"], true, "a clean restore verifies: {report}");
    for (run, moment) in moments(&mut rng, plan.runs, points, clean).iter().enumerate() {
        let id = &ids[run];
        let args = args_for(id);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let killed = match moment {
            Ok(_) if mode == Mode::Postgres => {
                // The messages table locked by another session: the restore's
                // transaction waits on it with the conversation row written,
                // not committed; killed while it waits.
                let lock = MessagesLock::take(&stack);
                let waiting = || lock.someone_waits(&stack);
                let killed = cli.run_and_kill(
                    &args,
                    &KillAt::Once {
                        reached: &waiting,
                        what: "a transaction waiting on the messages lock",
                    },
                );
                drop(lock);
                killed
            }
            Ok(k) => {
                let (rule, on) = &stalls[*k];
                gateway.set_rules(vec![Rule::new(rule, on.clone(), Fault::Stall).limit(1)]);
                let reached = || gateway.hits(rule) > 0;
                cli.run_and_kill(
                    &args,
                    &KillAt::Once {
                        reached: &reached,
                        what: rule,
                    },
                )
            }
            Err(delay) => cli.run_and_kill(&args, &KillAt::After(*delay)),
        };
        gateway.clear();
        tally.record(run, &killed, moment.is_ok());
        // A request the kill cut off may still be running on the server:
        // let it finish (PostgREST's and Postgres's own timeouts are far
        // longer; a transaction in flight ends when its client is gone).
        let before = settled_rows(&stack, id);
        // Where a chosen point was hit, the kill landed in its window.
        if let (Ok(k), true) = (moment, killed.killed) {
            let (fits, expected) = match mode {
                // The conversation row written, the stalled chunk of
                // messages not (the other chunks go beside it).
                Mode::Rest => (before.0 == 1 && before.1 < MESSAGES as u64, "(1, fewer than all)"),
                // Before the call.
                Mode::Rpc => (before == (0, 0), "(0, 0)"),
                // Inside the transaction, rolled back.
                Mode::Postgres => (before == (0, 0), "(0, 0)"),
            };
            tally.check(run, fits, || {
                format!("killed at chosen point {k}: {before:?}, expected {expected}")
            });
        }
        if mode != Mode::Rest {
            tally.check(run, before == (0, 0) || before == (1, MESSAGES as u64), || {
                format!("a one-transaction restore left {before:?} (conversation, messages) of (1, {MESSAGES})")
            });
        }
        cli.check_audit(&mut tally, run);
        let again = cli.output(&args);
        let report: Value = serde_json::from_slice(&again.stdout).unwrap_or(Value::Null);
        tally.check(run, again.status.success() && report["verified"] == true, || {
            format!(
                "the restore run again did not complete: {} {}",
                String::from_utf8_lossy(&again.stdout),
                String::from_utf8_lossy(&again.stderr)
            )
        });
        let after = rows(&stack, id);
        tally.check(run, after == (1, MESSAGES as u64), || {
            format!("after the second restore: {after:?}")
        });
        // Its report says what the crashed run had left.
        tally.check(
            run,
            report["conversation_already_present"] == (before.0 == 1) && report["messages_already_present"] == before.1,
            || format!("the second report does not say what was there ({before:?}): {report}"),
        );
    }
    tally.finish();
}

/// The rows once the server is done with what a killed client sent. An
/// insert sent just before the kill may still be in PostgREST or
/// committing, and on a busy machine that outlasts any fixed pause (seen:
/// rows read as absent 300 ms apart, then committed). So: no other session
/// of this database busy for a whole second, with equal reads around it;
/// within 30 s.
pub(crate) fn settled_rows(stack: &SupabaseStack, id: &str) -> (u64, u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let first = rows(stack, id);
        let quiet = quiet_for(stack, Duration::from_secs(1));
        let now = rows(stack, id);
        if (quiet && now == first) || Instant::now() > deadline {
            return now;
        }
    }
}

/// Whether no other client session of the project's database was busy
/// (running, or inside a transaction) at any look over `span`.
fn quiet_for(stack: &SupabaseStack, span: Duration) -> bool {
    let since = Instant::now();
    while since.elapsed() < span {
        let busy = stack.psql(
            "select count(*) from pg_stat_activity where datname = current_database() \
             and backend_type = 'client backend' and state <> 'idle' and pid <> pg_backend_pid()",
        );
        if busy.trim() != "0" {
            std::thread::sleep(Duration::from_millis(100));
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

/// A psql session holding `public.messages` in SHARE mode (inserts wait;
/// reads do not) until dropped.
struct MessagesLock {
    psql: std::process::Child,
}

impl MessagesLock {
    fn take(stack: &SupabaseStack) -> MessagesLock {
        use std::io::{BufRead as _, Write as _};
        let mut cmd = stack.psql_command();
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null());
        let mut psql = cmd.spawn().expect("psql starts");
        let stdin = psql.stdin.as_mut().expect("psql stdin");
        stdin
            .write_all(b"begin;\nlock table public.messages in share mode;\nselect 'locked';\n")
            .expect("psql takes the SQL");
        stdin.flush().expect("psql takes the SQL");
        let mut line = String::new();
        std::io::BufReader::new(psql.stdout.as_mut().expect("psql stdout"))
            .read_line(&mut line)
            .expect("psql answers");
        assert_eq!(line.trim(), "locked", "the lock session did not start");
        MessagesLock { psql }
    }

    /// Another session of this database waits for a lock.
    fn someone_waits(&self, stack: &SupabaseStack) -> bool {
        stack.psql(
            "select count(*) from pg_stat_activity \
             where datname = current_database() and wait_event_type = 'Lock'",
        ) != "0"
    }
}

impl Drop for MessagesLock {
    fn drop(&mut self) {
        // End of input: psql ends the session, the transaction rolls back.
        drop(self.psql.stdin.take());
        let _ = self.psql.wait();
    }
}
