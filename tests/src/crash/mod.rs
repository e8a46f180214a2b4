//! Crash tests: the real `archive-desk-cli` binary killed with SIGKILL
//! (`kill -9`) in the middle of an operation, then the invariants checked
//! and the operation run again to completion (docs/RELIABILITY.md).
//!
//! Kill moments are of two kinds. Random: a delay drawn from a seeded
//! generator, up to a little more than a clean run of the operation takes
//! (measured first). Deterministic: the fault proxy stalls one chosen
//! request (e.g. the `metadata.json` PUT that follows a delete's
//! DeleteObjects) and the process is killed as soon as the proxy has seen
//! it, so the kill lands exactly in that window.
//!
//! `ARCHIVE_DESK_CRASH_RUNS` sets the runs per operation (the short pass
//! under `cargo test` does a few), `ARCHIVE_DESK_CRASH_SEED` the seed (each
//! operation prints the one it used), and `ARCHIVE_DESK_CRASH_REPORT` a
//! directory where each operation writes its tally as one JSON file, for
//! `scripts/reliability.sh`.
//!
//! Files: this one (the plan, the CLI runner, the kill, the tally),
//! `archive.rs` (delete, repair, export-user, sync on moto) and
//! `restore.rs` (the three restore modes on the Supabase stand-in),
//! `restore_bulk.rs` (a whole user's batch, resumed after the kill).

pub(crate) mod archive;
pub(crate) mod restore;
pub(crate) mod restore_bulk;

pub use archive::{delete, export_user, repair, sync};
pub use restore::{restore_postgres, restore_rest, restore_rpc};
pub use restore_bulk::restore_bulk;

use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::process;

/// How many runs and which seed; from the environment.
#[derive(Debug, Clone)]
pub struct Plan {
    pub runs: usize,
    pub seed: u64,
}

impl Plan {
    /// `short_runs` unless `ARCHIVE_DESK_CRASH_RUNS` says otherwise; the
    /// seed from `ARCHIVE_DESK_CRASH_SEED` or the clock. Prints both, so a
    /// failing run can be replayed.
    pub fn from_env(operation: &str, short_runs: usize) -> Plan {
        Plan::from_vars("crash", operation, short_runs)
    }

    /// As [`Plan::from_env`], from `ARCHIVE_DESK_{KIND}_RUNS` and
    /// `ARCHIVE_DESK_{KIND}_SEED` (`kind` is `crash` or `chaos`).
    pub fn from_vars(kind: &str, operation: &str, short_runs: usize) -> Plan {
        let var = |what: &str| format!("ARCHIVE_DESK_{}_{what}", kind.to_uppercase());
        let runs = std::env::var(var("RUNS"))
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(short_runs);
        let seed = std::env::var(var("SEED"))
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        eprintln!(
            "{kind} {operation}: {runs} runs, seed {seed} (replay: {}={seed})",
            var("SEED")
        );
        Plan { runs, seed }
    }
}

/// The CLI binary with a clean environment of its own: `HOME`, data and
/// cache directories in a temporary directory, credentials and the
/// endpoint of one bucket.
pub struct Cli {
    binary: PathBuf,
    home: tempfile::TempDir,
    env: Vec<(String, String)>,
    global_args: Vec<String>,
}

impl Cli {
    pub fn new(binary: &Path, endpoint: &str, bucket: &str, env: Vec<(String, String)>) -> Cli {
        Cli {
            binary: binary.to_owned(),
            home: tempfile::tempdir().expect("a home for the CLI"),
            env,
            global_args: vec!["--endpoint".into(), endpoint.into(), "--bucket".into(), bucket.into()],
        }
    }

    /// A fresh cache directory (the catalog) from now on.
    pub fn use_cache_dir(&mut self, dir: &Path) {
        self.env.retain(|(k, _)| k != "ARCHIVE_DESK_CACHE_DIR");
        self.env
            .push(("ARCHIVE_DESK_CACHE_DIR".into(), dir.display().to_string()));
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("ARCHIVE_DESK_DATA_DIR", self.home.path())
            .env("ARCHIVE_DESK_CACHE_DIR", self.home.path())
            .env("ARCHIVE_DESK_CONFIG_DIR", self.home.path())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .args(&self.global_args)
            .args(args);
        cmd
    }

    /// Run to completion, whatever the exit status.
    pub fn output(&self, args: &[&str]) -> Output {
        process::output(&mut self.command(args))
    }

    /// Run to completion; it must succeed; its stdout as JSON.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut cmd = self.command(args);
        let out = process::run(&mut cmd);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{}",
                process::report(
                    &format!("stdout is not JSON: {e}"),
                    &process::command_line(&cmd),
                    &out.status.to_string(),
                    &out.stdout,
                    &out.stderr
                )
            )
        })
    }

    /// Start `args` and kill it (SIGKILL) at `moment`.
    pub fn run_and_kill(&self, args: &[&str], moment: &KillAt) -> Killed {
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{}`: {e}", process::command_line(&cmd)));
        match moment {
            KillAt::After(delay) => {
                // Wait in small steps, so a run that ends early is seen.
                while started.elapsed() < *delay {
                    if child.try_wait().expect("child status").is_some() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(2).min(*delay));
                }
            }
            KillAt::Once { reached, what } => {
                let deadline = started + Duration::from_secs(60);
                while !reached() {
                    if child.try_wait().expect("child status").is_some() {
                        break;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "`{}` never reached {what}",
                        process::command_line(&cmd)
                    );
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        }
        if child.try_wait().expect("child status").is_none() {
            child.kill().expect("SIGKILL the CLI");
        }
        let out = child.wait_with_output().expect("the CLI's end");
        // Killed only if the signal ended it: it may have exited in between.
        let killed = out.status.signal() == Some(9);
        Killed {
            killed,
            exit: (!killed).then(|| {
                (
                    out.status.success(),
                    format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr)),
                )
            }),
        }
    }

    /// `audit` must list the log (every record parses); `audit verify` must
    /// find no broken link and be able to check the whole log. Returns the
    /// chain status.
    pub fn check_audit(&self, tally: &mut Tally, run: usize) -> String {
        let listed = self.output(&["audit", "--json"]);
        tally.check(run, listed.status.success(), || {
            format!(
                "the audit log does not parse: {}",
                String::from_utf8_lossy(&listed.stderr)
            )
        });
        let verified = self.output(&["audit", "verify", "--json"]);
        let v: Value = serde_json::from_slice(&verified.stdout).unwrap_or(Value::Null);
        tally.check(run, v["first_broken"].is_null() && !v.is_null(), || {
            format!(
                "audit verify reports a broken chain after a crash: {} {}",
                String::from_utf8_lossy(&verified.stdout),
                String::from_utf8_lossy(&verified.stderr)
            )
        });
        let status = v["status"].as_str().unwrap_or("unknown").to_owned();
        // A kill must not leave a log that cannot be fully checked (a first
        // line without its head once made it `tail_not_anchored`).
        tally.check(
            run,
            !matches!(status.as_str(), "tail_not_anchored" | "not_chained"),
            || format!("audit verify after the kill: {status}, the log cannot be fully checked"),
        );
        tally.note(&format!("audit verify after the kill: {status}"));
        if v["unfinished_intents"].as_array().is_some_and(|u| !u.is_empty()) {
            tally.note("audit: an intent without its outcome (listed as unfinished)");
        }
        status
    }
}

/// When to kill.
pub enum KillAt<'a> {
    /// After this long.
    After(Duration),
    /// As soon as `reached` says so (e.g. the fault proxy has stalled a
    /// chosen request); `what` names the moment in a failure.
    Once {
        reached: &'a dyn Fn() -> bool,
        what: &'a str,
    },
}

/// How a run under [`Cli::run_and_kill`] ended.
#[derive(Debug)]
pub struct Killed {
    /// Killed while it ran (else it had finished first).
    pub killed: bool,
    /// When it finished first: success, and its status and stderr.
    pub exit: Option<(bool, String)>,
}

/// One operation's results.
#[derive(Debug)]
pub struct Tally {
    pub operation: &'static str,
    pub seed: u64,
    pub runs: usize,
    /// Runs where the kill landed while the CLI ran.
    pub killed: usize,
    /// Kills that landed at a chosen point (a stalled request, a lock
    /// wait); the rest at random delays.
    pub killed_at_request: usize,
    pub violations: Vec<String>,
    /// What was seen that no invariant forbids, with how often.
    pub notes: std::collections::BTreeMap<String, usize>,
    started: Instant,
}

impl Tally {
    pub fn new(operation: &'static str, plan: &Plan) -> Tally {
        Tally {
            operation,
            seed: plan.seed,
            runs: 0,
            killed: 0,
            killed_at_request: 0,
            violations: Vec::new(),
            notes: Default::default(),
            started: Instant::now(),
        }
    }

    /// Count a run; a run that finished before the kill must have
    /// succeeded.
    pub fn record(&mut self, run: usize, killed: &Killed, at_request: bool) {
        self.runs += 1;
        if killed.killed {
            self.killed += 1;
            self.killed_at_request += usize::from(at_request);
        } else if let Some((ok, text)) = &killed.exit {
            self.check(run, *ok, || format!("finished before the kill, but failed: {text}"));
        }
        self.save(false);
    }

    /// Write the tally so far for `scripts/reliability.sh`, when asked
    /// (`ARCHIVE_DESK_CRASH_REPORT`): after every run, so a long pass that
    /// is stopped still shows how far it got.
    fn save(&self, finished: bool) {
        let Ok(dir) = std::env::var("ARCHIVE_DESK_CRASH_REPORT") else {
            return;
        };
        let row = serde_json::json!({
            "operation": self.operation,
            "seed": self.seed,
            "runs": self.runs,
            "killed": self.killed,
            "killed_at_request": self.killed_at_request,
            "violations": self.violations,
            "notes": self.notes,
            "seconds": self.started.elapsed().as_secs(),
            "finished": finished,
        });
        let path = Path::new(&dir).join(format!("{}.json", self.operation));
        std::fs::write(&path, row.to_string()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    /// Count an observation (the table lists each with its count).
    pub fn note(&mut self, what: &str) {
        *self.notes.entry(what.to_owned()).or_default() += 1;
    }

    pub fn check(&mut self, run: usize, ok: bool, violation: impl FnOnce() -> String) {
        if !ok {
            let v = format!("run {run}: {}", violation());
            eprintln!("crash {} (seed {}): VIOLATION {v}", self.operation, self.seed);
            self.violations.push(v);
        }
    }

    /// Write the tally for `scripts/reliability.sh` (when asked) and fail
    /// on any violation.
    pub fn finish(self) {
        let elapsed = self.started.elapsed();
        eprintln!(
            "crash {}: {} runs, {} killed mid-run ({} at a chosen point), {} violations, {:.1} s (seed {})",
            self.operation,
            self.runs,
            self.killed,
            self.killed_at_request,
            self.violations.len(),
            elapsed.as_secs_f64(),
            self.seed
        );
        self.save(true);
        assert!(
            self.violations.is_empty(),
            "crash {}: {} invariant violations (replay: ARCHIVE_DESK_CRASH_SEED={}):\n{}",
            self.operation,
            self.violations.len(),
            self.seed,
            self.violations.join("\n")
        );
    }
}

/// Kill moments for `runs`: every `stalls + 1`-th run at a random delay up
/// to the time a clean run took, the others at each chosen point in turn.
/// Returns, per run, `Ok(point index)` or the random delay.
pub fn moments(rng: &mut fastrand::Rng, runs: usize, stalls: usize, clean: Duration) -> Vec<Result<usize, Duration>> {
    let max_ms = (clean.as_millis() as u64).max(1);
    (0..runs)
        .map(|run| match run % (stalls + 1) {
            0 => Err(Duration::from_millis(rng.u64(0..=max_ms))),
            k => Ok(k - 1),
        })
        .collect()
}

/// Run a future to completion on a runtime of its own (the crash tests are
/// synchronous: they wait for processes).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}
