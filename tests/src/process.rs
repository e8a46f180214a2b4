//! Running programs from tests, after ripgrep's `tests/util.rs`: when a
//! command fails, or a server does not come up, the panic shows the full
//! command line, the exit status and the tails of stdout and stderr (or of
//! the server's log), so a failure on CI can be read without a rerun.
//!
//! Servers run under a small `sh` guard ([`Guarded`]) that reads our stdin:
//! when this process exits, for any reason, the pipe closes and the guard
//! stops the server and removes its directory, so no test run leaves
//! servers or data behind.

use std::ffi::OsStr;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How much of each output a failure shows: its last lines, at most this many.
const TAIL_LINES: usize = 40;
/// Environment variables whose values a failure does not show.
const SECRET_NAME_PARTS: [&str; 5] = ["SECRET", "PASSWORD", "KEY", "URI", "TOKEN"];
/// Flags whose value a failure does not show (rclone's `ID,SECRET`).
const SECRET_FLAGS: [&str; 1] = ["--auth-key"];

/// The command as a shell would read it: the variables it sets (secret-like
/// values shown as `<redacted>`), the working directory, the program and
/// each argument, quoted where needed.
pub fn command_line(cmd: &Command) -> String {
    let mut parts = Vec::new();
    if let Some(dir) = cmd.get_current_dir() {
        parts.push(format!("cd {} &&", quote(dir.as_os_str())));
    }
    for (name, value) in cmd.get_envs() {
        let name = name.to_string_lossy();
        let shown = match value {
            None => continue, // removed from the environment
            Some(_) if SECRET_NAME_PARTS.iter().any(|p| name.to_ascii_uppercase().contains(p)) => {
                "<redacted>".to_owned()
            }
            Some(v) => quote(v),
        };
        parts.push(format!("{name}={shown}"));
    }
    parts.push(quote(cmd.get_program()));
    let mut hide_next = false;
    for arg in cmd.get_args() {
        parts.push(if hide_next { "<redacted>".to_owned() } else { quote(arg) });
        hide_next = SECRET_FLAGS.iter().any(|f| arg == *f);
    }
    parts.join(" ")
}

fn quote(s: &OsStr) -> String {
    let s = s.to_string_lossy();
    let plain = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c));
    if plain {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The last [`TAIL_LINES`] lines of `bytes` (lossy UTF-8), saying how many
/// lines were left out.
pub fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    if lines.is_empty() {
        return "(empty)".to_owned();
    }
    let skip = lines.len().saturating_sub(TAIL_LINES);
    let shown = lines[skip..].join("\n");
    if skip > 0 {
        format!("({skip} earlier lines left out)\n{shown}")
    } else {
        shown
    }
}

/// The tail of a log file, or why it cannot be read.
pub fn log_tail(path: &Path) -> String {
    match std::fs::read(path) {
        Ok(bytes) => tail(&bytes),
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// The failure report: what ran, how it ended, and the tails of its output.
pub fn report(what: &str, command: &str, status: &str, stdout: &[u8], stderr: &[u8]) -> String {
    format!(
        "\n\n==========\n{what}\n\ncommand: {command}\n\nstatus: {status}\n\nstdout (tail):\n{}\n\nstderr (tail):\n{}\n==========\n",
        tail(stdout),
        tail(stderr)
    )
}

/// Run `cmd` to completion, capturing stdout and stderr, whatever its exit
/// status; panics (naming the command) only if it cannot be started.
pub fn output(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot start `{}`: {e}", command_line(cmd)))
}

/// Like [`output`], writing `input` to its stdin first (from a thread of its
/// own, so a large output cannot block a large input).
pub fn output_with_stdin(cmd: &mut Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{}`: {e}", command_line(cmd)));
    let mut stdin = child.stdin.take().expect("a piped stdin");
    let input = input.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for `{}`: {e}", command_line(cmd)));
    // A program that exits without reading all its input breaks the pipe:
    // its exit status says what went wrong.
    let _ = writer.join();
    out
}

/// Panic with the full report unless `out` is a success.
pub fn expect_success(cmd: &Command, out: &Output) {
    if !out.status.success() {
        panic!(
            "{}",
            report(
                "command failed but success was expected",
                &command_line(cmd),
                &out.status.to_string(),
                &out.stdout,
                &out.stderr
            )
        );
    }
}

/// Run `cmd`; it must succeed. Returns its output.
pub fn run(cmd: &mut Command) -> Output {
    let out = output(cmd);
    expect_success(cmd, &out);
    out
}

/// A server under the stdin guard.
pub struct Guarded {
    child: Option<Child>,
    pid_file: PathBuf,
    logs: Vec<PathBuf>,
    command: String,
}

/// How to start one server under [`Guarded::spawn`].
pub struct ServerCommand<'a> {
    /// Names the pid file next to the log (unique in the log's directory).
    pub name: &'a str,
    pub program: &'a Path,
    pub args: &'a [&'a str],
    pub envs: &'a [(&'a str, String)],
    /// stdout and stderr are appended here.
    pub log: &'a Path,
    /// A log the server writes itself (nginx's error log), shown in a
    /// failure report after `log`.
    pub own_log: Option<&'a Path>,
    /// Sent to stop it (`TERM`, or `INT` for PostgreSQL's fast shutdown).
    pub signal: &'a str,
    /// Removed once the server has stopped (unless it is [`Guarded::abandon`]ed).
    pub cleanup: Option<&'a Path>,
    /// Run as the `postgres` system user (we are root; PostgreSQL refuses root).
    pub as_db_user: bool,
}

impl Guarded {
    /// Start the server under a `sh` guard that logs to `log` and, on EOF on
    /// its stdin (our exit, or [`Self::stop`]), sends `signal`, waits for
    /// the server and removes `cleanup`.
    pub fn spawn(server: &ServerCommand) -> Guarded {
        let pid_file = server.log.with_file_name(format!("{}.pid", server.name));
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(
                // The server runs under a subshell that records its exit
                // status (`PIDFILE.status`, for the startup report). Its pid
                // comes back through the command substitution (the subshell
                // closes that pipe at once), not from the pid file, which
                // may be in a directory another guard removes first.
                r#"log="$1"; pidfile="$2"; sig="$3"; dir="$4"; shift 4
pid=$( ( "$@" </dev/null >>"$log" 2>&1 & p=$!; echo "$p"; exec >/dev/null; echo "$p" >"$pidfile"; wait $p; echo $? >"$pidfile.status" ) & )
trap 'kill -s "$sig" $pid 2>/dev/null; while kill -0 $pid 2>/dev/null; do sleep 0.05; done; [ -z "$dir" ] || [ -e "$pidfile.keep" ] || rm -rf "$dir"' EXIT
cat >/dev/null"#,
            )
            .arg("sh")
            .arg(server.log)
            .arg(&pid_file)
            .arg(server.signal)
            .arg(server.cleanup.map(Path::as_os_str).unwrap_or_default());
        // What a failure shows: the server's own command, not the guard's.
        let mut shown = Command::new(server.program);
        shown.args(server.args);
        if server.as_db_user {
            cmd.args(["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]);
        }
        cmd.arg(server.program)
            .args(server.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in server.envs {
            cmd.env(k, v);
            shown.env(k, v);
        }
        let command = command_line(&shown);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the guard of `{command}`: {e}"));
        Guarded {
            child: Some(child),
            pid_file,
            logs: std::iter::once(server.log)
                .chain(server.own_log)
                .map(Path::to_owned)
                .collect(),
            command,
        }
    }

    /// How the server ended, once it has exited (e.g. its port was taken);
    /// None while it runs.
    pub fn server_exit(&self) -> Option<String> {
        let status = std::fs::read_to_string(self.pid_file.with_extension("pid.status")).ok()?;
        let code: i32 = status.trim().parse().ok()?;
        Some(if code > 128 {
            format!("killed by signal {} (exit status {code})", code - 128)
        } else {
            format!("exit status: {code}")
        })
    }

    /// The failure report for this server: its command, how it ended and
    /// the tail of its log.
    pub fn report(&self, what: &str, status: &str) -> String {
        let logs: String = self
            .logs
            .iter()
            .map(|log| format!("\n\nlog {} (tail):\n{}", log.display(), log_tail(log)))
            .collect();
        format!(
            "\n\n==========\n{what}\n\ncommand: {}\n\nstatus: {status}{logs}\n==========\n",
            self.command
        )
    }

    /// Stop a server that failed to start, keeping its directory for the
    /// next attempt.
    pub fn abandon(&mut self) {
        let _ = std::fs::write(self.pid_file.with_extension("pid.keep"), "");
        self.stop();
    }

    /// Stop the server (close the guard's stdin) and wait for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        self.stop();
    }
}

pub type Ready = Box<dyn Fn() -> bool>;

/// Start a server with `spawn(attempt)` and wait until its `ready` check
/// passes; if it exits first (a port race: a free port taken between
/// choosing it and the server binding it), try again, `attempts` times in
/// all. Panics with [`Guarded::report`] when it keeps exiting or is not
/// ready within `timeout`.
pub fn launch<T>(
    name: &str,
    attempts: usize,
    timeout: Duration,
    mut spawn: impl FnMut(usize) -> (Guarded, T, Ready),
) -> (Guarded, T) {
    for attempt in 1..=attempts {
        let (mut guard, value, ready) = spawn(attempt);
        let deadline = Instant::now() + timeout;
        loop {
            if ready() {
                return (guard, value);
            }
            if let Some(status) = guard.server_exit() {
                if attempt == attempts {
                    let report = guard.report(&format!("{name} exited during startup ({attempts} attempts)"), &status);
                    guard.abandon();
                    panic!("{report}");
                }
                guard.abandon();
                break;
            }
            if Instant::now() > deadline {
                let report = guard.report(
                    &format!("{name} was not ready within {} s", timeout.as_secs()),
                    "still running",
                );
                guard.stop();
                panic!("{report}");
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
    unreachable!("launch returns or panics within its attempts")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_command_shows_its_line_status_and_output_tails() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "seq 1 100; echo 'it broke' >&2; exit 3"])
            .env("ARCHIVE_DESK_MARK", "shown")
            .env("SOME_SECRET_KEY", "hidden-value")
            .args(["--auth-key", "id,hidden-secret"]);
        let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&mut cmd)))
            .expect_err("a failing command panics");
        let message = panic.downcast_ref::<String>().expect("a formatted message");
        assert!(
            message.contains(
                "command: ARCHIVE_DESK_MARK=shown SOME_SECRET_KEY=<redacted> \
                 sh -c 'seq 1 100; echo '\\''it broke'\\'' >&2; exit 3' --auth-key <redacted>\n"
            ),
            "{message}"
        );
        assert!(!message.contains("hidden-value") && !message.contains("hidden-secret"));
        assert!(message.contains("exit status: 3"), "{message}");
        assert!(message.contains("(60 earlier lines left out)\n61\n"), "{message}");
        assert!(message.contains("100\n") && !message.contains("\n60\n"), "{message}");
        assert!(message.contains("stderr (tail):\nit broke"), "{message}");
    }

    #[test]
    fn a_successful_command_returns_its_output() {
        let out = output_with_stdin(&mut Command::new("cat"), b"echoed");
        assert!(out.status.success());
        assert_eq!(out.stdout, b"echoed");
    }

    #[test]
    fn a_server_that_exits_at_once_is_reported_with_its_status_and_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("false.log");
        let panic = std::panic::catch_unwind(|| {
            let _never_ready = launch("a failing server", 2, Duration::from_secs(30), |attempt| {
                let guard = Guarded::spawn(&ServerCommand {
                    name: &format!("failing-{attempt}"),
                    program: Path::new("sh"),
                    args: &["-c", "echo cannot bind port >&2; exit 7"],
                    envs: &[],
                    log: &log,
                    own_log: None,
                    signal: "TERM",
                    cleanup: None,
                    as_db_user: false,
                });
                (guard, (), Box::new(|| false) as Ready)
            });
        })
        .expect_err("a server that never comes up panics");
        let message = panic.downcast_ref::<String>().expect("a formatted message");
        assert!(
            message.contains("a failing server exited during startup (2 attempts)"),
            "{message}"
        );
        assert!(
            message.contains("command: sh -c 'echo cannot bind port >&2; exit 7'"),
            "{message}"
        );
        assert!(message.contains("exit status: 7"), "{message}");
        // Both attempts appended to the one log.
        assert!(message.contains("cannot bind port\ncannot bind port"), "{message}");
    }

    #[test]
    fn a_server_whose_directory_went_first_is_still_stopped() {
        // PostgREST logs into its project's directory, which the gateway's
        // guard removes before PostgREST's guard stops it.
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("sleeper.log");
        let mut guard = Guarded::spawn(&ServerCommand {
            name: "sleeper",
            program: Path::new("sleep"),
            args: &["300"],
            envs: &[],
            log: &log,
            own_log: None,
            signal: "TERM",
            cleanup: None,
            as_db_user: false,
        });
        let pid_file = dir.path().join("sleeper.pid");
        let deadline = Instant::now() + Duration::from_secs(30);
        let pid = loop {
            if let Some(pid) = std::fs::read_to_string(&pid_file).ok().filter(|p| p.ends_with('\n')) {
                break pid.trim().to_owned();
            }
            assert!(Instant::now() < deadline, "the guard never wrote the pid file");
            std::thread::sleep(Duration::from_millis(10));
        };
        std::fs::remove_dir_all(dir.path()).unwrap();
        guard.stop();
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "the server (pid {pid}) outlived its guard"
        );
    }
}
