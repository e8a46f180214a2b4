#!/usr/bin/env bash
# The GUI benchmark (docs/BENCHMARKS.md, "The app at 80 ms"): the real app
# (the release build a user runs; ARCHIVE_DESK_APP=path picks another binary) under Xvfb through
# tauri-driver, against 10,000 users on rclone behind the fault proxy adding
# 80 ms per request. Not part of the test suite (scripts/test.sh); takes
# ~10 minutes on 2 cores (plus the release build's). It writes its table into docs/BENCHMARKS.md.
# ARCHIVE_DESK_GUI_BENCH_USERS (10000) and ARCHIVE_DESK_GUI_BENCH_SEARCH_USERS
# (100000, × 10 catalog entries) change the sizes.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/archive-desk/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

scripts/install-tools.sh
npm ci --prefix ui
npm --prefix ui run build
if [ -z "${ARCHIVE_DESK_APP:-}" ]; then
  # As `tauri build` (scripts/bundle.sh) builds it: the UI served by the
  # app's own protocol, what the bundles install.
  cargo build --locked --release -p archive-desk --features tauri/custom-protocol
  export ARCHIVE_DESK_APP="$CARGO_TARGET_DIR/release/archive-desk"
fi
cargo test --locked -p archive-desk-e2e --test gui_bench --no-run
scripts/with-keyring.sh cargo test --locked -p archive-desk-e2e --test gui_bench -- --ignored --nocapture
