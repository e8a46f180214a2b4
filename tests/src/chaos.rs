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

mod reads;
mod writes;
pub use reads::reads;
pub use writes::{delete, repair, restore, sync};

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
