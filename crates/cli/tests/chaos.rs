//! Chaos runs (docs/RELIABILITY.md): the real binary through the fault
//! proxy under a mix of 503 SlowDown, resets, cut bodies and latency. Each
//! run completes with the right result or fails cleanly and a retry
//! completes; nothing is lost, duplicated or left partial. A short pass
//! here; `scripts/reliability.sh` runs the long one
//! (`ARCHIVE_DESK_CHAOS_RUNS`). The engine is in the harness (`tests/src/chaos.rs`).

use std::path::Path;

use archive_desk_harness::chaos;
use archive_desk_harness::crash::Plan;

fn plan(operation: &str, short_runs: usize) -> Plan {
    chaos::set_binary(Path::new(env!("CARGO_BIN_EXE_archive-desk-cli")));
    Plan::from_vars("chaos", operation, short_runs)
}

#[test]
fn chaos_reads() {
    chaos::reads(&plan("reads", 3));
}

#[test]
fn chaos_sync() {
    chaos::sync(&plan("sync", 4));
}

#[test]
fn chaos_delete() {
    chaos::delete(&plan("delete", 4), false);
}

#[test]
fn chaos_delete_versioned() {
    chaos::delete(&plan("delete-versioned", 4), true);
}

#[test]
fn chaos_repair() {
    chaos::repair(&plan("repair", 4));
}

#[test]
fn chaos_restore() {
    chaos::restore(&plan("restore", 4));
}
