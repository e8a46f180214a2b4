//! Where things live in the bucket:
//!
//! ```text
//! {prefix}{folder}/{conversation_id}.json[.gz]
//! {prefix}{folder}/metadata.json
//! ```
//!
//! `folder` is the user's email with `@` -> `_at_` and `.` -> `_` (lossy: the
//! true email is in `metadata.json`). Every name that becomes part of a key is
//! validated here, so no input can produce a key outside its user's folder.

use crate::error::{Error, Result};

pub const DEFAULT_PREFIX: &str = "archived_conversations/";
pub const INDEX_FILE: &str = "metadata.json";

/// S3 keys are at most 1024 bytes; keep each part well under that.
const MAX_NAME_BYTES: usize = 255;

fn check_name(what: &'static str, value: &str) -> Result<()> {
    let reason = if value.is_empty() {
        Some("must not be empty")
    } else if value.len() > MAX_NAME_BYTES {
        Some("longer than 255 bytes")
    } else if value.contains('/') || value.contains('\\') {
        Some("must not contain a path separator")
    } else if value.contains("..") {
        Some("must not contain '..'")
    } else if value.chars().any(char::is_control) {
        Some("must not contain control characters")
    } else if value.trim() != value {
        Some("must not start or end with whitespace")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidName {
            what,
            value: value.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// A user's folder name under the prefix, validated.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserFolder(String);

impl UserFolder {
    /// The folder the archiver writes for `email`.
    pub fn from_email(email: &str) -> Result<Self> {
        if !email.contains('@') {
            return Err(Error::InvalidName {
                what: "email",
                value: email.to_owned(),
                reason: "must contain '@'",
            });
        }
        check_name("email", email)?;
        // `@` -> `_at_` grows the name: the folder must pass the same check,
        // or the listing would refuse the folder this email was mapped to.
        let folder = email.replace('@', "_at_").replace('.', "_");
        if folder.len() > MAX_NAME_BYTES {
            return Err(Error::InvalidName {
                what: "email",
                value: email.to_owned(),
                reason: "its folder name would be longer than 255 bytes",
            });
        }
        Ok(UserFolder(folder))
    }

    /// A folder name as found in the bucket or typed by a person.
    pub fn parse(folder: &str) -> Result<Self> {
        check_name("user folder", folder)?;
        Ok(UserFolder(folder.to_owned()))
    }

    /// What a person typed to name a user: an email (has `@`) or a folder.
    pub fn from_user_arg(arg: &str) -> Result<Self> {
        if arg.contains('@') {
            Self::from_email(arg)
        } else {
            Self::parse(arg)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Best guess at the email; the mapping is lossy (`.` and `_` both become
    /// `_`), so this is only shown until `metadata.json` gives the true one.
    /// Underscores in the domain become dots; the local part is kept.
    pub fn guessed_email(&self) -> Option<String> {
        let at = self.0.rfind("_at_")?;
        let (local, domain) = (&self.0[..at], &self.0[at + 4..]);
        if local.is_empty() || domain.is_empty() {
            return None;
        }
        Some(format!("{local}@{}", domain.replace('_', ".")))
    }
}

impl std::fmt::Display for UserFolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A conversation id that is safe to use as a key part.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConversationId(String);

impl ConversationId {
    pub fn parse(id: &str) -> Result<Self> {
        check_name("conversation id", id)?;
        // `metadata` + `.json` is the folder's index: no conversation lives there.
        if INDEX_FILE.strip_suffix(".json") == Some(id) {
            return Err(Error::InvalidName {
                what: "conversation id",
                value: id.to_owned(),
                reason: "names the user's index (metadata.json), not a conversation",
            });
        }
        Ok(ConversationId(id.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ConversationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an object key inside a user's folder is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectKind {
    Index,
    /// `<id>.json` or `<id>.json.gz`.
    Conversation {
        id: ConversationId,
        gz_suffix: bool,
    },
    /// Anything else (nested keys, other suffixes, unsafe names).
    Other,
}

/// The key layout under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    prefix: String,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            prefix: DEFAULT_PREFIX.to_owned(),
        }
    }
}

impl Layout {
    /// `prefix` may be empty (users at the bucket root); a missing trailing
    /// `/` is added.
    pub fn new(prefix: &str) -> Result<Self> {
        let trimmed = prefix.trim_end_matches('/');
        if !trimmed.is_empty() {
            if trimmed.starts_with('/') {
                return Err(Error::InvalidName {
                    what: "prefix",
                    value: prefix.to_owned(),
                    reason: "must not start with '/'",
                });
            }
            for part in trimmed.split('/') {
                check_name("prefix", part).map_err(|_| Error::InvalidName {
                    what: "prefix",
                    value: prefix.to_owned(),
                    reason: "each part must be non-empty, without '..' or control characters",
                })?;
            }
        }
        let prefix = if trimmed.is_empty() {
            String::new()
        } else {
            format!("{trimmed}/")
        };
        Ok(Layout { prefix })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn user_prefix(&self, folder: &UserFolder) -> String {
        format!("{}{}/", self.prefix, folder.0)
    }

    pub fn index_key(&self, folder: &UserFolder) -> String {
        format!("{}{}/{INDEX_FILE}", self.prefix, folder.0)
    }

    pub fn conversation_key(&self, folder: &UserFolder, id: &ConversationId, gz: bool) -> String {
        let suffix = if gz { ".json.gz" } else { ".json" };
        format!("{}{}/{}{suffix}", self.prefix, folder.0, id.0)
    }

    /// The folder named by a ListObjectsV2 common prefix (`{prefix}{folder}/`).
    pub fn folder_of_common_prefix(&self, common_prefix: &str) -> Result<UserFolder> {
        let name = common_prefix
            .strip_prefix(&self.prefix)
            .and_then(|rest| rest.strip_suffix('/'))
            .unwrap_or(common_prefix);
        UserFolder::parse(name)
    }

    /// Classify a key found when listing `folder`.
    pub fn classify(&self, folder: &UserFolder, key: &str) -> ObjectKind {
        let Some(name) = key.strip_prefix(&self.user_prefix(folder)) else {
            return ObjectKind::Other;
        };
        if name == INDEX_FILE {
            return ObjectKind::Index;
        }
        let (stem, gz_suffix) = if let Some(stem) = name.strip_suffix(".json.gz") {
            (stem, true)
        } else if let Some(stem) = name.strip_suffix(".json") {
            (stem, false)
        } else {
            return ObjectKind::Other;
        };
        match ConversationId::parse(stem) {
            Ok(id) => ObjectKind::Conversation { id, gz_suffix },
            Err(_) => ObjectKind::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_maps_to_the_archivers_folder() {
        let f = UserFolder::from_email("jane.doe@example.co.uk").unwrap();
        assert_eq!(f.as_str(), "jane_doe_at_example_co_uk");
        assert_eq!(f.guessed_email().unwrap(), "jane_doe@example.co.uk");
    }

    #[test]
    fn unicode_email_is_kept() {
        let f = UserFolder::from_email("zoë@bücher.de").unwrap();
        assert_eq!(f.as_str(), "zoë_at_bücher_de");
    }

    #[test]
    fn folder_without_at_marker_has_no_guess() {
        assert_eq!(UserFolder::parse("legacy-user").unwrap().guessed_email(), None);
    }

    #[test]
    fn names_that_escape_the_folder_are_rejected() {
        for bad in ["", "../x", "a/b", "a\\b", "..", "x..y", "a\u{0}b", "a\nb", " a", "a "] {
            let err = ConversationId::parse(bad).unwrap_err();
            assert_eq!(err.code(), "invalid_name", "{bad:?}");
            assert!(UserFolder::parse(bad).is_err(), "{bad:?}");
        }
        assert!(UserFolder::from_email("a/b@c.d").is_err());
        assert!(UserFolder::from_email("no-at-sign").is_err());
        assert!(ConversationId::parse(&"x".repeat(256)).is_err());
    }

    /// Found by fuzzing (fuzz/seeds/layout/long-email-folder): a 253-byte
    /// email passed the check, but its folder (`@` -> `_at_`) was 256 bytes,
    /// a folder `parse` and so the users listing refuse.
    #[test]
    fn an_email_whose_folder_is_too_long_is_refused() {
        let fits = format!("{}@x.io", "a".repeat(247));
        let folder = UserFolder::from_email(&fits).unwrap();
        assert_eq!(folder.as_str().len(), 255);
        assert_eq!(UserFolder::parse(folder.as_str()).unwrap(), folder);
        let long = format!("{}@x.io", "a".repeat(248));
        assert!(long.len() <= MAX_NAME_BYTES);
        let e = UserFolder::from_email(&long).unwrap_err();
        assert_eq!(e.code(), "invalid_name");
        assert!(e.to_string().contains("folder name would be longer"), "{e}");
        assert!(UserFolder::from_user_arg(&long).is_err());
    }

    /// Found by the `layout` fuzz target's property (keys built from a
    /// valid id classify back to it): the id `metadata` made the key of the
    /// index, so `show`/`export`/`thaw` of it reached `metadata.json`.
    #[test]
    fn the_index_name_is_not_a_conversation_id() {
        let e = ConversationId::parse("metadata").unwrap_err();
        assert_eq!(e.code(), "invalid_name");
        let l = Layout::default();
        let f = UserFolder::parse("u_at_x_io").unwrap();
        let p = l.user_prefix(&f);
        assert_eq!(l.classify(&f, &format!("{p}metadata.json")), ObjectKind::Index);
        assert_eq!(l.classify(&f, &format!("{p}metadata.json.gz")), ObjectKind::Other);
        // Only the exact name: ids that merely contain it stay valid.
        for id in ["metadata2", "Metadata", "metadata.json", "x-metadata"] {
            let id = ConversationId::parse(id).unwrap();
            for gz in [false, true] {
                let key = l.conversation_key(&f, &id, gz);
                assert_eq!(
                    l.classify(&f, &key),
                    ObjectKind::Conversation {
                        id: id.clone(),
                        gz_suffix: gz
                    }
                );
            }
        }
    }

    #[test]
    fn keys_follow_the_layout() {
        let l = Layout::default();
        let f = UserFolder::from_email("u@x.io").unwrap();
        let id = ConversationId::parse("c-1").unwrap();
        assert_eq!(l.index_key(&f), "archived_conversations/u_at_x_io/metadata.json");
        assert_eq!(
            l.conversation_key(&f, &id, true),
            "archived_conversations/u_at_x_io/c-1.json.gz"
        );
        assert_eq!(Layout::new("").unwrap().index_key(&f), "u_at_x_io/metadata.json");
        assert_eq!(Layout::new("a/b").unwrap().prefix(), "a/b/");
        assert!(Layout::new("a/../b").is_err());
        assert!(Layout::new("/abs").is_err());
    }

    #[test]
    fn classify_keys() {
        let l = Layout::default();
        let f = UserFolder::parse("u_at_x_io").unwrap();
        let p = l.user_prefix(&f);
        assert_eq!(l.classify(&f, &format!("{p}metadata.json")), ObjectKind::Index);
        assert_eq!(
            l.classify(&f, &format!("{p}abc.json.gz")),
            ObjectKind::Conversation {
                id: ConversationId::parse("abc").unwrap(),
                gz_suffix: true
            }
        );
        assert_eq!(l.classify(&f, &format!("{p}notes.txt")), ObjectKind::Other);
        assert_eq!(l.classify(&f, &format!("{p}sub/abc.json")), ObjectKind::Other);
        assert_eq!(l.classify(&f, "elsewhere/abc.json"), ObjectKind::Other);
        assert_eq!(
            l.folder_of_common_prefix("archived_conversations/u_at_x_io/").unwrap(),
            f
        );
    }
}
