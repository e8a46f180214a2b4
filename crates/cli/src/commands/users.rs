//! `users`: the users in the archive, streamed a page at a time (with
//! `--details`, each with its index summary).

use std::io::{self, Write};

use archive_desk_core::browse::{self, UserSummary};
use archive_desk_core::store::UserPage;
use archive_desk_core::{Session, Store, UserFolder};
use clap::Args;
use futures::{StreamExt, TryStreamExt};

use crate::render::{json_line, Failure, Output, Render};
use crate::text::{email_label, inline, or_dash, printable};

#[derive(Args)]
pub struct UsersArgs {
    /// Also read each user's index: true email, conversation count, last archived.
    #[arg(long)]
    details: bool,
    /// Indexes read at once with --details.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
}

/// Prints each page as it arrives, so the first rows show at once.
pub async fn users(session: &Session, args: &UsersArgs, out: &mut Output) -> Result<(), Failure> {
    out.emit(&Header { details: args.details })?;
    let mut pages = std::pin::pin!(session.store.list_users());
    while let Some(page) = pages.try_next().await? {
        for name in &page.unusable {
            eprintln!(
                "archive-desk-cli: skipped folder {:?}: not a safe name",
                printable(name)
            );
        }
        if args.details {
            out.emit(&summaries(&session.store, page, args.concurrency).await)?;
        } else {
            out.emit(&Folders(page.users))?;
        }
    }
    Ok(())
}

/// The summaries of a page's users, `concurrency` indexes read at once.
async fn summaries(store: &Store, page: UserPage, concurrency: usize) -> Summaries {
    let summaries = futures::stream::iter(page.users)
        .map(|f| async move { browse::user_summary(store, &f).await })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    Summaries(summaries)
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
