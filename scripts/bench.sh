#!/usr/bin/env bash
# Runs the benchmarks of docs/BENCHMARKS.md side by side with rclone, the AWS
# CLI and the archiver's supabase-py restore, in one run, on generated data,
# against servers the benchmark starts itself, at each added latency (through
# the harness's fault proxy); prints tables of ratios and writes them into
# docs/BENCHMARKS.md. Not part of the test suite (scripts/test.sh); the full
# run takes ~20-30 minutes on 2 cores.
# Arguments go to the benchmark, e.g. a quick run:
#   scripts/bench.sh --users 1000 --moto-users 0 --search-entries 100000 --latencies 0,80
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/archive-desk/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

scripts/install-tools.sh

# The peers from PyPI, in a venv of their own: the AWS CLI (v1; it pins its
# own botocore, which must not move under moto in the servers' venv) and
# supabase-py, the client the archiver's guide restores with.
TOOLS="${ARCHIVE_DESK_TOOLS:-$HOME/.cache/archive-desk/tools}"
BENCH_VENV="$TOOLS/bench-venv"
PEERS="awscli==1.46.3 supabase==2.34.1"
if [[ "$(cat "$BENCH_VENV/.archive-desk-stamp" 2>/dev/null)" != "$PEERS" || ! -x "$BENCH_VENV/bin/aws" ]]; then
  echo "bench: installing $PEERS into $BENCH_VENV"
  rm -rf "$BENCH_VENV"
  python3 -m venv "$BENCH_VENV"
  # shellcheck disable=SC2086 # one word per package
  "$BENCH_VENV/bin/pip" install --quiet --disable-pip-version-check $PEERS
  echo "$PEERS" > "$BENCH_VENV/.archive-desk-stamp"
fi

cargo run --release --locked -p archive-desk-bench --bin archive-desk-bench -- "$@"
