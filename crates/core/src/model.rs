//! The archive documents. Each keeps the JSON object it was read from, whole
//! and in order, and offers typed read-only views over the fields the app
//! uses; so every field — known or not — survives open, export and restore.
//! Shape is checked once, on construction, with errors that name the object
//! key and the JSON path.

use std::collections::HashSet;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::layout::ConversationId;

/// A borrowed view of one JSON object (a conversation row, a message, an
/// index entry) with typed getters.
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a>(&'a Map<String, Value>);

impl<'a> Fields<'a> {
    pub fn get(&self, field: &str) -> Option<&'a Value> {
        self.0.get(field)
    }

    /// A string field; `None` when missing, null or not a string.
    pub fn str(&self, field: &str) -> Option<&'a str> {
        self.0.get(field).and_then(Value::as_str)
    }

    pub fn u64(&self, field: &str) -> Option<u64> {
        self.0.get(field).and_then(Value::as_u64)
    }

    /// An id that may be stored as a string or an integer, as text.
    pub fn id(&self, field: &str) -> Option<String> {
        id_text(self.0.get(field)?)
    }

    pub fn map(&self) -> &'a Map<String, Value> {
        self.0
    }
}

fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Checks used while validating one object of one document.
struct Check<'k> {
    key: &'k str,
}

impl Check<'_> {
    fn object<'v>(&self, v: &'v Value, path: &str) -> Result<&'v Map<String, Value>> {
        v.as_object()
            .ok_or_else(|| Error::shape(self.key, path, format!("expected an object, found {}", type_name(v))))
    }

    fn required<'v>(&self, m: &'v Map<String, Value>, field: &str, path: &str) -> Result<&'v Value> {
        m.get(field)
            .ok_or_else(|| Error::shape(self.key, format!("{path}.{field}"), "missing"))
    }

    fn id(&self, m: &Map<String, Value>, field: &str, path: &str) -> Result<String> {
        let v = self.required(m, field, path)?;
        id_text(v).ok_or_else(|| {
            Error::shape(
                self.key,
                format!("{path}.{field}"),
                format!("expected a non-empty string or integer id, found {}", type_name(v)),
            )
        })
    }

    /// `field` is absent, null, or a string.
    fn optional_string(&self, m: &Map<String, Value>, field: &str, path: &str) -> Result<()> {
        match m.get(field) {
            None | Some(Value::Null) | Some(Value::String(_)) => Ok(()),
            Some(v) => Err(Error::shape(
                self.key,
                format!("{path}.{field}"),
                format!("expected a string or null, found {}", type_name(v)),
            )),
        }
    }

    /// `field` is absent, null, or a non-negative integer.
    fn optional_count(&self, m: &Map<String, Value>, field: &str, path: &str) -> Result<()> {
        match m.get(field) {
            None | Some(Value::Null) => Ok(()),
            Some(v) if v.as_u64().is_some() => Ok(()),
            Some(v) => Err(Error::shape(
                self.key,
                format!("{path}.{field}"),
                format!("expected a non-negative integer or null, found {}", type_name(v)),
            )),
        }
    }
}

/// One archived conversation: `{conversation, messages, archive_metadata, ...}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct ConversationDocument {
    root: Map<String, Value>,
    #[serde(skip)]
    id: String,
}

impl ConversationDocument {
    /// Validate `value` as the document stored at `key`.
    pub fn from_value(key: &str, value: Value) -> Result<Self> {
        let check = Check { key };
        let Value::Object(root) = value else {
            return Err(Error::shape(
                key,
                "$",
                format!("expected an object, found {}", type_name(&value)),
            ));
        };

        let conv = check.object(check.required(&root, "conversation", "$")?, "$.conversation")?;
        let id = check.id(conv, "id", "$.conversation")?;
        ConversationId::parse(&id).map_err(|e| Error::shape(key, "$.conversation.id", e.to_string()))?;
        for field in ["title", "user_id", "created_at", "updated_at"] {
            check.optional_string(conv, field, "$.conversation")?;
        }

        let messages = check.required(&root, "messages", "$")?;
        let messages = messages.as_array().ok_or_else(|| {
            Error::shape(
                key,
                "$.messages",
                format!("expected an array, found {}", type_name(messages)),
            )
        })?;
        let mut seen = HashSet::with_capacity(messages.len());
        for (i, m) in messages.iter().enumerate() {
            let path = format!("$.messages[{i}]");
            let m = check.object(m, &path)?;
            let mid = check.id(m, "id", &path)?;
            if !seen.insert(mid.clone()) {
                return Err(Error::shape(
                    key,
                    format!("{path}.id"),
                    format!("duplicate message id {mid:?}"),
                ));
            }
            if let Some(v) = m.get("conversation_id").filter(|v| !v.is_null()) {
                if id_text(v).as_deref() != Some(id.as_str()) {
                    return Err(Error::shape(
                        key,
                        format!("{path}.conversation_id"),
                        format!("{v} does not match the conversation id {id:?}"),
                    ));
                }
            }
            for field in ["role", "content", "created_at"] {
                check.optional_string(m, field, &path)?;
            }
        }

        if let Some(meta) = root.get("archive_metadata").filter(|v| !v.is_null()) {
            let meta = check.object(meta, "$.archive_metadata")?;
            check.optional_count(meta, "message_count", "$.archive_metadata")?;
            for field in ["archived_at", "user_email"] {
                check.optional_string(meta, field, "$.archive_metadata")?;
            }
        }

        Ok(ConversationDocument { root, id })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn conversation(&self) -> Fields<'_> {
        // Validated in `from_value`.
        Fields(self.root["conversation"].as_object().expect("validated"))
    }

    pub fn title(&self) -> Option<&str> {
        self.conversation().str("title")
    }

    pub fn messages(&self) -> impl ExactSizeIterator<Item = Fields<'_>> {
        self.root["messages"]
            .as_array()
            .expect("validated")
            .iter()
            .map(|m| Fields(m.as_object().expect("validated")))
    }

    pub fn archive_metadata(&self) -> Option<Fields<'_>> {
        self.root.get("archive_metadata").and_then(Value::as_object).map(Fields)
    }

    /// The whole document, every field as stored.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.root
    }

    pub fn into_value(self) -> Value {
        Value::Object(self.root)
    }
}

/// A user's `metadata.json`: `{user_email, archived_conversations: [...], ...}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct UserIndex {
    root: Map<String, Value>,
}

impl Default for UserIndex {
    fn default() -> Self {
        let mut root = Map::new();
        root.insert("archived_conversations".into(), Value::Array(Vec::new()));
        UserIndex { root }
    }
}

impl UserIndex {
    pub fn from_value(key: &str, value: Value) -> Result<Self> {
        let check = Check { key };
        let Value::Object(mut root) = value else {
            return Err(Error::shape(
                key,
                "$",
                format!("expected an object, found {}", type_name(&value)),
            ));
        };
        check.optional_string(&root, "user_email", "$")?;
        let entries = root
            .entry("archived_conversations")
            .or_insert_with(|| Value::Array(Vec::new()));
        let entries = entries.as_array().ok_or_else(|| {
            Error::shape(
                key,
                "$.archived_conversations",
                format!("expected an array, found {}", type_name(entries)),
            )
        })?;
        for (i, e) in entries.iter().enumerate() {
            let path = format!("$.archived_conversations[{i}]");
            let e = check.object(e, &path)?;
            check.id(e, "conversation_id", &path)?;
            for field in ["title", "created_at", "archived_at"] {
                check.optional_string(e, field, &path)?;
            }
            check.optional_count(e, "message_count", &path)?;
        }
        Ok(UserIndex { root })
    }

    /// The true email, as the archiver recorded it.
    pub fn user_email(&self) -> Option<&str> {
        self.root.get("user_email").and_then(Value::as_str)
    }

    pub fn entries(&self) -> impl ExactSizeIterator<Item = IndexEntry<'_>> {
        self.root["archived_conversations"]
            .as_array()
            .expect("validated")
            .iter()
            .map(|e| IndexEntry(Fields(e.as_object().expect("validated"))))
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.root
    }

    fn entries_mut(&mut self) -> &mut Vec<Value> {
        self.root["archived_conversations"].as_array_mut().expect("validated")
    }

    /// Set `user_email` when the index has none.
    pub fn set_user_email_if_missing(&mut self, email: &str) -> bool {
        if self.user_email().is_some() {
            return false;
        }
        self.root.insert("user_email".into(), Value::String(email.to_owned()));
        true
    }

    /// Remove every entry whose id is in `ids`; returns the ids removed.
    pub fn remove_entries(&mut self, ids: &HashSet<String>) -> Vec<String> {
        let mut removed = Vec::new();
        self.entries_mut().retain(|e| {
            let id = entry_id(e);
            let keep = !ids.contains(&id);
            if !keep {
                removed.push(id);
            }
            keep
        });
        removed
    }

    /// Keep the first entry of each id; returns how many duplicates went.
    pub fn remove_duplicate_entries(&mut self) -> usize {
        let mut seen = HashSet::new();
        let entries = self.entries_mut();
        let before = entries.len();
        entries.retain(|e| seen.insert(entry_id(e)));
        before - entries.len()
    }

    /// Append an entry unless one with its id exists; true if appended.
    pub fn add_entry(&mut self, entry: Map<String, Value>) -> bool {
        let id = id_text(entry.get("conversation_id").unwrap_or(&Value::Null)).expect("entry has an id");
        if self.entries().any(|e| e.conversation_id() == id) {
            return false;
        }
        self.entries_mut().push(Value::Object(entry));
        true
    }
}

fn entry_id(e: &Value) -> String {
    e.get("conversation_id").and_then(id_text).expect("validated")
}

impl ConversationDocument {
    /// The index entry the archiver writes for this conversation.
    pub fn index_entry(&self) -> Map<String, Value> {
        let c = self.conversation();
        let meta = self.archive_metadata();
        let mut e = Map::new();
        e.insert("conversation_id".into(), c.get("id").cloned().unwrap_or(Value::Null));
        e.insert("title".into(), c.get("title").cloned().unwrap_or(Value::Null));
        e.insert("created_at".into(), c.get("created_at").cloned().unwrap_or(Value::Null));
        e.insert(
            "archived_at".into(),
            meta.and_then(|m| m.get("archived_at")).cloned().unwrap_or(Value::Null),
        );
        e.insert(
            "message_count".into(),
            Value::from(
                meta.and_then(|m| m.u64("message_count"))
                    .unwrap_or(self.messages().len() as u64),
            ),
        );
        e
    }
}

/// One entry of `archived_conversations`.
#[derive(Debug, Clone, Copy)]
pub struct IndexEntry<'a>(pub Fields<'a>);

impl<'a> IndexEntry<'a> {
    pub fn conversation_id(&self) -> String {
        self.0.id("conversation_id").expect("validated")
    }
    pub fn title(&self) -> Option<&'a str> {
        self.0.str("title")
    }
    pub fn created_at(&self) -> Option<&'a str> {
        self.0.str("created_at")
    }
    pub fn archived_at(&self) -> Option<&'a str> {
        self.0.str("archived_at")
    }
    pub fn message_count(&self) -> Option<u64> {
        self.0.u64("message_count")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({
            "conversation": {"id": "c1", "user_id": "u@x.io", "title": "Hi", "provider": "openai",
                             "created_at": "2025-01-15T10:30:00Z"},
            "messages": [
                {"id": "m1", "conversation_id": "c1", "role": "user", "content": "hello", "feedback": null,
                 "input_tokens": 12},
                {"id": 2, "conversation_id": "c1", "role": "assistant", "content": "hi", "cost": 0.00012}
            ],
            "archive_metadata": {"archived_at": "2025-01-20T09:00:00Z", "message_count": 2,
                                 "user_email": "u@x.io"},
            "extra_top_level": {"kept": [1, 2, 3]}
        })
    }

    #[test]
    fn unknown_fields_and_nulls_survive() {
        let v = doc();
        let d = ConversationDocument::from_value("k", v.clone()).unwrap();
        assert_eq!(d.id(), "c1");
        assert_eq!(d.messages().len(), 2);
        assert_eq!(serde_json::to_value(&d).unwrap(), v);
        let text = serde_json::to_string(&d).unwrap();
        assert!(text.contains("\"feedback\":null"));
        assert!(text.contains("0.00012"));
    }

    #[test]
    fn shape_errors_name_key_and_path() {
        let mut v = doc();
        v["messages"][1]["id"] = json!("m1");
        let e = ConversationDocument::from_value("a/b.json", v).unwrap_err();
        assert_eq!(e.code(), "shape");
        assert!(
            e.to_string().starts_with("a/b.json: wrong shape at $.messages[1].id"),
            "{e}"
        );

        let mut v = doc();
        v["conversation"]["id"] = json!("../x");
        assert_eq!(ConversationDocument::from_value("k", v).unwrap_err().code(), "shape");

        let mut v = doc();
        v["messages"][0]["content"] = json!(5);
        let e = ConversationDocument::from_value("k", v).unwrap_err();
        assert!(e.to_string().contains("$.messages[0].content"), "{e}");

        let mut v = doc();
        v["messages"][0]["conversation_id"] = json!("other");
        assert!(ConversationDocument::from_value("k", v).is_err());

        assert!(ConversationDocument::from_value("k", json!([1])).is_err());
        assert!(ConversationDocument::from_value("k", json!({"conversation": {"id": "c"}})).is_err());
    }

    #[test]
    fn minimal_document_is_accepted() {
        let v = json!({"conversation": {"id": "c"}, "messages": []});
        let d = ConversationDocument::from_value("k", v).unwrap();
        assert!(d.title().is_none());
        assert!(d.archive_metadata().is_none());
    }

    #[test]
    fn index_entries_and_missing_list() {
        let v = json!({"user_email": "u@x.io", "archived_conversations": [
            {"conversation_id": "c1", "title": "t", "message_count": 3, "pinned": true}
        ]});
        let idx = UserIndex::from_value("k", v.clone()).unwrap();
        assert_eq!(idx.user_email(), Some("u@x.io"));
        let e = idx.entries().next().unwrap();
        assert_eq!((e.conversation_id().as_str(), e.message_count()), ("c1", Some(3)));
        assert_eq!(serde_json::to_value(&idx).unwrap(), v);

        let idx = UserIndex::from_value("k", json!({"user_email": "u@x.io"})).unwrap();
        assert_eq!(idx.entries().len(), 0);
        assert!(UserIndex::from_value("k", json!({"archived_conversations": {}})).is_err());
        assert!(UserIndex::from_value("k", json!({"archived_conversations": [{"title": "x"}]})).is_err());
    }
}
