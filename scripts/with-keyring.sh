#!/usr/bin/env bash
# Runs a command in a private D-Bus session with a real, unlocked Secret
# Service (gnome-keyring-daemon), so tests exercise the real OS keychain.
# The keyring files live in a temp dir, never in the user's own keyring.
set -euo pipefail
if [[ -z "${ARCHIVE_DESK_KEYRING_SESSION:-}" ]]; then
  export ARCHIVE_DESK_KEYRING_SESSION=1
  exec dbus-run-session -- "$0" "$@"
fi
keyring_home="$(mktemp -d)"
trap 'rm -rf "$keyring_home"' EXIT
mkdir -p "$HOME"
eval "$(printf 'archive-desk-test' | XDG_DATA_HOME="$keyring_home" gnome-keyring-daemon --unlock --components=secrets)"
export GNOME_KEYRING_CONTROL
"$@"
