//! The local catalog: a cache of every user's index (true email, conversation
//! id, title, dates, message count, storage class, the index's ETag) in
//! SQLite in the OS cache dir, one file per profile, for search across all
//! users in milliseconds.
//!
//! It is never the source of truth: the bucket is. The file can be deleted at
//! any time and is rebuilt by the next `sync`; a file of another schema, a
//! corrupt one, or one built for another bucket or prefix is rebuilt too.
//!
//! Sync lists the whole prefix with ListObjectsV2 *without* a delimiter, so
//! every `metadata.json` comes with its ETag (and every conversation object
//! with its storage class) from the listing itself, 1,000 keys a request.
//! Only indexes whose ETag differs from the catalog's are fetched, with
//! bounded concurrency, and written in batches. Every batch commits the users
//! it carries with the sync's id, so an interrupted sync resumes where it
//! stopped (what was written is not fetched again) and only a sync that saw
//! the whole listing drops the users whose index vanished.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
pub use tokio_util::sync::CancellationToken;

use crate::browse::{EmailSource, UserSummary};
use crate::error::{Error, ErrorCode, ErrorReport, Result};
use crate::layout::UserFolder;
use crate::owner_only;

mod ranges;
mod search;
mod storage;
mod sync;
#[cfg(test)]
mod tests;

pub use search::{MatchKind, SearchHit, SearchPage, UserMatch};
use storage::{clear_all, db_error, entry_of_row, open_connection, put_user, remove_database_files, schema_version};
use storage::{ENTRY_COLUMNS, FTS_TRIGGERS, SCHEMA, SCHEMA_VERSION};
pub use sync::{sync, SyncOptions, SyncProgress, SyncReport, DEFAULT_CONCURRENCY};

/// The catalog of one profile (or bucket).
#[derive(Clone)]
pub struct Catalog {
    path: PathBuf,
    /// Sync writes go through this one.
    writer: Arc<Mutex<Connection>>,
    /// Searches go through this one: in WAL mode readers never wait for a
    /// batch being written.
    reader: Arc<Mutex<Connection>>,
}

/// One user as the catalog holds them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CatalogUser {
    pub folder: String,
    pub email: Option<String>,
    /// `email` is the true one from `metadata.json` (else guessed from the folder).
    pub email_from_index: bool,
    pub index_etag: Option<String>,
    pub index_error: Option<String>,
    pub conversation_count: u64,
}

/// One index entry, with the user it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct CatalogEntry {
    pub email: Option<String>,
    pub folder: String,
    pub conversation_id: String,
    pub title: Option<String>,
    pub created_at: Option<String>,
    pub archived_at: Option<String>,
    pub message_count: Option<u64>,
    /// `None` when no object was listed for the entry.
    pub storage_class: Option<String>,
}

/// A user's index, ready to be written: from a sync, or generated (benchmarks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub folder: String,
    pub email: Option<String>,
    pub email_from_index: bool,
    pub index_etag: Option<String>,
    pub index_error: Option<String>,
    pub objects_signature: i64,
    pub entries: Vec<EntryRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRecord {
    pub conversation_id: String,
    pub title: Option<String>,
    pub created_at: Option<String>,
    pub archived_at: Option<String>,
    pub message_count: Option<u64>,
    pub storage_class: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct CatalogStats {
    pub path: String,
    pub users: u64,
    pub conversations: u64,
    pub bucket: Option<String>,
    pub prefix: Option<String>,
    /// RFC 3339 time the last complete sync ended.
    pub last_synced_at: Option<String>,
    /// A sync was interrupted; the next one resumes it.
    pub sync_interrupted: bool,
}

impl CatalogStats {
    /// Never synced and holding nothing: nothing to search yet.
    pub fn is_empty(&self) -> bool {
        self.last_synced_at.is_none() && self.users == 0
    }
}

/// Which catalog a profile or bare bucket has: the profile's name, else the
/// bucket's (the name both front ends open it by).
pub fn catalog_name<'a>(profile: Option<&'a str>, bucket: &'a str) -> &'a str {
    profile.unwrap_or(bucket)
}

/// `catalog-<name>.sqlite` in `$ARCHIVE_DESK_CACHE_DIR`, else in the OS cache
/// dir (`~/.cache/archive-desk` on Linux). `name` is the profile, or the
/// bucket when there is no profile.
pub fn default_path(name: &str) -> Result<PathBuf> {
    let dir = match std::env::var_os("ARCHIVE_DESK_CACHE_DIR") {
        Some(d) => PathBuf::from(d),
        None => dirs::cache_dir()
            .ok_or_else(|| Error::Config("no cache directory for the catalog".into()))?
            .join("archive-desk"),
    };
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(dir.join(format!("catalog-{safe}.sqlite")))
}

/// Delete the catalog of `name` (a cache: nothing is lost), e.g. with its profile.
pub fn remove_default(name: &str) -> Result<()> {
    remove_database_files(&default_path(name)?)
}

/// [`Catalog::forget`] in the catalog of `name`, if it has one (a delete
/// does not create a catalog).
pub fn forget_deleted(name: &str, folder: &UserFolder, conversation_ids: &[&str]) -> Result<()> {
    let path = default_path(name)?;
    if path.exists() {
        Catalog::open(&path)?.forget(folder.as_str(), conversation_ids)?;
    }
    Ok(())
}

impl Catalog {
    /// Open (or create) the catalog at `path`. A file that is not a catalog
    /// of this schema is deleted and started afresh.
    pub fn open(path: &Path) -> Result<Catalog> {
        // The directory is owner-only when it is ours; SQLite gives its
        // -wal / -shm / -journal files the database file's mode, which is
        // made 0600 below, so they are private in a directory the person chose too.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            owner_only::create_private_dir(dir)?;
        }
        let writer = match Self::open_current(path) {
            Ok(conn) => conn,
            Err(_) => {
                remove_database_files(path)?;
                Self::open_current(path).map_err(|e| db_error(path, e))?
            }
        };
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.as_os_str().to_owned();
            p.push(suffix);
            owner_only::restrict_path(Path::new(&p))?;
        }
        let reader = open_connection(path).map_err(|e| db_error(path, e))?;
        Ok(Catalog {
            path: path.to_owned(),
            writer: Arc::new(Mutex::new(writer)),
            reader: Arc::new(Mutex::new(reader)),
        })
    }

    /// The catalog of `name` (profile or bucket) at its default location.
    pub fn open_default(name: &str) -> Result<Catalog> {
        Self::open(&default_path(name)?)
    }

    /// Open with the current schema, creating it in an empty file; an error
    /// for a foreign, corrupt or outdated file.
    fn open_current(path: &Path) -> rusqlite::Result<Connection> {
        let mut conn = open_connection(path)?;
        match schema_version(&conn)? {
            Some(v) if v == SCHEMA_VERSION => Ok(conn),
            Some(_) => Err(rusqlite::Error::InvalidQuery),
            None => {
                let tx = conn.transaction()?;
                tx.execute_batch(SCHEMA)?;
                tx.execute_batch(FTS_TRIGGERS)?;
                tx.execute(
                    "INSERT INTO meta(key, value) VALUES ('schema_version', ?1)",
                    [SCHEMA_VERSION],
                )?;
                tx.commit()?;
                Ok(conn)
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: rusqlite::Error) -> Error {
        db_error(&self.path, e)
    }

    fn with_writer<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn).map_err(|e| self.err(e))
    }

    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let conn = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        f(&conn).map_err(|e| self.err(e))
    }

    pub fn stats(&self) -> Result<CatalogStats> {
        self.with_reader(|c| {
            let meta = |key: &str| -> rusqlite::Result<Option<String>> {
                c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                    .optional()
            };
            Ok(CatalogStats {
                path: self.path.display().to_string(),
                users: c.query_row("SELECT count(*) FROM users", [], |r| r.get::<_, i64>(0))? as u64,
                conversations: c.query_row("SELECT count(*) FROM conversations", [], |r| r.get::<_, i64>(0))? as u64,
                bucket: meta("bucket")?,
                prefix: meta("prefix")?,
                last_synced_at: meta("last_synced_at")?,
                sync_interrupted: meta("sync_in_progress")?.is_some(),
            })
        })
    }

    /// Every user, by folder.
    pub fn users(&self) -> Result<Vec<CatalogUser>> {
        self.with_reader(|c| {
            let mut stmt = c.prepare(
                "SELECT u.folder, u.email, u.email_from_index, u.index_etag, u.index_error,
                        (SELECT count(*) FROM conversations c WHERE c.user_id = u.id)
                 FROM users u ORDER BY u.folder",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(CatalogUser {
                    folder: r.get(0)?,
                    email: r.get(1)?,
                    email_from_index: r.get(2)?,
                    index_etag: r.get(3)?,
                    index_error: r.get(4)?,
                    conversation_count: r.get::<_, i64>(5)? as u64,
                })
            })?;
            rows.collect()
        })
    }

    /// Every user as the users list shows them (true email, count, last
    /// archived), in folder order — the listing's order, as SQLite compares
    /// text bytewise like S3 — without one request: the list the app shows
    /// at once once a catalog exists. Folders without a `metadata.json` are
    /// not in the catalog, so not here; an index the sync could not read is
    /// `index_unreadable` with the message the sync saw.
    pub fn user_summaries(&self) -> Result<Vec<UserSummary>> {
        self.with_reader(|c| {
            let mut stmt = c.prepare(
                "SELECT u.folder, u.email, u.email_from_index, u.index_error, count(c.id), max(c.archived_at)
                 FROM users u LEFT JOIN conversations c ON c.user_id = u.id
                 GROUP BY u.id ORDER BY u.folder",
            )?;
            let rows = stmt.query_map([], |r| {
                let email: Option<String> = r.get(1)?;
                let email_source = match (r.get::<_, bool>(2)?, &email) {
                    (true, _) => EmailSource::Index,
                    (false, Some(_)) => EmailSource::Guessed,
                    (false, None) => EmailSource::Unknown,
                };
                Ok(UserSummary {
                    folder: r.get(0)?,
                    email,
                    email_source,
                    index_error: r.get::<_, Option<String>>(3)?.map(|message| ErrorReport {
                        code: ErrorCode::IndexUnreadable,
                        message,
                    }),
                    conversation_count: r.get::<_, i64>(4)?.max(0) as usize,
                    last_archived_at: r.get(5)?,
                    index_missing: false,
                })
            })?;
            rows.collect()
        })
    }

    /// `user_summaries` and when the catalog was last synced, if it was
    /// synced completely from this `bucket` and `prefix`; `None` otherwise
    /// (never synced, or built for another place): then only the bucket
    /// can list the users.
    pub fn synced_user_summaries(&self, bucket: &str, prefix: &str) -> Result<Option<(String, Vec<UserSummary>)>> {
        // The meta rows only: `stats` counts every entry, a scan of a
        // million rows the window's launch would wait on for nothing.
        let (synced, at_bucket, at_prefix) = self.with_reader(|c| {
            let meta = |key: &str| -> rusqlite::Result<Option<String>> {
                c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                    .optional()
            };
            Ok((meta("last_synced_at")?, meta("bucket")?, meta("prefix")?))
        })?;
        match synced {
            Some(at) if at_bucket.as_deref() == Some(bucket) && at_prefix.as_deref() == Some(prefix) => {
                Ok(Some((at, self.user_summaries()?)))
            }
            _ => Ok(None),
        }
    }

    /// A user's entries in index order.
    pub fn user_entries(&self, folder: &str) -> Result<Vec<CatalogEntry>> {
        self.with_reader(|c| {
            let mut stmt = c.prepare_cached(&format!("{ENTRY_COLUMNS} WHERE u.folder = ?1 ORDER BY c.id"))?;
            let rows = stmt.query_map([folder], entry_of_row)?;
            rows.map(|r| r.map(|(_, e)| e)).collect()
        })
    }

    /// Write users as given (outside a sync; e.g. generated data). Each
    /// user replaces what the catalog had for that folder.
    pub fn import(&self, users: &[UserRecord]) -> Result<()> {
        self.with_writer(|c| {
            let tx = c.transaction()?;
            for u in users {
                put_user(&tx, u, 0)?;
            }
            tx.commit()
        })
    }

    /// Empty the catalog (it is rebuilt by the next sync).
    pub fn clear(&self) -> Result<()> {
        self.with_writer(clear_all)
    }

    /// Drop conversations just deleted from the archive, so search stops
    /// finding them at once. The user's index is also marked stale, so the
    /// next sync fetches it whatever happened: the catalog converges on the
    /// bucket even if the delete did not go through. Returns the rows dropped.
    pub fn forget(&self, folder: &str, conversation_ids: &[&str]) -> Result<u64> {
        self.with_writer(|c| {
            let tx = c.transaction()?;
            let mut dropped = 0;
            {
                let mut delete = tx.prepare_cached(
                    "DELETE FROM conversations WHERE conversation_id = ?2 \
                     AND user_id = (SELECT id FROM users WHERE folder = ?1)",
                )?;
                for id in conversation_ids {
                    dropped += delete.execute(params![folder, id])? as u64;
                }
            }
            tx.execute("UPDATE users SET index_etag = NULL WHERE folder = ?1", [folder])?;
            tx.commit()?;
            Ok(dropped)
        })
    }
}
