//! Secrets live only in the OS keychain through `keyring`: Secret Service on
//! Linux (GNOME Keyring, KWallet), the login Keychain on macOS, Credential
//! Manager on Windows — each system's build enables only its own store
//! (`crates/core/Cargo.toml`). One entry per profile and kind of secret.
//! There is no fallback to a file: when the keychain is unavailable the
//! error says what to do. A build without a store for its system gets
//! keyring's in-memory mock, which would forget a secret when the program
//! ends: [`Keychain::set`] refuses to save into any store that does not
//! persist ([`KeychainStore::persists`]), and the app and CLI say so.

use std::sync::Arc;

use keyring::credential::{CredentialBuilder, CredentialPersistence};

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

/// How long a credential store keeps what is saved in it (keyring's
/// `CredentialPersistence`, which a store reports about itself).
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Persistence {
    /// Only inside one entry object (keyring's mock).
    EntryOnly,
    /// Until the process ends.
    ProcessOnly,
    /// Until the machine restarts (a kernel keyring).
    UntilReboot,
    /// On disk, until deleted: the OS keychains.
    UntilDelete,
    /// A kind keyring added after this build; treated as not persisting.
    Unknown,
}

impl Persistence {
    fn of(p: CredentialPersistence) -> Self {
        match p {
            CredentialPersistence::EntryOnly => Persistence::EntryOnly,
            CredentialPersistence::ProcessOnly => Persistence::ProcessOnly,
            CredentialPersistence::UntilReboot => Persistence::UntilReboot,
            CredentialPersistence::UntilDelete => Persistence::UntilDelete,
            _ => Persistence::Unknown,
        }
    }

    /// Whether a saved secret is still there after the app restarts.
    pub fn persists(self) -> bool {
        self == Persistence::UntilDelete
    }

    /// For messages: "keeps secrets {lifetime}".
    fn lifetime(self) -> &'static str {
        match self {
            Persistence::EntryOnly | Persistence::ProcessOnly => "only in memory until the program ends",
            Persistence::UntilReboot => "only until the computer restarts",
            Persistence::UntilDelete => "until they are deleted",
            Persistence::Unknown => "for an unknown time",
        }
    }
}

/// The credential store a [`Keychain`] saves into: what diagnostics report
/// and what the profiles screen warns about.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeychainStore {
    pub name: &'static str,
    pub persistence: Persistence,
    pub persists: bool,
}

/// The name of the store this build's `keyring` uses by default.
const PLATFORM_STORE: &str = if cfg!(target_os = "linux") {
    "Secret Service"
} else if cfg!(target_os = "macos") {
    "macOS Keychain"
} else if cfg!(windows) {
    "Windows Credential Manager"
} else {
    "keyring's in-memory mock"
};

/// The keychain under one service name (tests use their own).
#[derive(Debug, Clone)]
pub struct Keychain {
    service: String,
    store: KeychainStore,
    /// `None`: keyring's process-wide default (the platform store, which
    /// unit tests replace with `memory_store`).
    builder: Option<Arc<CredentialBuilder>>,
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
    /// The platform's keychain (see the module docs).
    pub fn new(service: impl Into<String>) -> Self {
        let persistence = Persistence::of(keyring::default::default_credential_builder().persistence());
        Keychain {
            service: service.into(),
            store: KeychainStore {
                name: PLATFORM_STORE,
                persistence,
                persists: persistence.persists(),
            },
            builder: None,
        }
    }

    /// A keychain saving into the given credential store instead.
    pub fn with_store(service: impl Into<String>, name: &'static str, builder: Box<CredentialBuilder>) -> Self {
        let persistence = Persistence::of(builder.persistence());
        Keychain {
            service: service.into(),
            store: KeychainStore {
                name,
                persistence,
                persists: persistence.persists(),
            },
            builder: Some(Arc::from(builder)),
        }
    }

    pub fn store(&self) -> &KeychainStore {
        &self.store
    }

    /// `Err(KeychainNotPersistent)` when a secret saved now would be lost:
    /// checked before every save, and before anything is deleted to make
    /// room for one.
    pub fn check_persists(&self, profile: &str, kind: SecretKind) -> Result<()> {
        if self.store.persists {
            return Ok(());
        }
        Err(Error::KeychainNotPersistent {
            profile: profile.to_owned(),
            kind: kind.as_str(),
            store: self.store.name,
            lifetime: self.store.persistence.lifetime(),
        })
    }

    fn entry(&self, profile: &str, kind: SecretKind) -> Result<keyring::Entry> {
        let user = format!("{profile}/{}", kind.as_str());
        match &self.builder {
            None => keyring::Entry::new(&self.service, &user).map_err(unavailable),
            Some(builder) => builder
                .build(None, &self.service, &user)
                .map(keyring::Entry::new_with_credential)
                .map_err(unavailable),
        }
    }

    pub fn set(&self, profile: &str, kind: SecretKind, secret: &Secret) -> Result<()> {
        self.check_persists(profile, kind)?;
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

    /// The same memory behind a store that says it keeps secrets only
    /// until the process ends (the guard must refuse before touching it).
    pub fn session_only() -> Box<keyring::credential::CredentialBuilder> {
        Box::new(SessionOnly)
    }

    struct SessionOnly;

    impl CredentialBuilderApi for SessionOnly {
        fn build(&self, target: Option<&str>, service: &str, user: &str) -> keyring::Result<Box<Credential>> {
            Builder.build(target, service, user)
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
        fn persistence(&self) -> keyring::credential::CredentialPersistence {
            keyring::credential::CredentialPersistence::ProcessOnly
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

    /// A store reporting a chosen persistence; its entries are keyring's mock.
    struct SessionStore(keyring::credential::CredentialPersistence);

    impl keyring::credential::CredentialBuilderApi for SessionStore {
        fn build(&self, target: Option<&str>, service: &str, user: &str) -> keyring::Result<Box<keyring::Credential>> {
            keyring::mock::default_credential_builder().build(target, service, user)
        }
        fn as_any(&self) -> &dyn std::any::Any {
            self
        }
        fn persistence(&self) -> keyring::credential::CredentialPersistence {
            match self.0 {
                CredentialPersistence::UntilReboot => CredentialPersistence::UntilReboot,
                CredentialPersistence::ProcessOnly => CredentialPersistence::ProcessOnly,
                _ => CredentialPersistence::UntilDelete,
            }
        }
    }

    #[test]
    fn saving_into_keyrings_mock_store_is_refused_with_a_message_naming_the_secret() {
        let kc = Keychain::with_store(
            "archive-desk-unit-mock",
            "keyring's in-memory mock",
            keyring::mock::default_credential_builder(),
        );
        assert_eq!(kc.store().persistence, Persistence::EntryOnly);
        assert!(!kc.store().persists);
        let e = kc
            .set("prod", SecretKind::SupabaseKey, &Secret::new("sb-secret-value"))
            .unwrap_err();
        assert_eq!(e.code(), "keychain_not_persistent");
        let message = e.to_string();
        assert!(
            message.contains("supabase-key") && message.contains("\"prod\""),
            "{message}"
        );
        assert!(
            message.contains("keyring's in-memory mock") && message.contains("until the program ends"),
            "{message}"
        );
        assert!(!message.contains("sb-secret-value"), "{message}");
        // Reading and deleting still work (nothing is there to find).
        assert!(kc.get("prod", SecretKind::SupabaseKey).unwrap().is_none());
        kc.delete_all("prod").unwrap();
    }

    #[test]
    fn session_only_stores_are_refused_and_persistent_ones_save() {
        for (persistence, expected) in [
            (CredentialPersistence::ProcessOnly, Persistence::ProcessOnly),
            (CredentialPersistence::UntilReboot, Persistence::UntilReboot),
        ] {
            let kc = Keychain::with_store(
                "archive-desk-unit-session",
                "a session store",
                Box::new(SessionStore(persistence)),
            );
            assert_eq!(kc.store().persistence, expected);
            let e = kc.set("p", SecretKind::PostgresUrl, &Secret::new("x")).unwrap_err();
            assert_eq!(e.code(), "keychain_not_persistent", "{e}");
            assert_eq!(
                kc.check_persists("p", SecretKind::PostgresUrl).unwrap_err().code(),
                "keychain_not_persistent"
            );
        }
        // The same entries behind a store that says it persists: saved (the
        // guard, not the entries, refused above).
        let kc = Keychain::with_store(
            "archive-desk-unit-session",
            "a disk store",
            Box::new(SessionStore(CredentialPersistence::UntilDelete)),
        );
        assert!(kc.store().persists);
        kc.set("p", SecretKind::PostgresUrl, &Secret::new("x")).unwrap();
    }

    /// Each system's build has its OS keychain (the Cargo features per
    /// target): without them keyring falls back to its mock, which fails here.
    #[cfg(any(target_os = "linux", target_os = "macos", windows))]
    #[test]
    fn this_systems_build_saves_into_a_persistent_os_keychain() {
        let store = Keychain::default().store().clone();
        assert_eq!(store.persistence, Persistence::UntilDelete, "{store:?}");
        assert!(store.persists);
        assert_ne!(store.name, "keyring's in-memory mock");
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
