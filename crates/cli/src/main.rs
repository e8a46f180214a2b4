//! `archive-desk-cli`: the Archive Desk core on the command line, for
//! scripting and for tests. Every command is a thin call into the core.

mod catalog_cmd;
mod profile_cmd;
mod text;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use archive_desk_core::browse;
use archive_desk_core::codec::{self, Encoding};
use archive_desk_core::profile::{RestoreMode, RestoreOverrides};
use archive_desk_core::restore::{RestoreOptions, Target};
use archive_desk_core::{
    AuditFilter, AuditLog, CancellationToken, ChainStatus, ConversationId, Error, ErrorReport, Limits, Profiles,
    Session, SessionOverrides, Store, ThawDays, UserFolder,
};
use clap::{Parser, Subcommand};
use futures::TryStreamExt;
use serde::Serialize;

#[derive(Parser)]
#[command(
    name = "archive-desk-cli",
    version,
    about = "Browse, read and export archived chat conversations in S3"
)]
struct Cli {
    /// S3 bucket holding the archive.
    #[arg(long, global = true, env = "S3_BUCKET_NAME")]
    bucket: Option<String>,
    /// Region (default: from the AWS config chain, else us-east-1).
    #[arg(long, global = true, env = "AWS_REGION")]
    region: Option<String>,
    /// Custom endpoint for S3-compatible stores (implies path-style requests).
    #[arg(long, global = true, env = "ARCHIVE_DESK_ENDPOINT")]
    endpoint: Option<String>,
    /// Key prefix of the archive (default: archived_conversations/).
    #[arg(long, global = true, env = "ARCHIVE_DESK_PREFIX")]
    prefix: Option<String>,
    /// A saved profile (see `profile`); the other connection flags override it.
    #[arg(long, global = true, env = "ARCHIVE_DESK_PROFILE")]
    profile: Option<String>,
    /// Named profile in ~/.aws/config (default: the standard AWS chain).
    #[arg(long, global = true)]
    aws_profile: Option<String>,
    /// Largest object to open, in MiB (compressed and decompressed).
    #[arg(long, global = true, default_value_t = 64)]
    max_object_mib: u64,
    /// Machine-readable output (JSON; `users` prints JSON Lines).
    #[arg(long, global = true)]
    json: bool,
    /// Refuse every write (delete, repair, thaw) in the core.
    #[arg(long, global = true)]
    read_only: bool,
    /// Write metadata.json even on a store that ignores If-Match. Risk: an
    /// entry the archiver writes at the same moment can be lost.
    #[arg(long, global = true)]
    allow_unsafe_index_writes: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Manage connection profiles (secrets go to the OS keychain).
    #[command(subcommand)]
    Profile(Box<profile_cmd::ProfileCommand>),
    /// List the users in the archive, page by page.
    Users {
        /// Also read each user's index: true email, conversation count, last archived.
        #[arg(long)]
        details: bool,
        /// Indexes read at once with --details.
        #[arg(long, default_value_t = browse::SUMMARY_CONCURRENCY)]
        concurrency: usize,
    },
    /// A user's conversations: the index joined with the stored objects.
    Index {
        /// Email (with '@') or folder name.
        user: String,
    },
    /// Print a conversation as a transcript (--json: the stored document).
    Show { user: String, conversation_id: String },
    /// Write a conversation's stored document, every field kept.
    Export {
        user: String,
        conversation_id: String,
        /// Output file (written atomically); default stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Gzip-compress the output.
        #[arg(long)]
        gzip: bool,
    },
    /// Restore a conversation into Supabase (REST or direct Postgres); idempotent.
    Restore {
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
    },
    /// Permanently delete conversations (every version) and their index entries.
    Delete {
        user: String,
        #[arg(required = true)]
        conversation_ids: Vec<String>,
        /// Confirm: without it nothing is deleted.
        #[arg(long)]
        yes: bool,
    },
    /// Check a user's folder (or all): dangling entries, unindexed or unreadable objects.
    Verify {
        /// Email or folder; omit with --all.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        user: Option<String>,
        #[arg(long)]
        all: bool,
        /// Fix the index (safe update); never deletes objects.
        #[arg(long)]
        repair: bool,
    },
    /// Request a restore of a conversation in GLACIER / DEEP_ARCHIVE, or show its status.
    Thaw {
        user: String,
        conversation_id: String,
        /// Days the restored copy stays readable (1-365).
        #[arg(long, default_value = "7")]
        days: ThawDays,
        /// expedited, standard or bulk.
        #[arg(long, default_value = "standard")]
        tier: String,
        /// Only show the status; request nothing.
        #[arg(long)]
        status: bool,
    },
    /// Build or refresh the local catalog of every user's index (for `search`).
    Sync(catalog_cmd::SyncArgs),
    /// Search the local catalog by email or title, across all users.
    Search(catalog_cmd::SearchArgs),
    /// Export every conversation of a user into one file (JSON or JSON Lines).
    ExportUser(catalog_cmd::ExportUserArgs),
    /// Show the audit log (`audit verify`: check its hash chain).
    Audit {
        #[command(subcommand)]
        command: Option<AuditCommand>,
        /// Email or folder.
        #[arg(long)]
        user: Option<String>,
        /// restore, delete, export, repair or thaw.
        #[arg(long)]
        action: Option<String>,
        /// RFC 3339 time, e.g. 2026-01-31T00:00:00Z.
        #[arg(long)]
        since: Option<String>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the log's hash chain: records, damaged lines, the first
    /// edited, removed or inserted line.
    Verify,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        // Output closed early (`| head`): not an error.
        Err(Failure::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(f) => {
            let report = match &f {
                Failure::Core(e) => ErrorReport::from(e),
                Failure::Reported(r) => r.clone(),
                Failure::Io(e) => ErrorReport {
                    code: "io",
                    message: format!("writing output: {e}"),
                },
            };
            if json {
                eprintln!("{}", serde_json::to_string(&report).expect("serializable"));
            } else {
                eprintln!(
                    "archive-desk-cli: error: {} [{}]",
                    text::printable(&report.message),
                    report.code
                );
            }
            ExitCode::FAILURE
        }
    }
}

pub(crate) enum Failure {
    Core(Error),
    Reported(ErrorReport),
    Io(std::io::Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Core(e)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Io(e)
    }
}

/// The session the flags (and the profile, if one is named) describe.
async fn connect(cli: &Cli) -> Result<Session, Error> {
    let max = cli.max_object_mib.saturating_mul(1 << 20);
    let overrides = SessionOverrides {
        bucket: cli.bucket.clone(),
        region: cli.region.clone(),
        endpoint: cli.endpoint.clone(),
        prefix: cli.prefix.clone(),
        aws_profile: cli.aws_profile.clone(),
        limits: Some(Limits {
            max_object_bytes: max,
            max_json_bytes: max,
        }),
        read_only: cli.read_only,
        allow_unsafe_index_writes: cli.allow_unsafe_index_writes,
    };
    Profiles::default_location()?
        .open_with(cli.profile.as_deref(), &overrides, AuditLog::default_location()?)
        .await
}

/// The restore target: the profile's settings and keychain secret, each
/// overridden by a flag or, for secrets, an environment variable.
fn restore_target(cli: &Cli) -> Result<Target, Error> {
    let Command::Restore {
        target,
        supabase_url,
        rpc_function,
        conversations_table,
        messages_table,
        conflict_key,
        ..
    } = &cli.command
    else {
        return Err(Error::Config("not a restore".into()));
    };
    let overrides = RestoreOverrides {
        mode: target.as_deref().map(str::parse::<RestoreMode>).transpose()?,
        supabase_url: supabase_url.clone(),
        rpc_function: rpc_function.clone(),
        conversations_table: conversations_table.clone(),
        messages_table: messages_table.clone(),
        conflict_key: conflict_key.clone(),
    };
    Profiles::default_location()?.restore_target_with(cli.profile.as_deref(), &overrides)
}

/// An irreversible action was done but its audit outcome is missing: say
/// so, and still report it as done.
fn warn_audit(warning: &Option<String>) {
    if let Some(w) = warning {
        eprintln!("archive-desk-cli: warning: {}", text::printable(w));
    }
}

pub(crate) fn print_json<T: Serialize>(out: &mut impl Write, value: &T) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    writeln!(out)
}

async fn run(cli: Cli) -> Result<(), Failure> {
    if let Command::Profile(command) = &cli.command {
        return profile_cmd::run(command, cli.json).await;
    }
    if let Command::Audit {
        command,
        user,
        action,
        since,
    } = &cli.command
    {
        let log = AuditLog::default_location()?;
        let mut out = std::io::stdout().lock();
        if let Some(AuditCommand::Verify) = command {
            let v = log.verify()?;
            if cli.json {
                print_json(&mut out, &v)?;
            } else {
                write!(out, "{}", text::audit_verification(&v))?;
            }
            out.flush()?;
            let path = log.path().display();
            return match (&v.first_broken, v.status) {
                (Some(b), _) => Err(Failure::Reported(ErrorReport {
                    code: "audit_chain_broken",
                    message: format!("{path}: line {}: {}", b.line, b.message),
                })),
                // Nothing found, but nothing could be checked (or not all of it).
                (None, ChainStatus::NotChained) => Err(Failure::Reported(ErrorReport {
                    code: "audit_chain_unverified",
                    message: format!("{path}: no record carries a link; nothing can be checked"),
                })),
                (None, ChainStatus::TailNotAnchored) => Err(Failure::Reported(ErrorReport {
                    code: "audit_chain_unverified",
                    message: format!("{path}: its head file is missing, so records cut from the end would not show"),
                })),
                (None, _) => Ok(()),
            };
        }
        let filter = AuditFilter {
            user: user.clone(),
            action: action.clone(),
            since: since.clone(),
        };
        let read = log.read(&filter)?;
        for r in &read.records {
            if cli.json {
                print_json(&mut out, r)?;
            } else {
                writeln!(out, "{}", text::audit_line(r))?;
            }
        }
        out.flush()?;
        if read.damaged_lines > 0 {
            eprintln!(
                "archive-desk-cli: {} damaged lines in {} (not shown; see `audit verify`)",
                read.damaged_lines,
                log.path().display()
            );
        }
        return Ok(());
    }
    if let Command::Search(args) = &cli.command {
        let name = catalog_cmd::catalog_name(cli.profile.as_deref(), cli.bucket.as_deref())?;
        return catalog_cmd::search(args, &name, cli.json);
    }
    let session = connect(&cli).await?;
    let store = session.store();
    let mut out = std::io::stdout().lock();
    match &cli.command {
        Command::Users { details, concurrency } => {
            if !cli.json {
                writeln!(out, "{}", text::user_header(*details))?;
            }
            let skipped = |name: &String| {
                eprintln!(
                    "archive-desk-cli: skipped folder {:?}: not a safe name",
                    text::printable(name)
                );
            };
            if *details {
                // Ctrl-C ends the process; nothing to cancel cleanly.
                let never = CancellationToken::new();
                let mut batches = std::pin::pin!(browse::user_batches(store, *concurrency, &never));
                while let Some(batch) = batches.try_next().await? {
                    batch.unusable.iter().for_each(skipped);
                    for s in &batch.users {
                        if cli.json {
                            print_json(&mut out, s)?;
                        } else {
                            writeln!(out, "{}", text::user_summary_line(s))?;
                        }
                    }
                    out.flush()?;
                }
            } else {
                let mut pages = std::pin::pin!(store.list_users());
                while let Some(page) = pages.try_next().await? {
                    page.unusable.iter().for_each(skipped);
                    for f in &page.users {
                        if cli.json {
                            print_json(
                                &mut out,
                                &serde_json::json!({"folder": f.as_str(), "guessed_email": f.guessed_email()}),
                            )?;
                        } else {
                            writeln!(out, "{}", text::user_line(f))?;
                        }
                    }
                    out.flush()?;
                }
            }
        }
        Command::Index { user } => {
            let folder = UserFolder::from_user_arg(user)?;
            let listing = browse::user_conversations(store, &folder).await?;
            if cli.json {
                print_json(&mut out, &listing)?;
            } else {
                write!(out, "{}", text::user_conversations(&listing))?;
            }
            out.flush()?;
            if let Some(report) = listing.index_error {
                // Shown what could be shown; the index itself is unreadable.
                return Err(Failure::Reported(report));
            }
        }
        Command::Show { user, conversation_id } => {
            let opened = open(store, user, conversation_id).await?;
            if cli.json {
                print_json(&mut out, &opened.document)?;
            } else {
                write!(out, "{}", text::transcript(&opened))?;
            }
        }
        Command::Export {
            user,
            conversation_id,
            output,
            gzip,
        } => {
            let encoding = if *gzip { Encoding::Gzip } else { Encoding::Plain };
            match output {
                Some(path) => {
                    let report = session.export(user, conversation_id, path, encoding).await?;
                    if cli.json {
                        print_json(&mut out, &report)?;
                    } else {
                        eprintln!(
                            "exported {} ({} messages) to {}",
                            report.key, report.messages, report.path
                        );
                    }
                }
                // To stdout: a pipe, not a copy kept anywhere; not audited as an export.
                None => {
                    let opened = open(store, user, conversation_id).await?;
                    out.write_all(&codec::encode(&opened.document, encoding))?;
                }
            }
        }
        Command::Restore {
            user,
            conversation_id,
            allow_missing_columns,
            remove_from_archive,
            ..
        } => {
            let target = restore_target(&cli)?;
            let options = RestoreOptions {
                allow_missing_columns: *allow_missing_columns,
                ..Default::default()
            };
            let report = session
                .restore(
                    user,
                    conversation_id,
                    &target,
                    &options,
                    *remove_from_archive,
                    &catalog_cmd::cancel_on_ctrl_c(),
                )
                .await?;
            warn_audit(&report.audit_warning);
            if cli.json {
                print_json(&mut out, &report)?;
            } else {
                write!(out, "{}", text::restore_report(&report))?;
            }
        }
        Command::Delete {
            user,
            conversation_ids,
            yes,
        } => {
            if !*yes {
                return Err(Error::Config(format!(
                    "refusing to delete {} conversation(s) of {user} permanently without --yes",
                    conversation_ids.len()
                ))
                .into());
            }
            let ids: Vec<&str> = conversation_ids.iter().map(String::as_str).collect();
            let report = session.delete(user, &ids).await?;
            warn_audit(&report.audit_warning);
            if cli.json {
                print_json(&mut out, &report)?;
            } else {
                write!(out, "{}", text::delete_report(&report))?;
            }
        }
        Command::Verify { user, all, repair } => {
            let users: Vec<String> = match (user, all) {
                (Some(u), _) => vec![u.clone()],
                (None, _) => {
                    let pages: Vec<_> = store.list_users().try_collect().await?;
                    pages.into_iter().flat_map(|p| p.users).map(|f| f.to_string()).collect()
                }
            };
            let mut problems = false;
            for u in &users {
                let (verification, repaired, audit_warning) = if *repair {
                    let done = session.repair(u).await?;
                    warn_audit(&done.audit_warning);
                    let warning = done.audit_warning.clone();
                    let (v, r) = done.into_inner();
                    (v, Some(r), warning)
                } else {
                    (session.verify(u).await?, None, None)
                };
                problems |= !verification.is_clean() && repaired.is_none();
                if cli.json {
                    let mut report = serde_json::json!({"verification": verification, "repair": repaired});
                    if let Some(w) = audit_warning {
                        report["audit_warning"] = w.into();
                    }
                    print_json(&mut out, &report)?;
                } else {
                    write!(out, "{}", text::verification(&verification, repaired.as_ref()))?;
                }
            }
            out.flush()?;
            if problems {
                return Err(Failure::Reported(ErrorReport {
                    code: "integrity",
                    message: "problems found; run again with --repair to fix the index".into(),
                }));
            }
        }
        Command::Thaw {
            user,
            conversation_id,
            days,
            tier,
            status,
        } => {
            let status = if *status {
                session.cold_status(user, conversation_id).await?
            } else {
                session.thaw(user, conversation_id, *days, tier.parse()?).await?
            };
            if cli.json {
                print_json(&mut out, &status)?;
            } else {
                writeln!(out, "{}", text::cold_status(&status))?;
            }
        }
        Command::Sync(args) => catalog_cmd::sync(args, &session, cli.json).await?,
        Command::ExportUser(args) => catalog_cmd::export_user(args, &session, cli.json).await?,
        Command::Audit { .. } | Command::Profile(_) | Command::Search(_) => {
            unreachable!("handled before connecting")
        }
    }
    out.flush()?;
    Ok(())
}

async fn open(store: &Store, user: &str, id: &str) -> Result<archive_desk_core::OpenedConversation, Error> {
    let folder = UserFolder::from_user_arg(user)?;
    let id = ConversationId::parse(id)?;
    store.get_conversation(&folder, &id).await
}
