//! How a command's result reaches the terminal: every command returns a
//! value that renders itself as text or as JSON (`Render`), `Output` picks
//! one by `--json`, and `exit` renders every error, in one place, as the
//! core's `{code, message}`.

use std::io::{self, StdoutLock, Write};
use std::process::ExitCode;

use archive_desk_core::{Audited, Error, ErrorCode, ErrorReport};
use serde::Serialize;

use crate::text;

/// A command's result, printable both ways. Data goes to stdout; what a
/// command says about what it did (a file written, a warning) to stderr.
pub trait Render {
    /// Readable text.
    fn text(&self, out: &mut dyn Write) -> io::Result<()>;
    /// `--json`: a JSON document a line.
    fn json(&self, out: &mut dyn Write) -> io::Result<()>;
    /// Shown, yet the command failed (exit 1): an unreadable index, problems
    /// found, a broken chain.
    fn failure(&self) -> Option<ErrorReport> {
        None
    }
}

/// `value` as one line of JSON.
pub fn json_line<T: Serialize + ?Sized>(out: &mut dyn Write, value: &T) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    writeln!(out)
}

/// An irreversible action was done but its audit outcome is missing: say
/// so, and still report it as done.
pub fn warn_audit(warning: Option<&str>) {
    if let Some(w) = warning {
        eprintln!("archive-desk-cli: warning: {}", text::printable(w));
    }
}

/// The audit warning on stderr, then the action's own report; in JSON the
/// warning is a field of the report too (`audit_warning`).
impl<T: Render + Serialize> Render for Audited<T> {
    fn text(&self, out: &mut dyn Write) -> io::Result<()> {
        warn_audit(self.audit_warning.as_deref());
        self.value.text(out)
    }
    fn json(&self, out: &mut dyn Write) -> io::Result<()> {
        warn_audit(self.audit_warning.as_deref());
        json_line(out, self)
    }
    fn failure(&self) -> Option<ErrorReport> {
        self.value.failure()
    }
}

/// Why a command ended with exit 1.
pub enum Failure {
    Core(Error),
    /// Decided after something was shown (see `Render::failure`).
    Reported(ErrorReport),
    Io(io::Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Core(e)
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Io(e)
    }
}

/// Standard output in the format `--json` chose.
pub struct Output {
    json: bool,
    stdout: StdoutLock<'static>,
}

impl Output {
    pub fn new(json: bool) -> Self {
        Output {
            json,
            stdout: io::stdout().lock(),
        }
    }

    /// Print `value` (streamed commands call this once a page), then fail
    /// if it says so.
    pub fn emit(&mut self, value: &dyn Render) -> Result<(), Failure> {
        if self.json {
            value.json(&mut self.stdout)?;
        } else {
            value.text(&mut self.stdout)?;
        }
        self.stdout.flush()?;
        value.failure().map_or(Ok(()), |report| Err(Failure::Reported(report)))
    }

    /// The exit code of `result`, its error printed on stderr as
    /// `{code, message}` (`--json`) or as one readable line.
    pub fn exit(self, result: Result<(), Failure>) -> ExitCode {
        let report = match result {
            Ok(()) => return ExitCode::SUCCESS,
            // Output closed early (`| head`): not an error.
            Err(Failure::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => return ExitCode::SUCCESS,
            Err(Failure::Core(e)) => ErrorReport::from(&e),
            Err(Failure::Reported(r)) => r,
            Err(Failure::Io(e)) => ErrorReport {
                code: ErrorCode::Io,
                message: format!("writing output: {e}"),
            },
        };
        if self.json {
            eprintln!("{}", serde_json::to_string(&report).expect("serializable"));
        } else {
            eprintln!(
                "archive-desk-cli: error: {} [{}]",
                text::printable(&report.message),
                report.code
            );
        }
        ExitCode::FAILURE
    }
}
