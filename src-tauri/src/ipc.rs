//! Payloads that exist only at the IPC boundary, and the form of a
//! command's result (`CmdResult`). Everything else crosses as
//! the core's own types (their TypeScript is generated from the core with
//! the `ts` feature). `cargo test` writes all of it to `ui/src/bindings/`.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use archive_desk_core::browse::UserBatch;
use archive_desk_core::{Encoding, Error, ErrorReport, OpenedConversation};

/// What every command returns: its result, or the error as `{code, message}`.
pub type CmdResult<T> = Result<T, ErrorReport>;

pub fn report(e: Error) -> ErrorReport {
    ErrorReport::from(&e)
}

/// The profile the window works on.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct OpenedProfile {
    pub name: String,
    pub bucket: String,
    pub endpoint: Option<String>,
    pub read_only: bool,
    /// Restore is configured (Supabase URL or Postgres mode).
    pub can_restore: bool,
    /// The first users of the listing the app started at launch, when
    /// already read: shown at once; `list_users` goes on after them.
    pub users: Option<UserBatch>,
}

/// How the users list was served: how many users, and, when they came from
/// the search catalog (at once, no request) rather than the bucket, when
/// that catalog was last synced.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct UsersListed {
    pub total: usize,
    /// Users sent through the call's channel (the rest of `total` went
    /// with the profile): the page waits for that many before it uses the
    /// list, as a large batch can land after this answer.
    pub sent: usize,
    pub from_catalog: Option<String>,
}

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct MessageView {
    pub id: String,
    pub role: Option<String>,
    pub created_at: Option<String>,
    pub feedback: Option<String>,
    /// Untrusted: the UI renders it as text only.
    pub content: String,
}

/// Messages `open_conversation` answers with: the transcript's first
/// screens. The rest follow with `conversation_messages`, so a long
/// conversation shows at once rather than after megabytes crossed the IPC
/// (10,000 messages: 2.6 MB of JSON to write, send and parse).
pub const FIRST_MESSAGES: usize = 200;

/// A conversation as the transcript view needs it. The stored document for the
/// raw JSON tab comes apart (`conversation_json`): a 10,000-message
/// conversation's pretty-printed JSON would double an answer the transcript
/// waits for.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct ConversationView {
    pub key: String,
    pub encoding: Encoding,
    pub id: String,
    pub title: Option<String>,
    pub created_at: Option<String>,
    pub archived_at: Option<String>,
    pub user_email: Option<String>,
    /// The first `FIRST_MESSAGES` from `open_conversation` (all of them once
    /// the page appended the rest).
    pub messages: Vec<MessageView>,
    /// All the messages the conversation holds.
    pub message_count: usize,
}

impl From<&OpenedConversation> for ConversationView {
    fn from(o: &OpenedConversation) -> Self {
        let doc = &o.document;
        let meta = doc.archive_metadata();
        let text = |v: Option<&serde_json::Value>| match v {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(other) => Some(other.to_string()),
        };
        ConversationView {
            key: o.key.clone(),
            encoding: o.encoding,
            id: doc.id().to_owned(),
            title: doc.title().map(str::to_owned),
            created_at: doc.conversation().str("created_at").map(str::to_owned),
            archived_at: meta.and_then(|m| m.str("archived_at")).map(str::to_owned),
            user_email: meta.and_then(|m| m.str("user_email")).map(str::to_owned),
            messages: doc
                .messages()
                .map(|m| MessageView {
                    id: m.id("id").unwrap_or_default(),
                    role: m.str("role").map(str::to_owned),
                    created_at: m.str("created_at").map(str::to_owned),
                    feedback: text(m.get("feedback")),
                    content: m.str("content").unwrap_or_default().to_owned(),
                })
                .collect(),
            message_count: doc.messages().len(),
        }
    }
}

impl ConversationView {
    /// The view with its messages from `from` on split off (none when
    /// `from` is past the end).
    pub fn split_at(mut self, from: usize) -> (ConversationView, Vec<MessageView>) {
        let rest = self.messages.split_off(from.min(self.messages.len()));
        (self, rest)
    }
}

/// The stored document, pretty-printed, for the raw JSON tab.
pub fn raw_json(o: &OpenedConversation) -> String {
    serde_json::to_string_pretty(o.document.as_map()).expect("a document serializes")
}

/// Filters of the audit view.
#[derive(Debug, Clone, Default, Deserialize, TS)]
#[ts(export)]
pub struct AuditQuery {
    pub user: Option<String>,
    pub action: Option<AuditAction>,
    pub since: Option<String>,
    /// RFC 3339, or a date for that whole day.
    pub until: Option<String>,
}

/// The actions the audit log records, which the audit view filters by.
/// The core writes them as strings (`AuditRecord.action`), so a test in
/// `main.rs` checks `ALL` against the literals it records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum AuditAction {
    Restore,
    RestoreBatch,
    Delete,
    Export,
    ExportUser,
    Repair,
    Thaw,
    EraseUser,
}

impl AuditAction {
    /// Every action (the tests and the generated `AuditActions` use it).
    #[cfg(test)]
    pub const ALL: [AuditAction; 8] = [
        AuditAction::Restore,
        AuditAction::RestoreBatch,
        AuditAction::Delete,
        AuditAction::Export,
        AuditAction::ExportUser,
        AuditAction::Repair,
        AuditAction::Thaw,
        AuditAction::EraseUser,
    ];

    /// The name the core records (the serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Restore => "restore",
            AuditAction::RestoreBatch => "restore_batch",
            AuditAction::Delete => "delete",
            AuditAction::Export => "export",
            AuditAction::ExportUser => "export_user",
            AuditAction::Repair => "repair",
            AuditAction::Thaw => "thaw",
            AuditAction::EraseUser => "erase_user",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AuditAction;

    #[test]
    fn an_audit_action_is_recorded_under_its_serde_name() {
        for action in AuditAction::ALL {
            assert_eq!(serde_json::to_value(action).unwrap(), action.as_str());
        }
    }
}
