//! Search across every user: ranked tiers (email equal, email prefix,
//! title prefix, email contains, title contains every word), paged.

use std::collections::HashSet;

use rusqlite::{params, Connection};
use serde::Serialize;

use super::storage::{entry_of_row, fold, ENTRY_COLUMNS};
use super::{Catalog, CatalogEntry};
use crate::error::Result;

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
    /// For an email search (the text has an `@`), on the first page: users
    /// whose email matches but whose index holds no conversation (so no hit
    /// can name them), at most `MAX_USERS_WITHOUT_CONVERSATIONS`, looked for
    /// among the first `USERS_CHECKED` users matching each way.
    pub users_without_conversations: Vec<UserMatch>,
}

/// A user found by their email alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct UserMatch {
    pub folder: String,
    pub email: Option<String>,
    /// `email`, `email_prefix` or `email_contains`.
    pub matched: MatchKind,
    /// Why the sync could not read their `metadata.json`, if it could not.
    pub index_error: Option<String>,
}

/// At most this many users without conversations on a page.
pub const MAX_USERS_WITHOUT_CONVERSATIONS: usize = 50;

/// Users matching by email checked for conversations, per way of matching:
/// each is one probe, so a search stays fast on a huge catalog.
pub const USERS_CHECKED: usize = 1000;

/// The exclusive upper bound of the keys starting with `prefix`.
fn prefix_end(prefix: &str) -> String {
    format!("{prefix}{}", char::MAX)
}

impl Catalog {
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
        let (hits, users) = self.with_reader(|c| {
            let hits = collect_hits(c, &q, end.saturating_add(1))?;
            let users = if offset == 0 && q.contains('@') {
                users_without_conversations(c, &q)?
            } else {
                Vec::new()
            };
            Ok((hits, users))
        })?;
        let more = hits.len() > end;
        Ok(SearchPage {
            hits: hits.into_iter().skip(offset).take(limit).collect(),
            next_offset: more.then_some(end),
            users_without_conversations: users,
        })
    }
}

/// Users matching `q` by email (equal, prefix, then contains, as hits
/// rank) who have no conversation in the catalog, among the first
/// `USERS_CHECKED` users matching each way.
fn users_without_conversations(c: &Connection, q: &str) -> rusqlite::Result<Vec<UserMatch>> {
    const EMPTY: &str = "NOT EXISTS (SELECT 1 FROM conversations c WHERE c.user_id = u.id)";
    let mut found = Vec::new();
    let mut seen = HashSet::new();
    let mut push = |found: &mut Vec<UserMatch>, id: i64, m: UserMatch| {
        if found.len() < MAX_USERS_WITHOUT_CONVERSATIONS && seen.insert(id) {
            found.push(m);
        }
    };
    let row = |r: &rusqlite::Row<'_>, matched| -> rusqlite::Result<(i64, UserMatch)> {
        Ok((
            r.get(0)?,
            UserMatch {
                folder: r.get(1)?,
                email: r.get(2)?,
                index_error: r.get(3)?,
                matched,
            },
        ))
    };
    let mut by_key = c.prepare_cached(&format!(
        "SELECT u.id, u.folder, u.email, u.index_error, u.email_key = ?1 FROM
           (SELECT id FROM users WHERE email_key >= ?1 AND email_key < ?2 ORDER BY email_key <> ?1, email_key, id LIMIT ?3) m
         JOIN users u ON u.id = m.id WHERE {EMPTY} ORDER BY u.email_key <> ?1, u.email_key, u.id"
    ))?;
    let mut rows = by_key.query(params![q, prefix_end(q), USERS_CHECKED as i64])?;
    while let Some(r) = rows.next()? {
        let kind = if r.get(4)? {
            MatchKind::Email
        } else {
            MatchKind::EmailPrefix
        };
        let (id, m) = row(r, kind)?;
        push(&mut found, id, m);
    }
    // Substrings: the trigram index needs 3 characters (and no NUL).
    if q.chars().count() >= 3 && !q.contains('\0') && !q.contains(char::is_whitespace) {
        let mut contains = c.prepare_cached(&format!(
            "SELECT u.id, u.folder, u.email, u.index_error FROM
               (SELECT rowid FROM users_fts WHERE users_fts MATCH ?1 ORDER BY rowid LIMIT ?2) f
             JOIN users u ON u.id = f.rowid WHERE {EMPTY} ORDER BY u.id"
        ))?;
        let phrase = format!("\"{}\"", q.replace('"', "\"\""));
        let mut rows = contains.query(params![phrase, USERS_CHECKED as i64])?;
        while let Some(r) = rows.next()? {
            let (id, m) = row(r, MatchKind::EmailContains)?;
            push(&mut found, id, m);
        }
    }
    Ok(found)
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
