//! `restore`: conversations of one user into Supabase (REST or direct
//! Postgres): one by id (optionally removed from the archive once
//! verified), several, or all of them (in a date range) as one batch;
//! `--dry-run` prints what it would do and writes nothing.

use std::io::{self, Write};

use archive_desk_core::profile::{RestoreMode, RestoreOverrides};
use archive_desk_core::restore::{Difference, RestoreOptions, RestoreReport, Target};
use archive_desk_core::session::{BulkOutcome, BulkProgress, BulkRestoreReport, PreviewItem, Selection};
use archive_desk_core::{Audited, Error, ErrorCode, ErrorReport, Profiles, Session};
use clap::Args;
use serde::Serialize;
use tokio::sync::watch;

use crate::long_task::{cancel_on_ctrl_c, report_progress};
use crate::render::{json_line, Render};
use crate::text::{clipped, inline};
use archive_desk_core::plural::{count, count_as};

/// Where a restore writes (each overrides the profile's setting).
#[derive(Args)]
pub struct TargetArgs {
    /// rest (Supabase REST, default) or postgres (direct connection).
    #[arg(long)]
    target: Option<String>,
    /// Supabase project URL (key: SUPABASE_SERVICE_ROLE_KEY or the profile's keychain).
    #[arg(long, env = "SUPABASE_URL")]
    supabase_url: Option<String>,
    /// An installed RPC function for one-transaction REST restores.
    #[arg(long)]
    rpc_function: Option<String>,
    #[arg(long)]
    conversations_table: Option<String>,
    #[arg(long)]
    messages_table: Option<String>,
    #[arg(long)]
    conflict_key: Option<String>,
}

#[derive(Args)]
pub struct RestoreArgs {
    /// Email (with '@') or folder name.
    user: String,
    /// Conversations to restore (one, or several as one batch).
    conversation_ids: Vec<String>,
    /// Every conversation of the user (with --since/--until: those archived in that range).
    #[arg(long, conflicts_with = "conversation_ids")]
    all: bool,
    /// First day (YYYY-MM-DD) a conversation was archived; implies --all.
    #[arg(long, conflicts_with = "conversation_ids")]
    since: Option<String>,
    /// Last day (YYYY-MM-DD, included) a conversation was archived; implies --all.
    #[arg(long, conflicts_with = "conversation_ids")]
    until: Option<String>,
    /// Print what the restore would do (rows new, present, differing) and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Write without the archive fields the tables lack (listed in the report).
    #[arg(long)]
    allow_missing_columns: bool,
    /// After a verified restore, delete the conversation from the archive.
    #[arg(long)]
    remove_from_archive: bool,
    #[command(flatten)]
    target: TargetArgs,
}

/// What `restore` printed: one restore, a batch, or a dry run.
pub enum Restored {
    One(Audited<RestoreReport>),
    Batch(BulkRestoreReport),
    Plan(RestorePlan),
}

/// A dry run: each selected conversation's preview.
#[derive(Serialize)]
pub struct RestorePlan {
    user: String,
    conversations: Vec<PreviewItem>,
    messages_to_insert: u64,
    conversations_new: u64,
    differences_count: u64,
    failed: u64,
}

/// Ctrl-C cancels until the write is committed (nothing is left half-done);
/// in a batch, the conversations not started are left for the next run.
pub async fn restore(session: &Session, profile: Option<&str>, args: &RestoreArgs) -> Result<Restored, Error> {
    let target = target(profile, &args.target)?;
    // The core's test hooks add fields when the harness turns them on.
    #[allow(clippy::needless_update)]
    let options = RestoreOptions {
        allow_missing_columns: args.allow_missing_columns,
        ..Default::default()
    };
    let selection = if args.all || args.since.is_some() || args.until.is_some() {
        Selection::All {
            since: args.since.clone(),
            until: args.until.clone(),
        }
    } else if args.conversation_ids.is_empty() {
        return Err(Error::InvalidInput(
            "name the conversations to restore, or --all (with --since/--until for a date range)".into(),
        ));
    } else {
        Selection::Ids {
            ids: args.conversation_ids.clone(),
        }
    };
    let cancel = cancel_on_ctrl_c();
    if args.dry_run {
        let conversations = session
            .preview_many(&args.user, &selection, &target, args.allow_missing_columns)
            .await?;
        return Ok(Restored::Plan(RestorePlan::new(&args.user, conversations)));
    }
    if let [id] = args.conversation_ids.as_slice() {
        return session
            .restore(&args.user, id, &target, &options, args.remove_from_archive, &cancel)
            .await
            .map(Restored::One);
    }
    if args.remove_from_archive {
        return Err(Error::InvalidInput(
            "--remove-from-archive takes one conversation at a time (name one id)".into(),
        ));
    }
    let (progress, updates) = watch::channel(BulkProgress::default());
    let reporter = report_progress(updates, |p: &BulkProgress| {
        format!(
            "restore: {}/{} conversations ({} restored, {} already there, {} failed)",
            p.done, p.total, p.restored, p.already_there, p.failed
        )
    });
    let report = session
        .restore_many(&args.user, &selection, &target, &options, &cancel, &progress)
        .await;
    reporter.abort();
    report.map(Restored::Batch)
}

/// The profile's target (settings and keychain secret), each setting
/// overridden by its flag; the core decides the rest.
pub fn target(profile: Option<&str>, args: &TargetArgs) -> Result<Target, Error> {
    Profiles::default_location()?.restore_target_with(profile, &overrides(args)?)
}

/// The target, or `None` when neither the profile nor the flags name one.
pub fn target_if_any(profile: Option<&str>, args: &TargetArgs) -> Result<Option<Target>, Error> {
    Profiles::default_location()?.restore_target_if_any(profile, &overrides(args)?)
}

fn overrides(args: &TargetArgs) -> Result<RestoreOverrides, Error> {
    Ok(RestoreOverrides {
        mode: args.target.as_deref().map(str::parse::<RestoreMode>).transpose()?,
        supabase_url: args.supabase_url.clone(),
        rpc_function: args.rpc_function.clone(),
        conversations_table: args.conversations_table.clone(),
        messages_table: args.messages_table.clone(),
        conflict_key: args.conflict_key.clone(),
    })
}

impl RestorePlan {
    fn new(user: &str, conversations: Vec<PreviewItem>) -> RestorePlan {
        let previews = || conversations.iter().filter_map(|c| c.preview.as_ref());
        RestorePlan {
            user: user.to_owned(),
            messages_to_insert: previews().map(|p| p.messages_to_insert).sum(),
            conversations_new: previews().filter(|p| !p.conversation_present).count() as u64,
            differences_count: previews().map(|p| p.differences_count).sum(),
            failed: conversations.iter().filter(|c| c.error.is_some()).count() as u64,
            conversations,
        }
    }
}

impl Render for Restored {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        match self {
            Restored::One(r) => r.text(out),
            Restored::Batch(r) => batch_text(r, out),
            Restored::Plan(p) => plan_text(p, out),
        }
    }
    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        match self {
            Restored::One(r) => r.json(out),
            Restored::Batch(r) => json_line(out, r),
            Restored::Plan(p) => json_line(out, p),
        }
    }
    /// A batch with failures, or not finished, fails (exit 1) after its table.
    fn failure(&self) -> Option<ErrorReport> {
        let (code, message) = match self {
            Restored::Batch(r) if r.failed > 0 => (
                ErrorCode::RestoreFailed,
                format!(
                    "{} of {} conversations failed to restore",
                    r.failed,
                    r.conversations.len()
                ),
            ),
            Restored::Batch(r) if r.not_run > 0 => (
                ErrorCode::Cancelled,
                format!(
                    "cancelled: {} conversations not restored (run it again to finish)",
                    r.not_run
                ),
            ),
            Restored::Plan(p) if p.failed > 0 => (
                ErrorCode::RestoreFailed,
                format!("{} conversations could not be previewed", p.failed),
            ),
            _ => return None,
        };
        Some(ErrorReport { code, message })
    }
}

fn batch_text(r: &BulkRestoreReport, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "restore of {}: {} restored, {} already there, {} failed, {} not run ({} ms)",
        inline(&r.user),
        r.restored,
        r.already_there,
        r.failed,
        r.not_run,
        r.duration_ms
    )?;
    writeln!(
        out,
        "{:<38} {:<14} {:>9} {:>9}  NOTE",
        "ID", "RESULT", "INSERTED", "PRESENT"
    )?;
    for c in &r.conversations {
        let outcome = match c.outcome {
            BulkOutcome::Restored => "restored",
            BulkOutcome::AlreadyThere => "already there",
            BulkOutcome::Failed => "failed",
            BulkOutcome::NotRun => "not run",
        };
        let note = match (&c.error, c.differences_count) {
            (Some(e), _) => format!("{} [{}]", clipped(&e.message), e.code),
            (None, 0) => String::new(),
            (None, n) => format!(
                "{} from the archive (kept)",
                count_as(n, "field differs", "fields differ")
            ),
        };
        writeln!(
            out,
            "{:<38} {:<14} {:>9} {:>9}  {}",
            inline(&c.conversation_id),
            outcome,
            c.messages_inserted,
            c.messages_already_present,
            inline(&note)
        )?;
    }
    Ok(())
}

fn plan_text(p: &RestorePlan, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "dry run for {}: {}, {} to insert, {} kept; nothing written",
        inline(&p.user),
        count(p.conversations_new, "new conversation"),
        count(p.messages_to_insert, "message"),
        count(p.differences_count, "differing field")
    )?;
    for c in &p.conversations {
        let Some(v) = &c.preview else {
            let e = c
                .error
                .as_ref()
                .map_or(String::new(), |e| format!("{} [{}]", e.message, e.code));
            writeln!(out, "{}: cannot preview: {}", inline(&c.conversation_id), clipped(&e))?;
            continue;
        };
        writeln!(
            out,
            "{}: {} (conversation {}, {} to insert, {} already present)",
            inline(&c.conversation_id),
            v.summary,
            if v.conversation_present { "present" } else { "new" },
            v.messages_to_insert,
            v.messages_already_present
        )?;
        if v.needs_allow_missing_columns {
            writeln!(
                out,
                "  refused without --allow-missing-columns: the tables lack some archive fields"
            )?;
        }
        write_differences(out, "  differs (kept): ", &v.differences, v.differences_count)?;
    }
    Ok(())
}

/// Fields of present rows that differ from the archive, one escaped, clipped
/// line each (`lead` starts each line), then how many more were not listed.
fn write_differences(out: &mut dyn Write, lead: &str, shown: &[Difference], count: u64) -> io::Result<()> {
    for d in shown {
        writeln!(
            out,
            "{lead}{}.{} of row {}: archive {}, table {}",
            inline(&d.table),
            inline(&d.field),
            inline(&d.row_id),
            clipped(&d.archive.to_string()),
            clipped(&d.target.to_string())
        )?;
    }
    if count > shown.len() as u64 {
        let indent = &lead[..lead.len() - lead.trim_start().len()];
        writeln!(out, "{indent}and {} more differences", count - shown.len() as u64)?;
    }
    Ok(())
}

impl Render for RestoreReport {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "restored {} via {} in {} ms{}",
            inline(&self.conversation_id),
            self.target,
            self.duration_ms,
            if self.atomic { " (one transaction)" } else { "" }
        )?;
        writeln!(
            out,
            "  conversation: {}",
            if self.conversation_inserted {
                "inserted"
            } else {
                "already present"
            }
        )?;
        writeln!(
            out,
            "  messages: {} inserted, {} already present ({} in the archive, {} in the table)",
            self.messages_inserted, self.messages_already_present, self.messages_in_archive, self.messages_in_table
        )?;
        let dropped: Vec<String> = self
            .dropped_fields
            .conversations
            .iter()
            .map(|f| format!("conversations.{f}"))
            .chain(self.dropped_fields.messages.iter().map(|f| format!("messages.{f}")))
            .collect();
        if !dropped.is_empty() {
            writeln!(
                out,
                "  not restored (the tables lack them): {}",
                inline(&dropped.join(", "))
            )?;
        }
        writeln!(out, "  verified: {}", if self.verified { "yes" } else { "NO" })?;
        write_differences(out, "    ", &self.differences, self.differences_count)?;
        if let Some(d) = &self.removed_from_archive {
            writeln!(
                out,
                "  removed from the archive: {}",
                inline(&d.deleted_keys.join(", "))
            )?;
            for warning in &d.warnings {
                writeln!(out, "  warning: {}", inline(warning))?;
            }
        }
        Ok(())
    }
    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        json_line(out, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use archive_desk_core::restore::{Difference, DroppedFields};
    use serde_json::json;

    #[test]
    fn restore_differences_are_one_escaped_clipped_line_each() {
        let mut text = Vec::new();
        sample().text(&mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
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
