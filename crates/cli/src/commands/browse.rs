//! `index`, `show`, `export`: reading one user's conversations.

use std::io::{self, Write};
use std::path::PathBuf;

use archive_desk_core::browse::{self, UserConversations};
use archive_desk_core::codec::{self, Encoding};
use archive_desk_core::restore::{LiveState, LiveStatus};
use archive_desk_core::session::ExportReport;
use archive_desk_core::{ConversationId, Error, ErrorReport, OpenedConversation, Session, UserFolder};
use clap::Args;
use serde::Serialize;

use super::restore::{self, TargetArgs};
use crate::render::{json_line, Render};
use crate::text::{email_label, inline, or_dash, printable};
use archive_desk_core::plural::count;

#[derive(Args)]
pub struct IndexArgs {
    /// Email (with '@') or folder name.
    user: String,
    /// Also each conversation's status in the restore target now (nothing
    /// when no target is set).
    #[arg(long)]
    live: bool,
    #[command(flatten)]
    target: TargetArgs,
}

/// A listing, with the live status when `--live` asked and a target is set.
#[derive(Serialize)]
pub struct Listing {
    #[serde(flatten)]
    listing: UserConversations,
    #[serde(skip_serializing_if = "Option::is_none")]
    live: Option<Option<Vec<LiveStatus>>>,
}

#[derive(Args)]
pub struct ShowArgs {
    user: String,
    conversation_id: String,
}

#[derive(Args)]
pub struct ExportArgs {
    user: String,
    conversation_id: String,
    /// Output file (written atomically); default stdout.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Gzip-compress the output.
    #[arg(long)]
    gzip: bool,
}

pub async fn index(session: &Session, profile: Option<&str>, args: &IndexArgs) -> Result<Listing, Error> {
    let folder = UserFolder::from_user_arg(&args.user)?;
    let listing = browse::user_conversations(session.store(), &folder).await?;
    if !args.live {
        return Ok(Listing { listing, live: None });
    }
    let Some(target) = restore::target_if_any(profile, &args.target)? else {
        eprintln!("archive-desk-cli: no restore target set: no live status");
        return Ok(Listing {
            listing,
            live: Some(None),
        });
    };
    let wanted: Vec<(String, Option<u64>)> = listing
        .conversations
        .iter()
        .map(|r| (r.conversation_id.clone(), r.message_count))
        .collect();
    let live = target.live_status(&wanted).await?;
    Ok(Listing {
        listing,
        live: Some(Some(live)),
    })
}

impl Render for Listing {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        self.listing.text(out)?;
        let Some(Some(live)) = &self.live else {
            return Ok(());
        };
        writeln!(out, "live status in the restore target:")?;
        writeln!(
            out,
            "{:<38} {:<9} {:<12} {:>9} {:>8}",
            "ID", "STATE", "CONVERSATION", "MESSAGES", "MISSING"
        )?;
        for s in live {
            let state = match s.state {
                LiveState::Absent => "absent",
                LiveState::Partial => "partial",
                LiveState::Complete => "complete",
                LiveState::Present => "present",
            };
            writeln!(
                out,
                "{:<38} {:<9} {:<12} {:>9} {:>8}",
                inline(&s.conversation_id),
                state,
                if s.conversation_present { "present" } else { "missing" },
                s.messages_in_table,
                s.messages_missing.map_or("-".into(), |n| n.to_string())
            )?;
        }
        Ok(())
    }
    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        json_line(out, self)
    }
    fn failure(&self) -> Option<ErrorReport> {
        self.listing.failure()
    }
}

pub async fn show(session: &Session, args: &ShowArgs) -> Result<Transcript, Error> {
    open(session, &args.user, &args.conversation_id).await.map(Transcript)
}

pub async fn export(session: &Session, args: &ExportArgs) -> Result<Exported, Error> {
    let encoding = if args.gzip { Encoding::Gzip } else { Encoding::Plain };
    match &args.output {
        Some(path) => {
            let report = session
                .export(&args.user, &args.conversation_id, path, encoding)
                .await?;
            Ok(Exported::File(report))
        }
        // To stdout: a pipe, not a copy kept anywhere; not audited as an export.
        None => {
            let opened = open(session, &args.user, &args.conversation_id).await?;
            Ok(Exported::Stdout(codec::encode(&opened.document, encoding)))
        }
    }
}

async fn open(session: &Session, user: &str, id: &str) -> Result<OpenedConversation, Error> {
    let folder = UserFolder::from_user_arg(user)?;
    let id = ConversationId::parse(id)?;
    session.store().get_conversation(&folder, &id).await
}

/// A user's listing; what could be listed is shown even when the index is
/// unreadable, and then the command fails.
impl Render for UserConversations {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "user {}  folder {}  {}{}",
            email_label(self.email.as_deref(), self.email_source),
            inline(&self.folder),
            count(self.conversations.len() as u64, "conversation"),
            if self.index_missing { "  (no metadata.json)" } else { "" }
        )?;
        writeln!(
            out,
            "{:<38} {:<36} {:<20} {:<20} {:>6} {:<13} NOTE",
            "ID", "TITLE", "CREATED", "ARCHIVED", "MSGS", "CLASS"
        )?;
        for r in &self.conversations {
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
            writeln!(
                out,
                "{:<38} {:<36} {:<20} {:<20} {:>6} {:<13} {}",
                inline(&r.conversation_id),
                title,
                or_dash(r.created_at.as_deref()),
                or_dash(r.archived_at.as_deref()),
                r.message_count.map_or("-".into(), |n| n.to_string()),
                or_dash(r.storage_class.as_deref()),
                note
            )?;
        }
        for key in &self.other_objects {
            writeln!(out, "other object: {}", inline(key))?;
        }
        Ok(())
    }
    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        json_line(out, self)
    }
    fn failure(&self) -> Option<ErrorReport> {
        self.index_error.clone()
    }
}

/// A conversation as a readable transcript; in JSON, the stored document.
pub struct Transcript(OpenedConversation);

impl Render for Transcript {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let doc = &self.0.document;
        let c = doc.conversation();
        writeln!(out, "{}", or_dash(doc.title()))?;
        writeln!(
            out,
            "id {}  created {}  {}  [{}]",
            inline(doc.id()),
            or_dash(c.str("created_at")),
            count(doc.messages().len() as u64, "message"),
            inline(&self.0.key)
        )?;
        if let Some(m) = doc.archive_metadata() {
            writeln!(
                out,
                "archived {}  by {}",
                or_dash(m.str("archived_at")),
                or_dash(m.str("user_email"))
            )?;
        }
        for m in doc.messages() {
            let feedback = m
                .str("feedback")
                .map(|f| format!("  [{}]", inline(f)))
                .unwrap_or_default();
            writeln!(
                out,
                "\n── {} · {}{}",
                or_dash(m.str("role")),
                or_dash(m.str("created_at")),
                feedback
            )?;
            let content = m.str("content").unwrap_or("");
            for line in printable(content).lines() {
                writeln!(out, "   {line}")?;
            }
        }
        Ok(())
    }
    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        json_line(out, &self.0.document)
    }
}

pub enum Exported {
    /// Written to a file: the report (stdout in JSON, else a line on stderr).
    File(ExportReport),
    /// The document itself, as it goes to stdout either way.
    Stdout(Vec<u8>),
}

impl Render for Exported {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        match self {
            Exported::File(r) => {
                eprintln!("exported {} ({} messages) to {}", r.key, r.messages, r.path);
                Ok(())
            }
            Exported::Stdout(bytes) => out.write_all(bytes),
        }
    }
    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        match self {
            Exported::File(r) => json_line(out, r),
            Exported::Stdout(bytes) => out.write_all(bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use archive_desk_core::browse::{ConversationRow, EmailSource};

    #[test]
    fn conversation_notes_say_held_or_hold_unknown() {
        let row = |id: &str, in_index: bool, held: Option<&str>, hold_unknown: bool| ConversationRow {
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
        };
        let listing = UserConversations {
            folder: "u".into(),
            email: None,
            email_source: EmailSource::Unknown,
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
        let mut text = Vec::new();
        listing.text(&mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        let note = |id: &str| {
            let line = text.lines().find(|l| l.starts_with(&format!("{id} "))).unwrap();
            line.split_whitespace().skip(6).collect::<Vec<_>>().join(" ")
        };
        assert_eq!(note("a"), "held: legal hold ON");
        assert_eq!(note("b"), "hold unknown");
        assert_eq!(note("c"), "not in index; hold unknown");
        assert_eq!(note("d"), "");
    }
}
