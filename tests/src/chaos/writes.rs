//! The chaos passes over the commands that write: the catalog sync,
//! delete (unversioned and versioned), repair, restore.

use super::*;

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
