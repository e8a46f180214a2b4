//! `thaw`: request a restore of a conversation in cold storage, or show
//! its status.

use std::io::{self, Write};

use archive_desk_core::{ColdState, ColdStatus, Error, Session, ThawDays};
use clap::Args;

use crate::render::{json_line, Render};
use crate::text::{inline, or_dash};

#[derive(Args)]
pub struct ThawArgs {
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
}

pub async fn thaw(session: &Session, args: &ThawArgs) -> Result<ColdStatus, Error> {
    if args.status {
        session.cold_status(&args.user, &args.conversation_id).await
    } else {
        session
            .thaw(&args.user, &args.conversation_id, args.days, args.tier.parse()?)
            .await
    }
}

impl Render for ColdStatus {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let state = match &self.state {
            ColdState::Warm => "readable now".to_owned(),
            ColdState::Frozen => "in cold storage; no restore requested".to_owned(),
            ColdState::Restoring => "restore in progress".to_owned(),
            ColdState::Available { until } => format!("restored, readable until {}", or_dash(until.as_deref())),
        };
        match &self.archive_status {
            Some(tier) => writeln!(out, "{} [{}, {tier}]: {state}", inline(&self.key), self.storage_class),
            None => writeln!(out, "{} [{}]: {state}", inline(&self.key), self.storage_class),
        }
    }
    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        json_line(out, self)
    }
}
