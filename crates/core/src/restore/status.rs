//! Live status: whether archived conversations are in the target now (the
//! conversation row, and how many of its messages), read in batches — one
//! `in.(...)` request per batch of ids over REST (message rows paged by
//! key, each page after the last), one query over Postgres — never one
//! request per conversation.
//! Reads only.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use serde_json::{json, Value};

use super::rest::query::{in_list, key_groups, quoted, select_name};
use super::rest::{RestTarget, CONVERSATION_COLUMN, ONE_ANSWER};
use super::verify::key_text;
use super::Target;
use crate::error::{Error, RestoreFailure, Result};

/// Where a conversation stands in the target, against the archive.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LiveState {
    /// Neither the conversation row nor any message.
    Absent,
    /// Some of it: messages missing, or messages without their row.
    Partial,
    /// The row and at least as many messages as the archive holds.
    Complete,
    /// The row is there; the archive's index does not say how many
    /// messages to expect.
    Present,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LiveStatus {
    pub conversation_id: String,
    pub conversation_present: bool,
    /// Message rows of this conversation in the target.
    pub messages_in_table: u64,
    /// What the archive's index says it holds (if it says).
    pub messages_in_archive: Option<u64>,
    /// `messages_in_archive - messages_in_table`, when both are known.
    pub messages_missing: Option<u64>,
    pub state: LiveState,
}

impl LiveStatus {
    fn new(conversation_id: String, present: bool, in_table: u64, in_archive: Option<u64>) -> LiveStatus {
        let missing = in_archive.map(|n| n.saturating_sub(in_table));
        let state = match (present, missing) {
            (false, _) if in_table == 0 => LiveState::Absent,
            (true, Some(0)) => LiveState::Complete,
            (true, None) => LiveState::Present,
            _ => LiveState::Partial,
        };
        LiveStatus {
            conversation_id,
            conversation_present: present,
            messages_in_table: in_table,
            messages_in_archive: in_archive,
            messages_missing: missing,
            state,
        }
    }
}

impl Target {
    /// The live status of each conversation `(id, messages the archive
    /// says it holds)`, in the order given.
    pub async fn live_status(&self, conversations: &[(String, Option<u64>)]) -> Result<Vec<LiveStatus>> {
        if conversations.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Value> = conversations.iter().map(|(id, _)| json!(id)).collect();
        let (present, counts) = match self {
            Target::Rest(r) => rest_status(r, &ids).await?,
            Target::Postgres(p) => p.connect().await?.live_status(&ids).await?,
        };
        Ok(conversations
            .iter()
            .map(|(id, in_archive)| {
                LiveStatus::new(
                    id.clone(),
                    present.contains(id),
                    counts.get(id).copied().unwrap_or(0),
                    *in_archive,
                )
            })
            .collect())
    }
}

/// Present conversation ids, and message counts by conversation id.
pub(super) type Found = (HashSet<String>, HashMap<String, u64>);

async fn rest_status(target: &RestTarget, ids: &[Value]) -> Result<Found> {
    let tables = target.tables();
    let key = &tables.conflict_key;
    let mut present = HashSet::new();
    let mut counts: HashMap<String, u64> = HashMap::new();
    for group in key_groups(ids) {
        let rows = target
            .rows_by_key(
                "reading which conversations are in Supabase",
                &tables.conversations,
                &[],
                group,
            )
            .await?;
        present.extend(rows.iter().filter_map(|r| r.get(key)).map(key_text));
        // Only the conversation id (and key) of each message row, a page at
        // a time, each page starting after the last row of the one before:
        // a restore writing meanwhile cannot make a row count twice.
        let filter = format!("in.({})", in_list(group));
        let (conv, key_col) = (CONVERSATION_COLUMN, select_name(key));
        let mut after: Option<String> = None;
        loop {
            let mut query = vec![
                (conv, filter.clone()),
                ("select", format!("{conv},{key_col}")),
                ("order", format!("{conv},{key_col}")),
            ];
            query.extend(after.clone().map(|past| ("or", past)));
            let (rows, total) = target
                .counted(
                    "counting the messages in Supabase",
                    target
                        .request(reqwest::Method::GET, &tables.messages)
                        .query(&query)
                        .header("Range-Unit", "items")
                        .header("Range", format!("0-{}", ONE_ANSWER - 1)),
                )
                .await?;
            for r in &rows {
                if let Some(c) = r.get(conv) {
                    *counts.entry(key_text(c)).or_default() += 1;
                }
            }
            // `total` counts the rows from this page's start on.
            let (Some(last), false) = (rows.last(), rows.len() as u64 >= total) else {
                break;
            };
            let (c, k) = (&last[conv], &last[key.as_str()]);
            // A null key sorts last and is never "after" anything; a key
            // that came back changed (a number past f64) would not move on.
            let next = (!k.is_null()).then(|| {
                let (c, k) = (quoted(c), quoted(k));
                format!("({conv}.gt.{c},and({conv}.eq.{c},{key_col}.gt.{k}))")
            });
            if next.is_none() || next == after {
                return Err(Error::Restore {
                    failure: RestoreFailure::RestoreFailed,
                    message: format!(
                        "counting the messages in Supabase: the rows of conversation {} cannot be paged by {key} (a message row's {key} is {k}); nothing was changed",
                        key_text(c)
                    ),
                });
            }
            after = next;
        }
    }
    Ok((present, counts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_follow_the_row_and_the_counts() {
        let s = |present, in_table, in_archive| LiveStatus::new("c".into(), present, in_table, in_archive).state;
        assert_eq!(s(false, 0, Some(3)), LiveState::Absent);
        assert_eq!(s(false, 2, Some(3)), LiveState::Partial);
        assert_eq!(s(true, 1, Some(3)), LiveState::Partial);
        assert_eq!(s(true, 3, Some(3)), LiveState::Complete);
        assert_eq!(s(true, 0, None), LiveState::Present);
        assert_eq!(LiveStatus::new("c".into(), true, 1, Some(3)).messages_missing, Some(2));
    }
}
