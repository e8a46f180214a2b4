//! Secrets live only in the OS keychain (Secret Service on Linux, Keychain on
//! macOS, Credential Manager on Windows) through `keyring`: one entry per
//! profile and kind of secret. There is no fallback to a file: when the
//! keychain is unavailable the error says what to do.

use crate::error::{Error, Result};
use crate::secret::Secret;

pub const SERVICE: &str = "archive-desk";

/// The kinds of secret a profile can hold.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
// The serde names are `as_str`'s, so the UI sends what the CLI accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
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
            Error::InvalidInput(format!(
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

/// For unit tests: an in-memory keychain shared by every entry (keyring's
/// mock keeps a secret in one `Entry` object only), whose deletes can be
/// made to fail. Every unit test installs this same builder, so tests
/// running in parallel never swap stores under each other.
#[cfg(test)]
pub(crate) mod memory_store {
    use std::collections::{HashMap, HashSet};
    use std::sync::Mutex;

    use keyring::credential::{Credential, CredentialApi, CredentialBuilderApi};

    /// (service, user)
    type Name = (String, String);

    static SECRETS: Mutex<Option<HashMap<Name, Vec<u8>>>> = Mutex::new(None);
    static FAILING_DELETES: Mutex<Option<HashSet<Name>>> = Mutex::new(None);

    pub fn install() {
        keyring::set_default_credential_builder(Box::new(Builder));
    }

    /// From now on, deleting `user` of `service` fails (or, with `false`, works again).
    pub fn fail_deletes(service: &str, user: &str, fail: bool) {
        let mut set = FAILING_DELETES.lock().unwrap();
        let set = set.get_or_insert_with(HashSet::new);
        let key = (service.to_owned(), user.to_owned());
        if fail {
            set.insert(key);
        } else {
            set.remove(&key);
        }
    }

    #[derive(Debug)]
    struct Builder;

    impl CredentialBuilderApi for Builder {
        fn build(&self, _: Option<&str>, service: &str, user: &str) -> keyring::Result<Box<Credential>> {
            Ok(Box::new(Entry((service.to_owned(), user.to_owned()))))
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    }

    #[derive(Debug)]
    struct Entry(Name);

    impl CredentialApi for Entry {
        fn set_secret(&self, secret: &[u8]) -> keyring::Result<()> {
            SECRETS
                .lock()
                .unwrap()
                .get_or_insert_with(HashMap::new)
                .insert(self.0.clone(), secret.to_vec());
            Ok(())
        }
        fn get_secret(&self) -> keyring::Result<Vec<u8>> {
            SECRETS
                .lock()
                .unwrap()
                .get_or_insert_with(HashMap::new)
                .get(&self.0)
                .cloned()
                .ok_or(keyring::Error::NoEntry)
        }
        fn delete_credential(&self) -> keyring::Result<()> {
            if FAILING_DELETES
                .lock()
                .unwrap()
                .as_ref()
                .is_some_and(|s| s.contains(&self.0))
            {
                return Err(keyring::Error::PlatformFailure("delete refused (test)".into()));
            }
            SECRETS
                .lock()
                .unwrap()
                .get_or_insert_with(HashMap::new)
                .remove(&self.0)
                .map(|_| ())
                .ok_or(keyring::Error::NoEntry)
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ipc_names_of_secret_kinds_are_the_cli_names() {
        for kind in SecretKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("{:?}", kind.as_str()));
            assert_eq!(serde_json::from_str::<SecretKind>(&json).unwrap(), kind);
            assert_eq!(kind.as_str().parse::<SecretKind>().unwrap(), kind);
        }
    }

    #[test]
    fn memory_store_round_trip() {
        memory_store::install();
        let kc = Keychain::new("archive-desk-unit-round-trip");
        kc.set("p", SecretKind::SupabaseKey, &Secret::new("sekrit")).unwrap();
        assert_eq!(
            kc.get("p", SecretKind::SupabaseKey).unwrap().unwrap().expose(),
            "sekrit"
        );
        kc.delete("p", SecretKind::SupabaseKey).unwrap();
        assert!(kc.get("p", SecretKind::SupabaseKey).unwrap().is_none());
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
