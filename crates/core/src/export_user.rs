//! Export every conversation of one user (a data-access request) into one
//! file, as a stream: one conversation is written at a time, in index
//! order, while the next ones are fetched ahead under an adaptive limit
//! (`adaptive.rs`: more while throughput rises, fewer when the store pushes
//! back) whose read-ahead holds at most the store's memory budget of stored
//! bytes, whatever the user's size. The file is written beside
//! its destination and renamed into place only when complete, so a failed
//! or cancelled export leaves nothing behind.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use std::sync::Arc;

use flate2::write::GzEncoder;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tokio::sync::{watch, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::adaptive::{self, AdaptiveLimit, ConcurrencyReport};
use crate::audit;
use crate::browse;
use crate::error::{Error, ErrorReport, Result};
use crate::layout::{ConversationId, UserFolder};
use crate::session::Session;
use crate::session::Subject;
use crate::store::Store;

/// Bytes in KiB, rounded up, as permits (a u32 covers any object).
fn kib(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    /// One JSON document: `{user_email, folder, exported_at, conversations: [...], skipped: [...]}`.
    Json,
    /// One stored conversation document per line.
    JsonLines,
}

#[derive(Debug, Clone)]
pub struct ExportUserOptions {
    pub format: ExportFormat,
    pub gzip: bool,
    /// The most conversations fetched ahead of the one being written: the
    /// ceiling of the adaptive limit.
    pub read_ahead: usize,
}

impl Default for ExportUserOptions {
    fn default() -> Self {
        ExportUserOptions {
            format: ExportFormat::Json,
            gzip: false,
            read_ahead: DEFAULT_READ_AHEAD,
        }
    }
}

/// The default read-ahead ceiling: at 80 ms a request, 64 in flight keep
/// 800 conversations a second coming.
pub const DEFAULT_READ_AHEAD: usize = 64;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ExportProgress {
    pub conversations_done: u64,
    pub conversations_total: u64,
    /// Bytes of JSON written so far (before compression).
    pub json_bytes: u64,
}

/// A conversation that could not be exported, and why.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct SkippedConversation {
    pub conversation_id: String,
    pub key: Option<String>,
    pub error: ErrorReport,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ExportUserReport {
    pub folder: String,
    pub user_email: Option<String>,
    pub path: String,
    pub format: ExportFormat,
    pub gzip: bool,
    pub conversations: u64,
    pub messages: u64,
    pub json_bytes: u64,
    /// Listed in the index without an object, in cold storage, or unreadable.
    pub skipped: Vec<SkippedConversation>,
    /// Conversations fetched at once: where the adaptive read-ahead settled.
    pub read_ahead: ConcurrencyReport,
}

/// Counts what passes through, for progress.
struct Counting<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

enum Sink {
    Plain(BufWriter<File>),
    Gzip(GzEncoder<BufWriter<File>>),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::Plain(w) => w.write(buf),
            Sink::Gzip(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Gzip(w) => w.flush(),
        }
    }
}

impl Sink {
    fn finish(self) -> std::io::Result<File> {
        let buffered = match self {
            Sink::Plain(w) => w,
            Sink::Gzip(w) => w.finish()?,
        };
        buffered.into_inner().map_err(|e| e.into_error())
    }
}

/// What a whole-user export opens (index order first, then objects the
/// index does not list) and what it skips before opening anything.
pub(crate) struct ToExport {
    /// The true email, from the index or the archive metadata.
    pub(crate) email: Option<String>,
    /// Key, id and stored size (0 when the listing gave none).
    pub(crate) to_open: Vec<(String, ConversationId, u64)>,
    pub(crate) skipped: Vec<SkippedConversation>,
}

pub(crate) async fn to_export(store: &Store, folder: &UserFolder) -> Result<ToExport> {
    let listing = browse::user_conversations(store, folder).await?;
    let mut skipped = Vec::new();
    let mut to_open = Vec::new();
    for row in listing.conversations {
        match (row.key, ConversationId::parse(&row.conversation_id)) {
            (Some(key), Ok(id)) => to_open.push((key, id, row.size.unwrap_or(0))),
            (key, Err(e)) => skipped.push(SkippedConversation {
                conversation_id: row.conversation_id,
                key,
                error: ErrorReport::from(&e),
            }),
            (None, Ok(_)) => skipped.push(SkippedConversation {
                error: ErrorReport::from(&Error::NotFound {
                    key: format!(
                        "{}{} (listed in the index, no object)",
                        store.layout().user_prefix(folder),
                        row.conversation_id
                    ),
                }),
                conversation_id: row.conversation_id,
                key: None,
            }),
        }
    }
    Ok(ToExport {
        email: listing.email,
        to_open,
        skipped,
    })
}

impl Session {
    /// Export all of `user`'s conversations (every stored object of the
    /// folder, index order first) to `path`. Progress goes to `progress`;
    /// cancelling `cancel` stops with `Error::Cancelled` and no file. One
    /// audit record, whatever the outcome.
    pub async fn export_user(
        &self,
        user: &str,
        path: &Path,
        options: &ExportUserOptions,
        progress: &watch::Sender<ExportProgress>,
        cancel: &CancellationToken,
    ) -> Result<ExportUserReport> {
        let mut subject = Subject::new(user, &[]);
        let result = match subject.folder(user) {
            Ok(folder) => self.export_user_to(&folder, path, options, progress, cancel).await,
            Err(e) => Err(e),
        };
        if let Ok(r) = &result {
            // The true email, from the index or the archive metadata.
            subject.email = r.user_email.clone().or(subject.email);
        }
        self.record("export_user", &subject, result, |r| {
            let mut d = Map::new();
            d.insert("path".into(), json!(r.path));
            d.insert("format".into(), json!(r.format));
            d.insert("gzip".into(), json!(r.gzip));
            d.insert("conversations".into(), json!(r.conversations));
            d.insert(
                "skipped".into(),
                json!(r.skipped.iter().map(|s| &s.conversation_id).collect::<Vec<_>>()),
            );
            d
        })
        .await
    }

    async fn export_user_to(
        &self,
        folder: &UserFolder,
        path: &Path,
        options: &ExportUserOptions,
        progress: &watch::Sender<ExportProgress>,
        cancel: &CancellationToken,
    ) -> Result<ExportUserReport> {
        let ToExport {
            email,
            to_open,
            mut skipped,
        } = to_export(self.store(), folder).await?;
        progress.send_modify(|p| {
            *p = ExportProgress {
                conversations_total: to_open.len() as u64,
                ..Default::default()
            }
        });

        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let tmp = crate::owner_only::partial_file_for(path).map_err(|e| Error::io(dir, e))?;
        let io = |e| Error::io(path, e);
        let file = tmp.reopen().map_err(io)?;
        let buffered = BufWriter::with_capacity(256 << 10, file);
        let sink = if options.gzip {
            Sink::Gzip(GzEncoder::new(buffered, flate2::Compression::default()))
        } else {
            Sink::Plain(buffered)
        };
        let mut out = Counting { inner: sink, bytes: 0 };

        if options.format == ExportFormat::Json {
            let head = json!({
                "user_email": email,
                "folder": folder.as_str(),
                "exported_at": audit::now_rfc3339(),
            });
            let head = serde_json::to_string(&head).expect("a JSON value serializes");
            // The header's fields, then the array streamed into the same object.
            write!(out, "{},\"conversations\":[", &head[..head.len() - 1]).map_err(io)?;
        }

        // Each conversation ahead holds its stored size of a budget as
        // large as the store's, taken in index order before its GET and
        // given back once written: the read-ahead never holds more than
        // that, and the one to write next already holds its share.
        let limit = AdaptiveLimit::new(options.read_ahead);
        let store = &self.store().with_overload_signals(&limit);
        let total = kib(store.memory_budget_bytes());
        let ahead = Arc::new(Semaphore::new(total as usize));
        let opened = adaptive::buffered(
            futures::stream::iter(to_open)
                .then(|(key, id, size)| {
                    let ahead = ahead.clone();
                    async move {
                        // Never more than the whole: a conversation larger
                        // than the budget is fetched, alone.
                        let share = kib(size).min(total);
                        let held = ahead.acquire_many_owned(share).await.expect("never closed");
                        (key, id, held)
                    }
                })
                .map(|(key, id, held)| {
                    let limit = limit.clone();
                    async move {
                        let result = store.open_key(&key, &id).await;
                        limit.completed();
                        (key, id, result, held)
                    }
                }),
            limit.clone(),
        );
        let mut opened = std::pin::pin!(opened);
        let (mut conversations, mut messages) = (0u64, 0u64);
        loop {
            let next = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Err(Error::Cancelled { what: format!("export of {folder}") }),
                next = opened.next() => next,
            };
            let Some((key, id, result, _held)) = next else { break };
            match result {
                Ok(conversation) => {
                    if options.format == ExportFormat::Json && conversations > 0 {
                        out.write_all(b",").map_err(io)?;
                    }
                    serde_json::to_writer(&mut out, &conversation.document).map_err(|e| io(e.into()))?;
                    if options.format == ExportFormat::JsonLines {
                        out.write_all(b"\n").map_err(io)?;
                    }
                    conversations += 1;
                    messages += conversation.document.messages().len() as u64;
                }
                Err(e) => skipped.push(SkippedConversation {
                    conversation_id: id.to_string(),
                    key: Some(key),
                    error: ErrorReport::from(&e),
                }),
            }
            let bytes = out.bytes;
            progress.send_modify(|p| {
                p.conversations_done += 1;
                p.json_bytes = bytes;
            });
        }

        if options.format == ExportFormat::Json {
            let skipped_json: Vec<Value> = skipped
                .iter()
                .map(|s| json!({"conversation_id": s.conversation_id, "key": s.key, "code": s.error.code, "message": s.error.message}))
                .collect();
            write!(out, "],\"skipped\":{}}}", Value::Array(skipped_json)).map_err(io)?;
        }
        let json_bytes = out.bytes;
        let file = out.inner.finish().map_err(io)?;
        file.sync_all().map_err(io)?;
        drop(file);
        tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
        Ok(ExportUserReport {
            folder: folder.to_string(),
            user_email: email,
            path: path.display().to_string(),
            format: options.format,
            gzip: options.gzip,
            conversations,
            messages,
            json_bytes,
            skipped,
            read_ahead: limit.report(),
        })
    }
}
