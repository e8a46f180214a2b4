//! `audit`: the local audit log, filtered; `audit verify`: its hash chain.

use std::io::{self, Write};
use std::path::PathBuf;

use archive_desk_core::audit::{to_csv, AuditExportFormat, AuditExportReport};
use archive_desk_core::{AuditFilter, AuditLog, AuditRead, AuditVerification, ChainStatus, Error, ErrorReport};
use clap::{Args, Subcommand};

use crate::render::{json_line, Render};
use crate::text::{inline, or_dash};

#[derive(Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: Option<AuditCommand>,
    /// Email or folder.
    #[arg(long)]
    user: Option<String>,
    /// restore, delete, export, repair or thaw.
    #[arg(long)]
    action: Option<String>,
    /// RFC 3339 time, e.g. 2026-01-31T00:00:00Z.
    #[arg(long)]
    since: Option<String>,
    /// RFC 3339 time, or a date for that whole day (2026-01-31).
    #[arg(long)]
    until: Option<String>,
    /// Export the records shown as csv or json (to stdout, or to `-o FILE`).
    #[arg(long)]
    format: Option<AuditExportFormat>,
    /// The file to export to (written atomically); needs `--format`.
    #[arg(short, long, requires = "format")]
    output: Option<PathBuf>,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the log's hash chain: records, damaged lines, the first
    /// edited, removed or inserted line.
    Verify,
}

/// The records the filter keeps, or (`audit verify`) the chain's check.
pub fn audit(args: &AuditArgs) -> Result<Box<dyn Render>, Error> {
    let log = AuditLog::default_location()?;
    let path = log.path().to_owned();
    if let Some(AuditCommand::Verify) = args.command {
        return Ok(Box::new(Verified {
            verification: log.verify()?,
        }));
    }
    let filter = AuditFilter {
        user: args.user.clone(),
        action: args.action.clone(),
        since: args.since.clone(),
        until: args.until.clone(),
    };
    match (args.format, &args.output) {
        (Some(format), Some(path)) => return Ok(Box::new(Exported(log.export(&filter, format, path)?))),
        (Some(format), None) => {
            return Ok(Box::new(Printed {
                read: log.read(&filter)?,
                format,
            }))
        }
        _ => {}
    }
    Ok(Box::new(Records {
        read: log.read(&filter)?,
        path,
    }))
}

/// The records, a line each; damaged lines are counted on stderr.
struct Records {
    read: AuditRead,
    path: PathBuf,
}

impl Records {
    fn warn_damaged(&self) {
        if self.read.damaged_lines > 0 {
            eprintln!(
                "archive-desk-cli: {} damaged lines in {} (not shown; see `audit verify`)",
                self.read.damaged_lines,
                self.path.display()
            );
        }
    }
}

impl Render for Records {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        for r in &self.read.records {
            writeln!(
                out,
                "{}  {:<8} {:<6} {:<30} {}{}",
                r.time,
                r.action,
                r.outcome,
                or_dash(r.user_email.as_deref().or(r.user_folder.as_deref())),
                inline(&r.conversation_ids.join(",")),
                r.error_code.as_deref().map(|c| format!("  [{c}]")).unwrap_or_default()
            )?;
        }
        out.flush()?;
        self.warn_damaged();
        Ok(())
    }
    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        for r in &self.read.records {
            json_line(out, r)?;
        }
        out.flush()?;
        self.warn_damaged();
        Ok(())
    }
}

/// `--format` with `-o`: the file written, said on stderr (stdout stays
/// empty, as for `export -o`); in JSON the report on stdout.
struct Exported(AuditExportReport);

impl Render for Exported {
    fn text(&self, _: &mut dyn Write) -> io::Result<()> {
        eprintln!("exported {} audit records to {}", self.0.records, self.0.path);
        Ok(())
    }
    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        json_line(out, &self.0)
    }
}

/// `--format` without `-o`: the export itself on stdout.
struct Printed {
    read: AuditRead,
    format: AuditExportFormat,
}

impl Render for Printed {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        match self.format {
            AuditExportFormat::Csv => out.write_all(to_csv(&self.read.records).as_bytes()),
            AuditExportFormat::Json => {
                serde_json::to_writer_pretty(&mut *out, &self.read.records)?;
                writeln!(out)
            }
        }
    }
    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        self.text(out)
    }
}

/// The chain's check; exit 1 unless it is intact (or the log is empty).
struct Verified {
    verification: AuditVerification,
}

impl Render for Verified {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        let v = &self.verification;
        writeln!(
            out,
            "{}: {} records, {} damaged lines, {} lines in all",
            v.path, v.records, v.damaged_lines, v.lines
        )?;
        if let Some(n) = v.chain_starts_at_line.filter(|&n| n > 1) {
            writeln!(
                out,
                "chain starts at line {n} (lines before it were written by an older version)"
            )?;
        }
        match &v.first_broken {
            None => out.write_all(
                match v.status {
                    ChainStatus::Empty => "empty: nothing recorded yet\n",
                    ChainStatus::NotChained => {
                        "NOT CHAINED: no record carries a link (written by an older version, or the links were \
                      stripped); nothing can be checked\n"
                    }
                    ChainStatus::TailNotAnchored => {
                        "TAIL NOT ANCHORED: the chain is whole, but the head file next to the log is missing \
                      (written by an older version, or deleted): records cut from the end would not show\n"
                    }
                    ChainStatus::Intact | ChainStatus::Broken => "chain intact\n",
                }
                .as_bytes(),
            )?,
            Some(b) => {
                let kind = serde_json::to_value(b.kind)
                    .ok()
                    .and_then(|k| k.as_str().map(str::to_owned));
                writeln!(
                    out,
                    "BROKEN at line {} ({}): {}",
                    b.line,
                    or_dash(kind.as_deref()),
                    b.message
                )?;
            }
        }
        if !v.unfinished_intents.is_empty() {
            let lines: Vec<String> = v.unfinished_intents.iter().map(u64::to_string).collect();
            writeln!(
                out,
                "intents without an outcome (done or not, unknown) at lines {}",
                lines.join(", ")
            )?;
        }
        Ok(())
    }
    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        json_line(out, &self.verification)
    }
    fn failure(&self) -> Option<ErrorReport> {
        self.verification.problem().map(|e| ErrorReport::from(&e))
    }
}
