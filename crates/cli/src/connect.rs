//! The session the connection flags (and the profile, if one is named)
//! describe. Kept apart so it can become one call into the core
//! (`Profiles::open_with` and the flags as overrides).

use archive_desk_core::{AuditLog, CredentialSource, Error, Layout, Limits, Profiles, Session, Store, StoreConfig};

use crate::args::Cli;

pub async fn session(cli: &Cli) -> Result<Session, Error> {
    let profiles = Profiles::default_location()?;
    let profile = cli.profile.as_deref().map(|name| profiles.get(name)).transpose()?;
    let mut config = match (&cli.profile, &profile) {
        (Some(name), Some(p)) => profiles.store_config(name, p)?,
        _ => StoreConfig::new(""),
    };
    if let Some(bucket) = &cli.bucket {
        config.bucket = bucket.clone();
    }
    if config.bucket.is_empty() {
        return Err(Error::Config(
            "no bucket: pass --bucket or --profile, or set S3_BUCKET_NAME".into(),
        ));
    }
    if cli.region.is_some() {
        config.region = cli.region.clone();
    }
    if cli.endpoint.is_some() {
        config.endpoint = cli.endpoint.clone();
        config.force_path_style = true;
    }
    if let Some(prefix) = &cli.prefix {
        config.layout = Layout::new(prefix)?;
    }
    if let Some(aws_profile) = &cli.aws_profile {
        config.credentials = CredentialSource::NamedProfile(aws_profile.clone());
    }
    let max = cli.max_object_mib.saturating_mul(1 << 20);
    config.limits = Limits {
        max_object_bytes: max,
        max_json_bytes: max,
    };
    config.allow_unsafe_index_writes |= cli.allow_unsafe_index_writes;
    let mut session = Session::new(Store::connect(config).await?, AuditLog::default_location()?);
    session.read_only = cli.read_only || profile.as_ref().is_some_and(|p| p.read_only);
    session.profile = cli.profile.clone();
    Ok(session)
}
