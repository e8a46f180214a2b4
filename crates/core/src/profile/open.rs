//! What a profile opens into: its S3 connection, its restore target and a
//! `Session`, each with its secret read from the keychain here. Settings a
//! caller puts over the profile's for one run (the CLI's flags) come as
//! overrides, so both front ends get a session and a target by the same
//! rules.

use std::path::PathBuf;

use super::{AwsAuth, Profile, Profiles};
use crate::audit::AuditLog;
use crate::codec::Limits;
use crate::error::{Error, Result};
use crate::keychain::SecretKind;
use crate::layout::Layout;
use crate::restore::{RestoreMode, Tables, Target};
use crate::secret::Secret;
use crate::session::Session;
use crate::store::{CredentialSource, Store, StoreConfig};

/// Settings put over a profile's for one restore (the CLI's flags).
#[derive(Debug, Clone, Default)]
pub struct RestoreOverrides {
    pub mode: Option<RestoreMode>,
    pub supabase_url: Option<String>,
    pub rpc_function: Option<String>,
    pub conversations_table: Option<String>,
    pub messages_table: Option<String>,
    pub conflict_key: Option<String>,
}

/// Settings put over a profile's (or, without a profile, the only ones) for
/// one session: the CLI's connection flags. `None` / `false` keeps the
/// profile's.
#[derive(Debug, Clone, Default)]
pub struct SessionOverrides {
    pub bucket: Option<String>,
    pub region: Option<String>,
    /// A custom endpoint (implies path-style requests).
    pub endpoint: Option<String>,
    pub prefix: Option<String>,
    /// A named profile in `~/.aws/config` instead of the profile's credentials.
    pub aws_profile: Option<String>,
    pub limits: Option<Limits>,
    /// Read-only even if the profile is not (a profile's read-only cannot be
    /// lifted by an override).
    pub read_only: bool,
    pub allow_unsafe_index_writes: bool,
}

impl Profiles {
    /// The S3 connection of a profile, its secret read from the keychain.
    pub fn store_config(&self, name: &str, profile: &Profile) -> Result<StoreConfig> {
        let mut config = StoreConfig::new(profile.bucket.clone());
        config.region = profile.region.clone();
        config.endpoint = profile.endpoint.clone();
        config.force_path_style = profile.path_style || profile.endpoint.is_some();
        config.layout = Layout::new(&profile.prefix)?;
        config.allow_unsafe_index_writes = profile.allow_unsafe_index_writes;
        config.credentials = match &profile.aws {
            AwsAuth::DefaultChain { aws_profile: None } => CredentialSource::DefaultChain,
            AwsAuth::DefaultChain { aws_profile: Some(p) } => CredentialSource::NamedProfile(p.clone()),
            AwsAuth::Keychain { access_key_id } => CredentialSource::Static {
                access_key_id: access_key_id.clone(),
                secret_access_key: self.keychain.get(name, SecretKind::AwsSecretAccessKey)?.ok_or_else(|| {
                    Error::Config(format!(
                        "profile {name:?} has no AWS secret access key in the keychain (profile set-secret {name} aws-secret-access-key)"
                    ))
                })?,
            },
        };
        Ok(config)
    }

    /// The restore target of a profile, its secret read from the keychain.
    pub fn restore_target(&self, name: &str, profile: &Profile) -> Result<Target> {
        target_of(profile, self.keychain.get(name, profile.restore_mode.secret_kind())?)
    }

    /// The restore target of profile `name` (or of no profile), with
    /// `overrides` on top; its secret from the mode's environment variable
    /// when that is set, else from the profile's keychain entry.
    pub fn restore_target_with(&self, name: Option<&str>, overrides: &RestoreOverrides) -> Result<Target> {
        let profile = self.with_restore_overrides(name, overrides)?;
        self.target_with_secret(name, &profile)
    }

    /// As [`Self::restore_target_with`], but `None` when neither the
    /// profile nor the overrides name a target (a profile without one is
    /// not an error where a target is optional, e.g. live status).
    pub fn restore_target_if_any(&self, name: Option<&str>, overrides: &RestoreOverrides) -> Result<Option<Target>> {
        let profile = self.with_restore_overrides(name, overrides)?;
        if !profile.has_restore_target() {
            return Ok(None);
        }
        self.target_with_secret(name, &profile).map(Some)
    }

    /// Profile `name` (or an empty one) with the restore overrides on top.
    fn with_restore_overrides(&self, name: Option<&str>, overrides: &RestoreOverrides) -> Result<Profile> {
        let mut profile = match name {
            Some(name) => self.get(name)?,
            None => Profile::new(""),
        };
        if let Some(mode) = overrides.mode {
            profile.restore_mode = mode;
        }
        for (field, value) in [
            (&mut profile.supabase_url, &overrides.supabase_url),
            (&mut profile.rpc_function, &overrides.rpc_function),
        ] {
            if value.is_some() {
                field.clone_from(value);
            }
        }
        for (field, value) in [
            (&mut profile.conversations_table, &overrides.conversations_table),
            (&mut profile.messages_table, &overrides.messages_table),
            (&mut profile.conflict_key, &overrides.conflict_key),
        ] {
            if let Some(v) = value {
                field.clone_from(v);
            }
        }
        Ok(profile)
    }

    /// The target `profile` describes, its secret from the mode's
    /// environment variable when set, else from the keychain of `name`.
    fn target_with_secret(&self, name: Option<&str>, profile: &Profile) -> Result<Target> {
        let mode = profile.restore_mode;
        let secret = match (std::env::var(mode.secret_env_var()), name) {
            (Ok(v), _) if !v.is_empty() => Some(Secret::new(v)),
            (_, Some(name)) => self.keychain.get(name, mode.secret_kind())?,
            _ => None,
        };
        target_of(profile, secret)
    }

    /// Open a profile: its store, its read-only flag, the audit log.
    pub async fn open(&self, name: &str, audit: AuditLog) -> Result<Session> {
        self.open_with(Some(name), &SessionOverrides::default(), audit).await
    }

    /// Open profile `name` (or no profile: then the overrides say it all)
    /// with `overrides` on top. Read-only when the profile or the overrides
    /// say so; the session records the profile's name.
    pub async fn open_with(
        &self,
        name: Option<&str>,
        overrides: &SessionOverrides,
        audit: AuditLog,
    ) -> Result<Session> {
        let profile = name.map(|name| self.get(name)).transpose()?;
        let mut config = match (name, &profile) {
            (Some(name), Some(p)) => self.store_config(name, p)?,
            _ => StoreConfig::new(""),
        };
        if let Some(bucket) = &overrides.bucket {
            config.bucket.clone_from(bucket);
        }
        if config.bucket.is_empty() {
            return Err(Error::Config("no bucket: name a profile or a bucket".into()));
        }
        if overrides.region.is_some() {
            config.region.clone_from(&overrides.region);
        }
        if overrides.endpoint.is_some() {
            config.endpoint.clone_from(&overrides.endpoint);
            config.force_path_style = true;
        }
        if let Some(prefix) = &overrides.prefix {
            config.layout = Layout::new(prefix)?;
        }
        if let Some(aws_profile) = &overrides.aws_profile {
            config.credentials = CredentialSource::NamedProfile(aws_profile.clone());
        }
        if let Some(limits) = overrides.limits {
            config.limits = limits;
        }
        config.allow_unsafe_index_writes |= overrides.allow_unsafe_index_writes;
        let mut session = Session::builder(Store::connect(config).await?, audit)
            .read_only(overrides.read_only || profile.as_ref().is_some_and(|p| p.read_only));
        if let Some(name) = name {
            session = session.profile(name);
        }
        Ok(session.build())
    }
}

/// The restore target a profile's settings describe, with its secret.
fn target_of(profile: &Profile, secret: Option<Secret>) -> Result<Target> {
    Ok(Target::from_settings(
        profile.restore_mode,
        profile.supabase_url.as_deref(),
        secret,
        Tables::new(
            &profile.conversations_table,
            &profile.messages_table,
            &profile.conflict_key,
        )?,
        profile.rpc_function.clone(),
    )?
    .with_postgres_ca_file(profile.postgres_ca_file.as_ref().map(PathBuf::from)))
}

#[cfg(test)]
mod tests {
    use super::super::tests::profiles;
    use super::*;

    /// The CLI's flags go over the profile's settings through the same
    /// rules (validated table names, the mode's own secret).
    #[test]
    fn overrides_go_over_the_profile_and_the_mode_picks_its_secret() {
        let (p, _d) = profiles();
        let mut prof = Profile::new("b");
        prof.supabase_url = Some("http://127.0.0.1:9".into());
        p.put("site", prof).unwrap();
        p.set_secret("site", SecretKind::SupabaseKey, &Secret::new("k"))
            .unwrap();
        let target = |name: Option<&str>, o: RestoreOverrides| p.restore_target_with(name, &o).err();
        assert!(target(Some("site"), RestoreOverrides::default()).is_none());
        let bad_table = RestoreOverrides {
            messages_table: Some("a;drop".into()),
            ..Default::default()
        };
        assert_eq!(target(Some("site"), bad_table).unwrap().code(), "invalid_name");
        let postgres = RestoreOverrides {
            mode: Some(RestoreMode::Postgres),
            ..Default::default()
        };
        let e = target(Some("site"), postgres).unwrap();
        assert!(e.to_string().contains("Postgres connection string"), "{e}");
        let other_url = RestoreOverrides {
            supabase_url: Some("http://example.com".into()),
            ..Default::default()
        };
        assert!(
            target(Some("site"), other_url).is_some(),
            "plain http beyond loopback is refused"
        );
        assert_eq!(target(None, RestoreOverrides::default()).unwrap().code(), "config");
    }

    /// Where a target is optional (live status), a profile without one is
    /// `None`, not an error; one set up halfway still says what is missing.
    #[test]
    fn no_restore_target_is_none_and_half_a_target_is_an_error() {
        let (p, _d) = profiles();
        p.put("bare", Profile::new("b")).unwrap();
        let mut half = Profile::new("b");
        half.supabase_url = Some("http://127.0.0.1:9".into());
        p.put("half", half).unwrap();
        let none = RestoreOverrides::default();
        assert!(p.restore_target_if_any(Some("bare"), &none).unwrap().is_none());
        assert!(p.restore_target_if_any(None, &none).unwrap().is_none());
        if std::env::var_os("SUPABASE_SERVICE_ROLE_KEY").is_none() {
            let e = p.restore_target_if_any(Some("half"), &none).err().unwrap();
            assert_eq!(e.code(), "config", "{e}");
        }
        let url = RestoreOverrides {
            supabase_url: Some("http://127.0.0.1:9".into()),
            ..Default::default()
        };
        p.set_secret("bare", SecretKind::SupabaseKey, &Secret::new("k"))
            .unwrap();
        assert!(p.restore_target_if_any(Some("bare"), &url).unwrap().is_some());
    }

    /// A session from a profile and the CLI's flags: the flags go over the
    /// profile's settings, a read-only profile stays read-only whatever the
    /// flags say, and without a profile the flags are all there is. Nothing
    /// here contacts the store (`Store::connect` makes no request).
    #[tokio::test]
    async fn a_session_opens_from_a_profile_with_overrides_on_top() {
        let (p, d) = profiles();
        let audit = || AuditLog::at(d.path().join("audit.jsonl"));
        let mut prof = Profile::new("from-profile");
        // A region and static credentials: nothing asks the AWS chain.
        prof.region = Some("us-east-1".into());
        prof.endpoint = Some("http://127.0.0.1:9".into());
        prof.aws = AwsAuth::Keychain {
            access_key_id: "id".into(),
        };
        prof.read_only = true;
        p.put("ro", prof.clone()).unwrap();
        p.set_secret("ro", SecretKind::AwsSecretAccessKey, &Secret::new("s"))
            .unwrap();

        let s = p.open("ro", audit()).await.unwrap();
        assert_eq!(
            (s.store().bucket(), s.read_only(), s.profile()),
            ("from-profile", true, Some("ro"))
        );
        let writable = SessionOverrides {
            bucket: Some("from-flag".into()),
            prefix: Some("other/".into()),
            read_only: false,
            ..Default::default()
        };
        let s = p.open_with(Some("ro"), &writable, audit()).await.unwrap();
        assert_eq!(s.store().bucket(), "from-flag");
        assert_eq!(s.store().layout().prefix(), "other/");
        assert!(s.read_only(), "a read-only profile stays read-only");

        prof.read_only = false;
        p.put("rw", prof).unwrap();
        p.set_secret("rw", SecretKind::AwsSecretAccessKey, &Secret::new("s"))
            .unwrap();
        assert!(!p.open("rw", audit()).await.unwrap().read_only());
        let read_only = SessionOverrides {
            read_only: true,
            ..Default::default()
        };
        assert!(p.open_with(Some("rw"), &read_only, audit()).await.unwrap().read_only());

        // No profile: the flags alone; a bucket is required.
        let flags = SessionOverrides {
            bucket: Some("bare".into()),
            endpoint: Some("http://127.0.0.1:9".into()),
            region: Some("us-east-1".into()),
            ..Default::default()
        };
        let s = p.open_with(None, &flags, audit()).await.unwrap();
        assert_eq!((s.store().bucket(), s.read_only(), s.profile()), ("bare", false, None));
        let e = p
            .open_with(None, &SessionOverrides::default(), audit())
            .await
            .err()
            .unwrap();
        assert_eq!(e.code(), "config");
        assert!(e.to_string().contains("no bucket"), "{e}");
        let bad_prefix = SessionOverrides {
            prefix: Some("../up".into()),
            ..flags
        };
        assert!(p.open_with(None, &bad_prefix, audit()).await.is_err());
        assert_eq!(
            p.open_with(Some("missing"), &SessionOverrides::default(), audit())
                .await
                .err()
                .unwrap()
                .code(),
            "config"
        );
    }
}
