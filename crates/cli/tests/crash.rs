//! Crash tests (docs/RELIABILITY.md): the real binary killed with SIGKILL
//! during delete, repair, export-user, sync, the three restore modes and a
//! bulk restore;
//! after each kill the invariants hold and the operation, run again,
//! completes. A short pass here (a few runs per operation);
//! `scripts/reliability.sh` runs the long one (`ARCHIVE_DESK_CRASH_RUNS`).
//! The engine and the invariants are in the harness (`tests/src/crash/`).

use std::path::Path;

use archive_desk_harness::crash::{self, Plan};

fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_archive-desk-cli"))
}

#[test]
fn crash_delete() {
    crash::delete(binary(), &Plan::from_env("delete", 3));
}

#[test]
fn crash_repair() {
    crash::repair(binary(), &Plan::from_env("repair", 2));
}

#[test]
fn crash_export_user() {
    crash::export_user(binary(), &Plan::from_env("export-user", 2));
}

#[test]
fn crash_sync() {
    crash::sync(binary(), &Plan::from_env("sync", 2));
}

#[test]
fn crash_restore_rest() {
    crash::restore_rest(binary(), &Plan::from_env("restore-rest", 2));
}

#[test]
fn crash_restore_rpc() {
    crash::restore_rpc(binary(), &Plan::from_env("restore-rpc", 3));
}

#[test]
fn crash_restore_postgres() {
    crash::restore_postgres(binary(), &Plan::from_env("restore-postgres", 2));
}

#[test]
fn crash_restore_bulk() {
    crash::restore_bulk(binary(), &Plan::from_env("restore-bulk", 2));
}
