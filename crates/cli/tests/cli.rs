//! The real `archive-desk-cli` binary against real S3 servers (moto and
//! rclone), credentials through the standard AWS environment variables:
//! the reading commands on the fixture archive (the writing ones:
//! `writes.rs`).

mod common;

use std::path::Path;
use std::process::{Command, Output};

use archive_desk_harness::fixtures::{self, IndexState};
use archive_desk_harness::{seeded, SeededArchive, ServerKind};
use common::{ok, run_on, stderr};
use serde_json::Value;

/// The CLI on the shared fixture archive (audit log in a per-process dir).
fn cli(archive: &SeededArchive, args: &[&str]) -> Output {
    static DATA: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let data = DATA.get_or_init(|| tempfile::tempdir().unwrap());
    run_on(archive.server, &archive.bucket, data.path(), args)
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
