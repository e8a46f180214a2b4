//! Files the webview may use: only those the person chose in a native
//! dialog that this process opened. The page gets an opaque, single-use
//! token and the file name to show, never a path it could forge, so a
//! compromised page cannot make the app write or read a file of its choice.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Runtime};
use tauri_plugin_dialog::DialogExt;
use ts_rs::TS;

use archive_desk_core::Error;

/// What a chosen file is for; a token serves only its purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum FilePurpose {
    /// Save one conversation (JSON, or gzip when the name ends in `.gz`).
    ExportConversation,
    /// Save every conversation of a user.
    ExportUser,
    /// Make the folder of a user's export for the customer.
    ExportForCustomer,
    /// Read the archiver's `.env` into a new profile.
    ImportEnv,
    /// Save an erasure's deletion receipt (chosen before the erasure runs).
    EraseReceipt,
    /// Read a deletion receipt to verify it.
    OpenReceipt,
    /// Save the audit view's records as CSV or JSON.
    ExportAudit,
}

impl FilePurpose {
    fn title(self) -> &'static str {
        match self {
            FilePurpose::ExportConversation => "Export conversation",
            FilePurpose::ExportUser => "Export all conversations",
            FilePurpose::ExportForCustomer => "Export for the customer (a new folder)",
            FilePurpose::ImportEnv => "Import the archiver's .env",
            FilePurpose::EraseReceipt => "Save the deletion receipt",
            FilePurpose::OpenReceipt => "Verify a deletion receipt",
            FilePurpose::ExportAudit => "Export the audit records",
        }
    }

    fn saves(self) -> bool {
        !matches!(self, FilePurpose::ImportEnv | FilePurpose::OpenReceipt)
    }
}

/// A file the person chose: the token to pass back, the name to show.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct ChosenFile {
    pub token: String,
    pub name: String,
}

/// Paths chosen in dialogs, by token, until used.
#[derive(Default)]
pub struct ChosenFiles {
    by_token: Mutex<HashMap<String, (FilePurpose, PathBuf)>>,
}

impl ChosenFiles {
    pub fn issue(&self, purpose: FilePurpose, path: PathBuf) -> ChosenFile {
        let token = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.by_token
            .lock()
            .expect("chosen files lock")
            .insert(token.clone(), (purpose, path));
        ChosenFile { token, name }
    }

    /// The path behind `token`, once. Anything else the page sends (a raw
    /// path, a used token, a token chosen for another purpose) is refused.
    pub fn take(&self, token: &str, purpose: FilePurpose) -> Result<PathBuf, Error> {
        let mut map = self.by_token.lock().expect("chosen files lock");
        match map.get(token) {
            Some((p, _)) if *p == purpose => Ok(map.remove(token).expect("present").1),
            _ => Err(Error::InvalidInput(
                "that file was not chosen in this app's file dialog; choose it again".into(),
            )),
        }
    }
}

/// The one test seam of the shell: WebDriver cannot drive a native dialog
/// (it is outside the webview), so the end-to-end test names a directory
/// whose `<suggested name>` answers every dialog. Only whoever starts the
/// process can set it; the page cannot.
const DIALOG_DIR_VAR: &str = "ARCHIVE_DESK_E2E_DIALOG_DIR";

/// Show the native dialog for `purpose` (save or open) and wait for it.
pub async fn choose<R: Runtime>(app: &AppHandle<R>, purpose: FilePurpose, suggested: &str) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(DIALOG_DIR_VAR) {
        return Some(PathBuf::from(dir).join(suggested));
    }
    let mut dialog = app.dialog().file().set_title(purpose.title());
    dialog = match purpose {
        FilePurpose::ExportConversation => dialog.add_filter("JSON", &["json", "gz"]),
        FilePurpose::ExportUser => dialog.add_filter("JSON or JSON Lines", &["json", "jsonl", "gz"]),
        FilePurpose::EraseReceipt | FilePurpose::OpenReceipt => dialog.add_filter("Deletion receipt", &["json"]),
        FilePurpose::ExportAudit => dialog.add_filter("CSV or JSON", &["csv", "json"]),
        FilePurpose::ExportForCustomer | FilePurpose::ImportEnv => dialog,
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let send = move |chosen: Option<tauri_plugin_dialog::FilePath>| {
        let _ = tx.send(chosen.and_then(|p| p.into_path().ok()));
    };
    if purpose.saves() {
        dialog.set_file_name(suggested).save_file(send);
    } else {
        dialog.pick_file(send);
    }
    rx.await.ok().flatten()
}

/// A name the page proposes for the dialog: a plain file name, nothing more.
pub fn check_suggested_name(name: &str) -> Result<(), Error> {
    let plain = !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name.chars().any(|c| c == '/' || c == '\\' || c.is_control());
    if plain {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!("{name:?} is not a plain file name")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_single_use_and_serves_only_its_purpose() {
        let files = ChosenFiles::default();
        let chosen = files.issue(FilePurpose::ExportUser, PathBuf::from("/home/a/user.jsonl"));
        assert_eq!(chosen.name, "user.jsonl");
        let err = files.take(&chosen.token, FilePurpose::ImportEnv).unwrap_err();
        assert_eq!(err.code(), "invalid_input");
        assert_eq!(
            files.take(&chosen.token, FilePurpose::ExportUser).unwrap(),
            PathBuf::from("/home/a/user.jsonl")
        );
        assert!(files.take(&chosen.token, FilePurpose::ExportUser).is_err());
    }

    #[test]
    fn a_raw_path_is_not_a_token() {
        let files = ChosenFiles::default();
        files.issue(FilePurpose::ExportConversation, PathBuf::from("/tmp/a.json"));
        for raw in ["/tmp/a.json", "/etc/passwd", "../x", ""] {
            assert_eq!(
                files.take(raw, FilePurpose::ExportConversation).unwrap_err().code(),
                "invalid_input"
            );
        }
    }

    #[test]
    fn suggested_names_are_plain_file_names() {
        assert!(check_suggested_name("c1.json").is_ok());
        assert!(check_suggested_name(".env").is_ok());
        for bad in ["", "..", "a/b.json", "..\\x", "/etc/passwd", "a\nb"] {
            assert!(check_suggested_name(bad).is_err(), "{bad:?}");
        }
    }
}
