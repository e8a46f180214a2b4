#!/usr/bin/env bash
# Runs the benchmarks of docs/BENCHMARKS.md side by side with rclone and the AWS
# CLI, in one run, on generated data, against servers the benchmark starts
# itself; prints a table of ratios and writes it into docs/BENCHMARKS.md.
# Not part of the test suite (scripts/test.sh); takes ~10-15 minutes on 2 cores.
# Arguments go to the benchmark, e.g. `scripts/bench.sh --users 2000 --moto-users 0`.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/archive-desk/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

scripts/install-tools.sh

# The AWS CLI (v1, from PyPI) as a peer, in a venv of its own: it pins its own
# botocore, which must not move under moto in the servers' venv.
TOOLS="${ARCHIVE_DESK_TOOLS:-$HOME/.cache/archive-desk/tools}"
BENCH_VENV="$TOOLS/bench-venv"
AWSCLI="awscli==1.46.3"
if [[ "$(cat "$BENCH_VENV/.archive-desk-stamp" 2>/dev/null)" != "$AWSCLI" || ! -x "$BENCH_VENV/bin/aws" ]]; then
  echo "bench: installing $AWSCLI into $BENCH_VENV"
  rm -rf "$BENCH_VENV"
  python3 -m venv "$BENCH_VENV"
  "$BENCH_VENV/bin/pip" install --quiet --disable-pip-version-check "$AWSCLI"
  echo "$AWSCLI" > "$BENCH_VENV/.archive-desk-stamp"
fi

cargo run --release --locked -p archive-desk-bench -- "$@"
