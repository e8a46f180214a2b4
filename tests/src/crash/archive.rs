//! Crashes in the operations that change or copy the archive: delete,
//! repair (`verify --repair`), export-user and sync, on moto behind the
//! fault proxy (for the stalled requests).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use archive_desk_core::Layout;
use serde_json::Value;

use super::{block_on, moments, Cli, KillAt, Plan, Tally};
use crate::fixtures::{self, IndexState};
use crate::{fresh_store, servers, Fault, FaultProxy, Match, Rule, ServerKind};

pub(crate) const EMAIL: &str = "crash@example.com";

/// The proxy in front of the shared moto, and the CLI's environment for it.
fn proxy(plan: &Plan) -> (FaultProxy, Vec<(String, String)>) {
    let server = servers::shared(ServerKind::Moto);
    let env = server.aws_env().into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    (FaultProxy::start_seeded(server, plan.seed), env)
}

/// A fresh bucket with `EMAIL`'s `indexed` conversations listed in the
/// index and `unindexed` ones stored only; `dangling` ids listed only.
/// Returns the bucket's name.
pub(crate) fn seed_user(indexed: &[Value], unindexed: &[Value], dangling: &[Value]) -> String {
    seed_user_in(false, indexed, unindexed, dangling)
}

/// As [`seed_user`], in a bucket with versioning on if `versioned`.
pub(crate) fn seed_user_in(versioned: bool, indexed: &[Value], unindexed: &[Value], dangling: &[Value]) -> String {
    block_on(async {
        let store = fresh_store(ServerKind::Moto, Layout::default()).await;
        if versioned {
            crate::enable_versioning(&store).await;
        }
        fixtures::seed(&store, |s| {
            let listed: Vec<&Value> = indexed.iter().chain(dangling).collect();
            s.user(EMAIL, IndexState::Present, &listed);
            for doc in indexed.iter().chain(unindexed) {
                s.good(EMAIL, doc, ".json", archive_desk_core::codec::Encoding::Plain);
            }
        })
        .await;
        store.bucket().to_owned()
    })
}

pub(crate) fn id_of(doc: &Value) -> String {
    doc["conversation"]["id"].as_str().expect("fixture id").to_owned()
}

/// `index --json` as (id → (in_index, in_store)), or why it failed.
pub(crate) fn index_state(cli: &Cli) -> Result<std::collections::BTreeMap<String, (bool, bool)>, String> {
    let out = cli.output(&["index", EMAIL, "--json"]);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let v: Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    Ok(v["conversations"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["conversation_id"].as_str().unwrap_or_default().to_owned(),
                (r["in_index"] == true, r["in_store"] == true),
            )
        })
        .collect())
}

/// The stall rule named `name` (one request, never answered).
fn stall(name: &str, on: Match) -> Vec<Rule> {
    vec![Rule::new(name, on, Fault::Stall).limit(1)]
}

/// Kill `args` at this run's moment; the proxy's rules are cleared after.
/// Returns the name of the stalled request the kill landed at, if it did.
fn kill_run<'s>(
    cli: &Cli,
    proxy: &FaultProxy,
    args: &[&str],
    moment: &Result<usize, Duration>,
    stalls: &[(&'s str, Match)],
    tally: &mut Tally,
    run: usize,
) -> Option<&'s str> {
    let killed = match moment {
        Ok(k) => {
            let (name, on) = &stalls[*k];
            proxy.set_rules(stall(name, on.clone()));
            let reached = || proxy.hits(name) > 0;
            cli.run_and_kill(
                args,
                &KillAt::Once {
                    reached: &reached,
                    what: name,
                },
            )
        }
        Err(delay) => cli.run_and_kill(args, &KillAt::After(*delay)),
    };
    proxy.clear();
    tally.record(run, &killed, moment.is_ok());
    match moment {
        Ok(k) if killed.killed => Some(stalls[*k].0),
        _ => None,
    }
}

/// Time a clean run of `args` (it must succeed).
fn clean_run(cli: &Cli, args: &[&str]) -> Duration {
    let started = Instant::now();
    cli.json(args);
    started.elapsed()
}

/// Delete 6 of a user's 12 conversations. Stalled: the DeleteObjects
/// request (nothing gone yet) and the index PUT after it (objects gone,
/// entries still listed: the dangerous window).
pub fn delete(binary: &Path, plan: &Plan) {
    let (proxy, env) = proxy(plan);
    let mut tally = Tally::new("delete", plan);
    let mut rng = fastrand::Rng::with_seed(plan.seed);
    let stalls = [
        ("delete-objects", Match::any().method("POST").query_has("delete")),
        ("index-put", Match::any().method("PUT").key_suffix("metadata.json")),
    ];
    let setup = |run: usize| {
        let docs = fixtures::conversations(EMAIL, &format!("del{run}"), 12);
        let bucket = seed_user(&docs, &[], &[]);
        let ids: Vec<String> = docs.iter().map(id_of).collect();
        (Cli::new(binary, &proxy.endpoint(), &bucket, env.clone()), ids)
    };
    let args = |ids: &[String]| -> Vec<String> {
        ["delete", EMAIL]
            .iter()
            .map(|s| s.to_string())
            .chain(ids[..6].iter().cloned())
            .chain(["--yes".into(), "--json".into()])
            .collect()
    };
    let (cli, ids) = setup(usize::MAX);
    let clean = clean_run(&cli, &args(&ids).iter().map(String::as_str).collect::<Vec<_>>());
    for (run, moment) in moments(&mut rng, plan.runs, stalls.len(), clean).iter().enumerate() {
        let (cli, ids) = setup(run);
        let args = args(&ids);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let landed = kill_run(&cli, &proxy, &args, moment, &stalls, &mut tally, run);
        let (targets, kept) = ids.split_at(6);
        match index_state(&cli) {
            Err(e) => tally.check(run, false, || format!("the index cannot be read after the crash: {e}")),
            Ok(state) => {
                // The kill landed in its window: before anything went, or
                // with the objects gone and their entries still listed.
                let window = match landed {
                    Some("delete-objects") => Some((true, true)),
                    Some(_) => Some((true, false)),
                    None => None,
                };
                if let Some(expected) = window {
                    let seen: Vec<_> = targets
                        .iter()
                        .map(|id| state.get(id).copied().unwrap_or_default())
                        .collect();
                    tally.check(run, seen.iter().all(|s| *s == expected), || {
                        format!("killed at {landed:?}, the 6 are {seen:?}, not all {expected:?}")
                    });
                }
                for id in kept {
                    let s = state.get(id).copied().unwrap_or_default();
                    tally.check(run, s == (true, true), || {
                        format!("{id} (not deleted) is {s:?} (in index, in store)")
                    });
                }
                for id in targets {
                    let s = state.get(id).copied().unwrap_or_default();
                    tally.check(run, !s.1 || s.0, || {
                        format!("{id}: its object is still there but no longer listed")
                    });
                }
            }
        }
        cli.check_audit(&mut tally, run);
        // Again: it completes.
        let again = cli.output(&args);
        tally.check(run, again.status.success(), || {
            format!(
                "the delete run again failed: {}",
                String::from_utf8_lossy(&again.stderr)
            )
        });
        if let Ok(state) = index_state(&cli) {
            for id in targets {
                tally.check(run, !state.contains_key(id), || {
                    format!("{id} is still there after the second delete")
                });
            }
            for id in kept {
                tally.check(run, state.get(id) == Some(&(true, true)), || format!("{id} was lost"));
            }
        }
    }
    tally.finish();
}

/// Repair an index with 3 dangling entries and 3 unindexed objects (7
/// conversations fine). Stalled: the index PUT.
pub fn repair(binary: &Path, plan: &Plan) {
    let (proxy, env) = proxy(plan);
    let mut tally = Tally::new("repair", plan);
    let mut rng = fastrand::Rng::with_seed(plan.seed);
    let stalls = [("index-put", Match::any().method("PUT").key_suffix("metadata.json"))];
    let setup = |run: usize| {
        let docs = fixtures::conversations(EMAIL, &format!("rep{run}"), 13);
        let bucket = seed_user(&docs[..7], &docs[7..10], &docs[10..]);
        let ids: Vec<String> = docs.iter().map(id_of).collect();
        (Cli::new(binary, &proxy.endpoint(), &bucket, env.clone()), ids)
    };
    let args = ["verify", EMAIL, "--repair", "--json"];
    let clean = clean_run(&setup(usize::MAX).0, &args);
    for (run, moment) in moments(&mut rng, plan.runs, stalls.len(), clean).iter().enumerate() {
        let (cli, ids) = setup(run);
        let landed = kill_run(&cli, &proxy, &args, moment, &stalls, &mut tally, run);
        match index_state(&cli) {
            Err(e) => tally.check(run, false, || format!("the index cannot be read after the crash: {e}")),
            Ok(state) => {
                if landed.is_some() {
                    // Killed before the repaired index was written: as seeded.
                    let unindexed = ids[7..10].iter().all(|id| state.get(id) == Some(&(false, true)));
                    let dangling = ids[10..].iter().all(|id| state.get(id) == Some(&(true, false)));
                    tally.check(run, unindexed && dangling, || {
                        format!("killed at the index PUT, the index changed anyway: {state:?}")
                    });
                }
                for id in &ids[..7] {
                    let s = state.get(id).copied().unwrap_or_default();
                    tally.check(run, s == (true, true), || format!("{id} (indexed, stored) is {s:?}"));
                }
                for id in &ids[7..10] {
                    let s = state.get(id).copied().unwrap_or_default();
                    tally.check(run, s.1, || format!("repair lost the object of {id}"));
                }
            }
        }
        cli.check_audit(&mut tally, run);
        cli.json(&args);
        let verified = cli.output(&["verify", EMAIL, "--json"]);
        tally.check(run, verified.status.success(), || {
            format!(
                "not clean after the repair ran again: {}",
                String::from_utf8_lossy(&verified.stdout)
            )
        });
        if let Ok(state) = index_state(&cli) {
            let listed: BTreeSet<&String> = state
                .iter()
                .filter(|(_, s)| **s == (true, true))
                .map(|(id, _)| id)
                .collect();
            tally.check(run, listed == ids[..10].iter().collect(), || {
                format!("after the repair: {listed:?}")
            });
        }
    }
    tally.finish();
}

/// Export a user's 30 conversations to one file. Stalled: the GET of the
/// 16th object (half the file written to its temporary file).
pub fn export_user(binary: &Path, plan: &Plan) {
    let (proxy, env) = proxy(plan);
    let mut tally = Tally::new("export-user", plan);
    let mut rng = fastrand::Rng::with_seed(plan.seed);
    let docs = fixtures::conversations(EMAIL, "exp", 30);
    let bucket = seed_user(&docs, &[], &[]);
    let stalled_key = format!("{}.json", id_of(&docs[15]));
    let stalls = [("object-get", Match::any().method("GET").key_suffix(&stalled_key))];
    let cli = Cli::new(binary, &proxy.endpoint(), &bucket, env);
    let out_dir = tempfile::tempdir().expect("export dir");
    let path_for = |run: usize| out_dir.path().join(format!("export-{run}.json"));
    let args_for = |path: &Path| -> Vec<String> {
        ["export-user", EMAIL, "-o", &path.display().to_string(), "--json"]
            .map(str::to_owned)
            .to_vec()
    };
    let complete = |path: &Path| -> Result<(), String> {
        let text = std::fs::read(path).map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_slice(&text).map_err(|e| format!("not JSON: {e}"))?;
        let n = v["conversations"].as_array().map_or(0, Vec::len);
        if n == docs.len() {
            Ok(())
        } else {
            Err(format!("{n} conversations of {}", docs.len()))
        }
    };
    let clean_args = args_for(&path_for(usize::MAX));
    let clean = clean_run(&cli, &clean_args.iter().map(String::as_str).collect::<Vec<_>>());
    for (run, moment) in moments(&mut rng, plan.runs, stalls.len(), clean).iter().enumerate() {
        let path = path_for(run);
        let args = args_for(&path);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let landed = kill_run(&cli, &proxy, &args, moment, &stalls, &mut tally, run);
        tally.check(run, landed.is_none() || !path.exists(), || {
            format!("killed half-way (at the 16th GET), yet {} exists", path.display())
        });
        if path.exists() {
            let done = complete(&path);
            tally.check(run, done.is_ok(), || {
                format!("{} is there but incomplete: {done:?}", path.display())
            });
        }
        if !partials(&path).is_empty() {
            tally.note("a partial temporary file (owner-only) left beside the export by the kill");
        }
        // Where the kill landed half-way, the temporary file is there.
        tally.check(run, landed.is_none() || !partials(&path).is_empty(), || {
            "killed half-way, yet no temporary file".to_owned()
        });
        cli.check_audit(&mut tally, run);
        cli.json(&args);
        let done = complete(&path);
        tally.check(run, done.is_ok(), || {
            format!("the export run again is incomplete: {done:?}")
        });
        // The rerun removed what the killed export left behind.
        let left = partials(&path);
        tally.check(run, left.is_empty(), || {
            format!("a partial copy of the export is still there after the rerun: {left:?}")
        });
    }
    tally.finish();
}

/// Sync 24 users (3 conversations each) into a fresh catalog, 2 users a
/// transaction. Stalled: the index GET of the 13th user. After the crash
/// the catalog must open (a search runs) and a sync must converge to what
/// a clean sync gives.
pub fn sync(binary: &Path, plan: &Plan) {
    let (proxy, env) = proxy(plan);
    let mut tally = Tally::new("sync", plan);
    let mut rng = fastrand::Rng::with_seed(plan.seed);
    let users: Vec<String> = (0..24).map(|u| format!("sync{u:02}@example.com")).collect();
    let bucket = block_on(async {
        let store = fresh_store(ServerKind::Moto, Layout::default()).await;
        fixtures::seed(&store, |s| {
            for (u, email) in users.iter().enumerate() {
                let docs = fixtures::conversations(email, &format!("s{u:02}"), 3);
                s.user(email, IndexState::Present, &docs.iter().collect::<Vec<_>>());
                for doc in &docs {
                    s.good(email, doc, ".json", archive_desk_core::codec::Encoding::Plain);
                }
            }
        })
        .await;
        store.bucket().to_owned()
    });
    let stalls = [(
        "index-get",
        Match::any()
            .method("GET")
            .key_suffix("sync12_at_example_com/metadata.json"),
    )];
    let mut cli = Cli::new(binary, &proxy.endpoint(), &bucket, env);
    let args = ["sync", "--batch-users", "2", "--concurrency", "4", "--json"];
    let search = ["search", "example.com", "--limit", "200", "--json"];
    let cache = tempfile::tempdir().expect("cache dirs");
    cli.use_cache_dir(&cache.path().join("clean"));
    let clean = clean_run(&cli, &args);
    let reference = sorted_hits(cli.json(&search));
    assert_eq!(
        reference["hits"].as_array().map(Vec::len),
        Some(72),
        "a clean sync finds every conversation"
    );
    for (run, moment) in moments(&mut rng, plan.runs, stalls.len(), clean).iter().enumerate() {
        cli.use_cache_dir(&cache.path().join(format!("run-{run}")));
        kill_run(&cli, &proxy, &args, moment, &stalls, &mut tally, run);
        let opened = cli.output(&search);
        // Killed before the first user was written, the catalog is empty,
        // and search says so (and to run sync): that is opening it too.
        let empty = String::from_utf8_lossy(&opened.stderr).contains("is empty: run `archive-desk-cli sync` first");
        tally.check(run, opened.status.success() || empty, || {
            format!(
                "the catalog does not open after the crash: {}",
                String::from_utf8_lossy(&opened.stderr)
            )
        });
        let again = cli.output(&args);
        tally.check(run, again.status.success(), || {
            format!("the sync run again failed: {}", String::from_utf8_lossy(&again.stderr))
        });
        let after = sorted_hits(cli.json(&search));
        tally.check(run, after == reference, || {
            let (a, r) = (after["hits"].as_array(), reference["hits"].as_array());
            let (a, r) = (
                a.map(Vec::as_slice).unwrap_or_default(),
                r.map(Vec::as_slice).unwrap_or_default(),
            );
            let first = a.iter().zip(r).find(|(x, y)| x != y);
            format!(
                "the catalog differs from a clean sync: {} hits (clean: {}); first difference: {first:?}",
                a.len(),
                r.len()
            )
        });
    }
    tally.finish();
}

/// The search page with its hits in (folder, id) order: hits that rank
/// alike come in the order the catalog stored them, which depends on the
/// order users were synced in, not on what the catalog holds.
pub(crate) fn sorted_hits(mut page: Value) -> Value {
    if let Some(hits) = page["hits"].as_array_mut() {
        hits.sort_by_key(|h| (h["folder"].to_string(), h["conversation_id"].to_string()));
    }
    page
}

/// The temporary files of an export to `path` (`.NAME.PID.RANDOM.partial`).
pub(crate) fn partials(path: &Path) -> Vec<String> {
    let name = path.file_name().expect("a file name").to_string_lossy();
    let dir = path.parent().expect("a directory");
    std::fs::read_dir(dir)
        .expect("the export dir lists")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|f| f.starts_with(&format!(".{name}.")) && f.ends_with(".partial"))
        .collect()
}
