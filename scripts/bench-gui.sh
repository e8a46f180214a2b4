#!/usr/bin/env bash
# The GUI benchmark (docs/BENCHMARKS.md, "The app at 80 ms"): the real app
# (the debug build the end-to-end test drives) under Xvfb through
# tauri-driver, against 10,000 users on rclone behind the fault proxy adding
# 80 ms per request. Not part of the test suite (scripts/test.sh); takes
# ~10 minutes on 2 cores. It writes its table into docs/BENCHMARKS.md.
# ARCHIVE_DESK_GUI_BENCH_USERS (10000) and ARCHIVE_DESK_GUI_BENCH_SEARCH_USERS
# (100000, × 10 catalog entries) change the sizes.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/archive-desk/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

scripts/install-tools.sh
npm ci --prefix ui
npm --prefix ui run build
cargo build --locked -p archive-desk
cargo test --locked -p archive-desk-e2e --test gui_bench --no-run
scripts/with-keyring.sh cargo test --locked -p archive-desk-e2e --test gui_bench -- --ignored --nocapture
