//! `erase-user`: everything of one user, with a deletion receipt (only
//! with `--yes`); `verify-receipt`: check a receipt against the bucket.

use std::io::{self, Write};
use std::path::PathBuf;

use archive_desk_core::erase::{ErasePhase, EraseProgress, ReceiptVerification};
use archive_desk_core::{Audited, ErasureReport, Error, ErrorReport, Session};
use clap::Args;
use tokio::sync::watch;

use crate::long_task::{cancel_on_ctrl_c, report_progress};
use crate::render::{json_line, Render};
use crate::text::{inline, printable};
use archive_desk_core::plural::{count, count_as};

#[derive(Args)]
pub struct EraseUserArgs {
    /// Email (with '@') or folder name.
    user: String,
    /// Where the deletion receipt (JSON) is saved; made before anything is removed.
    #[arg(long)]
    receipt: PathBuf,
    /// Confirm: without it nothing is erased.
    #[arg(long)]
    yes: bool,
}

#[derive(Args)]
pub struct VerifyReceiptArgs {
    /// A receipt saved by `erase-user` (or the app).
    file: PathBuf,
}

pub async fn erase_user(session: &Session, args: &EraseUserArgs) -> Result<Audited<ErasureReport>, Error> {
    if !args.yes {
        return Err(Error::InvalidInput(format!(
            "refusing to erase every conversation of {} permanently without --yes",
            args.user
        )));
    }
    let (progress, updates) = watch::channel(EraseProgress::default());
    let printer = report_progress(updates, |p: &EraseProgress| {
        let phase = match p.phase {
            ErasePhase::Checking => "checking",
            ErasePhase::Hashing => "hashing",
            ErasePhase::Removing => "removing",
            ErasePhase::Index => "index",
        };
        format!("erase: {phase} {} of {}", p.done, p.total)
    });
    let result = session
        .erase_user(&args.user, &args.receipt, &progress, &cancel_on_ctrl_c())
        .await;
    drop(progress);
    printer.abort();
    result
}

pub async fn verify_receipt(session: &Session, args: &VerifyReceiptArgs) -> Result<ReceiptVerification, Error> {
    session.verify_receipt(&args.file).await
}

impl Render for ErasureReport {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let r = &self.receipt;
        writeln!(
            out,
            "erased {}: {}{} and {} removed; metadata.json {}",
            printable(r.user_email.as_deref().unwrap_or(&r.user_folder)),
            count(r.removed.len() as u64, "object version"),
            if r.versioned_bucket {
                " (versioned bucket: all versions)"
            } else {
                ""
            },
            count_as(r.index_entries_removed.len() as u64, "index entry", "index entries"),
            if r.index_deleted { "removed" } else { "kept" }
        )?;
        for k in &r.kept {
            writeln!(out, "kept {}: {}", inline(&k.key), inline(&k.reason))?;
        }
        for w in &r.warnings {
            writeln!(out, "warning: {}", inline(w))?;
        }
        writeln!(out, "receipt {} (sha256 {})", self.receipt_path, self.receipt_sha256)
    }
    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        json_line(out, self)
    }
    fn failure(&self) -> Option<ErrorReport> {
        self.problem().map(|e| ErrorReport::from(&e))
    }
}

impl Render for ReceiptVerification {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "{}: {} checked in {}{}",
            self.path,
            count_as(self.checked, "key or version", "keys and versions"),
            self.bucket,
            if self.versions_checked {
                ""
            } else {
                " (keys only: this store lists no versions)"
            }
        )?;
        for p in &self.still_present {
            writeln!(
                out,
                "STILL PRESENT {}{} ({})",
                inline(&p.key),
                p.version_id
                    .as_deref()
                    .map(|v| format!(" version {v}"))
                    .unwrap_or_default(),
                p.found_as
            )?;
        }
        if self.is_clean() {
            writeln!(out, "verified: none of them exists any more")?;
        }
        Ok(())
    }
    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        json_line(out, self)
    }
    fn failure(&self) -> Option<ErrorReport> {
        self.problem().map(|e| ErrorReport::from(&e))
    }
}
