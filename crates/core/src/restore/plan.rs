//! The rows a restore writes: the archive's conversation and messages cut
//! down to the target's columns.

use std::collections::{BTreeSet, HashSet};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::model::ConversationDocument;

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DroppedFields {
    pub conversations: Vec<String>,
    pub messages: Vec<String>,
}

impl DroppedFields {
    pub fn is_empty(&self) -> bool {
        self.conversations.is_empty() && self.messages.is_empty()
    }
}

/// The rows to write, cut down to the target's columns.
pub(super) struct Plan {
    pub id: String,
    pub conversation: Map<String, Value>,
    pub messages: Vec<Map<String, Value>>,
    /// Union of message keys (for PostgREST `?columns=` and the SQL column list).
    pub message_columns: Vec<String>,
    pub conversation_columns: Vec<String>,
    pub dropped: DroppedFields,
}

impl Plan {
    pub fn new(doc: &ConversationDocument, conv_cols: &HashSet<String>, msg_cols: &HashSet<String>) -> Plan {
        let mut dropped_c = BTreeSet::new();
        let mut dropped_m = BTreeSet::new();
        let keep = |m: &Map<String, Value>, cols: &HashSet<String>, dropped: &mut BTreeSet<String>| {
            let mut row = Map::new();
            for (k, v) in m {
                if cols.contains(k) {
                    row.insert(k.clone(), v.clone());
                } else {
                    dropped.insert(k.clone());
                }
            }
            row
        };
        let conversation = keep(doc.conversation().map(), conv_cols, &mut dropped_c);
        let id_value = doc.conversation().get("id").cloned().unwrap_or(Value::Null);
        let mut message_columns = BTreeSet::new();
        let messages: Vec<Map<String, Value>> = doc
            .messages()
            .map(|m| {
                let mut row = keep(m.map(), msg_cols, &mut dropped_m);
                if msg_cols.contains("conversation_id") && row.get("conversation_id").is_none_or(Value::is_null) {
                    row.insert("conversation_id".into(), id_value.clone());
                }
                message_columns.extend(row.keys().cloned());
                row
            })
            .collect();
        Plan {
            id: doc.id().to_owned(),
            conversation_columns: conversation.keys().cloned().collect(),
            conversation,
            messages,
            message_columns: message_columns.into_iter().collect(),
            dropped: DroppedFields {
                conversations: dropped_c.into_iter().collect(),
                messages: dropped_m.into_iter().collect(),
            },
        }
    }

    /// The key values of the messages, in order.
    pub fn message_keys(&self, key: &str) -> Vec<Value> {
        self.messages
            .iter()
            .map(|m| m.get(key).cloned().unwrap_or(Value::Null))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plan_keeps_only_known_columns_and_fills_conversation_id() {
        let doc = ConversationDocument::from_value(
            "k",
            json!({"conversation": {"id": "c", "title": "t", "mood": "x"},
                   "messages": [{"id": "m1", "content": "a", "sticker": 1}, {"id": "m2", "role": "user"}]}),
        )
        .unwrap();
        let conv: HashSet<String> = ["id", "title"].map(String::from).into();
        let msg: HashSet<String> = ["id", "conversation_id", "content", "role"].map(String::from).into();
        let plan = Plan::new(&doc, &conv, &msg);
        assert_eq!(plan.dropped.conversations, ["mood"]);
        assert_eq!(plan.dropped.messages, ["sticker"]);
        assert_eq!(plan.messages[0]["conversation_id"], "c");
        assert_eq!(plan.message_columns, ["content", "conversation_id", "id", "role"]);
        assert_eq!(plan.message_keys("id"), [json!("m1"), json!("m2")]);
    }
}
