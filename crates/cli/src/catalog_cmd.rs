//! `sync`, `search` and `export-user`: the local catalog and whole-user
//! exports on the command line. Progress goes to stderr as one line every
//! couple of seconds; Ctrl-C cancels cleanly (a sync resumes next time, an
//! export leaves no file).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use archive_desk_core::catalog::{self, Catalog, SyncOptions, SyncProgress};
use archive_desk_core::export_user::{ExportFormat, ExportProgress, ExportUserOptions};
use archive_desk_core::{CancellationToken, Error, SearchLimit, SearchOffset, SearchText, Session};
use clap::Args;
use tokio::sync::watch;

use crate::{print_json, text, Failure};

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
    /// Output file (written beside it, renamed into place when complete).
    #[arg(short, long)]
    pub output: PathBuf,
    /// One stored document per line instead of one JSON document.
    #[arg(long)]
    pub jsonl: bool,
    /// Gzip-compress the output.
    #[arg(long)]
    pub gzip: bool,
}

/// The catalog's name: the profile's, else the bucket's.
pub fn catalog_name(profile: Option<&str>, bucket: Option<&str>) -> Result<String, Error> {
    profile
        .or(bucket)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| Error::Config("no catalog: pass --profile or --bucket, or set S3_BUCKET_NAME".into()))
}

/// A token that Ctrl-C cancels.
pub(crate) fn cancel_on_ctrl_c() -> CancellationToken {
    let cancel = CancellationToken::new();
    let token = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("archive-desk-cli: cancelling...");
            token.cancel();
        }
    });
    cancel
}

/// Print `line(progress)` on stderr every two seconds until the sender goes.
fn report_progress<P, F>(mut updates: watch::Receiver<P>, line: F) -> tokio::task::JoinHandle<()>
where
    P: Clone + Send + Sync + 'static,
    F: Fn(&P) -> String + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(2)).await;
            if updates.has_changed().is_err() {
                break;
            }
            let p = updates.borrow_and_update().clone();
            eprintln!("{}", line(&p));
        }
    })
}

pub async fn sync(args: &SyncArgs, session: &Session, json: bool) -> Result<(), Failure> {
    let path = catalog::default_path(session.catalog_name())?;
    let catalog = Catalog::open(&path)?;
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
    let report = result?;
    let mut out = std::io::stdout().lock();
    if json {
        print_json(&mut out, &report)?;
    } else {
        writeln!(
            out,
            "catalog {}: {} users, {} conversations ({} indexes fetched, {} unchanged, {} dropped{}) in {:.1} s",
            path.display(),
            report.users,
            report.conversations,
            report.indexes_fetched,
            report.users_unchanged,
            report.users_dropped,
            if report.resumed { ", resumed" } else { "" },
            report.elapsed_ms as f64 / 1000.0
        )?;
        if report.index_errors > 0 {
            writeln!(out, "  {} unreadable indexes (see `verify`)", report.index_errors)?;
        }
        for f in &report.unusable_folders {
            writeln!(out, "  skipped folder {:?}: not a safe name", text::printable(f))?;
        }
    }
    Ok(())
}

pub fn search(args: &SearchArgs, catalog_name: &str, json: bool) -> Result<(), Failure> {
    let catalog = Catalog::open(&catalog::default_path(catalog_name)?)?;
    let stats = catalog.stats()?;
    if stats.last_synced_at.is_none() && stats.users == 0 {
        return Err(Error::Config(format!(
            "the catalog {} is empty: run `archive-desk-cli sync` first",
            stats.path
        ))
        .into());
    }
    let page = catalog.search(args.text.as_str(), args.offset.get(), args.limit.get())?;
    let mut out = std::io::stdout().lock();
    if json {
        print_json(&mut out, &page)?;
        return Ok(());
    }
    for hit in &page.hits {
        let e = &hit.entry;
        writeln!(
            out,
            "{:<32} {:<38} {:<20} {:>5}  {}",
            text::printable(e.email.as_deref().unwrap_or(&e.folder)),
            text::printable(&e.conversation_id),
            e.archived_at.as_deref().map(text::printable).unwrap_or_default(),
            e.message_count.map(|n| n.to_string()).unwrap_or_default(),
            text::printable(e.title.as_deref().unwrap_or("(untitled)")),
        )?;
    }
    match page.next_offset {
        Some(next) => writeln!(out, "-- more: --offset {next}")?,
        None if page.hits.is_empty() => writeln!(out, "no matches")?,
        None => {}
    }
    Ok(())
}

pub async fn export_user(args: &ExportUserArgs, session: &Session, json: bool) -> Result<(), Failure> {
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
    let result = session
        .export_user(&args.user, &args.output, &options, &progress, &cancel_on_ctrl_c())
        .await;
    drop(progress);
    printer.abort();
    let report = result?;
    if json {
        print_json(&mut std::io::stdout().lock(), &report)?;
    } else {
        eprintln!(
            "exported {} conversations ({} messages) of {} to {}",
            report.conversations,
            report.messages,
            text::printable(report.user_email.as_deref().unwrap_or(&report.folder)),
            report.path
        );
    }
    for s in &report.skipped {
        eprintln!(
            "archive-desk-cli: skipped {}: {} [{}]",
            text::printable(&s.conversation_id),
            text::printable(&s.error.message),
            s.error.code
        );
    }
    Ok(())
}
