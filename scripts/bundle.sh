#!/usr/bin/env bash
# Builds the installers with the Tauri CLI from npm.
#
#   scripts/bundle.sh [build] [KIND...] [TAURI-BUILD-OPTION...]
#
# KIND: deb, rpm, appimage (Linux); app, dmg (macOS); nsis, msi (Windows).
# Without one: this system's default, deb+rpm on Linux (AppImage is opt-in:
# Tauri's AppImage bundler downloads linuxdeploy from GitHub at build time),
# app+dmg on macOS, nsis+msi on Windows. Other options go to `tauri build`
# (the release workflow passes `--target universal-apple-darwin`; `--debug`
# packages an unoptimised build, to check the packaging quickly). A leading
# `build` is ignored: tauri-action calls its `tauriScript` as `<script>
# build <args>` (.github/workflows/release.yml).
#
# The config lives at the top level (docs/ARCHITECTURE.md), not in
# src-tauri/, so the CLI is told where the crate and the UI are, and where
# the built UI is (an absolute path: the CLI and tauri-build resolve
# relative ones from different dirs). On Linux the .deb and .rpm hold the
# app and archive-desk-cli. Prints the paths of the installers.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/archive-desk/target}"

kinds=()
options=()
for arg in "$@"; do
  case "$arg" in
    build) ;;
    deb | rpm | appimage | app | dmg | nsis | msi) kinds+=("$arg") ;;
    *) options+=("$arg") ;;
  esac
done
case "$(uname -s)" in
  Linux) os=linux default=(deb rpm) ;;
  Darwin) os=macos default=(app dmg) ;;
  MINGW* | MSYS* | CYGWIN*) os=windows default=(nsis msi) ;;
  *) echo "bundle.sh: no installers for $(uname -s)" >&2; exit 1 ;;
esac
((${#kinds[@]})) || kinds=("${default[@]}")

if [[ $os == linux ]]; then
  scripts/install-tools.sh
elif [[ ! -f ui/node_modules/.package-lock.json ]]; then
  npm ci --prefix ui --no-audit --no-fund --loglevel=error
fi

# Windows' Rust wants a native path in the JSON config below.
native() { if [[ $os == windows ]]; then cygpath -m "$1"; else printf %s "$1"; fi; }
config=$(printf '{"build":{"frontendDist":"%s/ui/dist","beforeBuildCommand":"npm run build"}}' "$(native "$root")")
# `--debug` (passed on to `tauri build`): a quick unoptimised package.
profile=release
for o in ${options[@]+"${options[@]}"}; do [[ $o == --debug ]] && profile=debug; done
if [[ $os == linux ]]; then
  # The CLI ships in the same packages, beside the app.
  if [[ $profile == release ]]; then cargo build --release --locked -p archive-desk-cli; else cargo build --locked -p archive-desk-cli; fi
  cli="$CARGO_TARGET_DIR/$profile/archive-desk-cli"
  config=$(printf '{"build":{"frontendDist":"%s/ui/dist","beforeBuildCommand":"npm run build"},"bundle":{"linux":{"deb":{"files":{"/usr/bin/archive-desk-cli":"%s"}},"rpm":{"files":{"/usr/bin/archive-desk-cli":"%s"}}}}}' \
    "$root" "$cli" "$cli")
fi
bundles=$(IFS=,; echo "${kinds[*]}")
TAURI_APP_PATH="$root/src-tauri" TAURI_FRONTEND_PATH="$root/ui" \
  ui/node_modules/.bin/tauri build --bundles "$bundles" --config "$config" ${options[@]+"${options[@]}"}

# The installers, wherever --target put them (release/ or <triple>/release/).
find "$CARGO_TARGET_DIR" -maxdepth 5 -type f -path "*/$profile/bundle/*" \
  \( -name '*.deb' -o -name '*.rpm' -o -name '*.AppImage' -o -name '*.dmg' -o -name '*.msi' -o -name '*-setup.exe' \) | sort
