//! `archive-desk-cli`: the Archive Desk core on the command line, for
//! scripting and for tests. Every command is a thin call into the core.

mod text;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use archive_desk_core::browse::{self, UserSummary};
use archive_desk_core::codec::{self, Encoding};
use archive_desk_core::{
    ConversationId, CredentialSource, Error, ErrorReport, Layout, Limits, Store, StoreConfig,
    UserFolder,
};
use clap::{Parser, Subcommand};
use futures::{StreamExt, TryStreamExt};
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
    /// Key prefix of the archive.
    #[arg(long, global = true, env = "ARCHIVE_DESK_PREFIX", default_value = archive_desk_core::layout::DEFAULT_PREFIX)]
    prefix: String,
    /// Named profile in ~/.aws/config (default: the standard AWS chain).
    #[arg(long, global = true)]
    aws_profile: Option<String>,
    /// Largest object to open, in MiB (compressed and decompressed).
    #[arg(long, global = true, default_value_t = 64)]
    max_object_mib: u64,
    /// Machine-readable output (JSON; `users` prints JSON Lines).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the users in the archive, page by page.
    Users {
        /// Also read each user's index: true email, conversation count, last archived.
        #[arg(long)]
        details: bool,
        /// Indexes read at once with --details.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
    /// A user's conversations: the index joined with the stored objects.
    Index {
        /// Email (with '@') or folder name.
        user: String,
    },
    /// Print a conversation as a transcript (--json: the stored document).
    Show {
        user: String,
        conversation_id: String,
    },
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

enum Failure {
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

async fn connect(cli: &Cli) -> Result<Store, Error> {
    let bucket = cli
        .bucket
        .clone()
        .ok_or_else(|| Error::Config("no bucket: pass --bucket or set S3_BUCKET_NAME".into()))?;
    let mut config = StoreConfig::new(bucket);
    config.region = cli.region.clone();
    config.force_path_style = cli.endpoint.is_some();
    config.endpoint = cli.endpoint.clone();
    config.layout = Layout::new(&cli.prefix)?;
    let max = cli.max_object_mib.saturating_mul(1 << 20);
    config.limits = Limits {
        max_object_bytes: max,
        max_json_bytes: max,
    };
    if let Some(profile) = &cli.aws_profile {
        config.credentials = CredentialSource::NamedProfile(profile.clone());
    }
    Store::connect(config).await
}

fn print_json<T: Serialize>(out: &mut impl Write, value: &T) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    writeln!(out)
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let store = connect(&cli).await?;
    let mut out = std::io::stdout().lock();
    match &cli.command {
        Command::Users {
            details,
            concurrency,
        } => {
            let mut pages = std::pin::pin!(store.list_users());
            if !cli.json {
                writeln!(out, "{}", text::user_header(*details))?;
            }
            while let Some(page) = pages.try_next().await? {
                for name in &page.unusable {
                    eprintln!(
                        "archive-desk-cli: skipped folder {:?}: not a safe name",
                        text::printable(name)
                    );
                }
                if *details {
                    let summaries: Vec<UserSummary> = futures::stream::iter(page.users)
                        .map(|f| {
                            let store = &store;
                            async move { browse::user_summary(store, &f).await }
                        })
                        .buffered((*concurrency).max(1))
                        .collect()
                        .await;
                    for s in &summaries {
                        if cli.json {
                            print_json(&mut out, s)?;
                        } else {
                            writeln!(out, "{}", text::user_summary_line(s))?;
                        }
                    }
                } else {
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
                }
                out.flush()?;
            }
        }
        Command::Index { user } => {
            let folder = UserFolder::from_user_arg(user)?;
            let listing = browse::user_conversations(&store, &folder).await?;
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
        Command::Show {
            user,
            conversation_id,
        } => {
            let opened = open(&store, user, conversation_id).await?;
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
            let opened = open(&store, user, conversation_id).await?;
            let encoding = if *gzip {
                Encoding::Gzip
            } else {
                Encoding::Plain
            };
            match output {
                Some(path) => {
                    codec::write_file_atomic(path, &opened.document, encoding)?;
                    let report = ExportReport {
                        key: &opened.key,
                        path: &path.display().to_string(),
                        encoding,
                        messages: opened.document.messages().len(),
                    };
                    if cli.json {
                        print_json(&mut out, &report)?;
                    } else {
                        eprintln!(
                            "exported {} ({} messages) to {}",
                            report.key, report.messages, report.path
                        );
                    }
                }
                None => out.write_all(&codec::encode(&opened.document, encoding))?,
            }
        }
    }
    out.flush()?;
    Ok(())
}

#[derive(Serialize)]
struct ExportReport<'a> {
    key: &'a str,
    path: &'a str,
    encoding: Encoding,
    messages: usize,
}

async fn open(
    store: &Store,
    user: &str,
    id: &str,
) -> Result<archive_desk_core::OpenedConversation, Error> {
    let folder = UserFolder::from_user_arg(user)?;
    let id = ConversationId::parse(id)?;
    store.get_conversation(&folder, &id).await
}
