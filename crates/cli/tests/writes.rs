//! The real `archive-desk-cli` binary's writing commands (delete, verify
//! and repair, thaw, restore, the audit log) against real S3 servers, each
//! on a fresh bucket of its own.

mod common;

use archive_desk_harness::fixtures::{self, IndexState};
use archive_desk_harness::RawS3;
use archive_desk_harness::{seeded, S3Server, ServerKind};
use common::{ok, run_on, run_on_file_limited, run_on_with, stderr};
use serde_json::Value;

/// A fresh bucket holding a small archive, for the commands that write.
fn writable_archive(kind: ServerKind, build: impl FnOnce(&mut fixtures::Seeder)) -> (&'static S3Server, String) {
    let server = archive_desk_harness::servers::shared(kind);
    let bucket = format!("cli-{}", archive_desk_harness::servers::token());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = archive_desk_core::Store::connect(server.store_config(&bucket))
            .await
            .unwrap();
        archive_desk_harness::create_bucket(&store).await;
        let mut seeder = fixtures::Seeder::new(archive_desk_core::Layout::default(), kind.keeps_storage_class());
        build(&mut seeder);
        seeder.write(&store.client(), store.bucket()).await;
    });
    (server, bucket)
}

#[test]
fn delete_verify_thaw_and_audit_end_to_end() {
    const EMAIL: &str = "writes@example.com";
    let docs: Vec<Value> = (0..3)
        .map(|i| fixtures::conversation(&format!("w-{i}"), EMAIL, &format!("Writable {i}"), 2))
        .collect();
    let (server, bucket) = writable_archive(ServerKind::Moto, |s| {
        // w-2 is in the index twice and w-0's object is in cold storage.
        s.user(EMAIL, IndexState::Present, &[&docs[0], &docs[1], &docs[2], &docs[2]]);
        s.object(
            EMAIL,
            "w-0",
            "w-0.json",
            archive_desk_core::codec::encode(&docs[0], archive_desk_core::Encoding::Plain),
            None,
            Some(aws_sdk_s3::types::StorageClass::Glacier),
            fixtures::Expect::Fails("cold_storage"),
        );
        s.good(EMAIL, &docs[1], ".json", archive_desk_core::Encoding::Plain);
        s.good(EMAIL, &docs[2], ".json", archive_desk_core::Encoding::Plain);
    });
    let data = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| run_on(server, &bucket, data.path(), args);

    // Delete needs --yes, and a read-only run refuses.
    let out = run(&["delete", EMAIL, "w-1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("without --yes"));
    assert!(stderr(&out).contains("[invalid_input]"), "{}", stderr(&out));
    let out = run(&["--read-only", "delete", EMAIL, "w-1", "--yes"]);
    assert!(stderr(&out).contains("[read_only]"), "{}", stderr(&out));
    // A synced catalog finds w-1; the delete itself drops it (the core keeps
    // the catalog right, no sync needed).
    ok(&run(&["sync"]));
    let found = || -> Vec<String> {
        let page: Value = serde_json::from_slice(ok(&run(&["search", "Writable", "--json"]))).unwrap();
        let ids = page["hits"].as_array().unwrap().iter();
        ids.map(|h| h["conversation_id"].as_str().unwrap().to_owned()).collect()
    };
    assert!(found().contains(&"w-1".to_owned()), "{:?}", found());
    let report: Value = serde_json::from_slice(ok(&run(&["delete", "--json", EMAIL, "w-1", "--yes"]))).unwrap();
    let after = found();
    assert!(
        !after.contains(&"w-1".to_owned()),
        "the deleted conversation left the catalog: {after:?}"
    );
    assert!(after.contains(&"w-2".to_owned()), "{after:?}");
    assert_eq!(
        report["deleted_keys"],
        serde_json::json!(["archived_conversations/writes_at_example_com/w-1.json"])
    );
    assert_eq!(report["index_entries_removed"], 1);
    assert_eq!(run(&["show", EMAIL, "w-1"]).status.code(), Some(1));

    // Verify finds the duplicate, exits 1; repair fixes it; verify is then clean.
    let out = run(&["verify", EMAIL]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("index problems found for {EMAIL}")) && err.ends_with("[integrity]\n"),
        "{err}"
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("duplicate index entry: w-2") && text.contains("in cold storage (not read)"),
        "{text}"
    );
    ok(&run(&["verify", EMAIL, "--repair"]));
    let v: Value = serde_json::from_slice(ok(&run(&["verify", "--json", "--all"]))).unwrap();
    assert_eq!(v["verification"]["duplicate_entries"], serde_json::json!([]));

    // Cold storage: status, thaw, open.
    let out = run(&["show", EMAIL, "w-0"]);
    assert!(stderr(&out).contains("[cold_storage]"));
    let status: Value = serde_json::from_slice(ok(&run(&["thaw", "--json", EMAIL, "w-0", "--status"]))).unwrap();
    assert_eq!(
        (status["storage_class"].as_str(), status["state"].as_str()),
        (Some("GLACIER"), Some("frozen"))
    );
    let text =
        String::from_utf8(ok(&run(&["thaw", EMAIL, "w-0", "--days", "2", "--tier", "expedited"])).to_vec()).unwrap();
    assert!(text.contains("w-0.json [GLACIER]: restore"), "{text}");
    ok(&run(&["show", EMAIL, "w-0"]));
    let out = run(&["thaw", EMAIL, "w-0", "--tier", "instant"]);
    assert!(stderr(&out).contains("unknown restore tier"));

    // Every action is in the audit log (a bad argument is not an action);
    // a delete or repair with its intent before its outcome.
    let out = ok(&run(&["audit", "--json"])).to_vec();
    let actions: Vec<(String, String)> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|r| {
            (
                r["action"].as_str().unwrap().to_owned(),
                r["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("delete", "error"),
        ("delete", "intent"),
        ("delete", "ok"),
        ("repair", "intent"),
        ("repair", "ok"),
        ("thaw", "ok"),
    ]
    .iter()
    .map(|(a, o)| (a.to_string(), o.to_string()))
    .collect();
    assert_eq!(actions, expected);
    let text = String::from_utf8(ok(&run(&["audit", "--action", "thaw", "--user", EMAIL])).to_vec()).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    let text = String::from_utf8(ok(&run(&["audit", "--action", "delete"])).to_vec()).unwrap();
    assert!(
        text.contains("[read_only]") && text.contains("writes@example.com"),
        "{text}"
    );
}

/// A repair and a delete done, their outcome records not written (the
/// disk full after the intent): `--json` still reports them as done, with
/// the warning.
#[test]
fn json_reports_carry_the_audit_warning() {
    const EMAIL: &str = "warned@example.com";
    let docs: Vec<Value> = (0..2)
        .map(|i| fixtures::conversation(&format!("a-{i}"), EMAIL, &format!("Warned {i}"), 2))
        .collect();
    let archive = || {
        writable_archive(ServerKind::Moto, |s| {
            // a-1 is in the index twice: something to repair.
            s.user(EMAIL, IndexState::Present, &[&docs[0], &docs[1], &docs[1]]);
            s.good(EMAIL, &docs[0], ".json", archive_desk_core::Encoding::Plain);
            s.good(EMAIL, &docs[1], ".json", archive_desk_core::Encoding::Plain);
        })
    };
    // A twin archive, run without a limit, gives the size of each intent
    // line (bucket names have the same length).
    let (twin_server, twin) = archive();
    let twin_data = tempfile::tempdir().unwrap();
    ok(&run_on(
        twin_server,
        &twin,
        twin_data.path(),
        &["verify", EMAIL, "--repair"],
    ));
    ok(&run_on(
        twin_server,
        &twin,
        twin_data.path(),
        &["delete", EMAIL, "a-0", "--yes"],
    ));
    let twin_log = std::fs::read_to_string(twin_data.path().join("audit.jsonl")).unwrap();
    let twin_lines: Vec<&str> = twin_log.lines().collect();
    let intent_len = |i: usize| {
        assert!(twin_lines[i].contains(r#""outcome":"intent""#), "{}", twin_lines[i]);
        twin_lines[i].len() as u64 + 1
    };
    let (repair_intent, delete_intent) = (intent_len(0), intent_len(2));

    let (server, bucket) = archive();
    let data = tempfile::tempdir().unwrap();
    let log = data.path().join("audit.jsonl");
    let log_size = || std::fs::metadata(&log).map_or(0, |m| m.len());
    // Room for the intent and a few bytes more, not for the outcome.
    let room = |intent: u64| log_size() + intent + 40;
    let limit = room(repair_intent);
    let out = run_on_file_limited(
        server,
        &bucket,
        data.path(),
        &["verify", "--json", EMAIL, "--repair"],
        limit,
    );
    let report: Value = serde_json::from_slice(ok(&out)).unwrap();
    assert_eq!(report["repair"]["duplicates_removed"], 1, "{report}");
    let warning = report["audit_warning"].as_str().expect("an audit_warning");
    assert!(warning.contains("repair done"), "{warning}");
    assert!(stderr(&out).contains("warning"), "{}", stderr(&out));

    let limit = room(delete_intent);
    let out = run_on_file_limited(
        server,
        &bucket,
        data.path(),
        &["delete", "--json", EMAIL, "a-0", "--yes"],
        limit,
    );
    let report: Value = serde_json::from_slice(ok(&out)).unwrap();
    assert_eq!(report["index_entries_removed"], 1, "{report}");
    let warning = report["audit_warning"].as_str().expect("an audit_warning");
    assert!(warning.contains("delete done"), "{warning}");

    // The intents are in the log; the outcomes are torn lines.
    let read = archive_desk_core::AuditLog::at(&log).read(&Default::default()).unwrap();
    let outcomes: Vec<(&str, &str)> = read.iter().map(|r| (r.action.as_str(), r.outcome.as_str())).collect();
    assert_eq!(outcomes, [("repair", "intent"), ("delete", "intent")]);
    assert_eq!(read.damaged_lines, 2);
}

#[test]
fn rclone_refuses_index_writes_unless_overridden() {
    const EMAIL: &str = "rclone.writes@example.com";
    let doc = fixtures::conversation("r-1", EMAIL, "On rclone", 2);
    let (server, bucket) = writable_archive(ServerKind::Rclone, |s| {
        s.user(EMAIL, IndexState::Present, &[&doc]);
        s.good(EMAIL, &doc, ".json", archive_desk_core::Encoding::Plain);
    });
    let data = tempfile::tempdir().unwrap();
    let out = run_on(server, &bucket, data.path(), &["delete", EMAIL, "r-1", "--yes"]);
    assert!(
        stderr(&out).contains("[conditional_writes_unsupported]"),
        "{}",
        stderr(&out)
    );
    ok(&run_on(server, &bucket, data.path(), &["show", EMAIL, "r-1"]));
    ok(&run_on(
        server,
        &bucket,
        data.path(),
        &["--allow-unsafe-index-writes", "delete", EMAIL, "r-1", "--yes"],
    ));
    assert_eq!(
        run_on(server, &bucket, data.path(), &["show", EMAIL, "r-1"])
            .status
            .code(),
        Some(1)
    );
}

#[test]
fn restore_through_the_cli_twice() {
    let a = seeded(ServerKind::Moto);
    let stack = archive_desk_harness::supabase::SupabaseStack::start();
    let data = tempfile::tempdir().unwrap();
    let env = [("SUPABASE_SERVICE_ROLE_KEY", stack.service_key.as_str())];
    let run = |args: &[&str]| run_on_with(a.server, &a.bucket, data.path(), args, &env);
    let args = ["restore", "--supabase-url", &stack.url, fixtures::ALICE, "a-gz-header"];
    let text = String::from_utf8(ok(&run(&args)).to_vec()).unwrap();
    assert!(
        text.contains("conversation: inserted") && text.contains("2 inserted, 0 already present"),
        "{text}"
    );
    assert!(text.contains("verified: yes"));
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let report: Value = serde_json::from_slice(ok(&run(&json_args))).unwrap();
    assert_eq!(report["conversation_already_present"], true);
    assert_eq!(
        (
            report["messages_inserted"].as_u64(),
            report["messages_already_present"].as_u64()
        ),
        (Some(0), Some(2))
    );
    let out = run(&[
        "restore",
        "--supabase-url",
        &stack.url,
        fixtures::ALICE,
        "a-extra-fields",
    ]);
    assert!(stderr(&out).contains("[missing_columns]") && stderr(&out).contains("messages.tool_calls"));
    for out in [run(&args), run(&["audit"])] {
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains(&stack.service_key), "the key leaked");
    }
    assert_eq!(
        stack.psql("select count(*) from messages where conversation_id = 'a-gz-header'"),
        "2"
    );
}
