//! Shared by the CLI's integration tests (each file is its own crate, so
//! each says `mod common;`).

use std::path::Path;
use std::process::{Command, Output};

use archive_desk_harness::process;
use archive_desk_harness::{seeded, S3Server, SeededArchive, ServerKind};
use serde_json::Value;

/// The CLI binary on `archive`'s bucket with a clean environment: only
/// `PATH`, the server's credentials, `HOME` = `home` and each variable in
/// `dirs` (`ARCHIVE_DESK_DATA_DIR`…) pointing at `home` too.
pub fn cli_command(archive: &SeededArchive, home: &Path, dirs: &[&str], args: &[&str]) -> Command {
    let mut cmd = command(archive.server, &archive.bucket, home, dirs);
    cmd.args(args);
    cmd
}

/// [`cli_command`] run to completion, whatever its exit status (a failure
/// to start names the full command line).
#[allow(dead_code, reason = "private_files.rs runs cli_command through process::run instead")]
pub fn run_cli(archive: &SeededArchive, home: &Path, dirs: &[&str], args: &[&str]) -> Output {
    process::output(&mut cli_command(archive, home, dirs, args))
}

/// [`cli_command`] on any bucket of `server`, before its arguments: for a
/// bucket a test wrote, or to hold the process's pipes.
pub fn command(server: &S3Server, bucket: &str, home: &Path, dirs: &[&str]) -> Command {
    prepared(Command::new(CLI), server, bucket, home, dirs)
}

const CLI: &str = env!("CARGO_BIN_EXE_archive-desk-cli");

/// `cmd` (the CLI, or a wrapper whose last argument is the CLI) with the
/// environment and connection flags of [`command`].
fn prepared(mut cmd: Command, server: &S3Server, bucket: &str, home: &Path, dirs: &[&str]) -> Command {
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home);
    for var in dirs {
        cmd.env(var, home);
    }
    cmd.envs(server.aws_env())
        .args(["--endpoint", &server.endpoint, "--bucket", bucket]);
    cmd
}

/// The CLI on `bucket` of `server` with its audit log in `data_dir`, run
/// to completion whatever its exit status; it must not have panicked nor
/// printed the server's secret key.
#[allow(dead_code, reason = "used by cli.rs and writes.rs only")]
pub fn run_on(server: &S3Server, bucket: &str, data_dir: &Path, args: &[&str]) -> Output {
    run_on_with(server, bucket, data_dir, args, &[])
}

/// [`run_on`] with more environment variables.
#[allow(dead_code, reason = "used by writes.rs only")]
pub fn run_on_with(server: &S3Server, bucket: &str, data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = command(server, bucket, data_dir, &["ARCHIVE_DESK_DATA_DIR"]);
    cmd.envs(env.iter().copied()).args(args);
    checked(cmd, server)
}

/// [`run_on`] with every file the CLI writes limited to `max_bytes`, as on
/// a full disk: a write past it fails (EFBIG; SIGXFSZ ignored).
#[allow(dead_code, reason = "used by writes.rs only")]
pub fn run_on_file_limited(server: &S3Server, bucket: &str, data_dir: &Path, args: &[&str], max_bytes: u64) -> Output {
    let mut wrapper = Command::new("sh");
    wrapper
        .args(["-c", r#"trap '' XFSZ; exec prlimit --fsize="$0" -- "$@""#])
        .arg(max_bytes.to_string())
        .arg(CLI);
    let mut cmd = prepared(wrapper, server, bucket, data_dir, &["ARCHIVE_DESK_DATA_DIR"]);
    cmd.args(args);
    checked(cmd, server)
}

#[allow(dead_code, reason = "used through run_on and run_on_file_limited")]
fn checked(mut cmd: Command, server: &S3Server) -> Output {
    let out = cmd.output().expect("the CLI runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "the CLI panicked: {stderr}");
    assert!(
        !stderr.contains(&server.secret_access_key)
            && !String::from_utf8_lossy(&out.stdout).contains(&server.secret_access_key),
        "the secret key leaked into the output"
    );
    out
}

/// A successful run's stdout.
#[allow(dead_code, reason = "used by cli.rs and writes.rs only")]
pub fn ok(out: &Output) -> &[u8] {
    assert!(
        out.status.success(),
        "exit {:?}; stderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    &out.stdout
}

#[allow(dead_code, reason = "used by cli.rs and writes.rs only")]
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// [`run_cli`] on the fixture archive on rclone, with the data and cache
/// dirs in `cache`; it must not have panicked.
#[allow(dead_code, reason = "used by the catalog and look-up tests only")]
pub fn run_on_rclone(cache: &Path, args: &[&str]) -> Output {
    let dirs = ["ARCHIVE_DESK_DATA_DIR", "ARCHIVE_DESK_CACHE_DIR"];
    let out = run_cli(seeded(ServerKind::Rclone), cache, &dirs, args);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    out
}

/// The JSON a successful run printed on stdout.
#[allow(dead_code, reason = "used by the catalog and look-up tests only")]
pub fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}
