//! Crashes in a bulk restore (`restore <email> --all`, plain REST: the
//! mode a kill can leave half-done): the CLI is killed once it has sent a
//! drawn number of message inserts, with several conversations under way.
//! Whatever it leaves, the same command run again finishes the batch: every
//! conversation whole, no message twice, the report saying what the killed
//! run had left, and one batch record in the audit log for the run that
//! finished.

use std::path::Path;

use archive_desk_core::Layout;
use serde_json::Value;

use super::restore::{rows, settled_rows};
use super::{block_on, Cli, KillAt, Plan, Tally};
use crate::fixtures::{self, IndexState};
use crate::supabase::SupabaseStack;
use crate::{fresh_store, servers, Fault, FaultProxy, Match, Rule, ServerKind};

/// Conversations per user, and messages each: two insert requests each.
const CONVERSATIONS: usize = 6;
const MESSAGES: usize = 700;

pub fn restore_bulk(binary: &Path, plan: &Plan) {
    let mut tally = Tally::new("restore-bulk", plan);
    let mut rng = fastrand::Rng::with_seed(plan.seed);
    let stack = SupabaseStack::start();
    let gateway = FaultProxy::start_http(&stack.url, plan.seed);
    let server = servers::shared(ServerKind::Moto);
    let token = servers::token();
    let email = |run: usize| format!("bulk-crash-{run}-{token}@example.com");
    let ids = |run: usize| -> Vec<String> {
        (0..CONVERSATIONS)
            .map(|c| format!("bulk-crash-{run}-{c}-{token}"))
            .collect()
    };
    let bucket = block_on(async {
        let store = fresh_store(ServerKind::Moto, Layout::default()).await;
        fixtures::seed(&store, |s| {
            for run in 0..plan.runs {
                let docs: Vec<Value> = ids(run)
                    .iter()
                    .map(|id| fixtures::conversation(id, &email(run), "Bulk crash", MESSAGES))
                    .collect();
                s.user(&email(run), IndexState::Present, &docs.iter().collect::<Vec<_>>());
                for doc in &docs {
                    s.good(&email(run), doc, ".json", archive_desk_core::codec::Encoding::Plain);
                }
            }
        })
        .await;
        store.bucket().to_owned()
    });
    let mut env: Vec<(String, String)> = server.aws_env().into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    env.push(("SUPABASE_SERVICE_ROLE_KEY".into(), stack.service_key.clone()));
    let cli = Cli::new(binary, &server.endpoint, &bucket, env);
    let endpoint = gateway.endpoint();
    for run in 0..plan.runs {
        let email = email(run);
        let args = [
            "restore",
            email.as_str(),
            "--all",
            "--json",
            "--target",
            "rest",
            "--supabase-url",
            endpoint.as_str(),
        ];
        // Kill after 1..=8 of the 12 message inserts (forwarded, counted).
        let inserts = rng.u64(1..=8);
        gateway.set_rules(vec![Rule::new(
            "message-inserts",
            Match::any().method("POST").key_suffix("/messages"),
            Fault::Latency {
                fixed_ms: 0,
                jitter_ms: 0,
            },
        )]);
        let reached = || gateway.hits("message-inserts") >= inserts;
        let killed = cli.run_and_kill(
            &args,
            &KillAt::Once {
                reached: &reached,
                what: "a message insert",
            },
        );
        gateway.clear();
        tally.record(run, &killed, true);
        let before: Vec<(u64, u64)> = ids(run).iter().map(|id| settled_rows(&stack, id)).collect();
        tally.check(run, before.iter().any(|r| r.1 > 0), || {
            format!("killed after {inserts} message inserts, yet no message is in the tables: {before:?}")
        });
        if before.iter().all(|r| *r == (1, MESSAGES as u64)) {
            tally.note("the kill came after the last conversation was restored");
        }
        cli.check_audit(&mut tally, run);

        let again = cli.output(&args);
        let report: Value = serde_json::from_slice(&again.stdout).unwrap_or(Value::Null);
        tally.check(run, again.status.success() && report["failed"] == 0, || {
            format!(
                "the batch run again did not complete: {} {}",
                String::from_utf8_lossy(&again.stdout),
                String::from_utf8_lossy(&again.stderr)
            )
        });
        for (id, left) in ids(run).iter().zip(&before) {
            let after = rows(&stack, id);
            tally.check(run, after == (1, MESSAGES as u64), || {
                format!("{id} after the second run: {after:?}, killed run left {left:?}")
            });
            let row = report["conversations"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["conversation_id"] == id.as_str()));
            let said = row.map(|c| (c["outcome"].clone(), c["messages_already_present"].clone()));
            let expected_outcome = if *left == (1, MESSAGES as u64) {
                "already_there"
            } else {
                "restored"
            };
            tally.check(run, said == Some((expected_outcome.into(), left.1.into())), || {
                format!("{id}: the second report says {said:?}; the killed run left {left:?}")
            });
        }
        let total = stack.psql(&format!(
            "select count(*), count(distinct id) from public.messages where conversation_id like 'bulk-crash-{run}-%-{token}'"
        ));
        let expected = format!("{}|{}", CONVERSATIONS * MESSAGES, CONVERSATIONS * MESSAGES);
        tally.check(run, total == expected, || {
            format!("messages of the batch: {total}, expected {expected}")
        });
        let audit = cli.output(&["audit", "--json"]);
        let batches = String::from_utf8_lossy(&audit.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|r| r["action"] == "restore_batch" && r["user_email"] == email.as_str())
            .count();
        // One per run that finished: the second, and the first if the kill came too late.
        let finished = 1 + usize::from(!killed.killed);
        tally.check(run, batches == finished, || {
            format!("{batches} restore_batch records for {email}, expected {finished}")
        });
    }
    tally.finish();
}
