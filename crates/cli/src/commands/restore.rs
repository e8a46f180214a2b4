//! `restore`: one conversation into Supabase (REST or direct Postgres),
//! optionally removed from the archive once verified.

use std::io::{self, Write};

use archive_desk_core::profile::{RestoreMode, RestoreOverrides};
use archive_desk_core::restore::{RestoreOptions, RestoreReport, Target};
use archive_desk_core::{Audited, Error, Profiles, Session};
use clap::Args;

use crate::long_task::cancel_on_ctrl_c;
use crate::render::{json_line, Render};
use crate::text::{clipped, inline};

#[derive(Args)]
pub struct RestoreArgs {
    user: String,
    conversation_id: String,
    /// rest (Supabase REST, default) or postgres (direct connection).
    #[arg(long)]
    target: Option<String>,
    /// Write without the archive fields the tables lack (listed in the report).
    #[arg(long)]
    allow_missing_columns: bool,
    /// After a verified restore, delete the conversation from the archive.
    #[arg(long)]
    remove_from_archive: bool,
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

/// Ctrl-C cancels until the write is committed (nothing is left half-done).
pub async fn restore(
    session: &Session,
    profile: Option<&str>,
    args: &RestoreArgs,
) -> Result<Audited<RestoreReport>, Error> {
    let target = target(profile, args)?;
    // The core's test hooks add fields when the harness turns them on.
    #[allow(clippy::needless_update)]
    let options = RestoreOptions {
        allow_missing_columns: args.allow_missing_columns,
        ..Default::default()
    };
    session
        .restore(
            &args.user,
            &args.conversation_id,
            &target,
            &options,
            args.remove_from_archive,
            &cancel_on_ctrl_c(),
        )
        .await
}

/// The profile's target (settings and keychain secret), each setting
/// overridden by its flag; the core decides the rest.
fn target(profile: Option<&str>, args: &RestoreArgs) -> Result<Target, Error> {
    let overrides = RestoreOverrides {
        mode: args.target.as_deref().map(str::parse::<RestoreMode>).transpose()?,
        supabase_url: args.supabase_url.clone(),
        rpc_function: args.rpc_function.clone(),
        conversations_table: args.conversations_table.clone(),
        messages_table: args.messages_table.clone(),
        conflict_key: args.conflict_key.clone(),
    };
    Profiles::default_location()?.restore_target_with(profile, &overrides)
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
        for d in &self.differences {
            writeln!(
                out,
                "    {}.{} of row {}: archive {}, table {}",
                inline(&d.table),
                inline(&d.field),
                inline(&d.row_id),
                clipped(&d.archive.to_string()),
                clipped(&d.target.to_string())
            )?;
        }
        if self.differences_count > self.differences.len() as u64 {
            writeln!(
                out,
                "    and {} more differences",
                self.differences_count - self.differences.len() as u64
            )?;
        }
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
