//! `archive-desk-cli`: the Archive Desk core on the command line, for
//! scripting and for tests. Dispatch only: parse the arguments, call the
//! command's function (`commands/`), render its result (`render`).

mod args;
mod commands;
mod connect;
mod long_task;
mod render;
mod text;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};
use commands::{audit, browse, catalog, delete, erase, profile, restore, thaw, users, verify};
use render::{Failure, Output};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut out = Output::new(cli.json);
    let result = dispatch(&cli, &mut out).await;
    out.exit(result)
}

async fn dispatch(cli: &Cli, out: &mut Output) -> Result<(), Failure> {
    // Commands that need no connection to S3.
    match &cli.command {
        Command::Profile(command) => return out.emit(profile::profile(command).await?.as_ref()),
        Command::Audit(args) => return out.emit(audit::audit(args)?.as_ref()),
        // Connects only to look up a complete email or folder name.
        Command::Search(args) => return out.emit(&catalog::search(cli, args).await?),
        _ => {}
    }
    let session = connect::session(cli).await?;
    match &cli.command {
        Command::Users(args) => users::users(&session, args, out).await,
        Command::Index(args) => out.emit(&browse::index(&session, cli.profile.as_deref(), args).await?),
        Command::Show(args) => out.emit(&browse::show(&session, args).await?),
        Command::Export(args) => out.emit(&browse::export(&session, args).await?),
        Command::Restore(args) => out.emit(&restore::restore(&session, cli.profile.as_deref(), args).await?),
        Command::Delete(args) => out.emit(&delete::delete(&session, args).await?),
        Command::Verify(args) => verify::verify(&session, args, out).await,
        Command::Thaw(args) => out.emit(&thaw::thaw(&session, args).await?),
        Command::Sync(args) => out.emit(&catalog::sync(&session, args).await?),
        Command::ExportUser(args) => out.emit(catalog::export_user(&session, args).await?.as_ref()),
        Command::EraseUser(args) => out.emit(&erase::erase_user(&session, args).await?),
        Command::VerifyReceipt(args) => out.emit(&erase::verify_receipt(&session, args).await?),
        Command::Profile(_) | Command::Audit(_) | Command::Search(_) => unreachable!("handled before connecting"),
    }
}
