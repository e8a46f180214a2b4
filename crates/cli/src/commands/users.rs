//! `users`: the users in the archive, streamed a page at a time (with
//! `--details`, each with its index summary: the core's `user_batches`).

use std::io::{self, Write};

use archive_desk_core::browse::{self, UserSummary};
use archive_desk_core::{CancellationToken, Session, UserFolder};
use clap::Args;
use futures::TryStreamExt;

use crate::render::{json_line, Failure, Output, Render};
use crate::text::{email_label, inline, or_dash, printable};

#[derive(Args)]
pub struct UsersArgs {
    /// Also read each user's index: true email, conversation count, last archived.
    #[arg(long)]
    details: bool,
    /// Indexes read at once with --details.
    #[arg(long, default_value_t = browse::SUMMARY_CONCURRENCY)]
    concurrency: usize,
}

/// Prints each page (with `--details`, each batch) as it arrives, so the
/// first rows show at once.
pub async fn users(session: &Session, args: &UsersArgs, out: &mut Output) -> Result<(), Failure> {
    out.emit(&Header { details: args.details })?;
    if args.details {
        // Ctrl-C ends the process; nothing to cancel cleanly.
        let never = CancellationToken::new();
        let mut batches = std::pin::pin!(browse::user_batches(session.store(), args.concurrency, &never));
        while let Some(batch) = batches.try_next().await? {
            skipped(&batch.unusable);
            out.emit(&Summaries(batch.users))?;
        }
    } else {
        let mut pages = std::pin::pin!(session.store().list_users());
        while let Some(page) = pages.try_next().await? {
            skipped(&page.unusable);
            out.emit(&Folders(page.users))?;
        }
    }
    Ok(())
}

fn skipped(unusable: &[String]) {
    for name in unusable {
        eprintln!(
            "archive-desk-cli: skipped folder {:?}: not a safe name",
            printable(name)
        );
    }
}

/// The column titles (text only).
struct Header {
    details: bool,
}

impl Render for Header {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        if self.details {
            writeln!(out, "{:<40} {:<40} {:>6}  LAST ARCHIVED", "EMAIL", "FOLDER", "CONVS")
        } else {
            writeln!(out, "{:<40} EMAIL (GUESSED FROM FOLDER)", "FOLDER")
        }
    }
    fn json(&self, _: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }
}

/// One page of folders, each with the email its name suggests.
struct Folders(Vec<UserFolder>);

impl Render for Folders {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        for f in &self.0 {
            writeln!(
                out,
                "{:<40} {}",
                inline(f.as_str()),
                or_dash(f.guessed_email().as_deref())
            )?;
        }
        Ok(())
    }
    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        for f in &self.0 {
            json_line(
                out,
                &serde_json::json!({"folder": f.as_str(), "guessed_email": f.guessed_email()}),
            )?;
        }
        Ok(())
    }
}

/// One page of users with their index summaries.
struct Summaries(Vec<UserSummary>);

impl Render for Summaries {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        for s in &self.0 {
            write!(
                out,
                "{:<40} {:<40} {:>6}  {}",
                email_label(s.email.as_deref(), s.email_source),
                inline(&s.folder),
                s.conversation_count,
                or_dash(s.last_archived_at.as_deref()),
            )?;
            if s.index_missing {
                write!(out, "  (no metadata.json)")?;
            }
            if let Some(e) = &s.index_error {
                write!(out, "  (index unreadable: {})", e.code)?;
            }
            writeln!(out)?;
        }
        Ok(())
    }
    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        for s in &self.0 {
            json_line(out, s)?;
        }
        Ok(())
    }
}
