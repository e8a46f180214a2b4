//! `sync`, `search` and `export-user`: the local catalog and whole-user
//! exports on the command line (a sync resumes after Ctrl-C; an export
//! cancelled leaves no file).

use std::io::{self, Write};
use std::path::PathBuf;

use archive_desk_core::browse::{self, UserConversations};
use archive_desk_core::catalog::{self, Catalog, SyncOptions, SyncProgress};
use archive_desk_core::customer_export::CustomerExportReport;
use archive_desk_core::export_user::{
    ExportFormat, ExportProgress, ExportUserOptions, ExportUserReport, SkippedConversation,
};
use archive_desk_core::{Error, SearchLimit, SearchOffset, SearchPage, SearchText, Session, SyncReport};
use clap::Args;
use serde::Serialize;
use tokio::sync::watch;

use crate::args::Cli;
use crate::connect;
use crate::long_task::{cancel_on_ctrl_c, report_progress};
use crate::render::{json_line, Render};
use crate::text::printable;
use archive_desk_core::plural::{count, count_as};

#[derive(Args)]
pub struct SyncArgs {
    /// The most indexes fetched, and key ranges listed, at once: a ceiling;
    /// the sync ramps up to it while throughput rises and backs off when
    /// the store pushes back (503 SlowDown, errors).
    #[arg(long, default_value_t = catalog::DEFAULT_CONCURRENCY)]
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
        ..SyncOptions::default()
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

/// What `search` found: the user the text names exactly, read from the
/// bucket now (a complete email or folder name), and the catalog's hits.
#[derive(Serialize)]
pub struct Found {
    /// The user the text names, with their conversations (`None`: the text
    /// is no complete email, or no such user, or the bucket could not be asked).
    user: Option<UserConversations>,
    /// Whether there is a catalog to search (`sync` builds it).
    catalog: bool,
    #[serde(flatten)]
    page: SearchPage,
}

/// Search the catalog of the profile, else of the bucket (the one `sync`
/// builds), without connecting to S3 — except for a complete email or a
/// user folder name (`_at_`), which is also looked up in the bucket at
/// once (`browse::look_up_user`: found whether or not a catalog exists or
/// is up to date). Fails only when neither can answer: no catalog and the
/// look-up failed (an unknown email is `not_found`), or no catalog and no
/// user named.
pub async fn search(cli: &Cli, args: &SearchArgs) -> Result<Found, Error> {
    let text = args.text.as_str().trim();
    let exact = args.offset.get() == 0 && (text.contains('@') || text.contains("_at_"));
    let name = catalog::catalog_name(cli.profile.as_deref(), cli.bucket.as_deref().unwrap_or_default());
    let catalog = if name.is_empty() {
        None
    } else {
        let catalog = Catalog::open_default(name)?;
        (!catalog.stats()?.is_empty()).then_some(catalog)
    };
    if !exact {
        let Some(catalog) = catalog else {
            return Err(no_catalog(name));
        };
        let page = catalog.search(text, args.offset.get(), args.limit.get())?;
        return Ok(Found {
            user: None,
            catalog: true,
            page,
        });
    }
    let page = match &catalog {
        Some(c) => c.search(text, 0, args.limit.get())?,
        None => SearchPage::default(),
    };
    let looked_up = match connect::session(cli).await {
        Ok(session) => browse::look_up_user(session.store(), text).await,
        Err(e) => Err(e),
    };
    let user = match looked_up {
        Ok(user) => Some(user),
        // The catalog may still know something (a longer email, a stale entry).
        Err(e) if catalog.is_some() && !(page.hits.is_empty() && page.users_without_conversations.is_empty()) => {
            eprintln!("archive-desk-cli: {e} [{}]", e.code());
            None
        }
        Err(e) => return Err(e),
    };
    Ok(Found {
        user,
        catalog: catalog.is_some(),
        page,
    })
}

fn no_catalog(name: &str) -> Error {
    if name.is_empty() {
        return Error::Config("no catalog: pass --profile or --bucket, or set S3_BUCKET_NAME".into());
    }
    match catalog::default_path(name) {
        Ok(path) => Error::Config(format!(
            "the catalog {} is empty: run `archive-desk-cli sync` first",
            path.display()
        )),
        Err(e) => e,
    }
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
            "catalog {}: {}, {} ({} fetched, {} unchanged, {} dropped{}) in {:.1} s",
            self.path.display(),
            count(r.users, "user"),
            count(r.conversations, "conversation"),
            count_as(r.indexes_fetched, "index", "indexes"),
            r.users_unchanged,
            r.users_dropped,
            if r.resumed { ", resumed" } else { "" },
            r.elapsed_ms as f64 / 1000.0
        )?;
        let (fetch, list) = (&r.fetch_concurrency, &r.list_concurrency);
        writeln!(
            out,
            "  concurrency: fetches settled at {} (peak {}, ceiling {}, {} back-offs); \
             {} key ranges listed, settled at {} at once ({} back-offs)",
            fetch.settled, fetch.peak, fetch.ceiling, fetch.backoffs, r.list_ranges, list.settled, list.backoffs
        )?;
        if r.index_errors > 0 {
            let unreadable = count_as(r.index_errors, "unreadable index", "unreadable indexes");
            writeln!(out, "  {unreadable} (see `verify`)")?;
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

impl Render for Found {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        if let Some(user) = &self.user {
            writeln!(out, "found in the bucket now:")?;
            user.text(out)?;
            if self.catalog {
                writeln!(out, "in the catalog:")?;
            }
        }
        for u in &self.page.users_without_conversations {
            writeln!(
                out,
                "{:<32} {}",
                printable(u.email.as_deref().unwrap_or(&u.folder)),
                match &u.index_error {
                    Some(e) => format!("index unreadable, so no conversation listed: {}", printable(e)),
                    None => "its index holds no conversation".to_owned(),
                }
            )?;
        }
        if self.catalog || self.user.is_none() {
            self.page.text(out)?;
        }
        Ok(())
    }
    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        json_line(out, self)
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
            None if self.hits.is_empty() && self.users_without_conversations.is_empty() => writeln!(out, "no matches"),
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
            "exported {} ({}) of {} to {}",
            count(self.conversations, "conversation"),
            count(self.messages, "message"),
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
            "exported {} ({}, {} and manifest.json, sha256 {}) of {} to {}",
            count(self.conversations, "conversation"),
            count(self.messages, "message"),
            count(self.files, "file"),
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
