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

/// Why the chain breaks at a line.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// The line's bytes are not what the next record recorded.
    Edited,
    /// Records are missing before the line (its `seq` skips).
    Removed,
    /// The line is not part of the chain: the record after it links to the one before it.
    Inserted,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokenLink {
    /// 1-based line number in the log file.
    pub line: u64,
    pub kind: BreakKind,
    pub message: String,
}

/// What [`AuditLog::verify`] concludes about the log as a whole.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChainStatus {
    /// No log, no head: nothing recorded yet.
    #[default]
    Empty,
    /// Every chained line links to the one before it and the log ends
    /// where its head file says.
    Intact,
    /// No record carries a link (written by a version without the chain,
    /// or the links were stripped): nothing can be checked.
    NotChained,
    /// The chain is whole, but there is no head file to say where it
    /// ends (written by a version without it, or the file was deleted):
    /// records cut from the end would not show.
    TailNotAnchored,
    /// See `first_broken`.
    Broken,
}

/// The result of [`AuditLog::verify`].
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AuditVerification {
    pub path: String,
    pub status: ChainStatus,
    pub lines: u64,
    pub records: u64,
    pub damaged_lines: u64,
    /// The first line that carries a hash; lines before it were written by
    /// a version without the chain and cannot be checked. `None`: no
    /// chained record yet.
    pub chain_starts_at_line: Option<u64>,
    /// The first place the chain is broken; `None` when it is whole.
    pub first_broken: Option<BrokenLink>,
    /// Lines of `intent` records with no outcome after them: the step may
    /// or may not have happened (a crash, or an outcome that could not be written).
    pub unfinished_intents: Vec<u64>,
}

impl AuditVerification {
    /// Chained, whole, and ending where the head file says.
    pub fn is_intact(&self) -> bool {
        self.status == ChainStatus::Intact
    }

    /// What a log that cannot be called intact fails with: the first break
    /// (`audit_chain_broken`), or why it could not be fully checked
    /// (`audit_chain_unverified`). `None` for an intact or empty log.
    pub fn problem(&self) -> Option<Error> {
        let unverified = |reason| Error::AuditChainUnverified {
            path: self.path.clone(),
            reason,
        };
        match (&self.first_broken, self.status) {
            (Some(b), _) => Some(Error::AuditChainBroken {
                path: self.path.clone(),
                line: b.line,
                reason: b.message.clone(),
            }),
            (None, ChainStatus::NotChained) => Some(unverified("no record carries a link; nothing can be checked")),
            (None, ChainStatus::TailNotAnchored) => Some(unverified(
                "its head file is missing, so records cut from the end would not show",
            )),
            (None, ChainStatus::Empty | ChainStatus::Intact | ChainStatus::Broken) => None,
        }
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
        record.prev = Some(sha256_hex(&tail.last_line));
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

    /// Check the chain from the first line: counts, damaged lines, where the
    /// chain starts, the first broken link and intents without an outcome.
    /// Streams the file (a line and the hashes of the two before it), then
    /// compares its end with the head file.
    pub fn verify(&self) -> Result<AuditVerification> {
        let mut v = AuditVerification {
            path: self.path.display().to_string(),
            ..Default::default()
        };
        let mut lines = self
            .lines()?
            .map(|line| line.map(|bytes| (sha256_hex(&bytes), serde_json::from_slice::<AuditRecord>(&bytes).ok())))
            .peekable();
        // Hashes of the line before this one (the genesis before line 1) and of the one before that.
        let mut before = sha256_hex(b"");
        let mut two_before: Option<String> = None;
        let mut open_intents: Vec<(String, u64)> = Vec::new();
        let mut last_seq: Option<u64> = None;
        let mut last_chained: Option<LastChained> = None;
        while let Some(line) = lines.next() {
            let (hash, record) = line?;
            v.lines += 1;
            let n = v.lines;
            match &record {
                None => v.damaged_lines += 1,
                Some(r) => {
                    v.records += 1;
                    if r.outcome == "intent" {
                        open_intents.extend(r.operation.clone().map(|op| (op, n)));
                    } else if let Some(op) = &r.operation {
                        open_intents.retain(|(o, _)| o != op);
                    }
                    if r.prev.is_some() && v.chain_starts_at_line.is_none() {
                        v.chain_starts_at_line = Some(n);
                    }
                    let linked = r.prev.as_deref() == Some(before.as_str());
                    let expected = last_seq.map_or(1, |s| s + 1);
                    if linked && v.first_broken.is_none() {
                        // Linked to the line before it, but numbered after a gap:
                        // the end was cut, then appended to.
                        if let Some(seq) = r.seq.filter(|&seq| seq > expected) {
                            v.first_broken = Some(BrokenLink {
                                line: n,
                                kind: BreakKind::Removed,
                                message: format!(
                                    "{} record(s) removed before line {n} (seq {seq}, expected {expected}): \
                                     the end of the log was cut, then appended to",
                                    seq - expected
                                ),
                            });
                        }
                    }
                    if let Some(seq) = r.seq {
                        last_chained = Some(LastChained {
                            line: n,
                            seq,
                            hash: hash.clone(),
                            prev: r.prev.clone(),
                        });
                    }
                    if v.chain_starts_at_line.is_some() && !linked && v.first_broken.is_none() {
                        let next_prev = match lines.peek() {
                            Some(Ok((_, Some(next)))) => Some(next.prev.clone()),
                            _ => None,
                        };
                        let hashes = Around {
                            two_before: two_before.as_deref(),
                            before: &before,
                            this: &hash,
                            next_prev: next_prev.as_ref().map(Option::as_deref),
                        };
                        v.first_broken = Some(classify(n, r, last_seq, &hashes));
                    }
                    last_seq = r.seq.or(last_seq);
                }
            }
            two_before = Some(std::mem::replace(&mut before, hash));
        }
        v.unfinished_intents = open_intents.into_iter().map(|(_, line)| line).collect();
        let head = self.read_head()?;
        if v.first_broken.is_none() {
            if let Some(head) = &head {
                v.first_broken = check_tail(head, last_chained.as_ref(), v.lines);
            }
        }
        v.status = if v.first_broken.is_some() {
            ChainStatus::Broken
        } else if v.chain_starts_at_line.is_none() {
            if v.lines == 0 {
                ChainStatus::Empty
            } else {
                ChainStatus::NotChained
            }
        } else if head.is_none() {
            ChainStatus::TailNotAnchored
        } else {
            ChainStatus::Intact
        };
        Ok(v)
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

/// The last record of the log that has a `seq`.
struct LastChained {
    line: u64,
    seq: u64,
    hash: String,
    prev: Option<String>,
}

/// Compare the end of the chain with the head file; the broken link when
/// they differ. A log one record ahead of its head, that record linked to
/// the head's line, is whole: a crash between writing the line and the head.
fn check_tail(head: &Head, last: Option<&LastChained>, lines: u64) -> Option<BrokenLink> {
    let Some(last) = last else {
        return Some(BrokenLink {
            line: lines + 1,
            kind: BreakKind::Removed,
            message: format!(
                "no chained record in the log, but its head file records seq {}: \
                 records removed at the end, or their links stripped",
                head.seq
            ),
        });
    };
    let next = last.line + 1;
    if last.seq == head.seq && last.hash == head.hash {
        return None;
    }
    if last.seq == head.seq + 1 && last.prev.as_deref() == Some(head.hash.as_str()) {
        return None;
    }
    if last.seq < head.seq {
        let message = format!(
            "{} record(s) removed at the end: the last record (line {}) has seq {}, the head file records seq {}",
            head.seq - last.seq,
            last.line,
            last.seq,
            head.seq
        );
        return Some(BrokenLink {
            line: next,
            kind: BreakKind::Removed,
            message,
        });
    }
    if last.seq == head.seq {
        let message = format!(
            "line {}, the last record, was changed or replaced after it was written (its hash is not the one in the head file)",
            last.line
        );
        return Some(BrokenLink {
            line: last.line,
            kind: BreakKind::Edited,
            message,
        });
    }
    let message = format!(
        "records added at the end: the last record (line {}) has seq {}, the head file records seq {}",
        last.line, last.seq, head.seq
    );
    Some(BrokenLink {
        line: last.line,
        kind: BreakKind::Inserted,
        message,
    })
}

/// The hashes around a line that breaks the chain.
struct Around<'a> {
    /// Of the line two before it (the genesis for line 2); `None` for line 1.
    two_before: Option<&'a str>,
    /// Of the line before it (the genesis for line 1).
    before: &'a str,
    this: &'a str,
    /// The `prev` of the record after it, if the next line is a record.
    next_prev: Option<Option<&'a str>>,
}

/// Why line `n` (whose `prev` does not match the line before it) breaks the chain.
fn classify(n: u64, r: &AuditRecord, last_seq: Option<u64>, h: &Around) -> BrokenLink {
    let broken = |line: u64, kind, message: String| BrokenLink { line, kind, message };
    if h.next_prev == Some(Some(h.before)) {
        let message = format!(
            "line {n} is not in the chain: line {} links to the line before it",
            n + 1
        );
        return broken(n, BreakKind::Inserted, message);
    }
    if h.two_before.is_some() && r.prev.as_deref() == h.two_before {
        let message = format!(
            "line {} is not in the chain: line {n} links to the line before it",
            n - 1
        );
        return broken(n - 1, BreakKind::Inserted, message);
    }
    let expected = last_seq.map_or(1, |s| s + 1);
    if let Some(seq) = r.seq.filter(|&seq| seq > expected) {
        let message = format!(
            "{} record(s) missing before line {n} (seq {seq}, expected {expected})",
            seq - expected
        );
        return broken(n, BreakKind::Removed, message);
    }
    if r.prev.is_none() {
        let message = format!("line {n} has no hash after the chain started: edited, or written by an older version");
        return broken(n, BreakKind::Edited, message);
    }
    // A line whose own link was changed breaks the next link too.
    if n == 1 || h.next_prev.is_some_and(|p| p != Some(h.this)) {
        return broken(
            n,
            BreakKind::Edited,
            format!("line {n} was changed after it was written"),
        );
    }
    let message = format!(
        "line {} was changed after it was written (line {n} holds its former hash)",
        n - 1
    );
    broken(n - 1, BreakKind::Edited, message)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record(action: &str, user: &str, time: &str) -> AuditRecord {
        AuditRecord {
            seq: None,
            prev: None,
            operation: None,
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

    /// A log in a temp dir with `n` chained records.
    fn log_with(n: usize) -> (tempfile::TempDir, AuditLog) {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::at(dir.path().join("audit.jsonl"));
        for i in 0..n {
            log.append(&record("export", &format!("u{i}@x.io"), "2026-01-01T00:00:00Z"))
                .unwrap();
        }
        (dir, log)
    }

    fn lines(log: &AuditLog) -> Vec<String> {
        std::fs::read_to_string(log.path())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn write_lines(log: &AuditLog, lines: &[String]) {
        std::fs::write(log.path(), lines.join("\n") + "\n").unwrap();
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

    #[test]
    fn records_are_chained_from_the_genesis() {
        let (_dir, log) = log_with(3);
        let lines = lines(&log);
        let records = log.read(&AuditFilter::default()).unwrap();
        assert_eq!(records.damaged_lines, 0);
        assert_eq!(records.iter().map(|r| r.seq.unwrap()).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(records[0].prev.as_deref(), Some(sha256_hex(b"").as_str()));
        assert_eq!(
            records[2].prev.as_deref(),
            Some(sha256_hex(lines[1].as_bytes()).as_str())
        );
        let v = log.verify().unwrap();
        assert_eq!((v.lines, v.records, v.damaged_lines), (3, 3, 0));
        assert_eq!((v.chain_starts_at_line, v.first_broken), (Some(1), None));
    }

    #[test]
    fn a_torn_last_line_hides_nothing_and_is_counted() {
        let (_dir, log) = log_with(2);
        // A crash in the middle of a write: half a line, no newline.
        let mut f = OpenOptions::new().append(true).open(log.path()).unwrap();
        f.write_all(br#"{"seq":3,"prev":"ab","time":"2026-"#).unwrap();
        drop(f);
        assert_eq!(log.read(&AuditFilter::default()).unwrap().damaged_lines, 1);
        log.append(&record("delete", "after@x.io", "2026-03-01T00:00:00Z"))
            .unwrap();
        let read = log.read(&AuditFilter::default()).unwrap();
        assert_eq!(read.damaged_lines, 1);
        assert_eq!(read.len(), 3);
        assert_eq!(read[2].user_email.as_deref(), Some("after@x.io"));
        assert_eq!(read[2].seq, Some(3), "numbered after the last readable record");
        let v = log.verify().unwrap();
        assert_eq!((v.lines, v.records, v.damaged_lines), (4, 3, 1));
        assert_eq!(v.first_broken, None, "the torn line is part of the chain");
    }

    #[test]
    fn an_edited_record_is_named() {
        let (_dir, log) = log_with(5);
        let mut l = lines(&log);
        l[2] = l[2].replace("u2@x.io", "someone-else@x.io");
        write_lines(&log, &l);
        let broken = log.verify().unwrap().first_broken.unwrap();
        assert_eq!((broken.line, broken.kind), (3, BreakKind::Edited), "{}", broken.message);
    }

    #[test]
    fn an_edited_link_is_named() {
        let (_dir, log) = log_with(5);
        let mut l = lines(&log);
        let mut r: AuditRecord = serde_json::from_str(&l[2]).unwrap();
        r.prev = Some(sha256_hex(b"forged"));
        l[2] = serde_json::to_string(&r).unwrap();
        write_lines(&log, &l);
        let broken = log.verify().unwrap().first_broken.unwrap();
        assert_eq!((broken.line, broken.kind), (3, BreakKind::Edited), "{}", broken.message);
    }

    #[test]
    fn a_removed_record_is_named() {
        let (_dir, log) = log_with(5);
        let mut l = lines(&log);
        l.remove(1);
        write_lines(&log, &l);
        let v = log.verify().unwrap();
        let broken = v.first_broken.unwrap();
        assert_eq!(
            (broken.line, broken.kind),
            (2, BreakKind::Removed),
            "{}",
            broken.message
        );
        assert_eq!(v.records, 4);

        // The first record removed: the new first line does not start the chain.
        let (_dir, log) = log_with(3);
        let mut l = lines(&log);
        l.remove(0);
        write_lines(&log, &l);
        let broken = log.verify().unwrap().first_broken.unwrap();
        assert_eq!(
            (broken.line, broken.kind),
            (1, BreakKind::Removed),
            "{}",
            broken.message
        );
    }

    #[test]
    fn an_inserted_record_is_named() {
        let (_dir, log) = log_with(4);
        let mut l = lines(&log);
        // A plausible record, even with the right link to the line before it.
        let mut forged: AuditRecord = serde_json::from_str(&l[1]).unwrap();
        forged.prev = Some(sha256_hex(l[1].as_bytes()));
        forged.seq = Some(3);
        forged.user_email = Some("forged@x.io".into());
        l.insert(2, serde_json::to_string(&forged).unwrap());
        write_lines(&log, &l);
        let broken = log.verify().unwrap().first_broken.unwrap();
        assert_eq!(
            (broken.line, broken.kind),
            (3, BreakKind::Inserted),
            "{}",
            broken.message
        );

        // An old-style record (no hash) slipped in after the chain started.
        let (_dir, log) = log_with(3);
        let mut l = lines(&log);
        l.insert(
            1,
            serde_json::to_string(&record("delete", "x@x.io", "2026-01-01T00:00:00Z")).unwrap(),
        );
        write_lines(&log, &l);
        let broken = log.verify().unwrap().first_broken.unwrap();
        assert_eq!(
            (broken.line, broken.kind),
            (2, BreakKind::Inserted),
            "{}",
            broken.message
        );
    }

    #[test]
    fn records_of_older_versions_read_and_the_chain_starts_after_them() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::at(dir.path().join("audit.jsonl"));
        // As written before the chain: no seq, prev or operation.
        let old = r#"{"time":"2025-01-01T00:00:00Z","os_user":"a","profile":null,"bucket":"b","action":"delete","user_email":"old@x.io","user_folder":null,"conversation_ids":["c"],"outcome":"ok","error_code":null,"detail":{}}"#;
        std::fs::write(log.path(), format!("{old}\n{old}\n")).unwrap();
        let v = log.verify().unwrap();
        assert_eq!((v.records, v.chain_starts_at_line, &v.first_broken), (2, None, &None));
        assert_eq!(v.status, ChainStatus::NotChained);
        assert!(!v.is_intact());
        log.append(&record("export", "new@x.io", "2026-01-01T00:00:00Z"))
            .unwrap();
        let read = log.read(&AuditFilter::default()).unwrap();
        assert_eq!((read.len(), read.damaged_lines), (3, 0));
        assert_eq!(read[0].user_email.as_deref(), Some("old@x.io"));
        assert_eq!(read[2].seq, Some(1));
        let v = log.verify().unwrap();
        assert_eq!((v.chain_starts_at_line, v.first_broken), (Some(3), None));
        assert_eq!(v.status, ChainStatus::Intact);
    }

    #[test]
    fn an_empty_log_is_empty_not_intact() {
        let (_dir, log) = log_with(0);
        let v = log.verify().unwrap();
        assert_eq!((v.status, v.lines, &v.first_broken), (ChainStatus::Empty, 0, &None));
        assert!(!v.is_intact());
    }

    /// The log with `seq` and `prev` taken out of every record.
    fn strip_links(log: &AuditLog) {
        let l: Vec<String> = lines(log)
            .iter()
            .map(|line| {
                let mut r: AuditRecord = serde_json::from_str(line).unwrap();
                (r.seq, r.prev) = (None, None);
                serde_json::to_string(&r).unwrap()
            })
            .collect();
        write_lines(log, &l);
    }

    #[test]
    fn a_log_stripped_of_its_links_is_not_intact() {
        let (_dir, log) = log_with(3);
        strip_links(&log);
        let v = log.verify().unwrap();
        assert_eq!(v.status, ChainStatus::Broken, "{v:?}");
        let broken = v.first_broken.unwrap();
        assert_eq!(broken.kind, BreakKind::Removed, "{}", broken.message);
        assert!(broken.message.contains("seq 3"), "{}", broken.message);

        // Its head file gone too: still not intact.
        std::fs::remove_file(log.head_path()).unwrap();
        let v = log.verify().unwrap();
        assert_eq!((v.status, &v.first_broken), (ChainStatus::NotChained, &None));
        assert!(!v.is_intact());
    }

    #[test]
    fn records_cut_from_the_end_are_named() {
        let (_dir, log) = log_with(4);
        let mut l = lines(&log);
        l.pop();
        write_lines(&log, &l);
        let v = log.verify().unwrap();
        let broken = v.first_broken.clone().unwrap();
        assert_eq!(
            (v.status, broken.line, broken.kind),
            (ChainStatus::Broken, 4, BreakKind::Removed),
            "{}",
            broken.message
        );
        assert!(broken.message.contains("removed at the end"), "{}", broken.message);

        // Appending after the cut does not hide it: the new record's seq skips.
        log.append(&record("export", "later@x.io", "2026-01-02T00:00:00Z"))
            .unwrap();
        let broken = log.verify().unwrap().first_broken.unwrap();
        assert_eq!(
            (broken.line, broken.kind),
            (4, BreakKind::Removed),
            "{}",
            broken.message
        );
    }

    #[test]
    fn a_last_line_replaced_by_garbage_is_named() {
        // Garbage looks like a line torn by a crash; the head says a whole record was there.
        let (_dir, log) = log_with(3);
        let mut l = lines(&log);
        l[2] = r#"{"seq":3,"prev":"ab","ti"#.into();
        write_lines(&log, &l);
        let v = log.verify().unwrap();
        assert_eq!(v.damaged_lines, 1);
        let broken = v.first_broken.unwrap();
        assert_eq!(
            (broken.line, broken.kind),
            (3, BreakKind::Removed),
            "{}",
            broken.message
        );
        assert!(broken.message.contains("removed at the end"), "{}", broken.message);

        // The last record replaced by another, well-formed one.
        let (_dir, log) = log_with(3);
        let mut l = lines(&log);
        l[2] = l[2].replace("u2@x.io", "someone-else@x.io");
        write_lines(&log, &l);
        let broken = log.verify().unwrap().first_broken.unwrap();
        assert_eq!((broken.line, broken.kind), (3, BreakKind::Edited), "{}", broken.message);
    }

    #[test]
    fn a_missing_head_file_leaves_the_tail_not_anchored() {
        let (_dir, log) = log_with(3);
        assert_eq!(log.verify().unwrap().status, ChainStatus::Intact);
        std::fs::remove_file(log.head_path()).unwrap();
        let v = log.verify().unwrap();
        assert_eq!((v.status, &v.first_broken), (ChainStatus::TailNotAnchored, &None));
        assert!(!v.is_intact());
    }

    #[test]
    fn a_head_one_record_behind_is_a_crash_not_a_break() {
        // A crash after the line was written, before the head was replaced.
        let (_dir, log) = log_with(2);
        let head = std::fs::read(log.head_path()).unwrap();
        log.append(&record("export", "c@x.io", "2026-01-01T00:00:00Z")).unwrap();
        std::fs::write(log.head_path(), head).unwrap();
        assert_eq!(log.verify().unwrap().status, ChainStatus::Intact);
    }

    #[test]
    fn unfinished_intents_are_listed() {
        let (_dir, log) = log_with(1);
        let mut intent = record("delete", "a@x.io", "2026-01-01T00:00:00Z");
        intent.outcome = "intent".into();
        intent.operation = Some("op-1".into());
        log.append(&intent).unwrap();
        let mut done = intent.clone();
        done.outcome = "ok".into();
        log.append(&done).unwrap();
        intent.operation = Some("op-2".into());
        log.append(&intent).unwrap();
        assert_eq!(log.verify().unwrap().unfinished_intents, [4]);
    }

    #[test]
    fn concurrent_appends_keep_one_chain() {
        let (_dir, log) = log_with(0);
        // Separate handles, as separate processes would have: each append
        // opens the file and takes the lock itself.
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let log = AuditLog::at(log.path());
                std::thread::spawn(move || {
                    for i in 0..50 {
                        log.append(&record("export", &format!("t{t}-{i}@x.io"), "2026-01-01T00:00:00Z"))
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let v = log.verify().unwrap();
        assert_eq!((v.records, v.damaged_lines, v.first_broken), (200, 0, None));
        let seqs: Vec<u64> = log
            .read(&AuditFilter::default())
            .unwrap()
            .iter()
            .map(|r| r.seq.unwrap())
            .collect();
        assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
    }

    /// An append waiting for the lock (another process appending) or an
    /// fsync leaves the async runtime free: on a one-thread runtime, another
    /// task runs while the append waits.
    #[tokio::test(flavor = "current_thread")]
    async fn an_append_waiting_for_the_lock_leaves_the_runtime_free() {
        let (_dir, log) = log_with(1);
        let (ran, ran_rx) = std::sync::mpsc::channel::<()>();
        let held = File::options().append(true).open(log.path()).unwrap();
        held.lock().unwrap();
        // Holds the lock until this task says it ran; if it never can (the
        // append blocks the runtime's only thread), gives up and lets go so
        // the test fails instead of hanging.
        let holder = std::thread::spawn(move || {
            let ran_while_waiting = ran_rx.recv_timeout(std::time::Duration::from_secs(60)).is_ok();
            held.unlock().unwrap();
            ran_while_waiting
        });
        let append = tokio::spawn({
            let log = log.clone();
            async move {
                log.append_off_runtime(record("export", "b@x.io", "2026-01-01T00:00:00Z"))
                    .await
            }
        });
        tokio::task::yield_now().await;
        let _ = ran.send(());
        append.await.unwrap().unwrap();
        assert!(
            holder.join().unwrap(),
            "the runtime was blocked while the append waited"
        );
        assert_eq!(log.read(&AuditFilter::default()).unwrap().len(), 2);
    }

    #[test]
    fn the_tail_is_found_across_chunks() {
        // Lines longer than the first chunk read from the end.
        let (_dir, log) = log_with(0);
        let mut big = record("export", "big@x.io", "2026-01-01T00:00:00Z");
        big.detail.insert("path".into(), serde_json::json!("x".repeat(10_000)));
        for _ in 0..3 {
            log.append(&big).unwrap();
        }
        let v = log.verify().unwrap();
        assert_eq!((v.records, v.first_broken), (3, None));
        assert_eq!(log.read(&AuditFilter::default()).unwrap()[2].seq, Some(3));
    }

    #[cfg(unix)]
    #[test]
    fn the_log_and_its_dir_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::at(dir.path().join("data/audit.jsonl"));
        log.append(&record("export", "a@x.io", "2026-01-01T00:00:00Z")).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(log.path()), 0o600);
        assert_eq!(mode(&log.head_path()), 0o600);
        assert_eq!(mode(&dir.path().join("data")), 0o700);
        // A log written by an older version (0644) is tightened on the next append.
        std::fs::set_permissions(log.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        log.append(&record("export", "a@x.io", "2026-01-01T00:00:00Z")).unwrap();
        assert_eq!(mode(log.path()), 0o600);
    }

    /// A log that cannot be called intact is an error with the audit codes;
    /// an intact or empty one is not.
    #[test]
    fn a_verification_that_is_not_intact_is_an_audit_chain_error() {
        use crate::error::ErrorCode;
        let v = |status, first_broken| AuditVerification {
            path: "/logs/audit.jsonl".into(),
            status,
            first_broken,
            ..AuditVerification::default()
        };
        let broken = BrokenLink {
            line: 7,
            kind: BreakKind::Edited,
            message: "the line was edited".into(),
        };
        let e = v(ChainStatus::Broken, Some(broken)).problem().unwrap();
        assert_eq!(e.code(), ErrorCode::AuditChainBroken);
        assert_eq!(e.to_string(), "/logs/audit.jsonl: line 7: the line was edited");
        for status in [ChainStatus::NotChained, ChainStatus::TailNotAnchored] {
            let e = v(status, None).problem().unwrap();
            assert_eq!(e.code(), ErrorCode::AuditChainUnverified, "{status:?}");
            assert!(e.to_string().starts_with("/logs/audit.jsonl: "), "{e}");
        }
        for status in [ChainStatus::Intact, ChainStatus::Empty] {
            assert!(v(status, None).problem().is_none(), "{status:?}");
        }
    }
}
