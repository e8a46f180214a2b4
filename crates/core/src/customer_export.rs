//! The whole-user export "for the customer" (a data-access request): a
//! folder with one readable document per conversation — its stored JSON,
//! pretty-printed, and a plain-text transcript — and `manifest.json` with
//! the counts and the SHA-256 and size of every file. Streamed like the
//! whole-user export (`export_user.rs`, whose listing it shares): one
//! conversation in memory at a time plus the read-ahead; the manifest holds
//! only ids, titles and hashes. Written in a hidden folder beside the
//! destination and renamed into place when complete, so a failed or
//! cancelled export leaves nothing behind.

use std::io::Write;
use std::path::{Path, PathBuf};

use futures::StreamExt;
use serde::Serialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::audit;
use crate::error::{Error, ErrorReport, Result};
use crate::export_user::{to_export, ExportProgress, SkippedConversation, ToExport};
use crate::layout::UserFolder;
use crate::model::ConversationDocument;
use crate::session::{Session, Subject};

/// The manifest's name in the folder.
pub const MANIFEST: &str = "manifest.json";

/// One file of the export, as the manifest lists it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ExportedFile {
    /// Relative to the export folder, `/`-separated.
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct CustomerExportReport {
    pub folder: String,
    pub user_email: Option<String>,
    /// The export folder.
    pub path: String,
    pub conversations: u64,
    pub messages: u64,
    /// Files written besides the manifest.
    pub files: u64,
    /// SHA-256 of `manifest.json`.
    pub manifest_sha256: String,
    pub skipped: Vec<SkippedConversation>,
}

impl Session {
    /// Export all of `user`'s conversations for the customer into the new
    /// folder `path` (which must not exist). One audit record (`export_user`,
    /// `form: for_customer`), whatever the outcome.
    pub async fn export_user_for_customer(
        &self,
        user: &str,
        path: &Path,
        read_ahead: usize,
        progress: &watch::Sender<ExportProgress>,
        cancel: &CancellationToken,
    ) -> Result<CustomerExportReport> {
        let mut subject = Subject::new(user, &[]);
        let result = match subject.folder(user) {
            Ok(folder) => {
                self.customer_export_to(&folder, path, read_ahead, progress, cancel)
                    .await
            }
            Err(e) => Err(e),
        };
        if let Ok(r) = &result {
            subject.email = r.user_email.clone().or(subject.email);
        }
        self.record("export_user", &subject, result, |r| {
            let mut d = Map::new();
            d.insert("form".into(), json!("for_customer"));
            d.insert("path".into(), json!(r.path));
            d.insert("conversations".into(), json!(r.conversations));
            d.insert("manifest_sha256".into(), json!(r.manifest_sha256));
            d.insert(
                "skipped".into(),
                json!(r.skipped.iter().map(|s| &s.conversation_id).collect::<Vec<_>>()),
            );
            d
        })
        .await
    }

    async fn customer_export_to(
        &self,
        folder: &UserFolder,
        path: &Path,
        read_ahead: usize,
        progress: &watch::Sender<ExportProgress>,
        cancel: &CancellationToken,
    ) -> Result<CustomerExportReport> {
        if path.exists() {
            return Err(Error::InvalidInput(format!(
                "{}: already exists; the export makes a new folder",
                path.display()
            )));
        }
        let ToExport {
            email,
            to_open,
            mut skipped,
        } = to_export(self.store(), folder).await?;
        progress.send_replace(ExportProgress {
            conversations_total: to_open.len() as u64,
            ..Default::default()
        });
        let mut out = Staging::beside(path)?;
        std::fs::create_dir(out.dir.join("conversations")).map_err(|e| Error::io(&out.dir, e))?;

        let store = self.store();
        let opened = futures::stream::iter(to_open)
            .map(|(key, id, _size)| async move {
                let result = store.open_key(&key, &id).await;
                (key, id, result)
            })
            .buffered(read_ahead.max(1));
        let mut opened = std::pin::pin!(opened);
        let (mut conversations, mut messages, mut bytes) = (Vec::new(), 0u64, 0u64);
        loop {
            let next = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Err(Error::Cancelled { what: format!("export of {folder}") }),
                next = opened.next() => next,
            };
            let Some((key, id, result)) = next else { break };
            match result {
                Ok(c) => {
                    let doc = &c.document;
                    let json = serde_json::to_vec_pretty(doc.as_map()).expect("a document serializes");
                    let files = [
                        out.write(&format!("conversations/{id}.json"), &json)?,
                        out.write(&format!("conversations/{id}.txt"), transcript(doc).as_bytes())?,
                    ];
                    bytes += files.iter().map(|f| f.bytes).sum::<u64>();
                    messages += doc.messages().len() as u64;
                    conversations.push(json!({
                        "conversation_id": id.as_str(),
                        "title": doc.title(),
                        "created_at": doc.conversation().str("created_at"),
                        "messages": doc.messages().len(),
                        "files": files,
                    }));
                }
                Err(e) => skipped.push(SkippedConversation {
                    conversation_id: id.to_string(),
                    key: Some(key),
                    error: ErrorReport::from(&e),
                }),
            }
            progress.send_modify(|p| {
                p.conversations_done += 1;
                p.json_bytes = bytes;
            });
        }

        let manifest = json!({
            "user_email": email,
            "folder": folder.as_str(),
            "exported_at": audit::now_rfc3339(),
            "counts": {"conversations": conversations.len(), "messages": messages, "files": out.files.len(), "skipped": skipped.len()},
            "conversations": conversations,
            "files": out.files,
            "skipped": skipped.iter().map(|s| json!({"conversation_id": s.conversation_id, "code": s.error.code, "message": s.error.message})).collect::<Vec<Value>>(),
        });
        let manifest = serde_json::to_vec_pretty(&manifest).expect("a manifest serializes");
        let manifest_sha256 = sha256_hex(&manifest);
        let files = out.files.len() as u64;
        out.write_unlisted(MANIFEST, &manifest)?;
        out.persist(path)?;
        Ok(CustomerExportReport {
            folder: folder.to_string(),
            user_email: email,
            path: path.display().to_string(),
            conversations: conversations.len() as u64,
            messages,
            files,
            manifest_sha256,
            skipped,
        })
    }
}

/// A conversation as plain text: title, dates, then each message.
pub fn transcript(doc: &ConversationDocument) -> String {
    let c = doc.conversation();
    let mut t = format!(
        "{}\nConversation {}\nCreated {}\n{}\n",
        doc.title().unwrap_or("(untitled)"),
        doc.id(),
        c.str("created_at").unwrap_or("-"),
        crate::plural::count(doc.messages().len() as u64, "message")
    );
    for m in doc.messages() {
        t.push_str(&format!(
            "\n--- {} · {}\n{}\n",
            m.str("role").unwrap_or("-"),
            m.str("created_at").unwrap_or("-"),
            m.str("content").unwrap_or("")
        ));
    }
    t
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// The export's folder while it is written: hidden beside the destination,
/// removed unless renamed into place.
struct Staging {
    dir: PathBuf,
    files: Vec<ExportedFile>,
    done: bool,
}

impl Staging {
    fn beside(path: &Path) -> Result<Staging> {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = parent.join(format!(
            ".{name}.{}.{:08x}.partial",
            std::process::id(),
            fastrand::u32(..)
        ));
        crate::owner_only::create_private_dir(&dir)?;
        Ok(Staging {
            dir,
            files: Vec::new(),
            done: false,
        })
    }

    /// Write one file and list it in the manifest.
    fn write(&mut self, rel: &str, bytes: &[u8]) -> Result<ExportedFile> {
        self.write_unlisted(rel, bytes)?;
        let file = ExportedFile {
            path: rel.to_owned(),
            sha256: sha256_hex(bytes),
            bytes: bytes.len() as u64,
        };
        self.files.push(file.clone());
        Ok(file)
    }

    fn write_unlisted(&self, rel: &str, bytes: &[u8]) -> Result<()> {
        let path = self.dir.join(rel);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&path).map_err(|e| Error::io(&path, e))?;
        f.write_all(bytes).map_err(|e| Error::io(&path, e))?;
        f.sync_all().map_err(|e| Error::io(&path, e))
    }

    fn persist(mut self, path: &Path) -> Result<()> {
        std::fs::rename(&self.dir, path).map_err(|e| Error::io(path, e))?;
        self.done = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
