//! The audit log's tests: append, read, the chain and its verification.

use super::*;

fn record(action: &str, user: &str, time: &str) -> AuditRecord {
    AuditRecord {
        seq: None,
        prev: None,
        operation: None,
        time: time.into(),
        os_user: "tester".into(),
        profile: None,
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

/// A log in a temp dir with `n` chained records.
fn log_with(n: usize) -> (tempfile::TempDir, AuditLog) {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::at(dir.path().join("audit.jsonl"));
    for i in 0..n {
        log.append(&record("export", &format!("u{i}@x.io"), "2026-01-01T00:00:00Z"))
            .unwrap();
    }
    (dir, log)
}

fn lines(log: &AuditLog) -> Vec<String> {
    std::fs::read_to_string(log.path())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(log: &AuditLog, lines: &[String]) {
    std::fs::write(log.path(), lines.join("\n") + "\n").unwrap();
}

/// Asserts that verification finds the chain first broken at `line`, by
/// `kind` (its message shown when not); returns the message.
fn assert_break(log: &AuditLog, line: u64, kind: BreakKind) -> String {
    let broken = log.verify().unwrap().first_broken.expect("a break in the chain");
    assert_eq!((broken.line, broken.kind), (line, kind), "{}", broken.message);
    broken.message
}

#[test]
fn append_and_filter() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::at(dir.path().join("sub/audit.jsonl"));
    assert!(log.read(&AuditFilter::default()).unwrap().is_empty());
    log.append(&record("delete", "a@x.io", "2026-01-01T00:00:00Z")).unwrap();
    log.append(&record("export", "b@x.io", "2026-02-01T00:00:00Z")).unwrap();
    assert_eq!(log.read(&AuditFilter::default()).unwrap().len(), 2);
    let f = AuditFilter {
        user: Some("A@x.io".into()),
        ..Default::default()
    };
    assert_eq!(log.read(&f).unwrap()[0].action, "delete");
    let f = AuditFilter {
        since: Some("2026-01-15T00:00:00Z".into()),
        ..Default::default()
    };
    assert_eq!(log.read(&f).unwrap()[0].action, "export");
    let text = std::fs::read_to_string(log.path()).unwrap();
    assert_eq!(text.lines().count(), 2);
    assert!(now_rfc3339().ends_with('Z'));
}

#[test]
fn records_are_chained_from_the_genesis() {
    let (_dir, log) = log_with(3);
    let lines = lines(&log);
    let records = log.read(&AuditFilter::default()).unwrap();
    assert_eq!(records.damaged_lines, 0);
    assert_eq!(records.iter().map(|r| r.seq.unwrap()).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(records[0].prev.as_deref(), Some(sha256_hex(b"").as_str()));
    assert_eq!(
        records[2].prev.as_deref(),
        Some(sha256_hex(lines[1].as_bytes()).as_str())
    );
    let v = log.verify().unwrap();
    assert_eq!((v.lines, v.records, v.damaged_lines), (3, 3, 0));
    assert_eq!((v.chain_starts_at_line, v.first_broken), (Some(1), None));
}

#[test]
fn a_torn_last_line_hides_nothing_and_is_counted() {
    let (_dir, log) = log_with(2);
    // A crash in the middle of a write: half a line, no newline.
    let mut f = OpenOptions::new().append(true).open(log.path()).unwrap();
    f.write_all(br#"{"seq":3,"prev":"ab","time":"2026-"#).unwrap();
    drop(f);
    assert_eq!(log.read(&AuditFilter::default()).unwrap().damaged_lines, 1);
    log.append(&record("delete", "after@x.io", "2026-03-01T00:00:00Z"))
        .unwrap();
    let read = log.read(&AuditFilter::default()).unwrap();
    assert_eq!(read.damaged_lines, 1);
    assert_eq!(read.len(), 3);
    assert_eq!(read[2].user_email.as_deref(), Some("after@x.io"));
    assert_eq!(read[2].seq, Some(3), "numbered after the last readable record");
    let v = log.verify().unwrap();
    assert_eq!((v.lines, v.records, v.damaged_lines), (4, 3, 1));
    assert_eq!(v.first_broken, None, "the torn line is part of the chain");
}

#[test]
fn an_edited_record_is_named() {
    let (_dir, log) = log_with(5);
    let mut l = lines(&log);
    l[2] = l[2].replace("u2@x.io", "someone-else@x.io");
    write_lines(&log, &l);
    assert_break(&log, 3, BreakKind::Edited);
}

#[test]
fn an_edited_link_is_named() {
    let (_dir, log) = log_with(5);
    let mut l = lines(&log);
    let mut r: AuditRecord = serde_json::from_str(&l[2]).unwrap();
    r.prev = Some(sha256_hex(b"forged"));
    l[2] = serde_json::to_string(&r).unwrap();
    write_lines(&log, &l);
    assert_break(&log, 3, BreakKind::Edited);
}

#[test]
fn a_removed_record_is_named() {
    let (_dir, log) = log_with(5);
    let mut l = lines(&log);
    l.remove(1);
    write_lines(&log, &l);
    assert_break(&log, 2, BreakKind::Removed);
    assert_eq!(log.verify().unwrap().records, 4);

    // The first record removed: the new first line does not start the chain.
    let (_dir, log) = log_with(3);
    let mut l = lines(&log);
    l.remove(0);
    write_lines(&log, &l);
    assert_break(&log, 1, BreakKind::Removed);
}

#[test]
fn an_inserted_record_is_named() {
    let (_dir, log) = log_with(4);
    let mut l = lines(&log);
    // A plausible record, even with the right link to the line before it.
    let mut forged: AuditRecord = serde_json::from_str(&l[1]).unwrap();
    forged.prev = Some(sha256_hex(l[1].as_bytes()));
    forged.seq = Some(3);
    forged.user_email = Some("forged@x.io".into());
    l.insert(2, serde_json::to_string(&forged).unwrap());
    write_lines(&log, &l);
    assert_break(&log, 3, BreakKind::Inserted);

    // An old-style record (no hash) slipped in after the chain started.
    let (_dir, log) = log_with(3);
    let mut l = lines(&log);
    l.insert(
        1,
        serde_json::to_string(&record("delete", "x@x.io", "2026-01-01T00:00:00Z")).unwrap(),
    );
    write_lines(&log, &l);
    assert_break(&log, 2, BreakKind::Inserted);
}

#[test]
fn records_of_older_versions_read_and_the_chain_starts_after_them() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::at(dir.path().join("audit.jsonl"));
    // As written before the chain: no seq, prev or operation.
    let old = r#"{"time":"2025-01-01T00:00:00Z","os_user":"a","profile":null,"bucket":"b","action":"delete","user_email":"old@x.io","user_folder":null,"conversation_ids":["c"],"outcome":"ok","error_code":null,"detail":{}}"#;
    std::fs::write(log.path(), format!("{old}\n{old}\n")).unwrap();
    let v = log.verify().unwrap();
    assert_eq!((v.records, v.chain_starts_at_line, &v.first_broken), (2, None, &None));
    assert_eq!(v.status, ChainStatus::NotChained);
    assert!(!v.is_intact());
    log.append(&record("export", "new@x.io", "2026-01-01T00:00:00Z"))
        .unwrap();
    let read = log.read(&AuditFilter::default()).unwrap();
    assert_eq!((read.len(), read.damaged_lines), (3, 0));
    assert_eq!(read[0].user_email.as_deref(), Some("old@x.io"));
    assert_eq!(read[2].seq, Some(1));
    let v = log.verify().unwrap();
    assert_eq!((v.chain_starts_at_line, v.first_broken), (Some(3), None));
    assert_eq!(v.status, ChainStatus::Intact);
}

#[test]
fn an_empty_log_is_empty_not_intact() {
    let (_dir, log) = log_with(0);
    let v = log.verify().unwrap();
    assert_eq!((v.status, v.lines, &v.first_broken), (ChainStatus::Empty, 0, &None));
    assert!(!v.is_intact());
}

/// The log with `seq` and `prev` taken out of every record.
fn strip_links(log: &AuditLog) {
    let l: Vec<String> = lines(log)
        .iter()
        .map(|line| {
            let mut r: AuditRecord = serde_json::from_str(line).unwrap();
            (r.seq, r.prev) = (None, None);
            serde_json::to_string(&r).unwrap()
        })
        .collect();
    write_lines(log, &l);
}

#[test]
fn a_log_stripped_of_its_links_is_not_intact() {
    let (_dir, log) = log_with(3);
    strip_links(&log);
    let v = log.verify().unwrap();
    assert_eq!(v.status, ChainStatus::Broken, "{v:?}");
    let broken = v.first_broken.unwrap();
    assert_eq!(broken.kind, BreakKind::Removed, "{}", broken.message);
    assert!(broken.message.contains("seq 3"), "{}", broken.message);

    // Its head file gone too: still not intact.
    std::fs::remove_file(log.head_path()).unwrap();
    let v = log.verify().unwrap();
    assert_eq!((v.status, &v.first_broken), (ChainStatus::NotChained, &None));
    assert!(!v.is_intact());
}

#[test]
fn records_cut_from_the_end_are_named() {
    let (_dir, log) = log_with(4);
    let mut l = lines(&log);
    l.pop();
    write_lines(&log, &l);
    let v = log.verify().unwrap();
    let broken = v.first_broken.clone().unwrap();
    assert_eq!(
        (v.status, broken.line, broken.kind),
        (ChainStatus::Broken, 4, BreakKind::Removed),
        "{}",
        broken.message
    );
    assert!(broken.message.contains("removed at the end"), "{}", broken.message);

    // Appending after the cut does not hide it: the new record's seq skips.
    log.append(&record("export", "later@x.io", "2026-01-02T00:00:00Z"))
        .unwrap();
    assert_break(&log, 4, BreakKind::Removed);
}

#[test]
fn a_last_line_replaced_by_garbage_is_named() {
    // Garbage looks like a line torn by a crash; the head says a whole record was there.
    let (_dir, log) = log_with(3);
    let mut l = lines(&log);
    l[2] = r#"{"seq":3,"prev":"ab","ti"#.into();
    write_lines(&log, &l);
    assert_eq!(log.verify().unwrap().damaged_lines, 1);
    let message = assert_break(&log, 3, BreakKind::Removed);
    assert!(message.contains("removed at the end"), "{message}");

    // The last record replaced by another, well-formed one.
    let (_dir, log) = log_with(3);
    let mut l = lines(&log);
    l[2] = l[2].replace("u2@x.io", "someone-else@x.io");
    write_lines(&log, &l);
    assert_break(&log, 3, BreakKind::Edited);
}

#[test]
fn a_missing_head_file_leaves_the_tail_not_anchored() {
    let (_dir, log) = log_with(3);
    assert_eq!(log.verify().unwrap().status, ChainStatus::Intact);
    std::fs::remove_file(log.head_path()).unwrap();
    let v = log.verify().unwrap();
    assert_eq!((v.status, &v.first_broken), (ChainStatus::TailNotAnchored, &None));
    assert!(!v.is_intact());
}

#[test]
fn a_head_one_record_behind_is_a_crash_not_a_break() {
    // A crash after the line was written, before the head was replaced.
    let (_dir, log) = log_with(2);
    let head = std::fs::read(log.head_path()).unwrap();
    log.append(&record("export", "c@x.io", "2026-01-01T00:00:00Z")).unwrap();
    std::fs::write(log.head_path(), head).unwrap();
    assert_eq!(log.verify().unwrap().status, ChainStatus::Intact);
}

#[test]
fn a_first_record_whose_head_was_never_written_is_a_crash_not_unanchored() {
    // A process killed after the first line, before its head: the head is
    // still the anchor the first append wrote before the line.
    let (_dir, log) = log_with(1);
    let genesis = serde_json::json!({"seq": 0, "hash": sha256_hex(b"")});
    std::fs::write(log.head_path(), genesis.to_string()).unwrap();
    let v = log.verify().unwrap();
    assert_eq!((v.status, &v.first_broken), (ChainStatus::Intact, &None));
    // Killed before the first line: anchored, nothing recorded.
    std::fs::write(log.path(), b"").unwrap();
    let v = log.verify().unwrap();
    assert_eq!((v.status, &v.first_broken), (ChainStatus::Empty, &None));
    // The next append continues from the anchor.
    log.append(&record("export", "a@x.io", "2026-01-01T00:00:00Z")).unwrap();
    assert_eq!(log.verify().unwrap().status, ChainStatus::Intact);
}

#[test]
fn the_first_append_links_its_line_to_the_anchor() {
    let (_dir, log) = log_with(1);
    let first: AuditRecord = serde_json::from_str(&lines(&log)[0]).unwrap();
    assert_eq!((first.seq, first.prev), (Some(1), Some(sha256_hex(b""))));
}

#[test]
fn unfinished_intents_are_listed() {
    let (_dir, log) = log_with(1);
    let mut intent = record("delete", "a@x.io", "2026-01-01T00:00:00Z");
    intent.outcome = "intent".into();
    intent.operation = Some("op-1".into());
    log.append(&intent).unwrap();
    let mut done = intent.clone();
    done.outcome = "ok".into();
    log.append(&done).unwrap();
    intent.operation = Some("op-2".into());
    log.append(&intent).unwrap();
    assert_eq!(log.verify().unwrap().unfinished_intents, [4]);
}

#[test]
fn concurrent_appends_keep_one_chain() {
    let (_dir, log) = log_with(0);
    // Separate handles, as separate processes would have: each append
    // opens the file and takes the lock itself.
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let log = AuditLog::at(log.path());
            std::thread::spawn(move || {
                for i in 0..50 {
                    log.append(&record("export", &format!("t{t}-{i}@x.io"), "2026-01-01T00:00:00Z"))
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let v = log.verify().unwrap();
    assert_eq!((v.records, v.damaged_lines, v.first_broken), (200, 0, None));
    let seqs: Vec<u64> = log
        .read(&AuditFilter::default())
        .unwrap()
        .iter()
        .map(|r| r.seq.unwrap())
        .collect();
    assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
}

/// An append waiting for the lock (another process appending) or an
/// fsync leaves the async runtime free: on a one-thread runtime, another
/// task runs while the append waits.
#[tokio::test(flavor = "current_thread")]
async fn an_append_waiting_for_the_lock_leaves_the_runtime_free() {
    let (_dir, log) = log_with(1);
    let (ran, ran_rx) = std::sync::mpsc::channel::<()>();
    let held = File::options().append(true).open(log.path()).unwrap();
    held.lock().unwrap();
    // Holds the lock until this task says it ran; if it never can (the
    // append blocks the runtime's only thread), gives up and lets go so
    // the test fails instead of hanging.
    let holder = std::thread::spawn(move || {
        let ran_while_waiting = ran_rx.recv_timeout(std::time::Duration::from_secs(60)).is_ok();
        held.unlock().unwrap();
        ran_while_waiting
    });
    let append = tokio::spawn({
        let log = log.clone();
        async move {
            log.append_off_runtime(record("export", "b@x.io", "2026-01-01T00:00:00Z"))
                .await
        }
    });
    tokio::task::yield_now().await;
    let _ = ran.send(());
    append.await.unwrap().unwrap();
    assert!(
        holder.join().unwrap(),
        "the runtime was blocked while the append waited"
    );
    assert_eq!(log.read(&AuditFilter::default()).unwrap().len(), 2);
}

#[test]
fn the_tail_is_found_across_chunks() {
    // Lines longer than the first chunk read from the end.
    let (_dir, log) = log_with(0);
    let mut big = record("export", "big@x.io", "2026-01-01T00:00:00Z");
    big.detail.insert("path".into(), serde_json::json!("x".repeat(10_000)));
    for _ in 0..3 {
        log.append(&big).unwrap();
    }
    let v = log.verify().unwrap();
    assert_eq!((v.records, v.first_broken), (3, None));
    assert_eq!(log.read(&AuditFilter::default()).unwrap()[2].seq, Some(3));
}

#[cfg(unix)]
#[test]
fn the_log_and_its_dir_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::at(dir.path().join("data/audit.jsonl"));
    log.append(&record("export", "a@x.io", "2026-01-01T00:00:00Z")).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(log.path()), 0o600);
    assert_eq!(mode(&log.head_path()), 0o600);
    assert_eq!(mode(&dir.path().join("data")), 0o700);
    // A log written by an older version (0644) is tightened on the next append.
    std::fs::set_permissions(log.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    log.append(&record("export", "a@x.io", "2026-01-01T00:00:00Z")).unwrap();
    assert_eq!(mode(log.path()), 0o600);
}

/// A log that cannot be called intact is an error with the audit codes;
/// an intact or empty one is not.
#[test]
fn a_verification_that_is_not_intact_is_an_audit_chain_error() {
    use crate::error::ErrorCode;
    let v = |status, first_broken| AuditVerification {
        path: "/logs/audit.jsonl".into(),
        status,
        first_broken,
        ..AuditVerification::default()
    };
    let broken = BrokenLink {
        line: 7,
        kind: BreakKind::Edited,
        message: "the line was edited".into(),
    };
    let e = v(ChainStatus::Broken, Some(broken)).problem().unwrap();
    assert_eq!(e.code(), ErrorCode::AuditChainBroken);
    assert_eq!(e.to_string(), "/logs/audit.jsonl: line 7: the line was edited");
    for status in [ChainStatus::NotChained, ChainStatus::TailNotAnchored] {
        let e = v(status, None).problem().unwrap();
        assert_eq!(e.code(), ErrorCode::AuditChainUnverified, "{status:?}");
        assert!(e.to_string().starts_with("/logs/audit.jsonl: "), "{e}");
    }
    for status in [ChainStatus::Intact, ChainStatus::Empty] {
        assert!(v(status, None).problem().is_none(), "{status:?}");
    }
}

#[test]
fn records_without_an_os_user_read_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::at(dir.path().join("audit.jsonl"));
    // As written by a version that recorded no operator.
    let old = r#"{"time":"2025-01-01T00:00:00Z","profile":null,"bucket":"b","action":"delete","user_email":"old@x.io","user_folder":null,"conversation_ids":["c"],"outcome":"ok","error_code":null,"detail":{}}"#;
    std::fs::write(log.path(), format!("{old}\n")).unwrap();
    log.append(&record("export", "new@x.io", "2026-01-01T00:00:00Z"))
        .unwrap();
    let read = log.read(&AuditFilter::default()).unwrap();
    assert_eq!((read.len(), read.damaged_lines), (2, 0));
    assert_eq!((read[0].os_user.as_str(), read[1].os_user.as_str()), ("", "tester"));
    let v = log.verify().unwrap();
    assert_eq!((v.records, v.damaged_lines, v.status), (2, 0, ChainStatus::Intact));
}

#[test]
fn until_keeps_records_up_to_a_time_or_through_a_whole_date() {
    let (_dir, log) = log_with(0);
    for time in ["2026-01-30T23:59:59Z", "2026-01-31T12:00:00Z", "2026-02-01T00:00:00Z"] {
        log.append(&record("export", "a@x.io", time)).unwrap();
    }
    let times = |until: &str| -> Vec<String> {
        let f = AuditFilter {
            until: Some(until.into()),
            ..Default::default()
        };
        log.read(&f).unwrap().iter().map(|r| r.time.clone()).collect()
    };
    assert_eq!(times("2026-01-31"), ["2026-01-30T23:59:59Z", "2026-01-31T12:00:00Z"]);
    assert_eq!(times("2026-01-31T00:00:00Z"), ["2026-01-30T23:59:59Z"]);
}

/// A CSV document (RFC 4180: quoted fields, `""` for a quote) as rows.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut cell) = (Vec::new(), Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    rows
}

#[test]
fn the_export_holds_exactly_the_filtered_records() {
    let (dir, log) = log_with(0);
    let mut hostile = record("delete", "=cmd@x.io", "2026-03-02T00:00:00Z");
    hostile.conversation_ids = vec!["c1".into(), "c2".into()];
    hostile.detail.insert("note".into(), "a, \"quoted\"\nline".into());
    for r in [
        record("delete", "a@x.io", "2026-03-01T00:00:00Z"),
        record("export", "a@x.io", "2026-03-01T01:00:00Z"),
        hostile,
        record("delete", "b@x.io", "2026-04-01T00:00:00Z"),
    ] {
        log.append(&r).unwrap();
    }
    let filter = AuditFilter {
        action: Some("delete".into()),
        since: Some("2026-03-01T00:00:00Z".into()),
        until: Some("2026-03-31".into()),
        ..Default::default()
    };
    let wanted = log.read(&filter).unwrap().records;
    assert_eq!(wanted.len(), 2);

    let json = dir.path().join("out.json");
    let report = log.export(&filter, AuditExportFormat::Json, &json).unwrap();
    assert_eq!(report.records, 2);
    let back: Vec<AuditRecord> = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(back, wanted);

    let csv = dir.path().join("out.csv");
    log.export(&filter, AuditExportFormat::Csv, &csv).unwrap();
    let rows = parse_csv(&std::fs::read_to_string(&csv).unwrap());
    assert_eq!(rows[0], CSV_COLUMNS);
    assert_eq!(rows.len(), 3);
    for (row, r) in rows[1..].iter().zip(&wanted) {
        assert_eq!(row[0], r.seq.unwrap().to_string());
        assert_eq!(
            (row[1].as_str(), row[2].as_str(), row[5].as_str()),
            (r.time.as_str(), "tester", "delete")
        );
        assert_eq!(row[10], r.conversation_ids.join(" "));
        let detail: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&row[12]).unwrap();
        assert_eq!(detail, r.detail);
    }
    // The email a spreadsheet would run as a formula is defused.
    assert_eq!(rows[2][8], "'=cmd@x.io");
}
