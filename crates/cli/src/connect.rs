//! The session the connection flags (and the profile, if one is named)
//! describe: the flags as `SessionOverrides`, the core builds the session.

use archive_desk_core::{AuditLog, Error, Limits, Profiles, Session, SessionOverrides};

use crate::args::Cli;

pub async fn session(cli: &Cli) -> Result<Session, Error> {
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
