//! Readable (non-JSON) output. Archive content is untrusted: everything
//! printed from it goes through `printable`, so no escape sequence or bidi
//! override in a message can drive the terminal.

use std::borrow::Cow;
use std::fmt::Write as _;

use archive_desk_core::browse::{EmailSource, UserConversations, UserSummary};
use archive_desk_core::integrity::{RepairReport, Verification};
use archive_desk_core::restore::RestoreReport;
use archive_desk_core::{
    AuditRecord, AuditVerification, ChainStatus, ColdState, ColdStatus, DeleteReport, OpenedConversation, UserFolder,
};

fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

/// `s` with control characters and bidi overrides shown as `\u{..}`.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| {
                if is_unsafe(c) {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// One line: no line breaks either.
fn inline(s: &str) -> String {
    printable(s).replace(['\n', '\t'], " ")
}

/// One line of at most 120 characters (a message can be long).
fn clipped(s: &str) -> String {
    let line = inline(s);
    match line.char_indices().nth(120) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

fn or_dash(s: Option<&str>) -> String {
    s.map(inline).unwrap_or_else(|| "-".into())
}

pub fn user_header(details: bool) -> String {
    if details {
        format!("{:<40} {:<40} {:>6}  {}", "EMAIL", "FOLDER", "CONVS", "LAST ARCHIVED")
    } else {
        format!("{:<40} {}", "FOLDER", "EMAIL (GUESSED FROM FOLDER)")
    }
}

pub fn user_line(f: &UserFolder) -> String {
    format!("{:<40} {}", inline(f.as_str()), or_dash(f.guessed_email().as_deref()))
}

fn email_label(email: Option<&str>, source: EmailSource) -> String {
    match source {
        EmailSource::Index => or_dash(email),
        EmailSource::Guessed => format!("~{}", or_dash(email)),
        EmailSource::Unknown => "?".into(),
    }
}

pub fn user_summary_line(s: &UserSummary) -> String {
    let mut line = format!(
        "{:<40} {:<40} {:>6}  {}",
        email_label(s.email.as_deref(), s.email_source),
        inline(&s.folder),
        s.conversation_count,
        or_dash(s.last_archived_at.as_deref()),
    );
    if s.index_missing {
        line.push_str("  (no metadata.json)");
    }
    if let Some(e) = &s.index_error {
        let _ = write!(line, "  (index unreadable: {})", e.code);
    }
    line
}

pub fn user_conversations(l: &UserConversations) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "user {}  folder {}  {} conversation(s){}",
        email_label(l.email.as_deref(), l.email_source),
        inline(&l.folder),
        l.conversations.len(),
        if l.index_missing { "  (no metadata.json)" } else { "" }
    );
    let _ = writeln!(
        out,
        "{:<38} {:<36} {:<20} {:<20} {:>6} {:<13} NOTE",
        "ID", "TITLE", "CREATED", "ARCHIVED", "MSGS", "CLASS"
    );
    for r in &l.conversations {
        let drift = match (r.in_index, r.in_store) {
            (true, false) => "object missing",
            (false, true) => "not in index",
            _ => "",
        };
        // Held objects are refused by delete: say so where they are listed.
        // A hold that could not be read may be one: delete then refuses.
        let hold = match &r.held {
            Some(hold) => format!("held: {}", inline(hold)),
            None if r.hold_unknown => "hold unknown".to_owned(),
            None => String::new(),
        };
        let note = [drift, hold.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        let title: String = or_dash(r.title.as_deref()).chars().take(36).collect();
        let _ = writeln!(
            out,
            "{:<38} {:<36} {:<20} {:<20} {:>6} {:<13} {}",
            inline(&r.conversation_id),
            title,
            or_dash(r.created_at.as_deref()),
            or_dash(r.archived_at.as_deref()),
            r.message_count.map_or("-".into(), |n| n.to_string()),
            or_dash(r.storage_class.as_deref()),
            note
        );
    }
    for key in &l.other_objects {
        let _ = writeln!(out, "other object: {}", inline(key));
    }
    out
}

pub fn transcript(o: &OpenedConversation) -> String {
    let doc = &o.document;
    let c = doc.conversation();
    let mut out = String::new();
    let _ = writeln!(out, "{}", or_dash(doc.title()));
    let _ = writeln!(
        out,
        "id {}  created {}  {} message(s)  [{}]",
        inline(doc.id()),
        or_dash(c.str("created_at")),
        doc.messages().len(),
        inline(&o.key)
    );
    if let Some(m) = doc.archive_metadata() {
        let _ = writeln!(
            out,
            "archived {}  by {}",
            or_dash(m.str("archived_at")),
            or_dash(m.str("user_email"))
        );
    }
    for m in doc.messages() {
        let feedback = m
            .str("feedback")
            .map(|f| format!("  [{}]", inline(f)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "\n── {} · {}{}",
            or_dash(m.str("role")),
            or_dash(m.str("created_at")),
            feedback
        );
        let content = m.str("content").unwrap_or("");
        for line in printable(content).lines() {
            let _ = writeln!(out, "   {line}");
        }
    }
    out
}

pub fn restore_report(r: &RestoreReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "restored {} via {} in {} ms{}",
        inline(&r.conversation_id),
        r.target,
        r.duration_ms,
        if r.atomic { " (one transaction)" } else { "" }
    );
    let _ = writeln!(
        out,
        "  conversation: {}",
        if r.conversation_inserted {
            "inserted"
        } else {
            "already present"
        }
    );
    let _ = writeln!(
        out,
        "  messages: {} inserted, {} already present ({} in the archive, {} in the table)",
        r.messages_inserted, r.messages_already_present, r.messages_in_archive, r.messages_in_table
    );
    let dropped: Vec<String> = r
        .dropped_fields
        .conversations
        .iter()
        .map(|f| format!("conversations.{f}"))
        .chain(r.dropped_fields.messages.iter().map(|f| format!("messages.{f}")))
        .collect();
    if !dropped.is_empty() {
        let _ = writeln!(
            out,
            "  not restored (the tables lack them): {}",
            inline(&dropped.join(", "))
        );
    }
    let _ = writeln!(out, "  verified: {}", if r.verified { "yes" } else { "NO" });
    for d in &r.differences {
        let _ = writeln!(
            out,
            "    {}.{} of row {}: archive {}, table {}",
            inline(&d.table),
            inline(&d.field),
            inline(&d.row_id),
            clipped(&d.archive.to_string()),
            clipped(&d.target.to_string())
        );
    }
    if r.differences_count > r.differences.len() as u64 {
        let _ = writeln!(
            out,
            "    and {} more differences",
            r.differences_count - r.differences.len() as u64
        );
    }
    if let Some(d) = &r.removed_from_archive {
        let _ = writeln!(
            out,
            "  removed from the archive: {}",
            inline(&d.deleted_keys.join(", "))
        );
        for warning in &d.warnings {
            let _ = writeln!(out, "  warning: {}", inline(warning));
        }
    }
    out
}

pub fn delete_report(r: &DeleteReport) -> String {
    let mut out = String::new();
    for key in &r.deleted_keys {
        let _ = writeln!(out, "deleted {}", inline(key));
    }
    let _ = writeln!(
        out,
        "{} object version(s) removed{}; {} index entr{} removed",
        r.deleted_versions,
        if r.versioned_bucket {
            " (versioned bucket: all versions)"
        } else {
            ""
        },
        r.index_entries_removed,
        if r.index_entries_removed == 1 { "y" } else { "ies" }
    );
    for id in &r.not_found {
        let _ = writeln!(out, "not found: {}", inline(id));
    }
    for warning in &r.warnings {
        let _ = writeln!(out, "warning: {}", inline(warning));
    }
    out
}

pub fn verification(v: &Verification, repair: Option<&RepairReport>) -> String {
    let mut out = String::new();
    let state = if v.is_clean() { "clean" } else { "PROBLEMS" };
    let _ = writeln!(
        out,
        "{}: {state} (index {}, {} object(s) read)",
        inline(&v.folder),
        v.index_state,
        v.objects_checked
    );
    if let Some(e) = &v.index_error {
        let _ = writeln!(out, "  index unreadable: {}", inline(&e.message));
    }
    for id in &v.dangling_entries {
        let _ = writeln!(out, "  index entry without object: {}", inline(id));
    }
    for u in &v.unindexed_objects {
        let _ = writeln!(out, "  object not in index: {}", inline(&u.key));
    }
    for u in &v.unreadable_objects {
        let _ = writeln!(out, "  unreadable: {}", inline(&u.error.message));
    }
    for id in &v.duplicate_entries {
        let _ = writeln!(out, "  duplicate index entry: {}", inline(id));
    }
    for key in &v.cold_objects {
        let _ = writeln!(out, "  in cold storage (not read): {}", inline(key));
    }
    if let Some(r) = repair {
        let _ = writeln!(
            out,
            "  repaired: {} dangling removed, {} duplicate(s) removed, {} entr{} added{}",
            r.entries_removed,
            r.duplicates_removed,
            r.entries_added,
            if r.entries_added == 1 { "y" } else { "ies" },
            if r.index_written { "" } else { " (nothing to write)" }
        );
        for l in &r.left_alone {
            let _ = writeln!(out, "  left alone: {}", inline(l));
        }
    }
    out
}

pub fn cold_status(s: &ColdStatus) -> String {
    let state = match &s.state {
        ColdState::Warm => "readable now".to_owned(),
        ColdState::Frozen => "in cold storage; no restore requested".to_owned(),
        ColdState::Restoring => "restore in progress".to_owned(),
        ColdState::Available { until } => format!("restored, readable until {}", or_dash(until.as_deref())),
    };
    match &s.archive_status {
        Some(tier) => format!("{} [{}, {tier}]: {state}", inline(&s.key), s.storage_class),
        None => format!("{} [{}]: {state}", inline(&s.key), s.storage_class),
    }
}

pub fn audit_line(r: &AuditRecord) -> String {
    format!(
        "{}  {:<8} {:<6} {:<30} {}{}",
        r.time,
        r.action,
        r.outcome,
        or_dash(r.user_email.as_deref().or(r.user_folder.as_deref())),
        inline(&r.conversation_ids.join(",")),
        r.error_code.as_deref().map(|c| format!("  [{c}]")).unwrap_or_default()
    )
}

pub fn audit_verification(v: &AuditVerification) -> String {
    let mut s = format!(
        "{}: {} records, {} damaged lines, {} lines in all\n",
        v.path, v.records, v.damaged_lines, v.lines
    );
    if let Some(n) = v.chain_starts_at_line.filter(|&n| n > 1) {
        let _ = writeln!(
            s,
            "chain starts at line {n} (lines before it were written by an older version)"
        );
    }
    match &v.first_broken {
        None => s.push_str(match v.status {
            ChainStatus::Empty => "empty: nothing recorded yet\n",
            ChainStatus::NotChained => {
                "NOT CHAINED: no record carries a link (written by an older version, or the links were \
                 stripped); nothing can be checked\n"
            }
            ChainStatus::TailNotAnchored => {
                "TAIL NOT ANCHORED: the chain is whole, but the head file next to the log is missing \
                 (written by an older version, or deleted): records cut from the end would not show\n"
            }
            ChainStatus::Intact | ChainStatus::Broken => "chain intact\n",
        }),
        Some(b) => {
            let kind = serde_json::to_value(b.kind)
                .ok()
                .and_then(|k| k.as_str().map(str::to_owned));
            let _ = writeln!(
                s,
                "BROKEN at line {} ({}): {}",
                b.line,
                or_dash(kind.as_deref()),
                b.message
            );
        }
    }
    if !v.unfinished_intents.is_empty() {
        let lines: Vec<String> = v.unfinished_intents.iter().map(u64::to_string).collect();
        let _ = writeln!(
            s,
            "intents without an outcome (done or not, unknown) at lines {}",
            lines.join(", ")
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_report_shows_every_warning() {
        let r = DeleteReport {
            deleted_keys: vec!["p/u/c.json".into()],
            deleted_versions: 1,
            versioned_bucket: false,
            index_entries_removed: 1,
            not_found: vec![],
            warnings: vec!["first\nthing".into(), "second thing".into()],
        };
        let text = delete_report(&r);
        assert!(text.contains("warning: first thing\n"), "{text}");
        assert!(text.contains("warning: second thing\n"), "{text}");
    }

    #[test]
    fn conversation_notes_say_held_or_hold_unknown() {
        let row = |id: &str, in_index: bool, held: Option<&str>, hold_unknown: bool| {
            archive_desk_core::browse::ConversationRow {
                conversation_id: id.into(),
                title: None,
                created_at: None,
                archived_at: None,
                message_count: None,
                key: Some(format!("p/u/{id}.json")),
                size: Some(1),
                storage_class: Some("STANDARD".into()),
                last_modified: None,
                in_index,
                in_store: true,
                held: held.map(str::to_owned),
                hold_unknown,
            }
        };
        let listing = UserConversations {
            folder: "u".into(),
            email: None,
            email_source: archive_desk_core::browse::EmailSource::Unknown,
            index_missing: false,
            index_error: None,
            conversations: vec![
                row("a", true, Some("legal hold ON"), false),
                row("b", true, None, true),
                row("c", false, None, true),
                row("d", true, None, false),
            ],
            other_objects: vec![],
        };
        let text = user_conversations(&listing);
        let note = |id: &str| {
            let line = text.lines().find(|l| l.starts_with(&format!("{id} "))).unwrap();
            line.split_whitespace().skip(6).collect::<Vec<_>>().join(" ")
        };
        assert_eq!(note("a"), "held: legal hold ON");
        assert_eq!(note("b"), "hold unknown");
        assert_eq!(note("c"), "not in index; hold unknown");
        assert_eq!(note("d"), "");
    }

    #[test]
    fn escapes_terminal_control_and_bidi() {
        assert_eq!(printable("plain\nline"), "plain\nline");
        assert_eq!(printable("\u{1b}[31mred"), "\\u{1b}[31mred");
        assert_eq!(printable("a\u{202E}b"), "a\\u{202e}b");
        assert_eq!(inline("a\nb"), "a b");
    }

    #[test]
    fn restore_differences_are_one_escaped_clipped_line_each() {
        let text = restore_report(&sample());
        assert!(text.contains("verified: NO"), "{text}");
        // Values are JSON: a control character is already escaped.
        assert!(
            text.contains("messages.content of row m1: archive \"hi\", table \"\\u001b[31mx\""),
            "{text}"
        );
        assert!(!text.contains('\u{1b}'));
        let long = text.lines().find(|l| l.contains("row m2")).unwrap();
        assert!(long.contains("y…, table \"z\"") && long.chars().count() < 200, "{long}");
        assert!(text.contains("and 3 more differences"), "{text}");
    }

    fn sample() -> RestoreReport {
        use archive_desk_core::restore::{Difference, DroppedFields};
        use serde_json::json;
        let diff = |row: &str, archive: serde_json::Value, target: serde_json::Value| Difference {
            table: "messages".into(),
            row_id: row.into(),
            field: "content".into(),
            archive,
            target,
        };
        RestoreReport {
            conversation_id: "c".into(),
            target: "rest",
            atomic: false,
            conversation_inserted: false,
            conversation_already_present: true,
            messages_in_archive: 2,
            messages_inserted: 0,
            messages_already_present: 2,
            messages_in_table: 2,
            verified: false,
            differences: vec![
                diff("m1", json!("hi"), json!("\u{1b}[31mx")),
                diff("m2", json!("y".repeat(500)), json!("z")),
            ],
            differences_count: 5,
            dropped_fields: DroppedFields {
                conversations: vec![],
                messages: vec![],
            },
            duration_ms: 1,
            removed_from_archive: None,
        }
    }
}
