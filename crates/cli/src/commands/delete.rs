//! `delete`: conversations permanently (every version), then their index
//! entries; only with `--yes`.

use std::io::{self, Write};

use archive_desk_core::{Audited, DeleteReport, Error, Session};
use clap::Args;

use crate::render::{json_line, Render};
use crate::text::inline;
use archive_desk_core::plural::{count, count_as};

#[derive(Args)]
pub struct DeleteArgs {
    user: String,
    #[arg(required = true)]
    conversation_ids: Vec<String>,
    /// Confirm: without it nothing is deleted.
    #[arg(long)]
    yes: bool,
}

pub async fn delete(session: &Session, args: &DeleteArgs) -> Result<Audited<DeleteReport>, Error> {
    if !args.yes {
        return Err(Error::InvalidInput(format!(
            "refusing to delete {} of {} permanently without --yes",
            count(args.conversation_ids.len() as u64, "conversation"),
            args.user
        )));
    }
    let ids: Vec<&str> = args.conversation_ids.iter().map(String::as_str).collect();
    session.delete(&args.user, &ids).await
}

impl Render for DeleteReport {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        for key in &self.deleted_keys {
            writeln!(out, "deleted {}", inline(key))?;
        }
        writeln!(
            out,
            "{} removed{}; {} removed",
            count(self.deleted_versions as u64, "object version"),
            if self.versioned_bucket {
                " (versioned bucket: all versions)"
            } else {
                ""
            },
            count_as(self.index_entries_removed as u64, "index entry", "index entries")
        )?;
        for id in &self.not_found {
            writeln!(out, "not found: {}", inline(id))?;
        }
        for warning in &self.warnings {
            writeln!(out, "warning: {}", inline(warning))?;
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
        let mut text = Vec::new();
        r.text(&mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("warning: first thing\n"), "{text}");
        assert!(text.contains("warning: second thing\n"), "{text}");
    }
}
