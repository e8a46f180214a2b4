//! Find text in every message of one user's conversations ("search this
//! user's messages"). The catalog only knows titles and emails, so this
//! reads the conversations themselves: fetched on demand, a few at a time,
//! cancellable, each conversation's matches handed to the caller as soon as
//! it is searched. A conversation that cannot be read (cold, malformed,
//! listed without an object) is reported and the search goes on.

use futures::StreamExt;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::browse;
use crate::error::{Error, ErrorReport, Result};
use crate::layout::{ConversationId, UserFolder};
use crate::model::ConversationDocument;
use crate::store::Store;

/// Characters of context kept on each side of a match in its snippet.
const CONTEXT_BEFORE: usize = 40;
const CONTEXT_AFTER: usize = 80;

#[derive(Debug, Clone)]
pub struct MessageSearchOptions {
    /// Conversations fetched at once.
    pub concurrency: usize,
    /// The search stops (reporting `truncated`) after this many matching messages.
    pub max_matches: usize,
}

impl Default for MessageSearchOptions {
    fn default() -> Self {
        MessageSearchOptions {
            concurrency: 4,
            max_matches: 1000,
        }
    }
}

/// One message that contains the searched text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct MessageMatch {
    pub conversation_id: String,
    pub conversation_title: Option<String>,
    /// The message's position in the conversation (0-based).
    pub message_index: u32,
    pub role: Option<String>,
    /// Times the text occurs in the message.
    pub occurrences: u32,
    /// The message's text around the first occurrence, on one line.
    /// Untrusted: shown as text only.
    pub snippet: String,
}

/// A conversation that could not be searched, and why.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct UnsearchedConversation {
    pub conversation_id: String,
    pub error: ErrorReport,
}

/// Sent after each conversation is searched: the counts so far and the
/// matches that conversation added.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct MessageSearchUpdate {
    pub conversations_done: u64,
    pub conversations_total: u64,
    pub matches: Vec<MessageMatch>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct MessageSearchReport {
    pub folder: String,
    pub conversations_searched: u64,
    pub matching_messages: u64,
    /// Stopped at `max_matches`: there may be more.
    pub truncated: bool,
    pub unsearched: Vec<UnsearchedConversation>,
}

/// Search every message of `folder`'s conversations for `query` (case
/// insensitive). `on_update` gets each conversation's matches as it is
/// searched; cancelling `cancel` stops with `Error::Cancelled`.
pub async fn search_user_messages(
    store: &Store,
    folder: &UserFolder,
    query: &str,
    options: &MessageSearchOptions,
    mut on_update: impl FnMut(MessageSearchUpdate),
    cancel: &CancellationToken,
) -> Result<MessageSearchReport> {
    let needle = Folded::new(query.trim());
    if needle.text.is_empty() {
        return Err(Error::InvalidInput("search for at least one character".into()));
    }
    let listing = browse::user_conversations(store, folder).await?;
    let mut unsearched = Vec::new();
    let mut to_open = Vec::new();
    for row in listing.conversations {
        match (row.key, ConversationId::parse(&row.conversation_id)) {
            (Some(key), Ok(id)) => to_open.push((key, id)),
            (_, Err(e)) => unsearched.push(unsearched_for(row.conversation_id, &e)),
            (None, Ok(_)) => {
                let key = format!(
                    "{}{} (listed in the index, no object)",
                    store.layout().user_prefix(folder),
                    row.conversation_id
                );
                unsearched.push(unsearched_for(row.conversation_id, &Error::NotFound { key }));
            }
        }
    }
    let total = to_open.len() as u64;
    let opened = futures::stream::iter(to_open)
        .map(|(key, id)| async move {
            let result = store.open_key(&key, &id).await;
            (id, result)
        })
        .buffered(options.concurrency.max(1));
    let mut opened = std::pin::pin!(opened);
    let (mut done, mut matching, mut truncated) = (0u64, 0u64, false);
    loop {
        let next = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(Error::Cancelled { what: format!("message search of {folder}") }),
            next = opened.next() => next,
        };
        let Some((id, result)) = next else { break };
        done += 1;
        let mut matches = match result {
            Ok(conversation) => matches_in(&conversation.document, &needle),
            Err(e) => {
                unsearched.push(unsearched_for(id.to_string(), &e));
                Vec::new()
            }
        };
        let room = options.max_matches.saturating_sub(matching as usize);
        if matches.len() >= room {
            truncated = matches.len() > room || done < total;
            matches.truncate(room);
        }
        matching += matches.len() as u64;
        on_update(MessageSearchUpdate {
            conversations_done: done,
            conversations_total: total,
            matches,
        });
        if matching as usize >= options.max_matches {
            break;
        }
    }
    Ok(MessageSearchReport {
        folder: folder.to_string(),
        conversations_searched: done,
        matching_messages: matching,
        truncated,
        unsearched,
    })
}

fn unsearched_for(conversation_id: String, e: &Error) -> UnsearchedConversation {
    UnsearchedConversation {
        conversation_id,
        error: ErrorReport::from(e),
    }
}

fn matches_in(doc: &ConversationDocument, needle: &Folded) -> Vec<MessageMatch> {
    let mut out = Vec::new();
    for (i, m) in doc.messages().enumerate() {
        let Some(content) = m.str("content") else { continue };
        let hay = Folded::new(content);
        let mut at = hay.text.match_indices(needle.text.as_str()).map(|(at, _)| at);
        let Some(first) = at.next() else { continue };
        out.push(MessageMatch {
            conversation_id: doc.id().to_owned(),
            conversation_title: doc.title().map(str::to_owned),
            message_index: i as u32,
            role: m.str("role").map(str::to_owned),
            occurrences: 1 + at.count() as u32,
            snippet: snippet(content, hay.origin[first]),
        });
    }
    out
}

/// Text lowercased for a caseless match, with where each of its bytes came
/// from in the original (lowercasing may change a character's length).
struct Folded {
    text: String,
    origin: Vec<usize>,
}

impl Folded {
    fn new(original: &str) -> Self {
        let mut text = String::with_capacity(original.len());
        let mut origin = Vec::with_capacity(original.len());
        for (at, c) in original.char_indices() {
            for lower in c.to_lowercase() {
                text.push(lower);
                origin.resize(text.len(), at);
            }
        }
        Folded { text, origin }
    }
}

/// The text around byte `at` of `content`, whitespace runs made one space,
/// with an ellipsis where it was cut.
fn snippet(content: &str, at: usize) -> String {
    let before: Vec<(usize, char)> = content[..at].char_indices().collect();
    let start = before.len().saturating_sub(CONTEXT_BEFORE);
    let start_byte = before.get(start).map_or(at, |(b, _)| *b);
    let end_byte = content[at..]
        .char_indices()
        .nth(CONTEXT_AFTER)
        .map_or(content.len(), |(b, _)| at + b);
    let mut out = String::new();
    if start_byte > 0 {
        out.push('…');
    }
    out.push_str(
        &content[start_byte..end_byte]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
    );
    if end_byte < content.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(contents: &[&str]) -> ConversationDocument {
        let messages: Vec<_> = contents
            .iter()
            .enumerate()
            .map(|(i, c)| json!({"id": format!("m{i}"), "role": "user", "content": c}))
            .collect();
        ConversationDocument::from_value(
            "k",
            json!({"conversation": {"id": "c", "title": "T"}, "messages": messages}),
        )
        .unwrap()
    }

    #[test]
    fn matches_are_caseless_counted_and_placed() {
        let d = doc(&["nothing here", "Refund please, REFUND now", "no", "a refund"]);
        let found = matches_in(&d, &Folded::new("refund"));
        let got: Vec<_> = found.iter().map(|m| (m.message_index, m.occurrences)).collect();
        assert_eq!(got, [(1, 2), (3, 1)]);
        assert_eq!(found[0].snippet, "Refund please, REFUND now");
        assert_eq!(found[0].conversation_title.as_deref(), Some("T"));
    }

    #[test]
    fn a_match_after_a_char_that_lowercases_longer_maps_back() {
        // 'İ' (2 bytes) lowercases to "i̇" (3 bytes): offsets shift.
        let d = doc(&["İİİİ Straße"]);
        let found = matches_in(&d, &Folded::new("STRASSE".to_lowercase().as_str()));
        assert!(found.is_empty(), "ß is not folded to ss (lowercase only)");
        let found = matches_in(&d, &Folded::new("straße"));
        assert_eq!(found[0].snippet, "İİİİ Straße");
    }

    #[test]
    fn snippets_are_cut_on_char_boundaries_with_ellipses() {
        let text = format!("{}needle{}", "é".repeat(100), "\n\n x ".repeat(60));
        let at = text.find("needle").unwrap();
        let s = snippet(&text, at);
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.contains(&format!("{}needle x x", "é".repeat(CONTEXT_BEFORE))), "{s}");
        assert!(!s.contains('\n'));
    }
}
