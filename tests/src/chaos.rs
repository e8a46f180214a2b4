//! Chaos runs (docs/RELIABILITY.md, "Chaos"): the real `archive-desk-cli`
//! reaches moto through the fault proxy under a mix of faults ([`mix`]),
//! many times per operation. Each run either completes with the right
//! result or fails cleanly — exit 1, `--json` error `{code, message}` with a
//! stable code and a message naming the object — and then a retry without
//! faults completes. After every run the crash tests' invariants are
//! checked (`crash::archive`, `crash::restore`): no index entry lost (an
//! archiver appends to the same index during deletes), no partial export
//! file, the catalog equal to a clean sync, no duplicate restored row.
//!
//! `ARCHIVE_DESK_CHAOS_RUNS` / `ARCHIVE_DESK_CHAOS_SEED` set the runs per
//! operation and the seed; `ARCHIVE_DESK_CHAOS_REPORT` a directory where
//! each operation writes its tally (for `scripts/reliability.sh`).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;
use std::time::Instant;

use archive_desk_core::{ConversationDocument, Layout, Store, UserFolder};
use serde_json::Value;

use crate::crash::archive::{id_of, index_state, partials, seed_user_in, sorted_hits, EMAIL};
use crate::crash::restore::settled_rows;
use crate::crash::{block_on, Cli, Plan};
use crate::fixtures::{self, IndexState};
use crate::supabase::SupabaseStack;
use crate::{fresh_store, servers, Fault, FaultProxy, Match, Rule, ServerKind};

/// The fault mix, as each request sees it: 20 ms ± 10 ms of latency, then
/// 10% `503 SlowDown`, 2% connection resets, 1% bodies cut after 64 bytes.
/// Rules draw one after the other, so each later probability is divided by
/// the chance that the earlier ones did not fire.
pub fn mix() -> Vec<Rule> {
    let (slow_down, reset, cut) = (0.10, 0.02, 0.01);
    vec![
        Rule::new(
            "latency",
            Match::any(),
            Fault::Latency {
                fixed_ms: 10,
                jitter_ms: 20,
            },
        ),
        Rule::new("slow-down", Match::any(), Fault::slow_down()).probability(slow_down),
        Rule::new("reset", Match::any(), Fault::ResetBeforeResponse).probability(reset / (1.0 - slow_down)),
        Rule::new("truncate", Match::any(), Fault::TruncateBody { after_bytes: 64 })
            .probability(cut / (1.0 - slow_down - reset)),
    ]
}

/// The fault mix in words, for the report.
pub const MIX: &str = "20 ms ± 10 ms latency on every request; 10% 503 SlowDown, 2% connection reset before the answer, 1% body cut after 64 bytes";

/// One operation's counts.
pub struct Tally {
    operation: &'static str,
    seed: u64,
    attempted: usize,
    completed: usize,
    failed_cleanly: usize,
    violations: Vec<String>,
    /// Error codes of the clean failures, with how often.
    codes: BTreeMap<String, usize>,
    /// Faults the proxy injected, by rule.
    faults: BTreeMap<String, u64>,
    started: Instant,
}

impl Tally {
    fn new(operation: &'static str, plan: &Plan) -> Tally {
        Tally {
            operation,
            seed: plan.seed,
            attempted: 0,
            completed: 0,
            failed_cleanly: 0,
            violations: Vec::new(),
            codes: BTreeMap::new(),
            faults: BTreeMap::new(),
            started: Instant::now(),
        }
    }

    fn check(&mut self, run: usize, ok: bool, violation: impl FnOnce() -> String) {
        if !ok {
            let v = format!("run {run}: {}", violation());
            eprintln!("chaos {} (seed {}): VIOLATION {v}", self.operation, self.seed);
            self.violations.push(v);
        }
    }

    fn save(&self, finished: bool) {
        let Ok(dir) = std::env::var("ARCHIVE_DESK_CHAOS_REPORT") else {
            return;
        };
        let row = serde_json::json!({
            "operation": self.operation,
            "seed": self.seed,
            "attempted": self.attempted,
            "completed": self.completed,
            "failed_cleanly": self.failed_cleanly,
            "violations": self.violations,
            "codes": self.codes,
            "faults": self.faults,
            "seconds": self.started.elapsed().as_secs(),
            "finished": finished,
        });
        let path = Path::new(&dir).join(format!("{}.json", self.operation));
        std::fs::write(&path, row.to_string()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    /// Write the tally (when asked) and fail on any violation.
    fn finish(self) {
        self.report();
        self.assert_clean();
    }

    /// Print and write the tally (when asked).
    fn report(&self) {
        eprintln!(
            "chaos {}: {} attempted, {} completed, {} failed cleanly, {} violations, faults {:?}, codes {:?}, {:.1} s (seed {})",
            self.operation,
            self.attempted,
            self.completed,
            self.failed_cleanly,
            self.violations.len(),
            self.faults,
            self.codes,
            self.started.elapsed().as_secs_f64(),
            self.seed
        );
        self.save(true);
    }

    fn assert_clean(&self) {
        assert!(
            self.violations.is_empty(),
            "chaos {}: {} violations (replay: ARCHIVE_DESK_CHAOS_SEED={}):\n{}",
            self.operation,
            self.violations.len(),
            self.seed,
            self.violations.join("\n")
        );
    }
}

/// The proxy in front of the shared moto, a pass's seed, and the CLI's
/// environment for it.
struct Pass {
    proxy: FaultProxy,
    env: Vec<(String, String)>,
    rng: fastrand::Rng,
    tally: Tally,
}

impl Pass {
    fn new(operation: &'static str, plan: &Plan) -> Pass {
        let server = servers::shared(ServerKind::Moto);
        Pass {
            proxy: FaultProxy::start_seeded(server, plan.seed),
            env: server.aws_env().into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            rng: fastrand::Rng::with_seed(plan.seed),
            tally: Tally::new(operation, plan),
        }
    }

    fn cli(&self, bucket: &str) -> Cli {
        Cli::new(crate_binary(), &self.proxy.endpoint(), bucket, self.env.clone())
    }

    /// Run `args` once under the mix, then, if it failed, once more without
    /// faults. `right` judges a successful output (`Ok(Some(code))`: the
    /// output itself reports a clean per-row failure, e.g. a summary whose
    /// index could not be read, which also calls for the retry); a failure
    /// must be clean (see [`clean_failure`]) and name one of `names`.
    fn attempt(&mut self, cli: &Cli, run: usize, args: &[&str], names: &[&str], right: &dyn Fn(&Output) -> Judged) {
        self.proxy.set_rules_seeded(mix(), self.rng.u64(..));
        let out = cli.output(args);
        for rule in ["slow-down", "reset", "truncate"] {
            *self.tally.faults.entry(rule.to_owned()).or_default() += self.proxy.hits(rule);
        }
        self.proxy.clear();
        self.tally.attempted += 1;
        let failure = if out.status.success() {
            right(&out)
        } else {
            clean_failure(&out, names).map(Some)
        };
        let completed = matches!(failure, Ok(None));
        match failure {
            Ok(None) => self.tally.completed += 1,
            Ok(Some(code)) => {
                self.tally.failed_cleanly += 1;
                *self.tally.codes.entry(code).or_default() += 1;
            }
            Err(why) => self.tally.check(run, false, || {
                format!("under faults: {why}; stderr: {}", String::from_utf8_lossy(&out.stderr))
            }),
        }
        if !completed {
            let again = cli.output(args);
            let judged = if again.status.success() {
                right(&again)
            } else {
                Err(String::from_utf8_lossy(&again.stderr).into_owned())
            };
            self.tally.check(run, judged == Ok(None), || {
                format!("the retry without faults did not complete: {judged:?}")
            });
        }
        self.tally.save(false);
    }
}

fn crate_binary() -> &'static Path {
    BINARY.get().expect("chaos::set_binary first")
}

static BINARY: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// The CLI binary the passes run (the test crate knows its path).
pub fn set_binary(binary: &Path) {
    let _ = BINARY.set(binary.to_owned());
}

/// A failed run is clean when it exited with status 1 and its last stderr
/// line is the `--json` error `{code, message}`: a known code (not
/// `internal`) and a message naming one of `names`. Returns the code.
pub fn clean_failure(out: &Output, names: &[&str]) -> Result<String, String> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    let report: Value = serde_json::from_str(last).map_err(|_| format!("failed without a JSON error: {stderr}"))?;
    let (code, message) = (
        report["code"].as_str().unwrap_or(""),
        report["message"].as_str().unwrap_or(""),
    );
    if out.status.code() != Some(1) || code.is_empty() || code == "internal" {
        return Err(format!("failed with {} and code {code:?}: {message}", out.status));
    }
    if !names.iter().any(|n| message.contains(n)) {
        return Err(format!("the error names none of {names:?}: [{code}] {message}"));
    }
    Ok(code.to_owned())
}

/// A successful output judged: right (`Ok(None)`), reporting a clean
/// failure of one part with this code (`Ok(Some(code))`), or wrong.
type Judged = Result<Option<String>, String>;

fn stdout_json(out: &Output) -> Result<Value, String> {
    serde_json::from_slice(&out.stdout).map_err(|e| format!("stdout is not JSON: {e}"))
}

/// A bucket with `users` users of `per_user` conversations each.
fn seed_users(users: &[String], per_user: usize) -> (String, Vec<Vec<Value>>) {
    let docs: Vec<Vec<Value>> = users
        .iter()
        .enumerate()
        .map(|(u, email)| fixtures::conversations(email, &format!("u{u:02}"), per_user))
        .collect();
    let bucket = block_on(async {
        let store = fresh_store(ServerKind::Moto, Layout::default()).await;
        fixtures::seed(&store, |s| {
            for (email, docs) in users.iter().zip(&docs) {
                s.user(email, IndexState::Present, &docs.iter().collect::<Vec<_>>());
                for doc in docs {
                    s.good(email, doc, ".json", archive_desk_core::codec::Encoding::Plain);
                }
            }
        })
        .await;
        store.bucket().to_owned()
    });
    (bucket, docs)
}

fn folder_of(email: &str) -> String {
    UserFolder::from_email(email)
        .expect("a fixture email")
        .as_str()
        .to_owned()
}

/// The reads: `users` (plain and `--details`), `index`, `show`, `export`
/// (to a file) and `export-user`, on 6 users of 5 conversations. Every
/// result is compared with the same command's output without faults.
pub fn reads(plan: &Plan) {
    let ops = ["users", "users-details", "index", "show", "export", "export-user"];
    let mut passes: Vec<Pass> = ops.iter().map(|op| Pass::new(op, plan)).collect();
    let users: Vec<String> = (0..6).map(|u| format!("chaos{u}@example.com")).collect();
    let (bucket, docs) = seed_users(&users, 5);
    let clis: Vec<Cli> = passes.iter().map(|p| p.cli(&bucket)).collect();
    let cli = &clis[0];
    let out_dir = tempfile::tempdir().expect("an export dir");
    let clean_users = cli.output(&["users", "--json"]).stdout;
    let clean_details = cli.output(&["users", "--details", "--json"]).stdout;
    for step in 0..plan.runs * ops.len() {
        let (run, op) = (step / ops.len(), step % ops.len());
        let (pass, cli) = (&mut passes[op], &clis[op]);
        let u = step % users.len();
        let (email, folder) = (users[u].as_str(), folder_of(&users[u]));
        let doc = &docs[u][step % docs[u].len()];
        let id = id_of(doc);
        let names = [folder.as_str(), email, id.as_str(), bucket.as_str()];
        match op {
            0 => {
                pass.attempt(cli, run, &["users", "--json"], &names, &|out| {
                    (out.stdout == clean_users)
                        .then_some(None)
                        .ok_or("another listing".into())
                });
            }
            1 => {
                // A summary whose index could not be read says so in its row.
                pass.attempt(cli, run, &["users", "--details", "--json"], &names, &|out| {
                    summaries_judged(&out.stdout, &clean_details)
                });
            }
            2 => {
                let want: Vec<String> = docs[u].iter().map(id_of).collect();
                pass.attempt(cli, run, &["index", email, "--json"], &names, &|out| {
                    let listed = stdout_json(out)?;
                    let ids: Vec<String> = listed["conversations"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|r| r["in_index"] == true && r["in_store"] == true)
                        .map(|r| r["conversation_id"].as_str().unwrap_or_default().to_owned())
                        .collect();
                    let mut sorted = want.clone();
                    sorted.sort();
                    let mut got = ids;
                    got.sort();
                    (got == sorted).then_some(None).ok_or(format!("listed {got:?}"))
                });
            }
            3 => {
                pass.attempt(cli, run, &["show", email, &id, "--json"], &names, &|out| {
                    (stdout_json(out)? == *doc)
                        .then_some(None)
                        .ok_or("another document".into())
                });
            }
            4 => {
                let path = out_dir.path().join(format!("c-{step}.json"));
                let path_text = path.display().to_string();
                let mut names = names.to_vec();
                names.push(&path_text);
                pass.attempt(
                    cli,
                    run,
                    &["export", email, &id, "-o", &path_text, "--json"],
                    &names,
                    &|_| {
                        let v: Value = serde_json::from_slice(&std::fs::read(&path).map_err(|e| e.to_string())?)
                            .map_err(|e| format!("not JSON: {e}"))?;
                        (v == *doc).then_some(None).ok_or("another document".into())
                    },
                );
                no_partials(&mut pass.tally, run, &path);
            }
            _ => {
                let path = out_dir.path().join(format!("u-{step}.json"));
                let path_text = path.display().to_string();
                let mut names = names.to_vec();
                names.push(&path_text);
                let n = docs[u].len();
                let args = ["export-user", email, "-o", &path_text, "--json"];
                // A conversation that could not be read is skipped and
                // listed in the report with its key and code: a clean
                // failure of that conversation, which the retry must fetch.
                pass.attempt(cli, run, &args, &names, &|out| {
                    let v: Value = serde_json::from_slice(&std::fs::read(&path).map_err(|e| e.to_string())?)
                        .map_err(|e| format!("not JSON: {e}"))?;
                    let got = v["conversations"].as_array().map_or(0, Vec::len);
                    let report = stdout_json(out)?;
                    let skipped = report["skipped"].as_array().cloned().unwrap_or_default();
                    if got + skipped.len() != n {
                        return Err(format!("{got} conversations and {} skipped, of {n}", skipped.len()));
                    }
                    let mut code = None;
                    for s in &skipped {
                        let (c, m, key) = (
                            s["error"]["code"].as_str().unwrap_or(""),
                            s["error"]["message"].as_str().unwrap_or(""),
                            s["key"].as_str().unwrap_or("?"),
                        );
                        if c.is_empty() || c == "internal" || !m.contains(key) {
                            return Err(format!("an unclear skip: {s}"));
                        }
                        code = Some(c.to_owned());
                    }
                    Ok(code)
                });
                no_partials(&mut pass.tally, run, &path);
            }
        }
    }
    // Every operation's tally is written before any fails the test.
    for pass in &passes {
        pass.tally.report();
    }
    for pass in &passes {
        pass.tally.assert_clean();
    }
}

/// `users --details --json` against the clean output, line by line: a
/// line may differ only by reporting its index unreadable, with a code and
/// a message naming the user's `metadata.json` (a clean failure of that row).
fn summaries_judged(got: &[u8], clean: &[u8]) -> Judged {
    let (got, clean) = (String::from_utf8_lossy(got), String::from_utf8_lossy(clean));
    let (got, clean): (Vec<&str>, Vec<&str>) = (got.lines().collect(), clean.lines().collect());
    if got.len() != clean.len() {
        return Err(format!("{} summaries, not {}", got.len(), clean.len()));
    }
    let mut code = None;
    for (g, c) in got.iter().zip(&clean) {
        if g == c {
            continue;
        }
        let row: Value = serde_json::from_str(g).map_err(|e| format!("a summary is not JSON: {e}"))?;
        let folder = row["folder"].as_str().unwrap_or_default();
        let (c, message) = (
            row["index_error"]["code"].as_str(),
            row["index_error"]["message"].as_str(),
        );
        match (c, message) {
            (Some(c), Some(m))
                if !c.is_empty() && c != "internal" && m.contains(&format!("{folder}/metadata.json")) =>
            {
                code = Some(c.to_owned());
            }
            _ => return Err(format!("another summary: {g}")),
        }
    }
    Ok(code)
}

/// After an export (and its retry, if any): the file is whole (checked by
/// the caller) and no temporary file is left beside it.
fn no_partials(tally: &mut Tally, run: usize, path: &Path) {
    let left = partials(path);
    tally.check(run, left.is_empty(), || {
        format!("a partial export file is left: {left:?}")
    });
}

/// `sync` of 8 users into a fresh catalog under the mix, then `search`:
/// the catalog must equal a clean sync's (after the retry, if the sync
/// failed).
pub fn sync(plan: &Plan) {
    let mut pass = Pass::new("sync", plan);
    let users: Vec<String> = (0..8).map(|u| format!("sync{u}@example.com")).collect();
    let (bucket, _) = seed_users(&users, 3);
    let mut cli = pass.cli(&bucket);
    let cache = tempfile::tempdir().expect("cache dirs");
    let sync = ["sync", "--concurrency", "4", "--json"];
    let search = ["search", "example.com", "--limit", "200", "--json"];
    cli.use_cache_dir(&cache.path().join("clean"));
    cli.json(&sync);
    let reference = sorted_hits(cli.json(&search));
    assert_eq!(
        reference["hits"].as_array().map(Vec::len),
        Some(24),
        "a clean sync finds all"
    );
    let mut names: Vec<String> = users.iter().map(|u| folder_of(u)).collect();
    names.push(bucket.clone());
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    for run in 0..plan.runs {
        cli.use_cache_dir(&cache.path().join(format!("run-{run}")));
        pass.attempt(&cli, run, &sync, &names, &|_| Ok(None));
        let after = sorted_hits(cli.json(&search));
        pass.tally.check(run, after == reference, || {
            format!(
                "the catalog differs from a clean sync: {} hits of {}",
                after["hits"].as_array().map_or(0, Vec::len),
                reference["hits"].as_array().map_or(0, Vec::len)
            )
        });
    }
    pass.tally.finish();
}

/// Delete 3 of a user's 8 conversations (every version, on a versioned
/// bucket when `versioned`) while an archiver appends 3 entries to the same
/// index straight to moto. Afterwards (and after the retry): the 5 kept and
/// the 3 appended are listed, no deleted conversation's object is left
/// unlisted, and once the delete completed none of the 3 remains.
pub fn delete(plan: &Plan, versioned: bool) {
    let operation = if versioned { "delete-versioned" } else { "delete" };
    let mut pass = Pass::new(operation, plan);
    let server = servers::shared(ServerKind::Moto);
    let folder = UserFolder::from_email(EMAIL).expect("fixture email");
    for run in 0..plan.runs {
        let docs = fixtures::conversations(EMAIL, &format!("chaos{run}"), 8);
        let bucket = seed_user_in(versioned, &docs, &[], &[]);
        let cli = pass.cli(&bucket);
        let ids: Vec<String> = docs.iter().map(id_of).collect();
        let (targets, kept) = ids.split_at(3);
        let appended: Vec<String> = (0..3).map(|i| format!("appended-{run}-{i}")).collect();
        let archiver = {
            let (config, folder, appended) = (server.store_config(&bucket), folder.clone(), appended.clone());
            std::thread::spawn(move || {
                block_on(async {
                    let store = Store::connect(config).await.expect("the archiver's store");
                    for id in appended {
                        let doc = fixtures::conversation(&id, EMAIL, "appended", 2);
                        let entry = ConversationDocument::from_value("appended", doc)
                            .expect("a fixture document")
                            .index_entry();
                        fixtures::archiver_append(&store, &folder, entry).await;
                    }
                })
            })
        };
        let mut args = vec!["delete", EMAIL];
        args.extend(targets.iter().map(String::as_str));
        args.extend(["--yes", "--json"]);
        let mut names = vec![folder.as_str(), EMAIL, bucket.as_str()];
        names.extend(targets.iter().map(String::as_str));
        pass.attempt(&cli, run, &args, &names, &|out| stdout_json(out).map(|_| None));
        archiver.join().expect("the archiver appended");
        match index_state(&cli) {
            Err(e) => pass.tally.check(run, false, || format!("the index does not read: {e}")),
            Ok(state) => {
                for id in kept {
                    let s = state.get(id).copied().unwrap_or_default();
                    pass.tally
                        .check(run, s == (true, true), || format!("{id} (kept) is {s:?}"));
                }
                for id in &appended {
                    pass.tally.check(run, state.get(id).is_some_and(|s| s.0), || {
                        format!("the appended entry {id} was lost")
                    });
                }
                for id in targets {
                    pass.tally.check(run, !state.contains_key(id), || {
                        format!("{id} is still there after the delete completed: {:?}", state.get(id))
                    });
                }
            }
        }
        if versioned {
            let left = block_on(versions_left(&server.store_config(&bucket), targets));
            pass.tally.check(run, left.is_empty(), || {
                format!("versions of deleted conversations are left: {left:?}")
            });
        }
    }
    pass.tally.finish();
}

/// Keys of any version or delete marker in the bucket naming one of `ids`.
async fn versions_left(config: &archive_desk_core::StoreConfig, ids: &[String]) -> Vec<String> {
    let client = crate::raw_s3::client_for(config);
    let listed = client
        .list_object_versions()
        .bucket(&config.bucket)
        .send()
        .await
        .expect("versions list");
    let keys = listed
        .versions()
        .iter()
        .filter_map(|v| v.key())
        .chain(listed.delete_markers().iter().filter_map(|m| m.key()));
    keys.filter(|k| ids.iter().any(|id| k.contains(id.as_str())))
        .map(str::to_owned)
        .collect()
}

/// `verify --repair` of an index with 2 dangling entries and 2 unindexed
/// objects (6 fine). Afterwards (and after the retry): `verify` is clean
/// and all 8 stored conversations are listed; nothing stored is lost.
pub fn repair(plan: &Plan) {
    let mut pass = Pass::new("repair", plan);
    let folder = UserFolder::from_email(EMAIL).expect("fixture email");
    for run in 0..plan.runs {
        let docs = fixtures::conversations(EMAIL, &format!("rep{run}"), 10);
        let bucket = seed_user_in(false, &docs[..6], &docs[6..8], &docs[8..]);
        let cli = pass.cli(&bucket);
        let ids: Vec<String> = docs.iter().map(id_of).collect();
        let names = [folder.as_str(), EMAIL, bucket.as_str()];
        pass.attempt(&cli, run, &["verify", EMAIL, "--repair", "--json"], &names, &|_| {
            Ok(None)
        });
        let verified = cli.output(&["verify", EMAIL, "--json"]);
        pass.tally.check(run, verified.status.success(), || {
            format!(
                "not clean after the repair: {}",
                String::from_utf8_lossy(&verified.stdout)
            )
        });
        match index_state(&cli) {
            Err(e) => pass.tally.check(run, false, || format!("the index does not read: {e}")),
            Ok(state) => {
                for id in &ids[..8] {
                    let s = state.get(id).copied().unwrap_or_default();
                    pass.tally
                        .check(run, s == (true, true), || format!("{id} is {s:?} after the repair"));
                }
                for id in &ids[8..] {
                    pass.tally.check(run, !state.contains_key(id), || {
                        format!("dangling {id} is still listed")
                    });
                }
            }
        }
    }
    pass.tally.finish();
}

/// Restore (plain REST, the mode of compensated steps) of a 600-message
/// conversation read from S3 through the proxy. Afterwards (and after the
/// retry): exactly one conversation row and 600 message rows.
pub fn restore(plan: &Plan) {
    const MESSAGES: usize = 600;
    let mut pass = Pass::new("restore", plan);
    let stack = SupabaseStack::start();
    let ids: Vec<String> = (0..plan.runs)
        .map(|r| format!("chaos-restore-{r}-{}", servers::token()))
        .collect();
    let docs: Vec<Value> = ids
        .iter()
        .map(|id| fixtures::conversation(id, EMAIL, "Chaos", MESSAGES))
        .collect();
    let bucket = seed_user_in(false, &docs, &[], &[]);
    pass.env
        .push(("SUPABASE_SERVICE_ROLE_KEY".into(), stack.service_key.clone()));
    let cli = pass.cli(&bucket);
    let folder = folder_of(EMAIL);
    for (run, id) in ids.iter().enumerate() {
        let args = [
            "restore",
            EMAIL,
            id,
            "--json",
            "--target",
            "rest",
            "--supabase-url",
            &stack.url,
        ];
        let names = [folder.as_str(), EMAIL, id.as_str(), bucket.as_str()];
        pass.attempt(&cli, run, &args, &names, &|out| {
            let report = stdout_json(out)?;
            (report["verified"] == true)
                .then_some(None)
                .ok_or(format!("not verified: {report}"))
        });
        let rows = settled_rows(&stack, id);
        pass.tally.check(run, rows == (1, MESSAGES as u64), || {
            format!("{rows:?} (conversation, messages) rows, not (1, {MESSAGES})")
        });
    }
    pass.tally.finish();
}
