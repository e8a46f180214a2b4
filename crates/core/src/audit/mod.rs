//! The audit log: one JSON line per restore, delete, export, repair and
//! cold-storage request, appended to a file in the OS data dir, flushed and
//! fsynced before the action reports back. It records who did what to which
//! conversations and how it ended — never a secret, never message content.
//!
//! An irreversible step (delete, restore-and-remove, repair) writes an
//! `intent` record before it starts and its outcome after, both with the
//! same `operation` id: a crash in between still leaves a trace. Records are
//! chained: each holds `seq` (one more than the record before) and `prev`,
//! the SHA-256 of the previous line's exact bytes (of nothing for the first
//! line), so [`AuditLog::verify`] finds an edited, removed or inserted line.
//! The end of the chain is anchored outside the log: `audit.jsonl.head`
//! holds the last `seq` and the hash of its line, so records cut from the
//! end, or a last line replaced, are found too.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::owner_only;

mod export;
#[cfg(test)]
mod tests;
mod verify;

pub use export::{to_csv, AuditExportFormat, AuditExportReport, CSV_COLUMNS};
pub use verify::{AuditVerification, BreakKind, BrokenLink, ChainStatus};

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuditRecord {
    /// Position in the chain: one more than the record before (absent in
    /// records written before the chain existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub seq: Option<u64>,
    /// SHA-256 (hex) of the previous line's bytes; of no bytes for the first line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub prev: Option<String>,
    /// Links an `intent` record to its outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub operation: Option<String>,
    /// RFC 3339, UTC.
    pub time: String,
    /// The operator's OS user name (empty in a record of a version that
    /// did not write it, which still reads and verifies).
    #[serde(default)]
    pub os_user: String,
    pub profile: Option<String>,
    pub bucket: String,
    pub action: String,
    pub user_email: Option<String>,
    pub user_folder: Option<String>,
    pub conversation_ids: Vec<String>,
    /// `intent` (written before an irreversible step), `ok` or `error`.
    pub outcome: String,
    /// The failure's `ErrorCode` as its string; a string, not the enum, so
    /// a line written by any version (with a code this one lacks) still reads.
    pub error_code: Option<String>,
    /// Counts and names (keys, file paths) describing what was done.
    #[serde(default)]
    pub detail: serde_json::Map<String, serde_json::Value>,
}

/// What [`AuditLog::read`] found: the matching records, oldest first, and
/// how many lines of the whole log are not records (a torn last line after
/// a crash, or damage). Derefs to the records.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuditRead {
    pub records: Vec<AuditRecord>,
    pub damaged_lines: u64,
}

impl std::ops::Deref for AuditRead {
    type Target = Vec<AuditRecord>;
    fn deref(&self) -> &Vec<AuditRecord> {
        &self.records
    }
}

/// The head file: where the chain ends.
#[derive(Debug, Serialize, Deserialize)]
struct Head {
    seq: u64,
    /// SHA-256 (hex) of the line with that `seq`.
    hash: String,
}

/// Filters for reading the log; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Matches the user's email or folder.
    pub user: Option<String>,
    pub action: Option<String>,
    /// RFC 3339; records at or after it.
    pub since: Option<String>,
    /// RFC 3339 or a date (`2026-01-31`: that whole day); records at or
    /// before it.
    pub until: Option<String>,
}

impl AuditFilter {
    fn matches(&self, r: &AuditRecord) -> bool {
        let user_ok = self.user.as_ref().is_none_or(|u| {
            r.user_email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(u)) || r.user_folder.as_deref() == Some(u)
        });
        user_ok
            && self.action.as_ref().is_none_or(|a| &r.action == a)
            && self.since.as_ref().is_none_or(|s| r.time.as_str() >= s.as_str())
            && self
                .until
                .as_ref()
                .is_none_or(|u| r.time.as_str() <= u.as_str() || r.time.starts_with(u.as_str()))
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

    /// The head file next to the log: `audit.jsonl.head`.
    pub fn head_path(&self) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_owned();
        name.push(".head");
        self.path.with_file_name(name)
    }

    /// The head file; `None` when it is missing or unreadable as one
    /// (verify then says the tail is not anchored).
    fn read_head(&self) -> Result<Option<Head>> {
        match std::fs::read(self.head_path()) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(self.head_path(), e)),
        }
    }

    /// Append one record, chained to the last line: under an exclusive lock
    /// (so concurrent processes chain correctly and never interleave), read
    /// the last line from the end of the file, set `seq` and `prev`, write
    /// the line in one `write` (after a `\n` if a crash left the last line
    /// torn), then fsync; then, still under the lock, replace the head file
    /// (atomically) with the new `seq` and line hash. `seq` follows the
    /// head too, so records cut from the end before this append leave a
    /// gap that verify names. The files and their directory are owner-only.
    pub fn append(&self, record: &AuditRecord) -> Result<()> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            owner_only::create_private_dir(dir)?;
        }
        let io = |e| Error::io(&self.path, e);
        let mut options = OpenOptions::new();
        options.create(true).append(true).read(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&self.path).map_err(io)?;
        file.lock().map_err(io)?;
        let written = self.append_locked(&mut file, record);
        file.unlock().map_err(io)?;
        written
    }

    /// [`append`](Self::append) on tokio's blocking threads, for async
    /// callers: the lock may wait for another process's append and the
    /// fsync for a slow disk, neither of which may hold an async worker.
    pub async fn append_off_runtime(&self, record: AuditRecord) -> Result<()> {
        let log = self.clone();
        tokio::task::spawn_blocking(move || log.append(&record))
            .await
            .map_err(|e| Error::io(&self.path, std::io::Error::other(e)))?
    }

    fn append_locked(&self, file: &mut File, record: &AuditRecord) -> Result<()> {
        let io = |e| Error::io(&self.path, e);
        owner_only::restrict_file(file, &self.path)?;
        let tail = read_tail(file).map_err(io)?;
        let head_seq = self.read_head()?.map(|h| h.seq);
        let mut record = record.clone();
        let seq = tail.last_seq.max(head_seq).map_or(1, |s| s + 1);
        record.seq = Some(seq);
        let prev = sha256_hex(&tail.last_line);
        if head_seq.is_none() && tail.last_seq.is_none() {
            // A new chain is anchored before its first line (seq 0, the
            // hash that line links to): a process killed between that line
            // and its head leaves a log one record ahead of its head, which
            // verifies, instead of one whose tail cannot be checked.
            let genesis = serde_json::to_vec(&Head {
                seq: 0,
                hash: prev.clone(),
            })
            .expect("a head serializes");
            crate::codec::write_bytes_atomic(&self.head_path(), &genesis)?;
        }
        record.prev = Some(prev);
        let mut line = Vec::with_capacity(512);
        if !tail.ends_with_newline {
            line.push(b'\n');
        }
        let start = line.len();
        serde_json::to_writer(&mut line, &record).expect("a record serializes");
        let head = Head {
            seq,
            hash: sha256_hex(&line[start..]),
        };
        line.push(b'\n');
        file.write_all(&line).map_err(io)?;
        file.sync_all().map_err(io)?;
        let head = serde_json::to_vec(&head).expect("a head serializes");
        crate::codec::write_bytes_atomic(&self.head_path(), &head)
    }

    /// Records matching `filter`, oldest first, and the number of damaged
    /// lines in the whole log. A missing log is empty; a damaged line is
    /// counted, never fatal.
    pub fn read(&self, filter: &AuditFilter) -> Result<AuditRead> {
        let mut out = AuditRead::default();
        for line in self.lines()? {
            match serde_json::from_slice::<AuditRecord>(&line?) {
                Ok(r) if filter.matches(&r) => out.records.push(r),
                Ok(_) => {}
                Err(_) => out.damaged_lines += 1,
            }
        }
        Ok(out)
    }

    /// The log's lines without their `\n`; a last line without one (torn by
    /// a crash) is a line too.
    fn lines(&self) -> Result<impl Iterator<Item = Result<Vec<u8>>> + '_> {
        let file = match File::open(&self.path) {
            Ok(f) => Some(BufReader::new(f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(&self.path, e)),
        };
        Ok(file
            .into_iter()
            .flat_map(|r| r.split(b'\n'))
            .map(|l| l.map_err(|e| Error::io(&self.path, e))))
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// The end of the log, as the next append needs it.
struct Tail {
    /// The last line's bytes (empty for an empty file).
    last_line: Vec<u8>,
    ends_with_newline: bool,
    /// `seq` of the last line that is a record.
    last_seq: Option<u64>,
}

/// Read the log backwards from its end, in growing chunks, until the last
/// line and the last readable record are found: an append costs a few KiB
/// of reading, whatever the log's size.
fn read_tail(file: &mut File) -> std::io::Result<Tail> {
    let len = file.seek(SeekFrom::End(0))?;
    let mut start = len;
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = 4096u64;
    loop {
        let from = start.saturating_sub(chunk);
        let mut more = vec![0; (start - from) as usize];
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(&mut more)?;
        more.extend_from_slice(&buf);
        buf = more;
        start = from;
        chunk = chunk.saturating_mul(2);
        if let Some(tail) = scan_tail(&buf, start == 0) {
            return Ok(tail);
        }
    }
}

/// The [`Tail`] of `buf`, the last bytes of the file (all of it when
/// `whole`); `None` when more bytes are needed.
fn scan_tail(buf: &[u8], whole: bool) -> Option<Tail> {
    let ends_with_newline = buf.is_empty() || buf.ends_with(b"\n");
    let body = buf.strip_suffix(b"\n").unwrap_or(buf);
    let mut end = body.len();
    let mut last_line: Option<&[u8]> = None;
    loop {
        let newline = body[..end].iter().rposition(|&b| b == b'\n');
        let line = match newline {
            Some(i) => &body[i + 1..end],
            None if whole => &body[..end],
            None => return None,
        };
        let last = *last_line.get_or_insert(line);
        let record = serde_json::from_slice::<AuditRecord>(line).ok();
        if record.is_some() || newline.is_none() {
            return Some(Tail {
                last_line: last.to_vec(),
                ends_with_newline,
                last_seq: record.and_then(|r| r.seq),
            });
        }
        end = newline.expect("checked above");
    }
}
