//! Integrity check and repair of one user's folder: index entries without an
//! object, objects without an entry, unreadable objects, duplicate entries.
//! Verification only reads. Repair goes through the safe index update and
//! never deletes an object.

use std::collections::{HashMap, HashSet};

use futures::StreamExt;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, ErrorReport, Result};
use crate::index_write::update_index;
use crate::layout::{ObjectKind, UserFolder};
use crate::store::Store;

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize)]
pub struct UnindexedObject {
    pub conversation_id: String,
    pub key: String,
    /// The entry rebuilt from the object (None when it is unreadable or cold).
    pub rebuilt_entry: Option<Map<String, Value>>,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize)]
pub struct UnreadableObject {
    pub key: String,
    pub error: ErrorReport,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub folder: String,
    /// `ok`, `missing` or `corrupt`.
    pub index_state: &'static str,
    pub index_error: Option<ErrorReport>,
    pub objects_checked: usize,
    /// Index entries whose object is gone.
    pub dangling_entries: Vec<String>,
    /// Objects the index does not list.
    pub unindexed_objects: Vec<UnindexedObject>,
    /// Listed, never deleted automatically.
    pub unreadable_objects: Vec<UnreadableObject>,
    /// Cold objects could not be read; not counted as problems.
    pub cold_objects: Vec<String>,
    pub duplicate_entries: Vec<String>,
    /// The true email, from the index or the objects' archive metadata.
    pub user_email: Option<String>,
}

impl Verification {
    pub fn is_clean(&self) -> bool {
        self.index_state != "corrupt"
            && self.dangling_entries.is_empty()
            && self.unindexed_objects.is_empty()
            && self.unreadable_objects.is_empty()
            && self.duplicate_entries.is_empty()
    }
}

/// Read the index, list the folder, and open every object (`concurrency` at a time).
pub async fn verify(store: &Store, folder: &UserFolder, concurrency: usize) -> Result<Verification> {
    let (read, objects) = tokio::join!(store.read_index(folder), store.list_objects(folder));
    let objects = objects?;
    // Only what the index holds makes it corrupt. A read that failed on the
    // way (throttled, connection cut) says nothing about it: the
    // verification fails, naming the key, rather than call a sound index
    // corrupt (which repair then refuses, telling the user to fix it by
    // hand). Found by the chaos runs.
    let read = match read {
        Err(e) if !matches!(e, Error::Decode { .. } | Error::Shape { .. } | Error::TooLarge { .. }) => return Err(e),
        read => read,
    };
    let (index_state, index_error, entry_ids) = match &read {
        Ok(r) => (
            if r.missing { "missing" } else { "ok" },
            None,
            r.index.entries().map(|e| e.conversation_id()).collect::<Vec<_>>(),
        ),
        Err(e) => ("corrupt", Some(ErrorReport::from(e)), Vec::new()),
    };
    let mut user_email = read.as_ref().ok().and_then(|r| r.index.user_email().map(str::to_owned));

    let mut seen = HashSet::new();
    let duplicate_entries: Vec<String> = entry_ids.iter().filter(|id| !seen.insert(*id)).cloned().collect();

    let mut conversations = HashMap::new();
    let mut cold_objects = Vec::new();
    for o in objects {
        if let ObjectKind::Conversation { id, .. } = store.classify(folder, &o.key) {
            if o.is_cold() {
                cold_objects.push(o.key.clone());
            }
            conversations.entry(id).or_insert(o);
        }
    }
    let indexed: HashSet<&str> = entry_ids.iter().map(String::as_str).collect();
    let dangling_entries: Vec<String> = {
        let mut seen = HashSet::new();
        entry_ids
            .iter()
            .filter(|id| seen.insert(*id) && !conversations.keys().any(|k| k.as_str() == id.as_str()))
            .cloned()
            .collect()
    };

    // Open every readable object: that is what finds unreadable ones.
    // Owned values in the futures, so the whole future stays Send (the
    // desktop shell runs it on a multi-threaded runtime).
    let warm: Vec<_> = conversations
        .iter()
        .filter(|(_, o)| !o.is_cold())
        .map(|(id, o)| (id.clone(), o.clone()))
        .collect();
    let opened: Vec<_> = futures::stream::iter(warm)
        .map(|(id, o)| {
            let store = store.clone();
            async move {
                let result = store.open_key(&o.key, &id).await;
                (id, o, result)
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let objects_checked = opened.len();
    let mut unreadable_objects = Vec::new();
    let mut unindexed_objects = Vec::new();
    for (id, o, result) in opened {
        match result {
            Ok(c) => {
                if user_email.is_none() {
                    user_email = c
                        .document
                        .archive_metadata()
                        .and_then(|m| m.str("user_email"))
                        .map(str::to_owned);
                }
                if !indexed.contains(id.as_str()) {
                    unindexed_objects.push(UnindexedObject {
                        conversation_id: id.to_string(),
                        key: o.key.clone(),
                        rebuilt_entry: Some(c.document.index_entry()),
                    });
                }
            }
            Err(e) => {
                // Cold whatever the listed class: an INTELLIGENT_TIERING
                // object in an archive tier lists as INTELLIGENT_TIERING.
                if matches!(e, Error::ColdStorage { .. }) {
                    cold_objects.push(o.key.clone());
                } else {
                    unreadable_objects.push(UnreadableObject {
                        key: o.key.clone(),
                        error: ErrorReport::from(&e),
                    });
                }
                if !indexed.contains(id.as_str()) {
                    unindexed_objects.push(UnindexedObject {
                        conversation_id: id.to_string(),
                        key: o.key.clone(),
                        rebuilt_entry: None,
                    });
                }
            }
        }
    }
    for (id, o) in conversations
        .iter()
        .filter(|(id, o)| o.is_cold() && !indexed.contains(id.as_str()))
    {
        unindexed_objects.push(UnindexedObject {
            conversation_id: id.to_string(),
            key: o.key.clone(),
            rebuilt_entry: None,
        });
    }
    unindexed_objects.sort_by(|a, b| a.key.cmp(&b.key));
    unreadable_objects.sort_by(|a, b| a.key.cmp(&b.key));
    cold_objects.sort();

    Ok(Verification {
        folder: folder.to_string(),
        index_state,
        index_error,
        objects_checked,
        dangling_entries,
        unindexed_objects,
        unreadable_objects,
        cold_objects,
        duplicate_entries,
        user_email,
    })
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Default, Serialize)]
pub struct RepairReport {
    pub entries_removed: usize,
    pub duplicates_removed: usize,
    pub entries_added: usize,
    pub index_written: bool,
    /// Problems repair does not touch (unreadable objects, unrebuildable entries).
    pub left_alone: Vec<String>,
}

/// Fix what `v` found, through the safe index update. Only the entries `v`
/// saw dangling are removed, so entries the archiver adds meanwhile stay.
pub(crate) async fn repair(store: &Store, folder: &UserFolder, v: &Verification) -> Result<RepairReport> {
    if v.index_state == "corrupt" {
        return Err(Error::InvalidInput(format!(
            "{}: metadata.json is unreadable; repair will not overwrite it (fix or remove it by hand, then verify again)",
            store.layout().index_key(folder)
        )));
    }
    let dangling: HashSet<String> = v.dangling_entries.iter().cloned().collect();
    let mut report = RepairReport::default();
    let update = update_index(store, folder, |index| {
        report.entries_removed = index.remove_entries(&dangling).len();
        report.duplicates_removed = index.remove_duplicate_entries();
        report.entries_added = v
            .unindexed_objects
            .iter()
            .filter_map(|u| u.rebuilt_entry.clone())
            .filter(|entry| index.add_entry(entry.clone()))
            .count();
        let email_set = v
            .user_email
            .as_deref()
            .is_some_and(|e| index.set_user_email_if_missing(e));
        report.entries_removed + report.duplicates_removed + report.entries_added > 0 || email_set
    })
    .await?;
    report.index_written = update.written;
    report.left_alone = v
        .unreadable_objects
        .iter()
        .map(|u| format!("{} (unreadable: {})", u.key, u.error.code))
        .chain(
            v.unindexed_objects
                .iter()
                .filter(|u| u.rebuilt_entry.is_none() && !v.unreadable_objects.iter().any(|r| r.key == u.key))
                .map(|u| format!("{} (cold: entry not rebuilt)", u.key)),
        )
        .collect();
    Ok(report)
}
