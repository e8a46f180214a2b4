//! Named connection profiles. Non-secret settings live in a versioned TOML
//! file in the OS config dir, written atomically; secrets live only in the
//! keychain. A profile opens into a `Session` (`open.rs`); an archiver's
//! `.env` becomes a profile (`env_import.rs`).

mod env_import;
mod open;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::error::{Error, Result};
use crate::keychain::{Keychain, SecretKind};
use crate::layout::{Layout, DEFAULT_PREFIX};
use crate::owner_only;
use crate::secret::Secret;

/// A profile's restore setting; the type lives with the restore targets.
pub use crate::restore::RestoreMode;
pub use env_import::ImportReport;
pub use open::{RestoreOverrides, SessionOverrides};

const FILE_VERSION: u32 = 1;

/// Where AWS credentials come from.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "kebab-case")]
pub enum AwsAuth {
    /// The AWS default chain, optionally a named `~/.aws` profile.
    DefaultChain {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        aws_profile: Option<String>,
    },
    /// An access key pair: the id here, the secret in the keychain.
    Keychain { access_key_id: String },
}

impl Default for AwsAuth {
    fn default() -> Self {
        AwsAuth::DefaultChain { aws_profile: None }
    }
}

fn default_prefix() -> String {
    DEFAULT_PREFIX.to_owned()
}
fn default_conversations() -> String {
    "conversations".into()
}
fn default_messages() -> String {
    "messages".into()
}
fn default_conflict_key() -> String {
    "id".into()
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub bucket: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub path_style: bool,
    #[serde(default = "default_prefix")]
    pub prefix: String,
    #[serde(default)]
    pub aws: AwsAuth,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supabase_url: Option<String>,
    #[serde(default)]
    pub restore_mode: RestoreMode,
    #[serde(default = "default_conversations")]
    pub conversations_table: String,
    #[serde(default = "default_messages")]
    pub messages_table: String,
    /// The unique key both tables conflict on.
    #[serde(default = "default_conflict_key")]
    pub conflict_key: String,
    /// An installed RPC function for atomic REST restores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpc_function: Option<String>,
    /// A PEM file with the CA that issued the Postgres server's certificate
    /// (Supabase publishes its own); `sslrootcert=` in the connection
    /// string wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres_ca_file: Option<String>,
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub allow_unsafe_index_writes: bool,
}

impl Profile {
    /// Whether the profile names a restore target at all: a Supabase project
    /// for the REST modes, or the direct-Postgres mode (its URL is a secret).
    pub fn has_restore_target(&self) -> bool {
        self.supabase_url.is_some() || self.restore_mode == RestoreMode::Postgres
    }

    pub fn new(bucket: impl Into<String>) -> Self {
        Profile {
            bucket: bucket.into(),
            region: None,
            endpoint: None,
            path_style: false,
            prefix: default_prefix(),
            aws: AwsAuth::default(),
            supabase_url: None,
            restore_mode: RestoreMode::default(),
            conversations_table: default_conversations(),
            messages_table: default_messages(),
            conflict_key: default_conflict_key(),
            rpc_function: None,
            postgres_ca_file: None,
            read_only: false,
            allow_unsafe_index_writes: false,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileFile {
    pub version: u32,
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

/// A profile as shown to a person: settings, and which secrets are set
/// (never their values).
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize)]
pub struct ProfileView {
    pub name: String,
    #[serde(flatten)]
    pub profile: Profile,
    pub secrets_set: BTreeMap<&'static str, bool>,
}

/// What saving a profile did besides writing the file.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SaveReport {
    /// The Supabase URL changed, so the stored Supabase key was deleted: a
    /// key goes only to the project it was given for. Set it again.
    pub supabase_key_cleared: bool,
}

pub fn check_profile_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidName {
            what: "profile name",
            value: name.to_owned(),
            reason: "use 1-64 letters, digits, '-', '_' or '.'",
        })
    }
}

/// The profiles file and the keychain that holds their secrets.
#[derive(Debug, Clone)]
pub struct Profiles {
    path: PathBuf,
    keychain: Keychain,
}

impl Profiles {
    pub fn new(path: impl Into<PathBuf>, keychain: Keychain) -> Self {
        Profiles {
            path: path.into(),
            keychain,
        }
    }

    /// `$ARCHIVE_DESK_CONFIG_DIR/profiles.toml`, else the OS config dir
    /// (`~/.config/archive-desk/profiles.toml` on Linux).
    pub fn default_location() -> Result<Self> {
        let dir = match std::env::var_os("ARCHIVE_DESK_CONFIG_DIR") {
            Some(d) => PathBuf::from(d),
            None => dirs::config_dir()
                .ok_or_else(|| Error::Config("no config directory for profiles".into()))?
                .join("archive-desk"),
        };
        Ok(Profiles::new(dir.join("profiles.toml"), Keychain::default()))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn keychain(&self) -> &Keychain {
        &self.keychain
    }

    pub fn load(&self) -> Result<ProfileFile> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => {
                // Written by a version that did not make it owner-only: tighten.
                if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    owner_only::create_private_dir(dir)?;
                }
                owner_only::restrict_path(&self.path)?;
                t
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ProfileFile {
                    version: FILE_VERSION,
                    profiles: BTreeMap::new(),
                })
            }
            Err(e) => return Err(Error::io(&self.path, e)),
        };
        let file: ProfileFile = toml::from_str(&text).map_err(|e| {
            Error::Config(format!(
                "{}: not a valid profiles file: {}",
                self.path.display(),
                e.message()
            ))
        })?;
        if file.version > FILE_VERSION {
            return Err(Error::Config(format!(
                "{}: written by a newer Archive Desk (version {}); update the app",
                self.path.display(),
                file.version
            )));
        }
        Ok(file)
    }

    fn save(&self, file: &ProfileFile) -> Result<()> {
        let text = toml::to_string_pretty(file).map_err(|e| Error::Internal(format!("profiles file: {e}")))?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            owner_only::create_private_dir(dir)?;
        }
        codec::write_bytes_atomic(&self.path, text.as_bytes())
    }

    pub fn get(&self, name: &str) -> Result<Profile> {
        self.load()?
            .profiles
            .remove(name)
            .ok_or_else(|| Error::Config(format!("no profile named {name:?} (see `profile list`)")))
    }

    /// Add or replace a profile's settings. When the Supabase URL changes,
    /// the profile's stored Supabase key is deleted (it belongs to the old
    /// project) and the report says so.
    pub fn put(&self, name: &str, profile: Profile) -> Result<SaveReport> {
        check_profile(name, &profile)?;
        let old_url = self
            .load()?
            .profiles
            .get(name)
            .map(|p| normalised_url(p.supabase_url.as_deref()));
        let mut report = SaveReport::default();
        // The key goes first: if the keychain refuses, nothing changed.
        if old_url.is_some_and(|old| old != normalised_url(profile.supabase_url.as_deref()))
            && self.keychain.get(name, SecretKind::SupabaseKey)?.is_some()
        {
            self.keychain.delete(name, SecretKind::SupabaseKey)?;
            report.supabase_key_cleared = true;
        }
        self.write_profile(name, profile)?;
        Ok(report)
    }

    /// Validate and write one profile, nothing else.
    fn write_profile(&self, name: &str, profile: Profile) -> Result<()> {
        check_profile(name, &profile)?;
        let mut file = self.load()?;
        file.version = FILE_VERSION;
        file.profiles.insert(name.to_owned(), profile);
        self.save(&file)
    }

    /// Remove a profile, every secret it has in the keychain and its search catalog.
    pub fn remove(&self, name: &str) -> Result<()> {
        let mut file = self.load()?;
        if file.profiles.remove(name).is_none() {
            return Err(Error::Config(format!("no profile named {name:?}")));
        }
        self.keychain.delete_all(name)?;
        self.save(&file)?;
        // Its search catalog is a cache of what the profile could see.
        crate::catalog::remove_default(name)
    }

    pub fn set_secret(&self, name: &str, kind: SecretKind, secret: &Secret) -> Result<()> {
        self.get(name)?;
        self.keychain.set(name, kind, secret)
    }

    pub fn secret(&self, name: &str, kind: SecretKind) -> Result<Option<Secret>> {
        self.keychain.get(name, kind)
    }

    pub fn view(&self, name: &str) -> Result<ProfileView> {
        let profile = self.get(name)?;
        let mut secrets_set = BTreeMap::new();
        for kind in SecretKind::ALL {
            secrets_set.insert(kind.as_str(), self.keychain.get(name, kind)?.is_some());
        }
        Ok(ProfileView {
            name: name.to_owned(),
            profile,
            secrets_set,
        })
    }
}

/// What a profile must be to be saved.
fn check_profile(name: &str, profile: &Profile) -> Result<()> {
    check_profile_name(name)?;
    Layout::new(&profile.prefix)?;
    if profile.bucket.is_empty() {
        return Err(Error::Config("a profile needs a bucket".into()));
    }
    if let Some(url) = &profile.supabase_url {
        crate::restore::check_project_url(url.trim_end_matches('/'))?;
    }
    Ok(())
}

/// A Supabase URL as compared for "changed": without a trailing `/`.
fn normalised_url(url: Option<&str>) -> Option<String> {
    url.map(|u| u.trim().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_can_restore_with_a_supabase_url_or_in_postgres_mode() {
        let mut profile = Profile::new("b");
        assert!(!profile.has_restore_target());
        profile.restore_mode = RestoreMode::Postgres;
        assert!(
            profile.has_restore_target(),
            "the Postgres URL is a secret, not in the profile"
        );
        profile.restore_mode = RestoreMode::default();
        profile.supabase_url = Some("https://x.supabase.co".into());
        assert!(profile.has_restore_target());
    }

    /// Profiles in a temp dir, their secrets in the in-memory keychain under
    /// a service of their own.
    pub(super) fn profiles() -> (Profiles, tempfile::TempDir) {
        crate::keychain::memory_store::install();
        let dir = tempfile::tempdir().unwrap();
        let service = format!(
            "archive-desk-unit-{}",
            dir.path().file_name().unwrap().to_string_lossy()
        );
        (
            Profiles::new(dir.path().join("cfg/profiles.toml"), Keychain::new(service)),
            dir,
        )
    }

    fn service(d: &tempfile::TempDir) -> String {
        format!("archive-desk-unit-{}", d.path().file_name().unwrap().to_string_lossy())
    }

    /// Behind a store that would lose secrets, saving one and importing a
    /// `.env` with secrets are refused before anything is deleted or written.
    #[test]
    fn a_store_that_does_not_persist_refuses_secrets_and_deletes_nothing() {
        use crate::keychain::memory_store;
        let (p, d) = profiles();
        let mut prof = Profile::new("b");
        prof.supabase_url = Some("https://one.supabase.co".into());
        p.put("site", prof.clone()).unwrap();
        p.set_secret("site", SecretKind::SupabaseKey, &Secret::new("key-of-one"))
            .unwrap();

        let session = Profiles::new(
            d.path().join("cfg/profiles.toml"),
            Keychain::with_store(service(&d), "a session store", memory_store::session_only()),
        );
        let e = session
            .set_secret("site", SecretKind::SupabaseKey, &Secret::new("key-of-two"))
            .unwrap_err();
        assert_eq!(e.code(), "keychain_not_persistent", "{e}");
        let env = d.path().join(".env");
        std::fs::write(
            &env,
            "S3_BUCKET_NAME=b\nSUPABASE_URL=https://two.supabase.co\nSUPABASE_SERVICE_ROLE_KEY=key-of-two\n",
        )
        .unwrap();
        let e = session.import_env("site", &env, true).unwrap_err();
        assert_eq!(e.code(), "keychain_not_persistent", "{e}");
        assert!(!e.to_string().contains("key-of-two"), "{e}");
        assert_eq!(
            p.get("site").unwrap().supabase_url,
            prof.supabase_url,
            "the profile is unchanged"
        );
        assert_eq!(
            p.secret("site", SecretKind::SupabaseKey).unwrap().unwrap().expose(),
            "key-of-one",
            "the saved key was not deleted"
        );
    }

    /// The old project's key is deleted before the new URL is written; when
    /// it cannot be deleted, the profile keeps its old URL (save and import).
    #[test]
    fn a_key_that_cannot_be_deleted_keeps_the_old_url() {
        use crate::keychain::memory_store as store;
        let (p, d) = profiles();
        let one = Some("https://one.supabase.co".to_owned());
        let mut prof = Profile::new("b");
        prof.supabase_url = one.clone();
        p.put("site", prof.clone()).unwrap();
        p.set_secret("site", SecretKind::SupabaseKey, &Secret::new("key-of-one"))
            .unwrap();
        store::fail_deletes(&service(&d), "site/supabase-key", true);

        prof.supabase_url = Some("https://two.supabase.co".into());
        let e = p.put("site", prof.clone()).unwrap_err();
        assert_eq!(e.code(), "keychain_unavailable", "{e}");
        assert_eq!(p.get("site").unwrap().supabase_url, one, "the old URL stays");
        assert!(p.secret("site", SecretKind::SupabaseKey).unwrap().is_some());

        let env = d.path().join(".env");
        std::fs::write(&env, "S3_BUCKET_NAME=b\nSUPABASE_URL=https://two.supabase.co\n").unwrap();
        let e = p.import_env("site", &env, true).unwrap_err();
        assert_eq!(e.code(), "keychain_unavailable", "{e}");
        assert_eq!(p.get("site").unwrap().supabase_url, one, "the old URL stays");

        store::fail_deletes(&service(&d), "site/supabase-key", false);
        assert!(p.put("site", prof.clone()).unwrap().supabase_key_cleared);
        assert!(p.secret("site", SecretKind::SupabaseKey).unwrap().is_none());
        assert_eq!(p.get("site").unwrap().supabase_url, prof.supabase_url);

        // An import that changes the URL and brings no key clears the old one.
        p.set_secret("site", SecretKind::SupabaseKey, &Secret::new("key-of-two"))
            .unwrap();
        std::fs::write(&env, "S3_BUCKET_NAME=b\nSUPABASE_URL=https://three.supabase.co\n").unwrap();
        p.import_env("site", &env, true).unwrap();
        assert!(p.secret("site", SecretKind::SupabaseKey).unwrap().is_none());
        assert_eq!(
            p.get("site").unwrap().supabase_url.as_deref(),
            Some("https://three.supabase.co")
        );
    }

    #[test]
    fn profiles_round_trip_through_the_file() {
        let (p, _d) = profiles();
        assert!(p.load().unwrap().profiles.is_empty());
        let mut prod = Profile::new("prod-archive");
        prod.region = Some("ap-south-1".into());
        prod.read_only = true;
        prod.aws = AwsAuth::Keychain {
            access_key_id: "AKIAEXAMPLE".into(),
        };
        p.put("prod", prod.clone()).unwrap();
        p.put("staging", Profile::new("staging-archive")).unwrap();
        assert_eq!(p.get("prod").unwrap(), prod);
        let text = std::fs::read_to_string(p.path()).unwrap();
        assert!(text.starts_with("version = 1"), "{text}");
        assert_eq!(p.load().unwrap().profiles.len(), 2);
        p.remove("staging").unwrap();
        assert!(p.get("staging").is_err());
        assert_eq!(p.remove("staging").unwrap_err().code(), "config");
        assert_eq!(p.put("../x", Profile::new("b")).unwrap_err().code(), "invalid_name");
    }

    #[test]
    fn plain_http_supabase_urls_are_refused_except_loopback() {
        let (p, _d) = profiles();
        let mut prof = Profile::new("b");
        prof.supabase_url = Some("http://example.com".into());
        let e = p.put("site", prof.clone()).unwrap_err();
        assert_eq!(e.code(), "config");
        assert!(e.to_string().contains("unencrypted"), "{e}");
        assert!(p.get("site").is_err(), "nothing saved");
        prof.supabase_url = Some("http://127.0.0.1:54321".into());
        p.put("site", prof).unwrap();
    }

    #[test]
    fn newer_or_broken_files_are_refused() {
        let (p, _d) = profiles();
        std::fs::create_dir_all(p.path().parent().unwrap()).unwrap();
        std::fs::write(p.path(), "version = 99\n").unwrap();
        assert!(p.load().unwrap_err().to_string().contains("newer"));
        std::fs::write(p.path(), "version = [").unwrap();
        assert!(p.load().unwrap_err().to_string().contains("not a valid profiles file"));
    }
}
