//! `sync`, `search` and `export-user`: the local catalog and whole-user
//! exports on the command line (a sync resumes after Ctrl-C; an export
//! cancelled leaves no file).

use std::io::{self, Write};
use std::path::PathBuf;

use archive_desk_core::catalog::{self, Catalog, SyncOptions, SyncProgress};
use archive_desk_core::customer_export::CustomerExportReport;
use archive_desk_core::export_user::{
    ExportFormat, ExportProgress, ExportUserOptions, ExportUserReport, SkippedConversation,
};
use archive_desk_core::{Error, SearchLimit, SearchOffset, SearchPage, SearchText, Session, SyncReport};
use clap::Args;
use tokio::sync::watch;

use crate::long_task::{cancel_on_ctrl_c, report_progress};
use crate::render::{json_line, Render};
use crate::text::printable;

#[derive(Args)]
pub struct SyncArgs {
    /// Indexes fetched at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Users written per transaction.
    #[arg(long, default_value_t = 500)]
    pub batch_users: usize,
    /// Delete the catalog first and build it from scratch.
    #[arg(long)]
    pub rebuild: bool,
}

#[derive(Args)]
pub struct SearchArgs {
    /// Part of an email or a title (case-insensitive; at most 200 characters).
    pub text: SearchText,
    /// Hits per page (1-200).
    #[arg(long, default_value = "20")]
    pub limit: SearchLimit,
    /// Skip this many hits (the `next_offset` of the previous page).
    #[arg(long, default_value = "0")]
    pub offset: SearchOffset,
}

#[derive(Args)]
pub struct ExportUserArgs {
    /// Email (with '@') or folder name.
    pub user: String,
    /// Output file (written beside it, renamed into place when complete);
    /// with --for-customer a new folder.
    #[arg(short, long)]
    pub output: PathBuf,
    /// One stored document per line instead of one JSON document.
    #[arg(long)]
    pub jsonl: bool,
    /// Gzip-compress the output.
    #[arg(long)]
    pub gzip: bool,
    /// For the customer (a data-access request): a folder with each
    /// conversation as JSON and as a plain-text transcript, and a manifest
    /// with counts and SHA-256 hashes.
    #[arg(long, conflicts_with_all = ["jsonl", "gzip"])]
    pub for_customer: bool,
}

/// The session's catalog brought up to date with the bucket.
pub async fn sync(session: &Session, args: &SyncArgs) -> Result<Synced, Error> {
    let catalog = Catalog::open_default(session.catalog_name())?;
    if args.rebuild {
        catalog.clear()?;
    }
    let options = SyncOptions {
        concurrency: args.concurrency.max(1),
        batch_users: args.batch_users.max(1),
    };
    let (progress, updates) = watch::channel(SyncProgress::default());
    let printer = report_progress(updates, |p: &SyncProgress| {
        format!(
            "sync: {} of {}{} users, {} indexes fetched",
            p.users_done,
            if p.listing_complete { "" } else { "~" },
            p.estimated_total,
            p.indexes_fetched
        )
    });
    let result = catalog::sync(session.store(), &catalog, &options, &progress, &cancel_on_ctrl_c()).await;
    drop(progress);
    printer.abort();
    Ok(Synced {
        path: catalog.path().to_owned(),
        report: result?,
    })
}

/// Search without connecting to S3: the catalog of the profile, else of
/// the bucket (the one `sync` builds).
pub fn search(profile: Option<&str>, bucket: Option<&str>, args: &SearchArgs) -> Result<SearchPage, Error> {
    let name = catalog::catalog_name(profile, bucket.unwrap_or_default());
    if name.is_empty() {
        return Err(Error::Config(
            "no catalog: pass --profile or --bucket, or set S3_BUCKET_NAME".into(),
        ));
    }
    let catalog = Catalog::open_default(name)?;
    let stats = catalog.stats()?;
    if stats.is_empty() {
        return Err(Error::Config(format!(
            "the catalog {} is empty: run `archive-desk-cli sync` first",
            stats.path
        )));
    }
    catalog.search(args.text.as_str(), args.offset.get(), args.limit.get())
}

pub async fn export_user(session: &Session, args: &ExportUserArgs) -> Result<Box<dyn Render>, Error> {
    let options = ExportUserOptions {
        format: if args.jsonl {
            ExportFormat::JsonLines
        } else {
            ExportFormat::Json
        },
        gzip: args.gzip,
        ..Default::default()
    };
    let (progress, updates) = watch::channel(ExportProgress::default());
    let printer = report_progress(updates, |p: &ExportProgress| {
        format!(
            "export: {} of {} conversations, {} MB of JSON",
            p.conversations_done,
            p.conversations_total,
            p.json_bytes >> 20
        )
    });
    let cancel = cancel_on_ctrl_c();
    let result: Result<Box<dyn Render>, Error> = if args.for_customer {
        session
            .export_user_for_customer(&args.user, &args.output, options.read_ahead, &progress, &cancel)
            .await
            .map(|r| Box::new(r) as Box<dyn Render>)
    } else {
        session
            .export_user(&args.user, &args.output, &options, &progress, &cancel)
            .await
            .map(|r| Box::new(r) as Box<dyn Render>)
    };
    drop(progress);
    printer.abort();
    result
}

pub struct Synced {
    path: PathBuf,
    report: SyncReport,
}

impl Render for Synced {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let r = &self.report;
        writeln!(
            out,
            "catalog {}: {} users, {} conversations ({} indexes fetched, {} unchanged, {} dropped{}) in {:.1} s",
            self.path.display(),
            r.users,
            r.conversations,
            r.indexes_fetched,
            r.users_unchanged,
            r.users_dropped,
            if r.resumed { ", resumed" } else { "" },
            r.elapsed_ms as f64 / 1000.0
        )?;
        if r.index_errors > 0 {
            writeln!(out, "  {} unreadable indexes (see `verify`)", r.index_errors)?;
        }
        for f in &r.unusable_folders {
            writeln!(out, "  skipped folder {:?}: not a safe name", printable(f))?;
        }
        Ok(())
    }
    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        json_line(out, &self.report)
    }
}

impl Render for SearchPage {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        for hit in &self.hits {
            let e = &hit.entry;
            writeln!(
                out,
                "{:<32} {:<38} {:<20} {:>5}  {}",
                printable(e.email.as_deref().unwrap_or(&e.folder)),
                printable(&e.conversation_id),
                e.archived_at.as_deref().map(printable).unwrap_or_default(),
                e.message_count.map(|n| n.to_string()).unwrap_or_default(),
                printable(e.title.as_deref().unwrap_or("(untitled)")),
            )?;
        }
        match self.next_offset {
            Some(next) => writeln!(out, "-- more: --offset {next}"),
            None if self.hits.is_empty() => writeln!(out, "no matches"),
            None => Ok(()),
        }
    }
    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        json_line(out, self)
    }
}

/// The report: in JSON on stdout, else one line on stderr (stdout stays
/// empty, as for `export -o`); each conversation skipped on stderr either way.
impl Render for ExportUserReport {
    fn text(&self, _: &mut dyn Write) -> io::Result<()> {
        eprintln!(
            "exported {} conversations ({} messages) of {} to {}",
            self.conversations,
            self.messages,
            printable(self.user_email.as_deref().unwrap_or(&self.folder)),
            self.path
        );
        warn_skipped(&self.skipped);
        Ok(())
    }
    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        json_line(out, self)?;
        warn_skipped(&self.skipped);
        Ok(())
    }
}

/// As the whole-user export's report: on stderr unless `--json`.
impl Render for CustomerExportReport {
    fn text(&self, _: &mut dyn Write) -> io::Result<()> {
        eprintln!(
            "exported {} conversations ({} messages, {} files and manifest.json, sha256 {}) of {} to {}",
            self.conversations,
            self.messages,
            self.files,
            self.manifest_sha256,
            printable(self.user_email.as_deref().unwrap_or(&self.folder)),
            self.path
        );
        warn_skipped(&self.skipped);
        Ok(())
    }
    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        json_line(out, self)?;
        warn_skipped(&self.skipped);
        Ok(())
    }
}

fn warn_skipped(skipped: &[SkippedConversation]) {
    for s in skipped {
        eprintln!(
            "archive-desk-cli: skipped {}: {} [{}]",
            printable(&s.conversation_id),
            printable(&s.error.message),
            s.error.code
        );
    }
}
