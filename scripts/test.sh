#!/usr/bin/env bash
# Runs every check and test: formatting, lints, the architecture rule (the
# core never depends on tauri), unit tests, and integration tests against
# real servers started by the harness: S3 (moto and rclone), Supabase
# (PostgreSQL + PostgREST + an nginx gateway) and the Secret Service
# (gnome-keyring in a private D-Bus session), UI unit tests (Vitest), and the
# real app under Xvfb driven through tauri-driver (tests/e2e), and a short
# pass of every fuzz target (scripts/fuzz.sh).
# Installs what it needs first; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/archive-desk/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

scripts/install-tools.sh
scripts/install-supabase-stack.sh

echo "== UI: type check, unit tests, build (the app embeds ui/dist)"
npm --prefix ui run lint
npm --prefix ui test
npm --prefix ui run build

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== the core crate must not depend on tauri"
if cargo tree -p archive-desk-core --edges normal,build --prefix none --locked | grep -iE '^tauri'; then
  echo "archive-desk-core depends on tauri: move that code to src-tauri" >&2
  exit 1
fi

echo "== cargo build the app (the end-to-end test drives the real binary)"
cargo build -p archive-desk --locked

echo "== cargo test"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
scripts/with-keyring.sh cargo test --workspace --locked 2>&1 | tee "$log"
echo "== the generated TypeScript types are committed and current"
if [[ -n "$(git status --porcelain -- ui/src/bindings)" ]]; then
  git status --porcelain -- ui/src/bindings
  echo "ui/src/bindings drifted from the Rust types: run cargo test and commit them" >&2
  exit 1
fi
echo "== fuzz: each target of fuzz/ for 8 s (nightly; its own target dir)"
scripts/fuzz.sh 8
# One closing line for the whole run (cargo prints one per test binary).
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, i }' "$log"
