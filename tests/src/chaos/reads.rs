//! The chaos pass over the reading commands.

use super::*;

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
