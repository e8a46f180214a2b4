//! The real `archive-desk-cli` binary against real S3 servers (moto and
//! rclone), credentials through the standard AWS environment variables.

use std::path::Path;
use std::process::{Command, Output};

use archive_desk_harness::fixtures::{self, IndexState};
use archive_desk_harness::RawS3;
use archive_desk_harness::{seeded, S3Server, SeededArchive, ServerKind};
use serde_json::Value;

/// Run the CLI on `bucket` of `server`, with its audit log in `data_dir`.
fn run_cli(server: &S3Server, bucket: &str, data_dir: &Path, args: &[&str]) -> Output {
    run_cli_with(server, bucket, data_dir, args, &[])
}

fn run_cli_with(server: &S3Server, bucket: &str, data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    output_of(
        Command::new(env!("CARGO_BIN_EXE_archive-desk-cli")),
        server,
        bucket,
        data_dir,
        args,
        env,
    )
}

/// [`run_cli`] with every file the CLI writes limited to `max_bytes`, as on
/// a full disk: a write past it fails (EFBIG; SIGXFSZ ignored).
fn run_cli_file_limit(server: &S3Server, bucket: &str, data_dir: &Path, args: &[&str], max_bytes: u64) -> Output {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", r#"trap '' XFSZ; exec prlimit --fsize="$0" -- "$@""#])
        .arg(max_bytes.to_string())
        .arg(env!("CARGO_BIN_EXE_archive-desk-cli"));
    output_of(cmd, server, bucket, data_dir, args, &[])
}

fn output_of(
    mut cmd: Command,
    server: &S3Server,
    bucket: &str,
    data_dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Output {
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", data_dir)
        .env("ARCHIVE_DESK_DATA_DIR", data_dir)
        .envs(server.aws_env())
        .envs(env.iter().copied())
        .args(["--endpoint", &server.endpoint, "--bucket", bucket])
        .args(args);
    let out = cmd.output().expect("the CLI runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "the CLI panicked: {stderr}");
    assert!(
        !stderr.contains(&server.secret_access_key)
            && !String::from_utf8_lossy(&out.stdout).contains(&server.secret_access_key),
        "the secret key leaked into the output"
    );
    out
}

/// The CLI on the shared fixture archive (audit log in a per-process dir).
fn cli(archive: &SeededArchive, args: &[&str]) -> Output {
    static DATA: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let data = DATA.get_or_init(|| tempfile::tempdir().unwrap());
    run_cli(archive.server, &archive.bucket, data.path(), args)
}

fn ok(out: &Output) -> &[u8] {
    assert!(
        out.status.success(),
        "exit {:?}; stderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    &out.stdout
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// An exported file (plain or gzip) as a JSON value.
fn read_json_file(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap();
    let (text, _) = archive_desk_core::codec::decode_text("export", bytes, &Default::default()).unwrap();
    serde_json::from_str(&text).unwrap()
}

macro_rules! on_both_servers {
    ($($check:ident),* $(,)?) => {
        mod moto { $( #[test] fn $check() { super::$check(super::ServerKind::Moto) } )* }
        mod rclone { $( #[test] fn $check() { super::$check(super::ServerKind::Rclone) } )* }
    };
}

on_both_servers!(
    users_lists_every_folder,
    users_details_gives_true_emails,
    export_and_show_keep_every_field,
    malformed_objects_fail_cleanly_and_write_nothing,
    index_shows_drift_and_fails_on_corrupt_index,
    transcript_is_readable_and_inert,
    bad_names_and_bad_credentials,
);

fn users_lists_every_folder(kind: ServerKind) {
    let a = seeded(kind);
    let out = cli(a, &["users", "--json"]);
    let folders: Vec<String> = String::from_utf8_lossy(ok(&out))
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["folder"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let mut expected: Vec<String> = a.manifest.users.iter().map(|u| u.folder.clone()).collect();
    expected.sort();
    assert_eq!(folders, expected);
    assert!(stderr(&out).contains("bad..folder"), "unsafe folder not reported");

    let text = String::from_utf8(ok(&cli(a, &["users"])).to_vec()).unwrap();
    assert!(text.starts_with("FOLDER"));
    assert!(text.contains("alice_smith_at_example_com") && text.contains("alice_smith@example.com"));
}

fn users_details_gives_true_emails(kind: ServerKind) {
    let a = seeded(kind);
    let out = cli(a, &["users", "--details", "--json", "--concurrency", "4"]);
    let rows: Vec<Value> = String::from_utf8_lossy(ok(&out))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), a.manifest.users.len());
    let unicode = rows
        .iter()
        .find(|r| r["email"] == fixtures::UNICODE)
        .expect("true unicode email");
    assert_eq!(
        (unicode["email_source"].as_str(), unicode["conversation_count"].as_u64()),
        (Some("index"), Some(2))
    );
    let corrupt = rows
        .iter()
        .find(|r| r["folder"] == "corrupt_index_at_example_com")
        .unwrap();
    assert_eq!(corrupt["index_error"]["code"], "decode");

    let text = String::from_utf8(ok(&cli(a, &["users", "--details"])).to_vec()).unwrap();
    assert!(text.contains(fixtures::UNICODE), "{text}");
    assert!(text.contains("(no metadata.json)"));
}

fn export_and_show_keep_every_field(kind: ServerKind) {
    let a = seeded(kind);
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for (c, value) in a.manifest.opens() {
        for gzip in [false, true] {
            let path = dir.path().join(format!("{}-{gzip}.json", c.id));
            let path_s = path.to_str().unwrap();
            let mut args = vec!["export", &c.email, &c.id, "-o", path_s];
            if gzip {
                args.push("--gzip");
            }
            ok(&cli(a, &args));
            assert_eq!(&read_json_file(&path), value, "export of {}", c.key);
            assert_eq!(std::fs::read(&path).unwrap().starts_with(&[0x1f, 0x8b]), gzip);
        }
        let shown: Value = serde_json::from_slice(ok(&cli(a, &["show", "--json", &c.folder, &c.id]))).unwrap();
        assert_eq!(&shown, value, "show --json of {}", c.key);
        checked += 1;
    }
    assert!(checked >= 14);

    // To stdout, and a JSON report with -o.
    let c = a.manifest.conversation("a-extra-fields");
    let stdout: Value = serde_json::from_slice(ok(&cli(a, &["export", &c.email, &c.id]))).unwrap();
    assert_eq!(stdout["exported_by"], "archiver 2.3");
    let path = dir.path().join("report.json.gz");
    let report: Value = serde_json::from_slice(ok(&cli(
        a,
        &[
            "export",
            "--json",
            &c.email,
            &c.id,
            "-o",
            path.to_str().unwrap(),
            "--gzip",
        ],
    )))
    .unwrap();
    assert_eq!(
        (report["key"].as_str(), report["encoding"].as_str()),
        (Some(c.key.as_str()), Some("gzip"))
    );
}

fn malformed_objects_fail_cleanly_and_write_nothing(kind: ServerKind) {
    let a = seeded(kind);
    let dir = tempfile::tempdir().unwrap();
    let mut failed = 0;
    for (c, code) in a.manifest.fails() {
        let path = dir.path().join(format!("{}.json", c.id));
        for args in [
            vec!["export", &c.email, &c.id, "-o", path.to_str().unwrap()],
            vec!["show", &c.email, &c.id],
        ] {
            let out = cli(a, &args);
            assert_eq!(out.status.code(), Some(1), "{args:?}");
            let err = stderr(&out);
            assert_eq!(err.lines().count(), 1, "one line: {err}");
            assert!(err.contains(&c.key) && err.contains(&format!("[{code}]")), "{err}");
            assert!(out.stdout.is_empty());
        }
        let out = cli(a, &["show", "--json", &c.email, &c.id]);
        let report: Value = serde_json::from_slice(&out.stderr).unwrap();
        assert_eq!(report["code"], code);
        failed += 1;
    }
    assert!(failed >= 9);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing may be written"
    );
}

fn index_shows_drift_and_fails_on_corrupt_index(kind: ServerKind) {
    let a = seeded(kind);
    let listing: Value = serde_json::from_slice(ok(&cli(a, &["index", "--json", fixtures::DRIFT]))).unwrap();
    let rows = listing["conversations"].as_array().unwrap();
    let flags: Vec<(&str, bool, bool)> = rows
        .iter()
        .map(|r| {
            (
                r["conversation_id"].as_str().unwrap(),
                r["in_index"].as_bool().unwrap(),
                r["in_store"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        flags,
        [
            ("d-gone", true, false),
            ("d-kept", true, true),
            ("d-unindexed", false, true)
        ]
    );

    let text = String::from_utf8(ok(&cli(a, &["index", fixtures::DRIFT])).to_vec()).unwrap();
    assert!(
        text.contains("object missing") && text.contains("not in index"),
        "{text}"
    );

    let u = a
        .manifest
        .users
        .iter()
        .find(|u| u.index == IndexState::Corrupt)
        .unwrap();
    let out = cli(a, &["index", &u.email]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("{}/metadata.json", u.folder)),
        "{}",
        stderr(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ci-1"),
        "objects still listed"
    );

    let cold: Value = serde_json::from_slice(ok(&cli(a, &["index", "--json", fixtures::COLD]))).unwrap();
    let class = cold["conversations"][0]["storage_class"].as_str().unwrap();
    assert_eq!(
        class,
        if kind.keeps_storage_class() {
            "GLACIER"
        } else {
            "STANDARD"
        }
    );
}

fn transcript_is_readable_and_inert(kind: ServerKind) {
    let a = seeded(kind);
    let text = String::from_utf8(ok(&cli(a, &["show", fixtures::ALICE, fixtures::HOSTILE_ID])).to_vec()).unwrap();
    assert!(
        text.contains("<script>window.__xss=2</script>"),
        "markup shown as text: {text}"
    );
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{202E}') && !text.contains('\u{7}'),
        "{text:?}"
    );
    assert!(text.contains("\\u{1b}[2J"));
    let plain = String::from_utf8(ok(&cli(a, &["show", fixtures::ALICE, "a-plain"])).to_vec()).unwrap();
    assert!(plain.starts_with("Billing question — refund 💸\n"));
    assert!(
        plain.contains("── assistant · 2025-01-15T10:00:03Z  [positive]"),
        "{plain}"
    );
    assert!(plain.contains("   Question 0: how do I reset my password?\n   Second line.\n"));
}

fn bad_names_and_bad_credentials(kind: ServerKind) {
    let a = seeded(kind);
    for (user, id) in [(fixtures::ALICE, "../x"), ("../etc", "a"), (fixtures::ALICE, "a/b")] {
        let out = cli(a, &["show", user, id]);
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains("[invalid_name]"), "{}", stderr(&out));
    }

    let out = Command::new(env!("CARGO_BIN_EXE_archive-desk-cli"))
        .env_clear()
        .args(["users"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no bucket"));

    if kind == ServerKind::Rclone {
        // rclone checks signatures: a wrong secret is refused, and not echoed.
        let wrong = "wrong-secret-value-0123456789";
        let out = Command::new(env!("CARGO_BIN_EXE_archive-desk-cli"))
            .env_clear()
            .envs(a.server.aws_env())
            .env("AWS_SECRET_ACCESS_KEY", wrong)
            .args(["--endpoint", &a.server.endpoint, "--bucket", &a.bucket, "users"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = stderr(&out);
        assert!(err.contains("[s3]") && !err.contains(wrong), "{err}");
    }
}

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

/// Bounded flags parse into the core's bound types (`bounds.rs`): out of
/// bounds is refused in the core's words before any server is asked (the
/// endpoint here answers nothing).
#[test]
fn out_of_bounds_flags_are_refused_by_the_cores_types() {
    use std::io::Write;
    use std::process::Stdio;
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str], stdin: &str| -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_archive-desk-cli"))
            .env_clear()
            .env("HOME", home.path())
            .env("ARCHIVE_DESK_CONFIG_DIR", home.path())
            .env("ARCHIVE_DESK_DATA_DIR", home.path())
            .args(["--bucket", "b", "--endpoint", "http://127.0.0.1:9"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let long_text = "x".repeat(201);
    for (args, says) in [
        (&["thaw", "a@x.io", "c1", "--days", "0"][..], "between 1 and 365"),
        (&["thaw", "a@x.io", "c1", "--days", "366"], "between 1 and 365"),
        (&["search", "refund", "--limit", "0"], "1 to 200 hits"),
        (&["search", "refund", "--limit", "201"], "1 to 200 hits"),
        (&["search", "refund", "--offset", "1000001"], "at most 1000000"),
        (&["search", &long_text], "at most 200 are searched"),
    ] {
        let out = run(args, "");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
    let out = run(&["profile", "set-secret", "p", "supabase-key"], "  \n");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("the secret is empty [invalid_input]"),
        "{}",
        stderr(&out)
    );
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
    let run = |args: &[&str]| run_cli(server, &bucket, data.path(), args);

    // Delete needs --yes, and a read-only run refuses.
    let out = run(&["delete", EMAIL, "w-1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("without --yes"));
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
    ok(&run_cli(
        twin_server,
        &twin,
        twin_data.path(),
        &["verify", EMAIL, "--repair"],
    ));
    ok(&run_cli(
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
    let out = run_cli_file_limit(
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
    let out = run_cli_file_limit(
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
    let out = run_cli(server, &bucket, data.path(), &["delete", EMAIL, "r-1", "--yes"]);
    assert!(
        stderr(&out).contains("[conditional_writes_unsupported]"),
        "{}",
        stderr(&out)
    );
    ok(&run_cli(server, &bucket, data.path(), &["show", EMAIL, "r-1"]));
    ok(&run_cli(
        server,
        &bucket,
        data.path(),
        &["--allow-unsafe-index-writes", "delete", EMAIL, "r-1", "--yes"],
    ));
    assert_eq!(
        run_cli(server, &bucket, data.path(), &["show", EMAIL, "r-1"])
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
    let run = |args: &[&str]| run_cli_with(a.server, &a.bucket, data.path(), args, &env);
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
