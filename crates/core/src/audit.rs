//! The audit log: one JSON line per restore, delete, export, repair and
//! cold-storage request, appended to a file in the OS data dir, flushed and
//! fsynced before the action reports back. It records who did what to which
//! conversations and how it ended — never a secret, never message content.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuditRecord {
    /// RFC 3339, UTC.
    pub time: String,
    pub os_user: String,
    pub profile: Option<String>,
    pub bucket: String,
    pub action: String,
    pub user_email: Option<String>,
    pub user_folder: Option<String>,
    pub conversation_ids: Vec<String>,
    /// `ok` or `error`.
    pub outcome: String,
    pub error_code: Option<String>,
    /// Counts and names (keys, file paths) describing what was done.
    #[serde(default)]
    pub detail: serde_json::Map<String, serde_json::Value>,
}

/// Filters for reading the log; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Matches the user's email or folder.
    pub user: Option<String>,
    pub action: Option<String>,
    /// RFC 3339; records at or after it.
    pub since: Option<String>,
}

impl AuditFilter {
    fn matches(&self, r: &AuditRecord) -> bool {
        let user_ok = self.user.as_ref().is_none_or(|u| {
            r.user_email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(u)) || r.user_folder.as_deref() == Some(u)
        });
        user_ok
            && self.action.as_ref().is_none_or(|a| &r.action == a)
            && self.since.as_ref().is_none_or(|s| r.time.as_str() >= s.as_str())
    }
}

pub fn now_rfc3339() -> String {
    DateTime::from(SystemTime::now())
        .fmt(Format::DateTime)
        .expect("the current time formats")
}

pub fn os_user() -> String {
    ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".into())
}

#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
}

impl AuditLog {
    pub fn at(path: impl Into<PathBuf>) -> Self {
        AuditLog { path: path.into() }
    }

    /// `$ARCHIVE_DESK_DATA_DIR/audit.jsonl`, else the OS data dir
    /// (`~/.local/share/archive-desk/audit.jsonl` on Linux).
    pub fn default_location() -> Result<Self> {
        let dir = match std::env::var_os("ARCHIVE_DESK_DATA_DIR") {
            Some(d) => PathBuf::from(d),
            None => dirs::data_dir()
                .ok_or_else(|| Error::Config("no data directory for the audit log".into()))?
                .join("archive-desk"),
        };
        Ok(AuditLog::at(dir.join("audit.jsonl")))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one record: one `write` of one line under an exclusive lock,
    /// then fsync, so concurrent processes never interleave lines.
    pub fn append(&self, record: &AuditRecord) -> Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let mut line = serde_json::to_vec(record).expect("a record serializes");
        line.push(b'\n');
        let io = |e| Error::io(&self.path, e);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io)?;
        file.lock().map_err(io)?;
        file.write_all(&line).map_err(io)?;
        file.sync_all().map_err(io)?;
        file.unlock().map_err(io)?;
        Ok(())
    }

    /// Records matching `filter`, oldest first. A missing log is empty;
    /// a damaged line is skipped, never fatal.
    pub fn read(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>> {
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&self.path, e)),
        };
        let mut out = Vec::new();
        for line in BufReader::new(file).lines() {
            let line = line.map_err(|e| Error::io(&self.path, e))?;
            if let Ok(r) = serde_json::from_str::<AuditRecord>(&line) {
                if filter.matches(&r) {
                    out.push(r);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(action: &str, user: &str, time: &str) -> AuditRecord {
        AuditRecord {
            time: time.into(),
            os_user: "tester".into(),
            profile: None,
            bucket: "b".into(),
            action: action.into(),
            user_email: Some(user.into()),
            user_folder: None,
            conversation_ids: vec!["c1".into()],
            outcome: "ok".into(),
            error_code: None,
            detail: Default::default(),
        }
    }

    #[test]
    fn append_and_filter() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::at(dir.path().join("sub/audit.jsonl"));
        assert!(log.read(&AuditFilter::default()).unwrap().is_empty());
        log.append(&record("delete", "a@x.io", "2026-01-01T00:00:00Z")).unwrap();
        log.append(&record("export", "b@x.io", "2026-02-01T00:00:00Z")).unwrap();
        assert_eq!(log.read(&AuditFilter::default()).unwrap().len(), 2);
        let f = AuditFilter {
            user: Some("A@x.io".into()),
            ..Default::default()
        };
        assert_eq!(log.read(&f).unwrap()[0].action, "delete");
        let f = AuditFilter {
            since: Some("2026-01-15T00:00:00Z".into()),
            ..Default::default()
        };
        assert_eq!(log.read(&f).unwrap()[0].action, "export");
        let text = std::fs::read_to_string(log.path()).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(now_rfc3339().ends_with('Z'));
    }
}
