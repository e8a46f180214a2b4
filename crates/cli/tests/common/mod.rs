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
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_archive-desk-cli"));
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
