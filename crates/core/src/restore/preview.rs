//! What a restore would do, without doing it: whether the conversation row
//! is new, which messages it would insert and which are there already, and
//! the rows already there whose fields differ from the archive (a restore
//! leaves those untouched and reports them). Reads the target by key, the
//! way the restore's own verification does, so its numbers are the ones
//! the restore then reports.

use std::collections::HashSet;

use serde::Serialize;
use serde_json::{Map, Value};

use super::plan::{DroppedFields, Plan};
use super::verify::{key_text, Difference, Differences};
use super::Target;
use crate::error::Result;
use crate::model::ConversationDocument;
use crate::plural::count;

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RestorePreview {
    pub conversation_id: String,
    /// `rest`, `rest-rpc` or `postgres`.
    pub target: &'static str,
    /// The conversation row is in the table already (it is then kept).
    pub conversation_present: bool,
    pub messages_in_archive: u64,
    /// Messages the restore would insert (their key is not in the table).
    pub messages_to_insert: u64,
    /// Messages whose key is in the table already (kept as they are).
    pub messages_already_present: u64,
    /// Fields of rows already there that differ from the archive: the
    /// first few, with both values (side by side in the app).
    pub differences: Vec<Difference>,
    pub differences_count: u64,
    /// Archive fields the tables lack.
    pub dropped_fields: DroppedFields,
    /// The restore would be refused for those fields unless allowed.
    pub needs_allow_missing_columns: bool,
    /// What the restore would do, in a few words ("Restore 12 missing
    /// messages"): the app's button and the CLI's line.
    pub summary: String,
}

fn summary(conversation_present: bool, to_insert: u64) -> String {
    match (conversation_present, to_insert) {
        (true, 0) => "Nothing to restore".to_owned(),
        (true, n) => format!("Restore {}", count(n, "missing message")),
        (false, 0) => "Restore the conversation".to_owned(),
        (false, n) => format!("Restore the conversation and {}", count(n, "message")),
    }
}

/// What restoring `doc` into `target` would do (reads only).
pub async fn preview(
    target: &Target,
    doc: &ConversationDocument,
    allow_missing_columns: bool,
) -> Result<RestorePreview> {
    let (conv_cols, msg_cols) = target.columns().await?;
    let plan = Plan::new(doc, &conv_cols, &msg_cols);
    let tables = target.tables();
    let key = tables.conflict_key.as_str();
    let conv_key = [plan.conversation.get(key).cloned().unwrap_or(Value::Null)];
    let msg_keys = plan.message_keys(key);
    let (conversation, messages) = match target {
        Target::Rest(r) => (
            r.rows_by_key(
                "reading what Supabase holds of the conversation",
                &tables.conversations,
                &plan.conversation_columns,
                &conv_key,
            )
            .await?,
            r.rows_by_key(
                "reading what Supabase holds of its messages",
                &tables.messages,
                &plan.message_columns,
                &msg_keys,
            )
            .await?,
        ),
        Target::Postgres(p) => {
            let session = p.connect().await?;
            (
                session.rows_with_keys(&tables.conversations, &conv_key).await?,
                session.rows_with_keys(&tables.messages, &msg_keys).await?,
            )
        }
    };
    let present =
        |rows: &[Value]| -> HashSet<String> { rows.iter().filter_map(|r| r.get(key)).map(key_text).collect() };
    let stored_messages = present(&messages);
    let conversation_present = !conversation.is_empty();
    let existing: Vec<Map<String, Value>> = plan
        .messages
        .iter()
        .filter(|m| m.get(key).is_some_and(|k| stored_messages.contains(&key_text(k))))
        .cloned()
        .collect();
    let mut differences = Differences::default();
    if conversation_present {
        differences.compare(
            &tables.conversations,
            key,
            std::slice::from_ref(&plan.conversation),
            &conversation,
        );
    }
    differences.compare(&tables.messages, key, &existing, &messages);
    let in_archive = plan.messages.len() as u64;
    let already = existing.len() as u64;
    let to_insert = in_archive - already;
    let needs_allow = !plan.dropped.conversations.is_empty() || !plan.dropped.messages.is_empty();
    Ok(RestorePreview {
        conversation_id: plan.id.clone(),
        target: target.name(),
        conversation_present,
        messages_in_archive: in_archive,
        messages_to_insert: to_insert,
        messages_already_present: already,
        differences: differences.listed,
        differences_count: differences.count,
        needs_allow_missing_columns: needs_allow && !allow_missing_columns,
        dropped_fields: plan.dropped,
        summary: summary(conversation_present, to_insert),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_says_what_the_restore_will_do() {
        assert_eq!(summary(true, 12), "Restore 12 missing messages");
        assert_eq!(summary(true, 1), "Restore 1 missing message");
        assert_eq!(summary(true, 0), "Nothing to restore");
        assert_eq!(summary(false, 3), "Restore the conversation and 3 messages");
        assert_eq!(summary(false, 0), "Restore the conversation");
    }
}
