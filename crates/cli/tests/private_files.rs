//! What the app keeps on disk is owner-only: the profiles file, the audit
//! log, the catalog and exports (0600), in 0700 directories. The CLI runs
//! with only HOME set, so the default locations under it are used.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use archive_desk_harness::process;
use archive_desk_harness::{seeded, SeededArchive, ServerKind};

mod common;
use common::cli_command;

/// The CLI with `HOME` (and `dirs`) at `home`; it must succeed (else the
/// panic shows the command line, status and output tails).
fn run_ok(archive: &SeededArchive, home: &Path, dirs: &[&str], args: &[&str]) -> Output {
    process::run(&mut cli_command(archive, home, dirs, args))
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn profiles_audit_catalog_and_exports_are_owner_only() {
    let archive = seeded(ServerKind::Rclone);
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| run_ok(archive, home.path(), &[], args);
    // A cache dir made by an older version, with the usual 0755: tightened.
    let cache = home.path().join(".cache/archive-desk");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o755)).unwrap();
    // The export destination is the person's own directory: left as it is.
    let exports = home.path().join("exports");
    std::fs::create_dir(&exports).unwrap();
    std::fs::set_permissions(&exports, std::fs::Permissions::from_mode(0o755)).unwrap();

    run(&["profile", "add", "private", "--bucket", "b"]);
    run(&["sync"]);
    let (c, _) = archive.manifest.opens().next().unwrap();
    let one = exports.join("one.json");
    run(&["export", &c.email, &c.id, "-o", one.to_str().unwrap()]);
    let all = exports.join("all.json");
    run(&["export-user", &c.email, "-o", all.to_str().unwrap()]);

    let config = home.path().join(".config/archive-desk");
    let data = home.path().join(".local/share/archive-desk");
    let catalog = cache.join(format!("catalog-{}.sqlite", archive.bucket));
    for (path, expected) in [
        (config.clone(), 0o700),
        (config.join("profiles.toml"), 0o600),
        (data.clone(), 0o700),
        (data.join("audit.jsonl"), 0o600),
        (cache.clone(), 0o700),
        (catalog, 0o600),
        (one, 0o600),
        (all, 0o600),
        (exports, 0o755),
    ] {
        assert_eq!(mode(&path), expected, "{}: {:o}", path.display(), mode(&path));
    }

    // A profiles file and dir an older version left readable by others are
    // tightened as soon as they are read.
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(config.join("profiles.toml"), std::fs::Permissions::from_mode(0o644)).unwrap();
    run(&["profile", "list"]);
    assert_eq!((mode(&config), mode(&config.join("profiles.toml"))), (0o700, 0o600));
}

/// Directories the person points the app at (`ARCHIVE_DESK_*_DIR=$HOME`, say)
/// are theirs: they keep their mode; only the files made in them are 0600.
#[test]
fn directories_named_by_the_environment_keep_their_mode() {
    let archive = seeded(ServerKind::Rclone);
    let home = tempfile::tempdir().unwrap();
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let exports = tempfile::tempdir().unwrap();
    let dirs = [
        "ARCHIVE_DESK_CONFIG_DIR",
        "ARCHIVE_DESK_DATA_DIR",
        "ARCHIVE_DESK_CACHE_DIR",
    ];
    let run = |args: &[&str]| {
        run_ok(archive, home.path(), &dirs, args);
    };
    run(&["profile", "add", "private", "--bucket", "b"]);
    run(&["sync"]);
    let (c, _) = archive.manifest.opens().next().unwrap();
    let one = exports.path().join("one.json");
    run(&["export", &c.email, &c.id, "-o", one.to_str().unwrap()]);
    run(&["profile", "list"]);

    assert_eq!(mode(home.path()), 0o755, "the person's directory is left as it is");
    for file in ["profiles.toml", "audit.jsonl", "audit.jsonl.head"] {
        assert_eq!(mode(&home.path().join(file)), 0o600, "{file}");
    }
    let catalog = home.path().join(format!("catalog-{}.sqlite", archive.bucket));
    assert_eq!(mode(&catalog), 0o600);
}
