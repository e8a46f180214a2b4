#!/usr/bin/env bash
# Builds the Debian package with the Tauri CLI from npm. The config lives at
# the top level (docs/ARCHITECTURE.md), not in src-tauri/, so the CLI is told
# where the crate and the UI are, and where the built UI is (an absolute
# path: the CLI and tauri-build resolve relative ones from different dirs).
# The package holds the app and archive-desk-cli. Prints the path of the .deb.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/archive-desk/target}"
scripts/install-tools.sh
# The CLI ships in the same package, beside the app.
cargo build --release --locked -p archive-desk-cli
config=$(printf '{"build":{"frontendDist":"%s/ui/dist","beforeBuildCommand":"npm run build"},"bundle":{"linux":{"deb":{"files":{"/usr/bin/archive-desk-cli":"%s/release/archive-desk-cli"}}}}}' \
  "$root" "$CARGO_TARGET_DIR")
TAURI_APP_PATH="$root/src-tauri" TAURI_FRONTEND_PATH="$root/ui" \
  ui/node_modules/.bin/tauri build --bundles deb --config "$config"
ls -1 "$CARGO_TARGET_DIR"/release/bundle/deb/*.deb
