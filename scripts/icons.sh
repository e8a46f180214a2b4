#!/usr/bin/env bash
# Regenerates the app's icons from the one source image, icons/source.svg,
# with the Tauri CLI (npm, ui/node_modules): the PNG sizes Linux uses,
# icon.icns (macOS) and icon.ico (Windows). The CLI also writes mobile and
# Windows Store icons; only the desktop ones are kept. The results are
# committed, so a build never needs this script.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -x ui/node_modules/.bin/tauri ]] || npm ci --prefix ui --no-audit --no-fund --loglevel=error
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
ui/node_modules/.bin/tauri icon icons/source.svg -o "$out" >/dev/null
for f in 32x32.png 64x64.png 128x128.png 128x128@2x.png icon.png icon.icns icon.ico; do
  cp "$out/$f" "icons/$f"
done
ls -l icons/
