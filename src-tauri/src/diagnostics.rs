//! What a support ticket needs: the diagnostic log and the "Copy
//! diagnostics" report (Help menu).
//!
//! The log is a rotating file (tauri-plugin-log) in the OS log directory
//! (`$ARCHIVE_DESK_LOG_DIR` overrides it): one line per command with its
//! name, how long it took and, when it failed, its error code. It never
//! holds a command's arguments or results, an error's message (which names
//! keys, hence customers' emails) or a secret: the lines are built here
//! from names and codes only, and the records of every other crate are
//! filtered out, since a dependency may log a URL or key naming a customer.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use tauri::plugin::TauriPlugin;
use tauri::{Manager, Runtime};
use tauri_plugin_log::{RotationStrategy, Target, TargetKind, TimezoneStrategy};
use ts_rs::TS;

use archive_desk_core::{ErrorCode, KeychainStore};

/// The `log` target of the app's own records, the only ones written.
const TARGET: &str = "archive_desk";
/// The log file's name, without `.log`.
pub const LOG_FILE: &str = "archive-desk";
/// Rotation: a file grows to this size, then the next one starts…
const MAX_LOG_BYTES: u128 = 1_000_000;
/// …and this many older files are kept.
const KEPT_LOG_FILES: usize = 4;
/// Errors the report lists, newest last.
const RECENT_ERRORS: usize = 20;

/// The directory the log is written to.
pub fn log_dir<R: Runtime>(app: &tauri::AppHandle<R>) -> Option<PathBuf> {
    match std::env::var_os("ARCHIVE_DESK_LOG_DIR") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => app.path().app_log_dir().ok(),
    }
}

pub fn log_plugin<R: Runtime>() -> TauriPlugin<R> {
    let kind = match std::env::var_os("ARCHIVE_DESK_LOG_DIR") {
        Some(dir) => TargetKind::Folder {
            path: dir.into(),
            file_name: Some(LOG_FILE.into()),
        },
        None => TargetKind::LogDir {
            file_name: Some(LOG_FILE.into()),
        },
    };
    tauri_plugin_log::Builder::new()
        .clear_targets()
        .target(Target::new(kind))
        .level(log::LevelFilter::Info)
        .filter(|record| record.target() == TARGET)
        .max_file_size(MAX_LOG_BYTES)
        .rotation_strategy(RotationStrategy::KeepSome(KEPT_LOG_FILES))
        .timezone_strategy(TimezoneStrategy::UseUtc)
        .build()
}

/// One failed command, as the report lists it.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct RecentError {
    /// RFC 3339, UTC.
    pub at: String,
    pub command: String,
    pub code: ErrorCode,
}

/// The recent errors, kept for the report.
#[derive(Default)]
pub struct ErrorHistory(Mutex<VecDeque<RecentError>>);

impl ErrorHistory {
    /// Log a finished command (name, time taken, error code) and keep its error.
    pub fn record(&self, command: &'static str, took: Duration, error: Option<ErrorCode>) {
        let ms = took.as_millis();
        match error {
            None => log::info!(target: TARGET, "{command} ok {ms} ms"),
            Some(code) => {
                log::warn!(target: TARGET, "{command} failed {ms} ms code={}", code.as_str());
                let mut recent = self.0.lock().unwrap_or_else(|e| e.into_inner());
                if recent.len() == RECENT_ERRORS {
                    recent.pop_front();
                }
                recent.push_back(RecentError {
                    at: archive_desk_core::audit::now_rfc3339(),
                    command: command.to_owned(),
                    code,
                });
            }
        }
    }

    fn recent(&self) -> Vec<RecentError> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

/// When `main` began: what the launch's steps are timed from.
static STARTED: OnceLock<Instant> = OnceLock::new();

/// Start the launch clock (first thing in `main`).
pub fn start_clock() {
    STARTED.get_or_init(Instant::now);
}

/// Milliseconds since `start_clock`, for the launch's notes: the page's
/// own marks are timed from the process start too (the GUI benchmark).
pub fn since_start_ms() -> u128 {
    STARTED.get_or_init(Instant::now).elapsed().as_millis()
}

/// Log an event of the app itself (start, a second launch); `what` is
/// always a fixed text or names and numbers, never customer data.
pub fn note(what: std::fmt::Arguments<'_>) {
    log::info!(target: TARGET, "{what}");
}

/// The "Copy diagnostics" report: the facts, and `text`, the same as a
/// plain-text block to paste into a ticket.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct Diagnostics {
    pub version: String,
    /// `linux x86_64`, `macos aarch64`, `windows x86_64`.
    pub os: String,
    /// Where secrets are saved, and whether they outlive the app.
    pub keychain: KeychainStore,
    pub log_dir: Option<String>,
    pub recent_errors: Vec<RecentError>,
    pub text: String,
}

impl Diagnostics {
    pub fn new(keychain: KeychainStore, log_dir: Option<PathBuf>, errors: &ErrorHistory) -> Self {
        let version = env!("CARGO_PKG_VERSION").to_owned();
        let os = format!("{} {}", std::env::consts::OS, std::env::consts::ARCH);
        let log_dir = log_dir.map(|d| d.display().to_string());
        let recent_errors = errors.recent();
        let mut text = format!(
            "Archive Desk {version}\nOS: {os}\nKeychain: {} ({}, {})\nLog: {}\n",
            keychain.name,
            serde_json::to_value(keychain.persistence)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            if keychain.persists {
                "secrets are kept"
            } else {
                "secrets would be lost: saving is refused"
            },
            log_dir.as_deref().unwrap_or("none")
        );
        if recent_errors.is_empty() {
            text.push_str("Recent errors: none\n");
        } else {
            text.push_str("Recent errors:\n");
            for e in &recent_errors {
                text.push_str(&format!("  {} {} {}\n", e.at, e.command, e.code.as_str()));
            }
        }
        Diagnostics {
            version,
            os,
            keychain,
            log_dir,
            recent_errors,
            text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use archive_desk_core::Persistence;

    #[test]
    fn the_report_lists_the_store_and_the_last_errors_by_code_only() {
        let errors = ErrorHistory::default();
        for _ in 0..RECENT_ERRORS + 3 {
            errors.record(
                "open_conversation",
                Duration::from_millis(12),
                Some(ErrorCode::NotFound),
            );
        }
        errors.record("list_users", Duration::from_millis(3), None);
        errors.record(
            "restore_conversation",
            Duration::from_millis(40),
            Some(ErrorCode::TargetAuth),
        );
        let store = KeychainStore {
            name: "keyring's in-memory mock",
            persistence: Persistence::EntryOnly,
            persists: false,
        };
        let d = Diagnostics::new(store, Some(PathBuf::from("/logs")), &errors);
        assert_eq!(d.recent_errors.len(), RECENT_ERRORS, "only the last ones are kept");
        assert_eq!(d.recent_errors.last().unwrap().code, ErrorCode::TargetAuth);
        assert!(d
            .text
            .starts_with(&format!("Archive Desk {}\n", env!("CARGO_PKG_VERSION"))));
        assert!(d
            .text
            .contains(&format!("OS: {} {}", std::env::consts::OS, std::env::consts::ARCH)));
        assert!(
            d.text
                .contains("Keychain: keyring's in-memory mock (entry-only, secrets would be lost"),
            "{}",
            d.text
        );
        assert!(d.text.contains("Log: /logs\n"));
        assert!(d.text.contains(" restore_conversation target_auth\n"), "{}", d.text);
    }
}
