#!/usr/bin/env bash
# Runs every fuzz target of fuzz/ for SECONDS each (default 8: the short
# pass of scripts/test.sh; the long runs of docs/RELIABILITY.md use 720 and
# more). Needs nightly and cargo-fuzz (scripts/install-tools.sh installs both).
# The build and the work corpus live in the fuzz target dir, outside the
# clone ($ARCHIVE_DESK_FUZZ_TARGET_DIR, default $CARGO_TARGET_DIR/fuzz);
# each run starts from that corpus plus the committed seeds (fuzz/seeds/).
# A crash or failed property stops the run; its input is under
# fuzz/artifacts/<target>/. Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
# $ARCHIVE_DESK_FUZZ_ARGS: more libFuzzer flags (scripts/reliability.sh fuzz
# passes fork mode, so a finding is saved and the run goes on).
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET="${1:-8}"
shift || true
TOOLS="${ARCHIVE_DESK_TOOLS:-$HOME/.cache/archive-desk/tools}"
export PATH="$TOOLS/cargo/bin:$PATH"
TARGET_DIR="${ARCHIVE_DESK_FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-$HOME/.cache/archive-desk/target}/fuzz}"
# Release with overflow checks and debug assertions; no sanitizer: the code
# under test is safe Rust (see docs/RELIABILITY.md); 16 codegen units build
# faster on small machines.
BUILD=(-O -a -s none --codegen-units 16 --target-dir "$TARGET_DIR")

targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(cargo +nightly fuzz list --fuzz-dir fuzz)
fi
if ((${#targets[@]} == 0)); then
  echo "fuzz.sh: no fuzz targets found (are nightly and cargo-fuzz installed? scripts/install-tools.sh)" >&2
  exit 1
fi

cargo +nightly fuzz build --fuzz-dir fuzz "${BUILD[@]}"
for t in "${targets[@]}"; do
  corpus="$TARGET_DIR/corpus/$t"
  mkdir -p "$corpus"
  echo "== fuzz $t for ${SECONDS_PER_TARGET}s"
  log="$TARGET_DIR/fuzz-$t.log"
  # New inputs go to the first corpus directory only: the seeds stay as committed.
  if ! cargo +nightly fuzz run --fuzz-dir fuzz "${BUILD[@]}" "$t" "$corpus" "fuzz/seeds/$t" -- \
    -max_total_time="$SECONDS_PER_TARGET" -timeout=30 -print_final_stats=1 ${ARCHIVE_DESK_FUZZ_ARGS:-} >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "fuzz target $t failed; its input is in fuzz/artifacts/$t/ (rerun it: cargo +nightly fuzz run --fuzz-dir fuzz ${BUILD[*]} $t fuzz/artifacts/$t/<file>)" >&2
    exit 1
  fi
  grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$log" | tr '\n' ' '
  echo
done
