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

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::Client;
use futures::StreamExt;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Transaction};
use serde::Serialize;
use tokio::sync::{mpsc, watch};
pub use tokio_util::sync::CancellationToken;

use crate::codec;
use crate::error::{Error, Result};
use crate::layout::{Layout, ObjectKind, UserFolder, INDEX_FILE};
use crate::owner_only;
use crate::store::{s3_error, Store};

/// Bump when the schema changes: an older file is then rebuilt, not migrated
/// (it is only a cache).
const SCHEMA_VERSION: &str = "1";

const SCHEMA: &str = r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    folder TEXT NOT NULL UNIQUE,
    -- The true email from metadata.json, else the one guessed from the folder.
    email TEXT,
    email_from_index INTEGER NOT NULL,
    -- email (or folder) lower-cased, for exact and prefix search.
    email_key TEXT NOT NULL,
    index_etag TEXT,
    -- Why metadata.json could not be read; the user then has no entries.
    index_error TEXT,
    -- Hash of the folder's conversation objects and storage classes.
    objects_signature INTEGER NOT NULL,
    seen_sync INTEGER NOT NULL
);
CREATE UNIQUE INDEX users_by_email_key ON users(email_key, id);
CREATE TABLE conversations (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL,
    conversation_id TEXT NOT NULL,
    title TEXT,
    title_key TEXT NOT NULL,
    created_at TEXT,
    archived_at TEXT,
    message_count INTEGER,
    -- NULL: no object for this entry was listed.
    storage_class TEXT
);
CREATE INDEX conversations_by_user ON conversations(user_id, archived_at);
CREATE INDEX conversations_by_title_key ON conversations(title_key, id);

-- Substring search: trigram full-text indexes over the email and the title,
-- kept in step with their tables by triggers.
CREATE VIRTUAL TABLE users_fts USING fts5(
    email, content='users', content_rowid='id', tokenize='trigram remove_diacritics 1');
CREATE VIRTUAL TABLE conversations_fts USING fts5(
    title, content='conversations', content_rowid='id', tokenize='trigram remove_diacritics 1');
CREATE TRIGGER users_ai AFTER INSERT ON users BEGIN
    INSERT INTO users_fts(rowid, email) VALUES (new.id, new.email);
END;
CREATE TRIGGER users_ad AFTER DELETE ON users BEGIN
    INSERT INTO users_fts(users_fts, rowid, email) VALUES ('delete', old.id, old.email);
END;
CREATE TRIGGER users_au AFTER UPDATE OF email ON users BEGIN
    INSERT INTO users_fts(users_fts, rowid, email) VALUES ('delete', old.id, old.email);
    INSERT INTO users_fts(rowid, email) VALUES (new.id, new.email);
END;
CREATE TRIGGER conversations_ai AFTER INSERT ON conversations BEGIN
    INSERT INTO conversations_fts(rowid, title) VALUES (new.id, new.title);
END;
CREATE TRIGGER conversations_ad AFTER DELETE ON conversations BEGIN
    INSERT INTO conversations_fts(conversations_fts, rowid, title) VALUES ('delete', old.id, old.title);
END;
"#;

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

/// How a search hit matched, best first; hits come in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum MatchKind {
    /// The email equals the query (case-insensitive).
    Email,
    EmailPrefix,
    TitlePrefix,
    /// The query occurs inside the email.
    EmailContains,
    /// Every word of the query occurs in the title.
    TitleContains,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct SearchHit {
    #[serde(flatten)]
    pub entry: CatalogEntry,
    pub matched: MatchKind,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct SearchPage {
    pub hits: Vec<SearchHit>,
    /// Where the next page starts, if there is one.
    pub next_offset: Option<usize>,
}

fn db_error(path: &Path, e: rusqlite::Error) -> Error {
    Error::io(path, std::io::Error::other(e))
}

/// Case folding shared by what is stored and what is searched.
fn fold(s: &str) -> String {
    s.to_lowercase()
}

/// The exclusive upper bound of the keys starting with `prefix`.
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}{}", char::MAX)
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

fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(30))?;
    // A cache: durable enough with WAL + NORMAL (a crash loses at most the
    // last batches, which the next sync fetches again).
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -65536; PRAGMA mmap_size = 268435456;",
    )?;
    Ok(conn)
}

/// The schema version of an open file, `None` for an empty file.
fn schema_version(conn: &Connection) -> rusqlite::Result<Option<String>> {
    let has_meta: bool = conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
        [],
        |r| r.get(0),
    )?;
    if !has_meta {
        return Ok(None);
    }
    conn.query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| r.get(0))
        .optional()
}

fn remove_database_files(path: &Path) -> Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(PathBuf::from(p), e)),
        }
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

    /// Search emails and titles across all users, best matches first
    /// (email equal, email prefix, title prefix, email contains, title
    /// contains every word), `limit` hits from `offset`. Case-insensitive;
    /// "contains" ignores diacritics and needs words of 3 characters or more
    /// (shorter queries match by prefix only).
    pub fn search(&self, query: &str, offset: usize, limit: usize) -> Result<SearchPage> {
        let q = fold(query.trim());
        if q.is_empty() || limit == 0 {
            return Ok(SearchPage::default());
        }
        // Offsets and limits come from people (CLI flags, the app): saturate.
        let end = offset.saturating_add(limit);
        let hits = self.with_reader(|c| collect_hits(c, &q, end.saturating_add(1)))?;
        let more = hits.len() > end;
        Ok(SearchPage {
            hits: hits.into_iter().skip(offset).take(limit).collect(),
            next_offset: more.then_some(end),
        })
    }
}

const ENTRY_COLUMNS: &str = "SELECT c.id, u.email, u.folder, c.conversation_id, c.title, c.created_at, \
     c.archived_at, c.message_count, c.storage_class FROM conversations c JOIN users u ON u.id = c.user_id";

fn entry_of_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, CatalogEntry)> {
    Ok((
        r.get(0)?,
        CatalogEntry {
            email: r.get(1)?,
            folder: r.get(2)?,
            conversation_id: r.get(3)?,
            title: r.get(4)?,
            created_at: r.get(5)?,
            archived_at: r.get(6)?,
            message_count: r.get::<_, Option<i64>>(7)?.map(|n| n.max(0) as u64),
            storage_class: r.get(8)?,
        },
    ))
}

/// Hits of every tier in rank order, until `need` are found.
fn collect_hits(c: &Connection, q: &str, need: usize) -> rusqlite::Result<Vec<SearchHit>> {
    let mut hits = Vec::new();
    let mut seen = HashSet::new();
    let mut push = |hits: &mut Vec<SearchHit>, (id, entry): (i64, CatalogEntry), matched| {
        if seen.insert(id) {
            hits.push(SearchHit { entry, matched });
        }
        hits.len() >= need
    };
    let end = prefix_end(q);
    let mut user_conversations = c.prepare_cached(&format!(
        "{ENTRY_COLUMNS} WHERE c.user_id = ?1 ORDER BY c.archived_at DESC, c.id"
    ))?;

    // Emails: equal, then by prefix (in email order); each user's
    // conversations newest first.
    let mut users = c.prepare_cached(
        "SELECT id, email_key = ?1 FROM users WHERE email_key >= ?1 AND email_key < ?2 ORDER BY email_key <> ?1, email_key, id",
    )?;
    let mut rows = users.query(params![q, end])?;
    while let Some(row) = rows.next()? {
        let (user, exact): (i64, bool) = (row.get(0)?, row.get(1)?);
        let kind = if exact {
            MatchKind::Email
        } else {
            MatchKind::EmailPrefix
        };
        let mut conversations = user_conversations.query_map([user], entry_of_row)?;
        while let Some(e) = conversations.next().transpose()? {
            if push(&mut hits, e, kind) {
                return Ok(hits);
            }
        }
    }

    // Titles by prefix, alphabetically.
    let mut titles = c.prepare_cached(&format!(
        "{ENTRY_COLUMNS} WHERE c.title_key >= ?1 AND c.title_key < ?2 ORDER BY c.title_key, c.id"
    ))?;
    let mut rows = titles.query_map(params![q, end], entry_of_row)?;
    while let Some(e) = rows.next().transpose()? {
        if push(&mut hits, e, MatchKind::TitlePrefix) {
            return Ok(hits);
        }
    }

    // Substrings through the trigram indexes, which need 3 characters.
    let words: Vec<&str> = q.split_whitespace().collect();
    // FTS5 reads a query only up to a NUL ("unterminated string"): words
    // holding one are checked on the rows, like words too short for it.
    let indexed = |w: &str| w.chars().count() >= 3 && !w.contains('\0');
    let long: Vec<&str> = words.iter().copied().filter(|w| indexed(w)).collect();
    if long.is_empty() {
        return Ok(hits);
    }
    let phrase = |w: &str| format!("\"{}\"", w.replace('"', "\"\""));
    if words.len() == 1 && indexed(q) {
        let mut users = c.prepare_cached("SELECT rowid FROM users_fts WHERE users_fts MATCH ?1 ORDER BY rowid")?;
        let mut rows = users.query([phrase(q)])?;
        while let Some(row) = rows.next()? {
            let user: i64 = row.get(0)?;
            let mut conversations = user_conversations.query_map([user], entry_of_row)?;
            while let Some(e) = conversations.next().transpose()? {
                if push(&mut hits, e, MatchKind::EmailContains) {
                    return Ok(hits);
                }
            }
        }
    }
    // Every word in the title; newest catalog rows first. Words too short
    // for the index are checked on the rows it returns.
    let short: Vec<&str> = words.iter().copied().filter(|w| !indexed(w)).collect();
    let expr = long.iter().map(|w| phrase(w)).collect::<Vec<_>>().join(" AND ");
    let mut titles = c.prepare_cached(
        "SELECT c.id, u.email, u.folder, c.conversation_id, c.title, c.created_at, c.archived_at,
                c.message_count, c.storage_class, c.title_key
         FROM conversations_fts f JOIN conversations c ON c.id = f.rowid JOIN users u ON u.id = c.user_id
         WHERE conversations_fts MATCH ?1 ORDER BY f.rowid DESC",
    )?;
    let mut rows = titles.query([expr])?;
    while let Some(row) = rows.next()? {
        let title_key: String = row.get(9)?;
        if short.iter().all(|w| title_key.contains(w)) && push(&mut hits, entry_of_row(row)?, MatchKind::TitleContains)
        {
            return Ok(hits);
        }
    }
    Ok(hits)
}

fn clear_all(c: &mut Connection) -> rusqlite::Result<()> {
    let tx = c.transaction()?;
    tx.execute_batch(
        "DELETE FROM conversations; DELETE FROM users;
         INSERT INTO conversations_fts(conversations_fts) VALUES ('delete-all');
         INSERT INTO users_fts(users_fts) VALUES ('delete-all');
         DELETE FROM meta WHERE key <> 'schema_version';",
    )?;
    tx.commit()
}

/// Insert or replace one user and all their entries.
fn put_user(tx: &Transaction<'_>, u: &UserRecord, sync_id: i64) -> rusqlite::Result<()> {
    let email_key = fold(u.email.as_deref().unwrap_or(&u.folder));
    let user_id: i64 = tx
        .prepare_cached(
            "INSERT INTO users(folder, email, email_from_index, email_key, index_etag, index_error,
                               objects_signature, seen_sync)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT(folder) DO UPDATE SET email = excluded.email, email_from_index = excluded.email_from_index,
                 email_key = excluded.email_key, index_etag = excluded.index_etag,
                 index_error = excluded.index_error, objects_signature = excluded.objects_signature,
                 seen_sync = excluded.seen_sync
             RETURNING id",
        )?
        .query_row(
            params![
                u.folder,
                u.email,
                u.email_from_index,
                email_key,
                u.index_etag,
                u.index_error,
                u.objects_signature,
                sync_id
            ],
            |r| r.get(0),
        )?;
    tx.prepare_cached("DELETE FROM conversations WHERE user_id = ?1")?
        .execute([user_id])?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO conversations(user_id, conversation_id, title, title_key, created_at, archived_at,
                                   message_count, storage_class)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for e in &u.entries {
        insert.execute(params![
            user_id,
            e.conversation_id,
            e.title,
            fold(e.title.as_deref().unwrap_or("")),
            e.created_at,
            e.archived_at,
            e.message_count.map(|n| n.min(i64::MAX as u64) as i64),
            e.storage_class
        ])?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Sync

/// How a sync runs.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Indexes fetched at once.
    pub concurrency: usize,
    /// Users written per transaction.
    pub batch_users: usize,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            concurrency: 64,
            batch_users: 500,
        }
    }
}

/// Where a sync is; sent on a `watch` channel as it goes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct SyncProgress {
    /// User folders seen in the listing so far.
    pub users_listed: u64,
    /// Users handled (fetched, or found unchanged).
    pub users_done: u64,
    /// Best estimate of the number of users: exact once the listing is complete.
    pub estimated_total: u64,
    pub listing_complete: bool,
    pub indexes_fetched: u64,
    /// This sync continues one that was interrupted.
    pub resumed: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct SyncReport {
    pub resumed: bool,
    /// The catalog was built for another bucket or prefix and was emptied first.
    pub reset: bool,
    pub list_requests: u64,
    pub objects_listed: u64,
    pub users_listed: u64,
    pub indexes_fetched: u64,
    pub users_unchanged: u64,
    /// Users whose storage classes changed without their index changing.
    pub storage_class_updates: u64,
    pub users_dropped: u64,
    /// Indexes that could not be read (corrupt): kept as users with an error.
    pub index_errors: u64,
    /// Folders whose names are not safe key parts; skipped.
    pub unusable_folders: Vec<String>,
    pub users: u64,
    pub conversations: u64,
    pub elapsed_ms: u64,
}

/// One folder as the listing shows it.
#[derive(Debug)]
struct FolderListing {
    folder: UserFolder,
    index_etag: Option<String>,
    index_listed: bool,
    /// Conversation id -> storage class, from the listing.
    classes: HashMap<String, String>,
    signature: i64,
}

/// What to write for one folder.
#[derive(Debug)]
enum Outcome {
    /// Index unchanged: only mark the user seen by this sync.
    Unchanged { folder: String },
    /// Index unchanged, storage classes changed.
    Classes {
        folder: String,
        signature: i64,
        classes: HashMap<String, String>,
    },
    /// Index fetched (or unreadable: the record carries the error).
    Index(UserRecord),
    /// No index (any more): the user is not marked seen and goes at the end.
    NoIndex,
}

/// Sync the catalog with the bucket (cold when empty, warm otherwise; an
/// interrupted sync resumes). `progress` gets updates as it goes; cancelling
/// `cancel` stops it after writing what was fetched, with `Error::Cancelled`.
pub async fn sync(
    store: &Store,
    catalog: &Catalog,
    options: &SyncOptions,
    progress: &watch::Sender<SyncProgress>,
    cancel: &CancellationToken,
) -> Result<SyncReport> {
    let started = Instant::now();
    let layout = store.layout().clone();
    let start = {
        let catalog = catalog.clone();
        let (bucket, prefix) = (store.bucket().to_owned(), layout.prefix().to_owned());
        tokio::task::spawn_blocking(move || catalog.begin_sync(&bucket, &prefix))
            .await
            .expect("catalog task")?
    };
    let mut report = SyncReport {
        resumed: start.resumed,
        reset: start.reset,
        ..Default::default()
    };
    progress.send_modify(|p| {
        *p = SyncProgress {
            estimated_total: start.known.len() as u64,
            resumed: start.resumed,
            ..Default::default()
        }
    });

    // Adaptive retries: besides backing off, the client slows its own
    // request rate when the store answers 503 SlowDown.
    let client = Client::from_conf(
        store
            .client()
            .config()
            .to_builder()
            .retry_config(RetryConfig::adaptive().with_max_attempts(8))
            .build(),
    );
    let counts = Arc::new(Mutex::new(ListingCounts::default()));
    let (listing_tx, listing_rx) = mpsc::channel::<FolderListing>(4096);
    let lister = tokio::spawn(list_folders(
        client.clone(),
        store.bucket().to_owned(),
        layout.clone(),
        listing_tx,
        counts.clone(),
    ));

    let (batch_tx, mut batch_rx) = mpsc::channel::<Vec<Outcome>>(4);
    let writer = {
        let catalog = catalog.clone();
        let sync_id = start.sync_id;
        tokio::task::spawn_blocking(move || -> Result<()> {
            while let Some(batch) = batch_rx.blocking_recv() {
                catalog.write_batch(sync_id, &batch)?;
            }
            Ok(())
        })
    };

    let known = Arc::new(start.known);
    let throttle = Arc::new(Throttle::default());
    let outcomes = folders_of(listing_rx)
        .map(|folder| {
            let (store, client, known, throttle) = (store.clone(), client.clone(), known.clone(), throttle.clone());
            async move { handle_folder(&store, &client, &known, &throttle, folder).await }
        })
        .buffer_unordered(options.concurrency.max(1));
    let mut outcomes = std::pin::pin!(outcomes);

    let mut batch = Vec::with_capacity(options.batch_users);
    let mut last_flush = Instant::now();
    let mut failure = None;
    loop {
        let next = tokio::select! {
            biased;
            _ = cancel.cancelled() => {
                failure = Some(Error::Cancelled { what: "catalog sync".into() });
                break;
            }
            next = outcomes.next() => next,
        };
        let Some(outcome) = next else { break };
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        match &outcome {
            Outcome::Unchanged { .. } => report.users_unchanged += 1,
            Outcome::Classes { .. } => report.storage_class_updates += 1,
            Outcome::Index(u) => {
                report.indexes_fetched += 1;
                report.index_errors += u64::from(u.index_error.is_some());
            }
            Outcome::NoIndex => {}
        }
        let listed = counts.lock().expect("counts").folders;
        progress.send_modify(|p| {
            p.users_done += 1;
            p.users_listed = listed;
            p.indexes_fetched = report.indexes_fetched;
            p.estimated_total = p.estimated_total.max(listed);
        });
        if !matches!(outcome, Outcome::NoIndex) {
            batch.push(outcome);
        }
        // Bounded batches, and no long wait for a slow trickle either.
        if batch.len() >= options.batch_users || last_flush.elapsed() > Duration::from_secs(2) {
            if batch_tx.send(std::mem::take(&mut batch)).await.is_err() {
                break; // the writer failed; its error is collected below
            }
            last_flush = Instant::now();
        }
    }
    lister.abort();
    // Write what was fetched, even when stopping early: a resumed sync does
    // not fetch it again.
    if !batch.is_empty() {
        let _ = batch_tx.send(batch).await;
    }
    drop(batch_tx);
    writer.await.expect("catalog writer")?;
    if let Some(e) = failure {
        return Err(e);
    }
    let counts = std::mem::take(&mut *counts.lock().expect("counts"));
    if let Some(e) = counts.error {
        return Err(e);
    }
    if !counts.complete {
        // The writer stopped early; its error was returned above.
        return Err(Error::Config("catalog sync: the listing stopped early".into()));
    }
    report.list_requests = counts.requests;
    report.objects_listed = counts.objects;
    report.users_listed = counts.folders;
    report.unusable_folders = counts.unusable;

    let finish = {
        let catalog = catalog.clone();
        let sync_id = start.sync_id;
        tokio::task::spawn_blocking(move || catalog.finish_sync(sync_id))
            .await
            .expect("catalog task")?
    };
    report.users_dropped = finish.dropped;
    report.users = finish.users;
    report.conversations = finish.conversations;
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    progress.send_modify(|p| {
        p.listing_complete = true;
        p.users_listed = counts.folders;
        p.estimated_total = counts.folders;
    });
    Ok(report)
}

#[derive(Debug, Default)]
struct ListingCounts {
    requests: u64,
    objects: u64,
    folders: u64,
    unusable: Vec<String>,
    /// The listing reached its end.
    complete: bool,
    /// The listing failed; the sync reports it after writing what it has.
    error: Option<Error>,
}

/// The folders the lister sends, as a stream.
fn folders_of(rx: mpsc::Receiver<FolderListing>) -> impl futures::Stream<Item = FolderListing> {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) })
}

struct SyncStart {
    sync_id: i64,
    resumed: bool,
    reset: bool,
    /// folder -> (index ETag, objects signature) of the users in the catalog.
    known: HashMap<String, (Option<String>, i64)>,
}

struct SyncFinish {
    dropped: u64,
    users: u64,
    conversations: u64,
}

impl Catalog {
    /// Start (or resume) a sync of `bucket`/`prefix`: an id, and what the
    /// catalog knows. A catalog of another bucket or prefix is emptied.
    fn begin_sync(&self, bucket: &str, prefix: &str) -> Result<SyncStart> {
        self.with_writer(|c| {
            let meta = |c: &Connection, key: &str| -> rusqlite::Result<Option<String>> {
                c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                    .optional()
            };
            let same_place =
                meta(c, "bucket")?.as_deref() == Some(bucket) && meta(c, "prefix")?.as_deref() == Some(prefix);
            let empty_place = meta(c, "bucket")?.is_none();
            let reset = !same_place && !empty_place;
            if reset {
                clear_all(c)?;
            }
            // Each run has its own id, also when it resumes: it lists
            // everything again and marks every user it sees (unchanged ones
            // too), so at its end the users it did not mark are exactly those
            // whose index vanished. Resuming costs a listing, not the fetches.
            let resumed = meta(c, "sync_in_progress")?.is_some();
            let last: i64 = meta(c, "last_sync_id")?.and_then(|v| v.parse().ok()).unwrap_or(0);
            let sync_id = last + 1;
            let tx = c.transaction()?;
            for (k, v) in [
                ("bucket", bucket.to_owned()),
                ("prefix", prefix.to_owned()),
                ("sync_in_progress", sync_id.to_string()),
                ("last_sync_id", sync_id.to_string()),
            ] {
                tx.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)", params![k, v])?;
            }
            tx.commit()?;
            let mut known = HashMap::new();
            let mut stmt = c.prepare("SELECT folder, index_etag, objects_signature FROM users")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                known.insert(r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?));
            }
            Ok(SyncStart {
                sync_id,
                resumed,
                reset,
                known,
            })
        })
    }

    /// Write one batch of a sync in one transaction.
    fn write_batch(&self, sync_id: i64, batch: &[Outcome]) -> Result<()> {
        self.with_writer(|c| {
            let tx = c.transaction()?;
            for outcome in batch {
                match outcome {
                    Outcome::Unchanged { folder } => {
                        tx.prepare_cached("UPDATE users SET seen_sync = ?1 WHERE folder = ?2")?
                            .execute(params![sync_id, folder])?;
                    }
                    Outcome::Classes {
                        folder,
                        signature,
                        classes,
                    } => {
                        let user: i64 = tx
                            .prepare_cached(
                                "UPDATE users SET seen_sync = ?1, objects_signature = ?2 WHERE folder = ?3 RETURNING id",
                            )?
                            .query_row(params![sync_id, signature, folder], |r| r.get(0))?;
                        let mut ids = tx.prepare_cached("SELECT id, conversation_id FROM conversations WHERE user_id = ?1")?;
                        let rows: Vec<(i64, String)> = ids
                            .query_map([user], |r| Ok((r.get(0)?, r.get(1)?)))?
                            .collect::<rusqlite::Result<_>>()?;
                        let mut set = tx.prepare_cached("UPDATE conversations SET storage_class = ?1 WHERE id = ?2")?;
                        for (id, conversation_id) in rows {
                            set.execute(params![classes.get(&conversation_id), id])?;
                        }
                    }
                    Outcome::Index(user) => put_user(&tx, user, sync_id)?,
                    Outcome::NoIndex => {}
                }
            }
            tx.commit()
        })
    }

    /// After a complete listing: drop the users it did not show with an
    /// index, and close the sync.
    fn finish_sync(&self, sync_id: i64) -> Result<SyncFinish> {
        self.with_writer(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "DELETE FROM conversations WHERE user_id IN (SELECT id FROM users WHERE seen_sync <> ?1)",
                [sync_id],
            )?;
            let dropped = tx.execute("DELETE FROM users WHERE seen_sync <> ?1", [sync_id])? as u64;
            tx.execute("DELETE FROM meta WHERE key = 'sync_in_progress'", [])?;
            tx.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('last_synced_at', ?1)",
                [crate::audit::now_rfc3339()],
            )?;
            tx.commit()?;
            Ok(SyncFinish {
                dropped,
                users: c.query_row("SELECT count(*) FROM users", [], |r| r.get::<_, i64>(0))? as u64,
                conversations: c.query_row("SELECT count(*) FROM conversations", [], |r| r.get::<_, i64>(0))? as u64,
            })
        })
    }
}

/// FNV-1a: a hash that stays the same across builds (it is stored).
fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(hash, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// The listing, grouped by user folder: keys of one folder are contiguous in
/// a ListObjectsV2 listing, so each folder is sent once its last key is seen.
async fn list_folders(
    client: Client,
    bucket: String,
    layout: Layout,
    tx: mpsc::Sender<FolderListing>,
    counts: Arc<Mutex<ListingCounts>>,
) {
    let prefix = layout.prefix().to_owned();
    let mut token: Option<String> = None;
    let mut current: Option<(String, Vec<ListedObject>)> = None;
    let count = |f: &dyn Fn(&mut ListingCounts)| f(&mut counts.lock().expect("counts"));
    // Send a finished folder; false when the receiver is gone (cancelled).
    let emit = |name: String, objects: Vec<ListedObject>| {
        let tx = tx.clone();
        let listing = folder_listing(&layout, &name, objects);
        match &listing {
            Some(_) => count(&|c| c.folders += 1),
            None => count(&|c| c.unusable.push(format!("{prefix}{name}/"))),
        }
        async move {
            match listing {
                Some(l) => tx.send(l).await.is_ok(),
                None => true,
            }
        }
    };
    loop {
        let page = client
            .list_objects_v2()
            .bucket(&bucket)
            .prefix(&prefix)
            .set_continuation_token(token.take())
            .send()
            .await;
        let page = match page {
            Ok(p) => p,
            Err(e) => {
                counts.lock().expect("counts").error = Some(s3_error("ListObjectsV2", &prefix, e));
                return;
            }
        };
        count(&|c| {
            c.requests += 1;
            c.objects += page.contents().len() as u64;
        });
        for object in page.contents() {
            let Some(key) = object.key() else { continue };
            let Some((name, rest)) = key.strip_prefix(prefix.as_str()).and_then(|r| r.split_once('/')) else {
                continue; // not inside a user folder
            };
            if current.as_ref().is_none_or(|(f, _)| f != name) {
                if let Some((f, objects)) = current.take() {
                    if !emit(f, objects).await {
                        return;
                    }
                }
                current = Some((name.to_owned(), Vec::new()));
            }
            current.as_mut().expect("set above").1.push(ListedObject {
                name: rest.to_owned(),
                etag: object.e_tag().map(str::to_owned),
                storage_class: object
                    .storage_class()
                    .map(|c| c.as_str().to_owned())
                    .unwrap_or_else(|| "STANDARD".to_owned()),
            });
        }
        match page.next_continuation_token() {
            Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_owned()),
            _ => break,
        }
    }
    if let Some((f, objects)) = current.take() {
        if !emit(f, objects).await {
            return;
        }
    }
    count(&|c| c.complete = true);
}

/// One listed key of a folder, relative to it.
#[derive(Debug)]
struct ListedObject {
    name: String,
    etag: Option<String>,
    storage_class: String,
}

/// A folder's listed keys as what the sync needs: the index's ETag, the
/// conversations' storage classes and a signature of them. `None` for a
/// folder name that is not a safe key part.
fn folder_listing(layout: &Layout, name: &str, objects: Vec<ListedObject>) -> Option<FolderListing> {
    let folder = UserFolder::parse(name).ok()?;
    let user_prefix = layout.user_prefix(&folder);
    let mut listing = FolderListing {
        folder,
        index_etag: None,
        index_listed: false,
        classes: HashMap::new(),
        signature: 0,
    };
    let mut signature = 0xcbf2_9ce4_8422_2325u64;
    for o in objects {
        if o.name == INDEX_FILE {
            listing.index_listed = true;
            listing.index_etag = o.etag;
            continue;
        }
        let key = format!("{user_prefix}{}", o.name);
        if let ObjectKind::Conversation { id, gz_suffix } = layout.classify(&listing.folder, &key) {
            signature = fnv1a(signature, o.name.as_bytes());
            signature = fnv1a(signature, o.storage_class.as_bytes());
            // `<id>.json` wins over `<id>.json.gz`, as when opening.
            if !gz_suffix || !listing.classes.contains_key(id.as_str()) {
                listing.classes.insert(id.as_str().to_owned(), o.storage_class);
            }
        }
    }
    listing.signature = signature as i64;
    Some(listing)
}

/// Decide what a listed folder needs, fetching its index if it changed.
async fn handle_folder(
    store: &Store,
    client: &Client,
    known: &HashMap<String, (Option<String>, i64)>,
    throttle: &Throttle,
    listing: FolderListing,
) -> Result<Outcome> {
    if !listing.index_listed {
        return Ok(Outcome::NoIndex);
    }
    let folder = listing.folder.to_string();
    if let Some((etag, signature)) = known.get(&folder) {
        if etag.is_some() && *etag == listing.index_etag {
            return Ok(if *signature == listing.signature {
                Outcome::Unchanged { folder }
            } else {
                Outcome::Classes {
                    folder,
                    signature: listing.signature,
                    classes: listing.classes,
                }
            });
        }
    }
    let key = store.layout().index_key(&listing.folder);
    let (index, etag) = match fetch_index(store, client, &key, throttle).await {
        Ok(fetched) => fetched,
        // Deleted between the listing and now: as if it was never listed.
        Err(Error::NotFound { .. }) => return Ok(Outcome::NoIndex),
        Err(e @ (Error::Decode { .. } | Error::Shape { .. } | Error::TooLarge { .. })) => {
            return Ok(Outcome::Index(UserRecord {
                email: listing.folder.guessed_email(),
                email_from_index: false,
                index_etag: listing.index_etag,
                index_error: Some(e.to_string()),
                objects_signature: listing.signature,
                entries: Vec::new(),
                folder,
            }));
        }
        Err(e) => return Err(e),
    };
    let (email, email_from_index) = match index.user_email() {
        Some(e) => (Some(e.to_owned()), true),
        None => (listing.folder.guessed_email(), false),
    };
    let entries = index
        .entries()
        .map(|e| {
            let conversation_id = e.conversation_id();
            EntryRecord {
                title: e.title().map(str::to_owned),
                created_at: e.created_at().map(str::to_owned),
                archived_at: e.archived_at().map(str::to_owned),
                message_count: e.message_count(),
                storage_class: listing.classes.get(&conversation_id).cloned(),
                conversation_id,
            }
        })
        .collect();
    Ok(Outcome::Index(UserRecord {
        folder,
        email,
        email_from_index,
        // The listing's ETag, compared with the next listing's (some stores
        // give a GET another ETag form than a listing).
        index_etag: listing.index_etag.or(etag),
        index_error: None,
        objects_signature: listing.signature,
        entries,
    }))
}

/// Shared back-off: when the store says 503 SlowDown after the SDK's own
/// retries, every fetch pauses, longer each time it happens again.
#[derive(Default)]
struct Throttle {
    pause_until: Mutex<Option<Instant>>,
}

impl Throttle {
    async fn wait(&self) {
        let until = *self.pause_until.lock().expect("throttle");
        if let Some(until) = until {
            tokio::time::sleep_until(until.into()).await;
        }
    }

    fn slow_down(&self, attempt: u32) {
        let delay = Duration::from_millis(500 << attempt.min(5)) + Duration::from_millis(fastrand::u64(..250));
        let until = Instant::now() + delay;
        let mut pause = self.pause_until.lock().expect("throttle");
        if pause.is_none_or(|p| p < until) {
            *pause = Some(until);
        }
    }
}

const FETCH_ATTEMPTS: u32 = 6;

/// GET and decode one `metadata.json`, with its ETag.
async fn fetch_index(
    store: &Store,
    client: &Client,
    key: &str,
    throttle: &Throttle,
) -> Result<(crate::model::UserIndex, Option<String>)> {
    let mut attempt = 0;
    let out = loop {
        throttle.wait().await;
        match client.get_object().bucket(store.bucket()).key(key).send().await {
            Ok(out) => break out,
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                let code = e.as_service_error().and_then(|s| s.code()).unwrap_or_default();
                let throttled = status == Some(503) || matches!(code, "SlowDown" | "ServiceUnavailable");
                attempt += 1;
                if throttled && attempt < FETCH_ATTEMPTS {
                    throttle.slow_down(attempt);
                    continue;
                }
                return Err(s3_error("GetObject", key, e));
            }
        }
    };
    // The same streamed, size-capped and budgeted read as every other GET.
    let fetched = store
        .decode_response(key, out, |bytes| codec::decode_index(key, bytes, store.limits()))
        .await?;
    Ok((fetched.value.0, fetched.etag))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(folder: &str, email: &str, titles: &[&str]) -> UserRecord {
        UserRecord {
            folder: folder.into(),
            email: Some(email.into()),
            email_from_index: true,
            index_etag: Some(format!("\"{folder}\"")),
            index_error: None,
            objects_signature: 0,
            entries: titles
                .iter()
                .enumerate()
                .map(|(i, t)| EntryRecord {
                    conversation_id: format!("{folder}-{i}"),
                    title: Some((*t).into()),
                    created_at: None,
                    archived_at: Some(format!("2025-01-0{}T00:00:00Z", i + 1)),
                    message_count: Some(i as u64),
                    storage_class: Some("STANDARD".into()),
                })
                .collect(),
        }
    }

    fn ids(page: &SearchPage) -> Vec<(&str, MatchKind)> {
        page.hits
            .iter()
            .map(|h| (h.entry.conversation_id.as_str(), h.matched))
            .collect()
    }

    #[test]
    fn search_ranks_email_then_title_prefix_then_substrings() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("c.sqlite")).unwrap();
        catalog
            .import(&[
                user("ann_at_x_io", "Ann@x.io", &["Refund please", "Login broken"]),
                user("annabel_at_x_io", "annabel@x.io", &["Hello"]),
                user("bob_at_ann_org", "bob@ann.org", &["Anniversary refund"]),
                user(
                    "zoe_at_b_de",
                    "zoë@bücher.de",
                    &["返品について — 質問", "Ünïcode Straße"],
                ),
            ])
            .unwrap();
        let page = catalog.search("ann@x.io", 0, 10).unwrap();
        assert_eq!(
            ids(&page),
            [("ann_at_x_io-1", MatchKind::Email), ("ann_at_x_io-0", MatchKind::Email)]
        );
        let page = catalog.search("ANN", 0, 10).unwrap();
        assert_eq!(
            ids(&page),
            [
                ("ann_at_x_io-1", MatchKind::EmailPrefix),
                ("ann_at_x_io-0", MatchKind::EmailPrefix),
                ("annabel_at_x_io-0", MatchKind::EmailPrefix),
                ("bob_at_ann_org-0", MatchKind::TitlePrefix),
                ("bob_at_ann_org-0", MatchKind::EmailContains),
            ][..4]
        );
        // Paging walks the same ranked list.
        let first = catalog.search("refund", 0, 1).unwrap();
        assert_eq!(ids(&first), [("ann_at_x_io-0", MatchKind::TitlePrefix)]);
        assert_eq!(first.next_offset, Some(1));
        let second = catalog.search("refund", 1, 1).unwrap();
        assert_eq!(ids(&second), [("bob_at_ann_org-0", MatchKind::TitleContains)]);
        assert_eq!(second.next_offset, None);
        // Unicode: CJK substrings, case folding, diacritics ignored in substrings.
        assert_eq!(
            ids(&catalog.search("について", 0, 5).unwrap()),
            [("zoe_at_b_de-0", MatchKind::TitleContains)]
        );
        assert_eq!(
            ids(&catalog.search("ünï", 0, 5).unwrap()),
            [("zoe_at_b_de-1", MatchKind::TitlePrefix)]
        );
        assert_eq!(ids(&catalog.search("STRASSE", 0, 5).unwrap()), []);
        assert_eq!(
            ids(&catalog.search("straße", 0, 5).unwrap()),
            [("zoe_at_b_de-1", MatchKind::TitleContains)]
        );
        let page = catalog.search("bucher", 0, 5).unwrap();
        assert_eq!(page.hits.len(), 2);
        assert!(page.hits.iter().all(|h| h.matched == MatchKind::EmailContains));
        // Words in any order; short words are checked too.
        assert_eq!(
            ids(&catalog.search("broken lo", 0, 5).unwrap()),
            [("ann_at_x_io-1", MatchKind::TitleContains)]
        );
        assert_eq!(ids(&catalog.search("broken xy", 0, 5).unwrap()), []);
        assert!(catalog.search("  ", 0, 5).unwrap().hits.is_empty());
        assert!(catalog
            .search("\"; DROP TABLE users; --", 0, 5)
            .unwrap()
            .hits
            .is_empty());
    }

    /// Found by fuzzing (fuzz/seeds/search_query/nul-in-query): a NUL in the
    /// query ended FTS5's parse of the quoted phrase, and the search failed
    /// with an `io` error naming the catalog file.
    #[test]
    fn a_nul_in_the_query_is_matched_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("c.sqlite")).unwrap();
        catalog
            .import(&[user("a_at_b_c", "a@b.c", &["refund\0please", "refund later"])])
            .unwrap();
        for q in ["\u{fffd}\u{fffd}p\0", "\0", "abc\0", "refund \0"] {
            assert!(catalog.search(q, 0, 10).is_ok(), "{q:?}");
        }
        // A word with a NUL is still a condition on the title.
        assert_eq!(
            ids(&catalog.search("refund d\0p", 0, 10).unwrap()),
            [("a_at_b_c-0", MatchKind::TitleContains)]
        );
    }

    /// Found by fuzzing (fuzz/seeds/search_query/huge-numbers): an offset
    /// near `usize::MAX` overflowed `offset + limit`.
    #[test]
    fn an_offset_at_the_end_of_the_range_is_an_empty_last_page() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("c.sqlite")).unwrap();
        catalog
            .import(&[user("a_at_b_c", "a@b.c", &["alpha", "alps"])])
            .unwrap();
        for (offset, limit) in [(usize::MAX, 1), (usize::MAX - 1, 5), (1, usize::MAX)] {
            let page = catalog.search("a", offset, limit).unwrap();
            assert_eq!(page.next_offset, None, "{offset} {limit}");
            assert_eq!(page.hits.len(), usize::from(offset == 1), "{offset} {limit}");
        }
    }

    #[test]
    fn a_foreign_or_outdated_file_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/c.sqlite");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"not a database at all, just text").unwrap();
        let catalog = Catalog::open(&path).unwrap();
        catalog.import(&[user("a_at_b_c", "a@b.c", &["t"])]).unwrap();
        assert_eq!(catalog.stats().unwrap().conversations, 1);
        drop(catalog);
        let c = Connection::open(&path).unwrap();
        c.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'", [])
            .unwrap();
        drop(c);
        let catalog = Catalog::open(&path).unwrap();
        assert_eq!(catalog.stats().unwrap().users, 0);
    }

    #[test]
    fn catalog_path_is_per_profile_in_the_cache_dir() {
        let p = default_path("prod/eu west").unwrap();
        assert!(p.ends_with("catalog-prod_eu_west.sqlite"), "{}", p.display());
    }
}
