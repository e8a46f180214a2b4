//! `verify`: a user's folder (or every user's) checked against its index,
//! and with `--repair` the index fixed. Each user is printed when done.

use std::io::{self, Write};

use archive_desk_core::integrity::{RepairReport, Verification};
use archive_desk_core::{Error, ErrorReport, Session};
use clap::Args;
use futures::TryStreamExt;

use crate::render::{json_line, warn_audit, Failure, Output, Render};
use crate::text::inline;
use archive_desk_core::plural::{count, count_as};

#[derive(Args)]
pub struct VerifyArgs {
    /// Email or folder; omit with --all.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    user: Option<String>,
    #[arg(long)]
    all: bool,
    /// Fix the index (safe update); never deletes objects.
    #[arg(long)]
    repair: bool,
}

/// Fails (exit 1) when a user has problems left: found, not repaired.
pub async fn verify(session: &Session, args: &VerifyArgs, out: &mut Output) -> Result<(), Failure> {
    let users: Vec<String> = match &args.user {
        Some(u) => vec![u.clone()],
        None => {
            let pages: Vec<_> = session.store().list_users().try_collect().await?;
            pages.into_iter().flat_map(|p| p.users).map(|f| f.to_string()).collect()
        }
    };
    let mut problems = Vec::new();
    for user in &users {
        let checked = if args.repair {
            let done = session.repair(user).await?;
            let audit_warning = done.audit_warning.clone();
            let (verification, repaired) = done.into_inner();
            Checked {
                verification,
                repaired: Some(repaired),
                audit_warning,
            }
        } else {
            Checked {
                verification: session.verify(user).await?,
                repaired: None,
                audit_warning: None,
            }
        };
        if !checked.verification.is_clean() && checked.repaired.is_none() {
            problems.push(user.clone());
        }
        out.emit(&checked)?;
    }
    out.emit(&Outcome { problems })
}

/// One user: what was found, and what the repair did.
struct Checked {
    verification: Verification,
    repaired: Option<RepairReport>,
    audit_warning: Option<String>,
}

impl Render for Checked {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        warn_audit(self.audit_warning.as_deref());
        let v = &self.verification;
        let state = if v.is_clean() { "clean" } else { "PROBLEMS" };
        writeln!(
            out,
            "{}: {state} (index {}, {} read)",
            inline(&v.folder),
            v.index_state,
            count(v.objects_checked as u64, "object")
        )?;
        if let Some(e) = &v.index_error {
            writeln!(out, "  index unreadable: {}", inline(&e.message))?;
        }
        for id in &v.dangling_entries {
            writeln!(out, "  index entry without object: {}", inline(id))?;
        }
        for u in &v.unindexed_objects {
            writeln!(out, "  object not in index: {}", inline(&u.key))?;
        }
        for u in &v.unreadable_objects {
            writeln!(out, "  unreadable: {}", inline(&u.error.message))?;
        }
        for id in &v.duplicate_entries {
            writeln!(out, "  duplicate index entry: {}", inline(id))?;
        }
        for key in &v.cold_objects {
            writeln!(out, "  in cold storage (not read): {}", inline(key))?;
        }
        if let Some(r) = &self.repaired {
            writeln!(
                out,
                "  repaired: {} dangling removed, {} removed, {} added{}",
                r.entries_removed,
                count(r.duplicates_removed as u64, "duplicate"),
                count_as(r.entries_added as u64, "entry", "entries"),
                if r.index_written { "" } else { " (nothing to write)" }
            )?;
            for l in &r.left_alone {
                writeln!(out, "  left alone: {}", inline(l))?;
            }
        }
        Ok(())
    }
    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        warn_audit(self.audit_warning.as_deref());
        let mut report = serde_json::json!({"verification": self.verification, "repair": self.repaired});
        if let Some(w) = &self.audit_warning {
            report["audit_warning"] = w.as_str().into();
        }
        json_line(out, &report)
    }
}

/// After every user: nothing more to print; the exit code.
struct Outcome {
    /// The users with problems left.
    problems: Vec<String>,
}

impl Render for Outcome {
    fn text(&self, _: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }
    fn json(&self, _: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }
    fn failure(&self) -> Option<ErrorReport> {
        let users = self.problems.clone();
        (!users.is_empty()).then(|| ErrorReport::from(&Error::Integrity { users }))
    }
}
