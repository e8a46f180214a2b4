use super::*;
use std::collections::BTreeSet;

#[test]
fn every_code_is_written_as_its_snake_case_string() {
    let strings: BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(strings.len(), ErrorCode::ALL.len(), "two codes share a string");
    for &code in ErrorCode::ALL {
        let wire = serde_json::to_value(code).unwrap();
        assert_eq!(wire, serde_json::json!(code.as_str()));
        assert_eq!(serde_json::from_value::<ErrorCode>(wire).unwrap(), code);
        assert!(
            code.as_str()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{code}"
        );
    }
}

/// Audit logs and scripts hold the codes as strings: every one written
/// before `ErrorCode` existed still reads as the same code.
#[test]
fn the_codes_written_before_the_enum_still_read() {
    for old in [
        "invalid_name",
        "invalid_input",
        "not_found",
        "cold_storage",
        "decode",
        "shape",
        "too_large",
        "s3",
        "io",
        "config",
        "read_only",
        "index_conflict",
        "conditional_writes_unsupported",
        "keychain_unavailable",
        "target_auth",
        "target_permission",
        "missing_table",
        "missing_columns",
        "target_conflict",
        "target_unavailable",
        "target_busy",
        "target_tls",
        "restore_failed",
        "not_verified",
        "cancelled",
        "audit_unwritable",
        "versions_unavailable",
        "object_locked",
        "holds_unreadable",
        "index_unreadable",
        "no_profile",
        "integrity",
        "connection_test",
        "audit_chain_broken",
        "audit_chain_unverified",
    ] {
        let code: ErrorCode = serde_json::from_value(serde_json::json!(old)).unwrap_or_else(|e| panic!("{old}: {e}"));
        assert_eq!(code.as_str(), old);
    }
}

#[test]
fn a_report_is_the_code_string_and_the_message() {
    let e = Error::Restore {
        failure: RestoreFailure::NotVerified,
        message: "conversation c1: differs".into(),
    };
    assert_eq!(e.code(), ErrorCode::NotVerified);
    assert_eq!(
        serde_json::to_string(&ErrorReport::from(&e)).unwrap(),
        r#"{"code":"not_verified","message":"conversation c1: differs"}"#
    );
    // Wrapping keeps the inner code.
    let kept = Error::KeptInArchive {
        conversation_id: "c1".into(),
        error: Box::new(Error::ObjectLocked { holds: vec![] }),
    };
    assert_eq!(
        kept.unaudited(&Error::Internal("x".into())).code(),
        ErrorCode::ObjectLocked
    );
}

#[test]
fn restore_failures_are_distinct_restore_codes() {
    let all = [
        RestoreFailure::TargetAuth,
        RestoreFailure::TargetPermission,
        RestoreFailure::MissingTable,
        RestoreFailure::MissingColumns,
        RestoreFailure::TargetConflict,
        RestoreFailure::TargetUnavailable,
        RestoreFailure::TargetBusy,
        RestoreFailure::TargetTls,
        RestoreFailure::RestoreFailed,
        RestoreFailure::NotVerified,
    ];
    let codes: BTreeSet<&str> = all.iter().map(|f| f.code().as_str()).collect();
    assert_eq!(codes.len(), all.len());
    assert!(codes.contains("target_tls") && codes.contains("not_verified"));
}

/// The `- `code`: meaning` lines after "Error codes" in `doc`, in order.
fn documented_codes(doc: &str) -> Vec<(&str, &str)> {
    let list = doc
        .lines()
        .skip_while(|l| !l.starts_with("Error codes"))
        .skip(1)
        .skip_while(|l| !l.starts_with("- `"))
        .take_while(|l| l.starts_with("- `"));
    list.map(|l| {
        let rest = &l["- `".len()..];
        let (code, meaning) = rest.split_once('`').unwrap_or((rest, ""));
        (code, meaning.trim_start_matches(':').trim())
    })
    .collect()
}

#[test]
fn the_documented_code_list_is_the_enum() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/ARCHITECTURE.md");
    let doc = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let documented = documented_codes(&doc);
    let undescribed: Vec<&str> = documented
        .iter()
        .filter(|(_, m)| m.is_empty())
        .map(|(c, _)| *c)
        .collect();
    assert!(
        undescribed.is_empty(),
        "{path}: codes without a meaning: {undescribed:?}"
    );
    let listed: Vec<&str> = documented.iter().map(|(c, _)| *c).collect();
    let enum_codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    let missing: Vec<&&str> = enum_codes.iter().filter(|c| !listed.contains(c)).collect();
    let extra: Vec<&&str> = listed.iter().filter(|c| !enum_codes.contains(c)).collect();
    assert!(
        missing.is_empty() && extra.is_empty() && listed.len() == enum_codes.len(),
        "{path}, \"Error codes\": missing {missing:?}, not codes {extra:?}, listed {} times for {} codes",
        listed.len(),
        enum_codes.len()
    );
}

#[test]
fn the_doc_list_reader_sees_a_missing_or_extra_code() {
    let doc = "x\nError codes (see error.rs):\n\n- `not_found`: gone\n- `made_up`: no such code\n- `io`:\n\nLater text\n- `decode`: not in the list\n";
    assert_eq!(
        documented_codes(doc),
        [("not_found", "gone"), ("made_up", "no such code"), ("io", "")]
    );
}
