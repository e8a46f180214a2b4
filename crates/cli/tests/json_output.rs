//! `--json` and exit codes through the real binary where the other CLI
//! tests do not look: a result shown and then failed (exit 1, the report on
//! stdout and the error as `{code, message}` on stderr), errors before any
//! output, the whole-user export's report, a thaw request, and output closed
//! early (`| head`), which is not an error.

use std::path::Path;
use std::process::{Output, Stdio};

use archive_desk_core::{Encoding, Layout};
use archive_desk_harness::fixtures::{self, IndexState};
use archive_desk_harness::{fresh_store, process, seeded, servers, ServerKind};
use serde_json::Value;

mod common;
use common::{command, run_cli};

const DIRS: [&str; 2] = ["ARCHIVE_DESK_DATA_DIR", "ARCHIVE_DESK_CACHE_DIR"];

fn run(home: &Path, args: &[&str]) -> Output {
    let out = run_cli(seeded(ServerKind::Rclone), home, &DIRS, args);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    out
}

/// The one line of JSON a failed `--json` command leaves on stderr.
fn error_of(out: &Output) -> Value {
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    serde_json::from_str(&err).unwrap_or_else(|e| panic!("{e}: {err}"))
}

#[test]
fn shown_then_failed_exits_1_with_both_in_json() {
    let home = tempfile::tempdir().unwrap();
    // An unreadable index: the objects are still listed, then the error.
    let out = run(home.path(), &["index", "--json", fixtures::CORRUPT_INDEX]);
    let listing: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listing["folder"], "corrupt_index_at_example_com", "{listing}");
    assert!(!listing["conversations"].as_array().unwrap().is_empty(), "{listing}");
    let err = error_of(&out);
    assert_eq!(err["code"], "decode");
    assert!(err["message"]
        .as_str()
        .unwrap()
        .contains("corrupt_index_at_example_com/metadata.json"));

    // Problems found and not repaired: the verification, then `integrity`.
    let out = run(home.path(), &["verify", "--json", fixtures::DRIFT]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["verification"]["dangling_entries"],
        serde_json::json!(["d-gone"])
    );
    assert_eq!(report["repair"], Value::Null);
    assert_eq!(error_of(&out)["code"], "integrity");

    // A clean user: exit 0, nothing on stderr.
    let out = run(home.path(), &["verify", "--json", fixtures::ALICE]);
    assert!(out.status.success() && out.stderr.is_empty());
}

#[test]
fn errors_before_any_output_are_one_json_line() {
    let home = tempfile::tempdir().unwrap();
    let archive = seeded(ServerKind::Rclone);
    let out = process::output(command(archive.server, "", home.path(), &DIRS).args(["users", "--json"]));
    assert!(out.stdout.is_empty());
    let err = error_of(&out);
    assert!(err["code"].is_string(), "{err}");
    assert!(err["message"].as_str().unwrap().contains("no bucket"), "{err}");

    let out = run(home.path(), &["search", "--json", "alice"]);
    assert!(out.stdout.is_empty());
    let err = error_of(&out);
    assert!(err["code"].is_string(), "{err}");
    assert!(err["message"].as_str().unwrap().contains("sync` first"), "{err}");

    let out = run(home.path(), &["show", "--json", fixtures::ALICE, "no-such-id"]);
    assert!(out.stdout.is_empty());
    assert_eq!(error_of(&out)["code"], "not_found");
}

#[test]
fn export_user_reports_on_stdout_in_json_and_skips_on_stderr() {
    let home = tempfile::tempdir().unwrap();
    let path = home.path().join("drift.json");
    let out = run(
        home.path(),
        &["export-user", "--json", fixtures::DRIFT, "-o", path.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["path"], path.to_str().unwrap());
    assert_eq!(report["conversations"], 2, "{report}");
    assert_eq!(report["skipped"][0]["conversation_id"], "d-gone", "{report}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("skipped d-gone") && err.contains("[not_found]"), "{err}");
    assert!(path.exists());

    // In text, stdout stays empty: the report is a line on stderr.
    let out = run(
        home.path(),
        &["export-user", fixtures::DRIFT, "-o", path.to_str().unwrap()],
    );
    assert!(out.status.success() && out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("exported 2 conversations"));
}

#[test]
fn a_thaw_request_answers_with_the_new_state_in_json() {
    const EMAIL: &str = "thaw@example.com";
    let doc = fixtures::conversation("t-0", EMAIL, "Frozen", 1);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = rt.block_on(async {
        let store = fresh_store(ServerKind::Moto, Layout::default()).await;
        fixtures::seed(&store, |s| {
            s.user(EMAIL, IndexState::Present, &[&doc]);
            s.object(
                EMAIL,
                "t-0",
                "t-0.json",
                archive_desk_core::codec::encode(&doc, Encoding::Plain),
                None,
                Some(aws_sdk_s3::types::StorageClass::Glacier),
                fixtures::Expect::Fails("cold_storage"),
            );
        })
        .await;
        store
    });
    let home = tempfile::tempdir().unwrap();
    let server = servers::shared(ServerKind::Moto);
    let mut thaw = command(server, store.bucket(), home.path(), &DIRS);
    thaw.args(["thaw", "--json", EMAIL, "t-0", "--days", "1", "--tier", "bulk"]);
    let out = process::output(&mut thaw);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["key"], fixtures::object_key(EMAIL, "t-0.json"));
    assert_eq!(status["storage_class"], "GLACIER");
    let state = status["state"].as_str().unwrap();
    assert!(state == "restoring" || state == "available", "{status}");
}

#[test]
fn output_closed_early_is_not_an_error() {
    let archive = seeded(ServerKind::Rclone);
    let home = tempfile::tempdir().unwrap();
    for json in [false, true] {
        let mut cmd = command(archive.server, &archive.bucket, home.path(), &DIRS);
        cmd.args(["users", "--details"]);
        if json {
            cmd.arg("--json");
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        // Closed before the CLI has listed anything: its first write fails.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "json {json}: {err}");
        assert!(!err.contains("error"), "json {json}: {err}");
    }
}
