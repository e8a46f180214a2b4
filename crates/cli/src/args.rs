//! The command line: global flags and the list of commands. Each command's
//! own arguments live beside its function in `commands/`.

use clap::{Parser, Subcommand};

use crate::commands::{audit, browse, catalog, delete, erase, profile, restore, thaw, users, verify};

#[derive(Parser)]
#[command(
    name = "archive-desk-cli",
    version,
    about = "Browse, read and export archived chat conversations in S3"
)]
pub struct Cli {
    /// S3 bucket holding the archive.
    #[arg(long, global = true, env = "S3_BUCKET_NAME")]
    pub bucket: Option<String>,
    /// Region (default: from the AWS config chain, else us-east-1).
    #[arg(long, global = true, env = "AWS_REGION")]
    pub region: Option<String>,
    /// Custom endpoint for S3-compatible stores (implies path-style requests).
    #[arg(long, global = true, env = "ARCHIVE_DESK_ENDPOINT")]
    pub endpoint: Option<String>,
    /// Key prefix of the archive (default: archived_conversations/).
    #[arg(long, global = true, env = "ARCHIVE_DESK_PREFIX")]
    pub prefix: Option<String>,
    /// A saved profile (see `profile`); the other connection flags override it.
    #[arg(long, global = true, env = "ARCHIVE_DESK_PROFILE")]
    pub profile: Option<String>,
    /// Named profile in ~/.aws/config (default: the standard AWS chain).
    #[arg(long, global = true)]
    pub aws_profile: Option<String>,
    /// Largest object to open, in MiB (compressed and decompressed).
    #[arg(long, global = true, default_value_t = 64)]
    pub max_object_mib: u64,
    /// Machine-readable output (JSON; `users` prints JSON Lines).
    #[arg(long, global = true)]
    pub json: bool,
    /// Refuse every write (delete, repair, thaw) in the core.
    #[arg(long, global = true)]
    pub read_only: bool,
    /// Write metadata.json even on a store that ignores If-Match. Risk: an
    /// entry the archiver writes at the same moment can be lost.
    #[arg(long, global = true)]
    pub allow_unsafe_index_writes: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Manage connection profiles (secrets go to the OS keychain).
    #[command(subcommand)]
    Profile(Box<profile::ProfileCommand>),
    /// List the users in the archive, page by page.
    Users(users::UsersArgs),
    /// A user's conversations: the index joined with the stored objects.
    Index(browse::IndexArgs),
    /// Print a conversation as a transcript (--json: the stored document).
    Show(browse::ShowArgs),
    /// Write a conversation's stored document, every field kept.
    Export(browse::ExportArgs),
    /// Restore conversations into Supabase (REST or direct Postgres): one, several, or --all of a
    /// user (--since/--until); --dry-run previews; idempotent, so a batch run again finishes it.
    Restore(restore::RestoreArgs),
    /// Permanently delete conversations (every version) and their index entries.
    Delete(delete::DeleteArgs),
    /// Check a user's folder (or all): dangling entries, unindexed or unreadable objects.
    Verify(verify::VerifyArgs),
    /// Request a restore of a conversation in GLACIER / DEEP_ARCHIVE, or show its status.
    Thaw(thaw::ThawArgs),
    /// Build or refresh the local catalog of every user's index (for `search`).
    Sync(catalog::SyncArgs),
    /// Search the local catalog by email or title, across all users; a complete
    /// email (or folder name) is also looked up in the bucket at once.
    Search(catalog::SearchArgs),
    /// Export every conversation of a user into one file (JSON or JSON Lines).
    ExportUser(catalog::ExportUserArgs),
    /// Erase everything of a user (every version, index entries, metadata.json) with a deletion receipt.
    EraseUser(erase::EraseUserArgs),
    /// Check a deletion receipt against the bucket: exit 0 only when nothing it lists exists.
    VerifyReceipt(erase::VerifyReceiptArgs),
    /// Show the audit log (`audit verify`: check its hash chain).
    Audit(audit::AuditArgs),
}
