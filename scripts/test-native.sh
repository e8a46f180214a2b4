#!/usr/bin/env bash
# The tests of the release workflow on macOS and Windows, where the Linux
# test servers (moto, PostgreSQL, gnome-keyring, Xvfb) are not installed:
# the UI's type check and unit tests, and the unit tests of the core and of
# the shell (built with the OS keychain of this system: a test checks that
# secrets go to a persistent store, not keyring's in-memory mock).
# Linux runs the whole suite instead (scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -f ui/node_modules/.package-lock.json ]] || npm ci --prefix ui --no-audit --no-fund --loglevel=error
npm --prefix ui run lint
npm --prefix ui test
npm --prefix ui run build
cargo test --locked -p archive-desk-core --lib
cargo test --locked -p archive-desk
