//! The audit view's export: the records a filter keeps, as CSV (one row a
//! record, RFC 4180 quoting) or JSON (one array), written atomically and
//! owner-only like every other file the app writes.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{AuditFilter, AuditLog, AuditRecord};
use crate::error::{Error, Result};

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditExportFormat {
    Csv,
    Json,
}

impl std::str::FromStr for AuditExportFormat {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "csv" => Ok(AuditExportFormat::Csv),
            "json" => Ok(AuditExportFormat::Json),
            other => Err(Error::InvalidInput(format!("{other:?}: the format is csv or json"))),
        }
    }
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize)]
pub struct AuditExportReport {
    pub path: String,
    pub format: AuditExportFormat,
    pub records: u64,
    /// Lines of the log that are not records (not exported; see verify).
    pub damaged_lines: u64,
}

/// The CSV columns, in order.
pub const CSV_COLUMNS: [&str; 13] = [
    "seq",
    "time",
    "os_user",
    "profile",
    "bucket",
    "action",
    "outcome",
    "error_code",
    "user_email",
    "user_folder",
    "conversation_ids",
    "operation",
    "detail",
];

/// One CSV field: quoted when it holds a comma, quote or line break; a
/// field a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab,
/// carriage return first) gets a leading `'`, since emails and folder
/// names come from the archive.
fn field(value: &str) -> String {
    let value = match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}"),
        _ => value.to_owned(),
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// The records as CSV: a header row, then a row a record (`\r\n` line
/// ends); `conversation_ids` space-separated, `detail` as compact JSON.
pub fn to_csv(records: &[AuditRecord]) -> String {
    let mut out = CSV_COLUMNS.join(",") + "\r\n";
    for r in records {
        let detail = serde_json::to_string(&r.detail).expect("a map serializes");
        let row = [
            r.seq.map(|s| s.to_string()).unwrap_or_default(),
            r.time.clone(),
            r.os_user.clone(),
            r.profile.clone().unwrap_or_default(),
            r.bucket.clone(),
            r.action.clone(),
            r.outcome.clone(),
            r.error_code.clone().unwrap_or_default(),
            r.user_email.clone().unwrap_or_default(),
            r.user_folder.clone().unwrap_or_default(),
            r.conversation_ids.join(" "),
            r.operation.clone().unwrap_or_default(),
            detail,
        ];
        let row: Vec<String> = row.iter().map(|v| field(v)).collect();
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    out
}

impl AuditLog {
    /// Write the records `filter` keeps (oldest first) to `path` in `format`.
    pub fn export(&self, filter: &AuditFilter, format: AuditExportFormat, path: &Path) -> Result<AuditExportReport> {
        let read = self.read(filter)?;
        let bytes = match format {
            AuditExportFormat::Csv => to_csv(&read.records).into_bytes(),
            AuditExportFormat::Json => {
                let mut b = serde_json::to_vec_pretty(&read.records).expect("records serialize");
                b.push(b'\n');
                b
            }
        };
        crate::codec::write_bytes_atomic(path, &bytes)?;
        Ok(AuditExportReport {
            path: path.display().to_string(),
            format,
            records: read.records.len() as u64,
            damaged_lines: read.damaged_lines,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\"\nnow"), "\"say \"\"hi\"\"\nnow\"");
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("@sum"), "'@sum");
        assert_eq!(field(""), "");
    }
}
