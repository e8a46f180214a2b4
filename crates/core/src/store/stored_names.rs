//! Which conversations are stored as `<id>.json.gz` only, as this store
//! last saw their folder listed (or last opened them): `get_conversation`
//! then asks for that key first, one round trip where guessing `<id>.json`
//! first costs two (a 404, then the gzip). The app lists a user's folder
//! before any of their conversations is opened, so an open from its list
//! is one GET. A hint, never trusted: a wrong one costs the second GET,
//! as without it. Bounded: past `MAX_IDS` names it starts again empty.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use super::ObjectInfo;
use crate::layout::{ConversationId, Layout, ObjectKind, UserFolder};

/// Conversation ids remembered at most (about 100 bytes each).
const MAX_IDS: usize = 100_000;

#[derive(Debug, Default)]
pub(crate) struct StoredNames {
    inner: Mutex<Names>,
}

#[derive(Debug, Default)]
struct Names {
    /// Folder -> ids stored only as `<id>.json.gz`.
    gzip_only: HashMap<String, HashSet<String>>,
    ids: usize,
}

impl Names {
    fn replace(&mut self, folder: &str, ids: HashSet<String>) {
        if let Some(old) = self.gzip_only.remove(folder) {
            self.ids -= old.len();
        }
        if ids.is_empty() {
            return;
        }
        if self.ids + ids.len() > MAX_IDS {
            self.gzip_only.clear();
            self.ids = 0;
        }
        self.ids += ids.len();
        self.gzip_only.insert(folder.to_owned(), ids);
    }
}

impl StoredNames {
    fn names(&self) -> std::sync::MutexGuard<'_, Names> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A complete listing of `folder`: its gzip-only conversations replace
    /// what was known of it.
    pub(crate) fn listed(&self, layout: &Layout, folder: &UserFolder, objects: &[ObjectInfo]) {
        let (mut gzip, mut plain) = (HashSet::new(), HashSet::new());
        for o in objects {
            if let ObjectKind::Conversation { id, gz_suffix } = layout.classify(folder, &o.key) {
                if gz_suffix {
                    gzip.insert(id.as_str().to_owned());
                } else {
                    plain.insert(id.as_str().to_owned());
                }
            }
        }
        // `<id>.json` wins over `<id>.json.gz` when both exist, as when opening.
        gzip.retain(|id| !plain.contains(id));
        self.names().replace(folder.as_str(), gzip);
    }

    /// Conversation `id` was just opened from `<id>.json.gz` (`gzip`) or `<id>.json`.
    pub(crate) fn opened(&self, folder: &UserFolder, id: &ConversationId, gzip: bool) {
        let mut names = self.names();
        let mut ids = names.gzip_only.get(folder.as_str()).cloned().unwrap_or_default();
        let changed = if gzip {
            ids.insert(id.as_str().to_owned())
        } else {
            ids.remove(id.as_str())
        };
        if changed {
            names.replace(folder.as_str(), ids);
        }
    }

    /// Whether `id` was last seen stored only as `<id>.json.gz`.
    pub(crate) fn is_gzip_only(&self, folder: &UserFolder, id: &ConversationId) -> bool {
        self.names()
            .gzip_only
            .get(folder.as_str())
            .is_some_and(|ids| ids.contains(id.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(key: String) -> ObjectInfo {
        ObjectInfo {
            key,
            size: 1,
            etag: None,
            last_modified: None,
            storage_class: "STANDARD".into(),
        }
    }

    #[test]
    fn listings_and_opens_say_which_conversations_are_gzip_only() {
        let layout = Layout::default();
        let folder = UserFolder::parse("u_at_x_io").unwrap();
        let id = |s: &str| ConversationId::parse(s).unwrap();
        let key = |name: &str| object(format!("{}{name}", layout.user_prefix(&folder)));
        let names = StoredNames::default();
        names.listed(
            &layout,
            &folder,
            &[
                key("a.json.gz"),
                key("b.json"),
                key("c.json"),
                key("c.json.gz"),
                key("metadata.json"),
            ],
        );
        assert!(names.is_gzip_only(&folder, &id("a")));
        assert!(!names.is_gzip_only(&folder, &id("b")));
        assert!(!names.is_gzip_only(&folder, &id("c")), "`c.json` is opened first");
        names.opened(&folder, &id("a"), false);
        names.opened(&folder, &id("b"), true);
        assert!(!names.is_gzip_only(&folder, &id("a")) && names.is_gzip_only(&folder, &id("b")));
        // A new listing replaces the folder's names.
        names.listed(&layout, &folder, &[key("b.json")]);
        assert!(!names.is_gzip_only(&folder, &id("b")));
        assert_eq!(names.names().ids, 0);
    }

    #[test]
    fn it_forgets_everything_rather_than_grow_past_its_bound() {
        let names = StoredNames::default();
        let id = ConversationId::parse("x").unwrap();
        for i in 0..=MAX_IDS {
            names.opened(&UserFolder::parse(&format!("u{i}")).unwrap(), &id, true);
        }
        let names = names.names();
        assert_eq!(names.ids, 1, "emptied once full, then the last one remembered");
        assert_eq!(names.gzip_only.len(), 1);
    }
}
