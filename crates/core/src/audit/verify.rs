//! The chain verification: [`AuditLog::verify`] streams the log once
//! (a line and the hashes of the two before it) and compares its end with
//! the head file; it names the first broken link and never says `intact`
//! unless all was checked.

use serde::Serialize;

use super::{sha256_hex, AuditLog, AuditRecord, Head};
use crate::error::{Error, Result};
use crate::plural::count;

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

impl AuditLog {
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
                                    "{} removed before line {n} (seq {seq}, expected {expected}): \
                                     the end of the log was cut, then appended to",
                                    count(seq - expected, "record")
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
        if head.seq == 0 {
            // Anchored, nothing chained yet: a crash before the first line.
            return None;
        }
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
            "{} removed at the end: the last record (line {}) has seq {}, the head file records seq {}",
            count(head.seq - last.seq, "record"),
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
            "{} missing before line {n} (seq {seq}, expected {expected})",
            count(seq - expected, "record")
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
