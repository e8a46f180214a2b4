//! `audit` and `audit verify` through the real binary: the hash chain kept
//! by concurrent processes, a tampered log caught, damaged lines counted;
//! `audit --format csv|json -o FILE` exports exactly what the filters keep.

use std::path::Path;
use std::process::Output;

use archive_desk_core::{AuditLog, AuditRecord};
use archive_desk_harness::{seeded, ServerKind};
use serde_json::Value;

mod common;
use common::run_cli;

/// The CLI on the fixture archive (moto), its audit log in `data`.
fn run(data: &Path, args: &[&str]) -> Output {
    let out = run_cli(seeded(ServerKind::Moto), data, &["ARCHIVE_DESK_DATA_DIR"], args);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    out
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Exports by two processes at a time: each appends under the file lock,
/// so the records form one chain.
#[test]
fn concurrent_processes_keep_one_chain_and_verify_finds_tampering() {
    let data = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let (c, _) = seeded(ServerKind::Moto)
        .manifest
        .opens()
        .next()
        .expect("a readable conversation");
    let (email, id) = (c.email.clone(), c.id.clone());
    std::thread::scope(|scope| {
        for worker in 0..2 {
            let (data, out_dir, email, id) = (data.path(), out_dir.path(), &email, &id);
            scope.spawn(move || {
                for i in 0..6 {
                    let path = out_dir.join(format!("{worker}-{i}.json"));
                    let out = run(data, &["export", email, id, "-o", path.to_str().unwrap()]);
                    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                }
            });
        }
    });

    let good = run(data.path(), &["audit", "verify", "--json"]);
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stderr));
    let v = json_of(&good);
    assert_eq!(
        (v["records"].as_u64(), v["damaged_lines"].as_u64()),
        (Some(12), Some(0))
    );
    assert_eq!(v["first_broken"], Value::Null);
    assert_eq!(v["chain_starts_at_line"], 1);

    // Someone edits line 5 (who exported): verify names it.
    let log = data.path().join("audit.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut record: AuditRecord = serde_json::from_str(&lines[4]).unwrap();
    record.os_user = "someone-else".into();
    lines[4] = serde_json::to_string(&record).unwrap();
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let tampered = run(data.path(), &["audit", "verify", "--json"]);
    assert_eq!(tampered.status.code(), Some(1));
    let v = json_of(&tampered);
    assert_eq!(v["first_broken"]["line"], 5);
    assert_eq!(v["first_broken"]["kind"], "edited");
    let err: Value = serde_json::from_slice(&tampered.stderr).unwrap();
    assert_eq!(err["code"], "audit_chain_broken");

    let plain = run(data.path(), &["audit", "verify"]);
    let stdout = String::from_utf8_lossy(&plain.stdout);
    assert!(stdout.contains("BROKEN at line 5 (edited)"), "{stdout}");

    // The original log with line 9 removed instead.
    let mut lines: Vec<&str> = text.lines().collect();
    lines.remove(8);
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let v = json_of(&run(data.path(), &["audit", "verify", "--json"]));
    assert_eq!(v["first_broken"]["line"], 9);
    assert_eq!(v["first_broken"]["kind"], "removed");
    assert_eq!(v["records"], 11);
}

#[test]
fn a_torn_last_line_is_counted_and_hides_nothing() {
    let data = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let (c, _) = seeded(ServerKind::Moto).manifest.opens().next().unwrap();
    let export = |name: &str| {
        let path = out_dir.path().join(name);
        let out = run(data.path(), &["export", &c.email, &c.id, "-o", path.to_str().unwrap()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    export("one.json");
    // A crash in the middle of writing the next record.
    let log = data.path().join("audit.jsonl");
    let mut bytes = std::fs::read(&log).unwrap();
    bytes.extend_from_slice(br#"{"seq":2,"prev":"0f","time":"20"#);
    std::fs::write(&log, &bytes).unwrap();
    export("two.json");

    let out = run(data.path(), &["audit", "--json"]);
    assert!(out.status.success());
    let records: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2, "the record after the torn line is read");
    assert!(records[1]["detail"]["path"].as_str().unwrap().ends_with("two.json"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("1 damaged lines"), "{stderr}");

    let v = json_of(&run(data.path(), &["audit", "verify", "--json"]));
    assert_eq!((v["records"].as_u64(), v["damaged_lines"].as_u64()), (Some(2), Some(1)));
    assert_eq!(v["first_broken"], Value::Null);
    assert_eq!(AuditLog::at(&log).verify().unwrap().lines, 3);
}

/// The end of the log is anchored in `audit.jsonl.head`: a cut end is a
/// broken chain; a missing head file or a log without links is not intact.
#[test]
fn verify_names_a_cut_end_and_never_calls_an_unanchored_log_intact() {
    let data = tempfile::tempdir().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let (c, _) = seeded(ServerKind::Moto).manifest.opens().next().unwrap();
    for name in ["one.json", "two.json", "three.json"] {
        let path = out_dir.path().join(name);
        let out = run(data.path(), &["export", &c.email, &c.id, "-o", path.to_str().unwrap()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let good = run(data.path(), &["audit", "verify", "--json"]);
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stderr));
    assert_eq!(json_of(&good)["status"], "intact");

    let log = data.path().join("audit.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(&log, lines[..2].join("\n") + "\n").unwrap();
    let cut = run(data.path(), &["audit", "verify", "--json"]);
    assert_eq!(cut.status.code(), Some(1));
    let v = json_of(&cut);
    assert_eq!(
        (v["status"].as_str(), v["first_broken"]["line"].as_u64()),
        (Some("broken"), Some(3))
    );
    assert_eq!(v["first_broken"]["kind"], "removed");
    let err: Value = serde_json::from_slice(&cut.stderr).unwrap();
    assert_eq!(err["code"], "audit_chain_broken");
    assert!(err["message"].as_str().unwrap().contains("removed at the end"), "{err}");

    // The whole log back, its head file gone.
    std::fs::write(&log, &text).unwrap();
    std::fs::remove_file(data.path().join("audit.jsonl.head")).unwrap();
    let unanchored = run(data.path(), &["audit", "verify", "--json"]);
    assert_eq!(unanchored.status.code(), Some(1));
    assert_eq!(json_of(&unanchored)["status"], "tail_not_anchored");
    let err: Value = serde_json::from_slice(&unanchored.stderr).unwrap();
    assert_eq!(err["code"], "audit_chain_unverified");
    let plain = run(data.path(), &["audit", "verify"]);
    let stdout = String::from_utf8_lossy(&plain.stdout);
    assert!(
        stdout.contains("TAIL NOT ANCHORED") && !stdout.contains("intact"),
        "{stdout}"
    );
}

fn record(action: &str, user: &str, time: &str) -> AuditRecord {
    AuditRecord {
        seq: None,
        prev: None,
        operation: None,
        time: time.into(),
        os_user: "desk".into(),
        profile: Some("prod".into()),
        bucket: "b".into(),
        action: action.into(),
        user_email: Some(user.into()),
        user_folder: None,
        conversation_ids: vec!["c1".into()],
        outcome: "ok".into(),
        error_code: None,
        detail: Default::default(),
    }
}

#[test]
fn audit_exports_what_its_filters_keep_as_csv_and_json() {
    let data = tempfile::tempdir().unwrap();
    let log = AuditLog::at(data.path().join("audit.jsonl"));
    for (action, user, time) in [
        ("delete", "a@x.io", "2026-03-01T10:00:00Z"),
        ("erase_user", "a@x.io", "2026-03-02T10:00:00Z"),
        ("delete", "b@x.io", "2026-03-02T11:00:00Z"),
        ("delete", "a@x.io", "2026-04-01T10:00:00Z"),
    ] {
        log.append(&record(action, user, time)).unwrap();
    }
    let filters = [
        "--user",
        "a@x.io",
        "--since",
        "2026-03-01T00:00:00Z",
        "--until",
        "2026-03-31",
    ];
    let json = data.path().join("audit.json");
    let mut args = vec!["audit", "--format", "json", "-o", json.to_str().unwrap()];
    args.extend(filters);
    let out = run(data.path(), &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exported 2 audit records"));
    let exported: Vec<AuditRecord> = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let times: Vec<&str> = exported.iter().map(|r| r.time.as_str()).collect();
    assert_eq!(times, ["2026-03-01T10:00:00Z", "2026-03-02T10:00:00Z"]);
    assert!(exported.iter().all(|r| r.os_user == "desk" && r.seq.is_some()));

    let csv = data.path().join("audit.csv");
    let mut args = vec![
        "audit",
        "--format",
        "csv",
        "-o",
        csv.to_str().unwrap(),
        "--action",
        "delete",
    ];
    args.extend(filters);
    let out = run(data.path(), &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(
        rows[0].starts_with("seq,time,os_user,profile,bucket,action,outcome,"),
        "{text}"
    );
    assert!(
        rows[1].starts_with("1,2026-03-01T10:00:00Z,desk,prod,b,delete,ok,,a@x.io,,c1,,{}"),
        "{text}"
    );

    // --format alone prints the same export on stdout; -o alone is refused.
    let mut args = vec!["audit", "--format", "csv", "--action", "delete"];
    args.extend(filters);
    let out = run(data.path(), &args);
    assert_eq!(String::from_utf8_lossy(&out.stdout), text);
    let out = run(data.path(), &["audit", "-o", csv.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "clap refuses it");
}
