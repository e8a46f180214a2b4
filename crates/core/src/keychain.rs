//! Secrets live only in the OS keychain (Secret Service on Linux, Keychain on
//! macOS, Credential Manager on Windows) through `keyring`: one entry per
//! profile and kind of secret. There is no fallback to a file: when the
//! keychain is unavailable the error says what to do.

use crate::error::{Error, Result};
use crate::secret::Secret;

pub const SERVICE: &str = "archive-desk";

/// The kinds of secret a profile can hold.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecretKind {
    AwsSecretAccessKey,
    SupabaseKey,
    PostgresUrl,
}

impl SecretKind {
    pub const ALL: [SecretKind; 3] = [
        SecretKind::AwsSecretAccessKey,
        SecretKind::SupabaseKey,
        SecretKind::PostgresUrl,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SecretKind::AwsSecretAccessKey => "aws-secret-access-key",
            SecretKind::SupabaseKey => "supabase-key",
            SecretKind::PostgresUrl => "postgres-url",
        }
    }
}

impl std::str::FromStr for SecretKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        SecretKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| {
            Error::Config(format!(
                "unknown secret kind {s:?}: use aws-secret-access-key, supabase-key or postgres-url"
            ))
        })
    }
}

/// The keychain under one service name (tests use their own).
#[derive(Debug, Clone)]
pub struct Keychain {
    service: String,
}

impl Default for Keychain {
    fn default() -> Self {
        Keychain::new(SERVICE)
    }
}

fn unavailable(e: keyring::Error) -> Error {
    let hint = "is a Secret Service (GNOME Keyring, KWallet) running and unlocked in this session?";
    Error::Keychain {
        message: match e {
            keyring::Error::NoStorageAccess(_) => format!("the OS keychain is locked or refused access; {hint}"),
            keyring::Error::PlatformFailure(_) => format!("the OS keychain is not available; {hint}"),
            // The other variants (bad encoding, too long, ambiguous) never hold the secret itself.
            other => format!("the OS keychain failed: {other}"),
        },
    }
}

impl Keychain {
    pub fn new(service: impl Into<String>) -> Self {
        Keychain {
            service: service.into(),
        }
    }

    fn entry(&self, profile: &str, kind: SecretKind) -> Result<keyring::Entry> {
        keyring::Entry::new(&self.service, &format!("{profile}/{}", kind.as_str())).map_err(unavailable)
    }

    pub fn set(&self, profile: &str, kind: SecretKind, secret: &Secret) -> Result<()> {
        self.entry(profile, kind)?
            .set_password(secret.expose())
            .map_err(unavailable)
    }

    /// `None` when no such secret is stored.
    pub fn get(&self, profile: &str, kind: SecretKind) -> Result<Option<Secret>> {
        match self.entry(profile, kind)?.get_password() {
            Ok(s) => Ok(Some(Secret::new(s))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Remove a secret; removing one that is not there is fine.
    pub fn delete(&self, profile: &str, kind: SecretKind) -> Result<()> {
        match self.entry(profile, kind)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    pub fn delete_all(&self, profile: &str) -> Result<()> {
        SecretKind::ALL.into_iter().try_for_each(|k| self.delete(profile, k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mock_store_round_trip_within_one_entry() {
        keyring::set_default_credential_builder(keyring::mock::default_credential_builder());
        let kc = Keychain::new("archive-desk-unit");
        // A mock entry lives in its Entry object only, so test one entry.
        let entry = kc.entry("p", SecretKind::SupabaseKey).unwrap();
        entry.set_password("sekrit").unwrap();
        assert_eq!(entry.get_password().unwrap(), "sekrit");
        entry.delete_credential().unwrap();
        assert!(matches!(entry.get_password(), Err(keyring::Error::NoEntry)));
        // A fresh mock entry is empty: get is None, delete is fine.
        assert!(kc.get("p", SecretKind::PostgresUrl).unwrap().is_none());
        kc.delete_all("p").unwrap();
    }

    #[test]
    fn errors_never_carry_the_secret() {
        let e = unavailable(keyring::Error::NoStorageAccess("locked".into()));
        assert_eq!(e.code(), "keychain_unavailable");
        assert!(e.to_string().contains("unlocked"));
        assert!("postgres-url".parse::<SecretKind>().is_ok());
        assert!("password".parse::<SecretKind>().is_err());
    }
}
