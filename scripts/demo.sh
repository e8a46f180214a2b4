#!/usr/bin/env bash
# The demo: a local S3 server (rclone `serve s3`, data kept on disk) seeded
# with a generated archive, a local Supabase stand-in to restore into
# (PostgreSQL + PostgREST + gateway; its data lasts one run), a short tour of
# archive-desk-cli, then the desktop app on it with a ready "Demo" profile.
# The servers stop when the app closes. Installs what it needs; safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
# Secrets live in the OS keychain: without a desktop session (a fresh server),
# run inside a private one with a real Secret Service.
if [[ -z "${DBUS_SESSION_BUS_ADDRESS:-}" && -z "${ARCHIVE_DESK_KEYRING_SESSION:-}" ]]; then
  exec scripts/with-keyring.sh "$0" "$@"
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/archive-desk/target}"
TOOLS="${ARCHIVE_DESK_TOOLS:-$HOME/.cache/archive-desk/tools}"
DATA="${ARCHIVE_DESK_DEMO_DIR:-$HOME/.local/share/archive-desk/demo}"

scripts/install-tools.sh
scripts/install-supabase-stack.sh
echo "== building the UI, the app, archive-desk-cli and the demo seeder"
npm --prefix ui run build >/dev/null
cargo build --quiet --locked -p archive-desk -p archive-desk-cli -p archive-desk-harness --bins
BIN="$CARGO_TARGET_DIR/debug"

mkdir -p "$DATA/s3"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
# Local demo credentials, made up for this run only (rclone checks them).
export AWS_ACCESS_KEY_ID="demo$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export AWS_SECRET_ACCESS_KEY="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export ARCHIVE_DESK_ENDPOINT="http://127.0.0.1:$port" S3_BUCKET_NAME=demo-archive

RCLONE_CONFIG=/dev/null "$TOOLS/venv/bin/rclone" serve s3 --auth-key "$AWS_ACCESS_KEY_ID,$AWS_SECRET_ACCESS_KEY" \
  --addr "127.0.0.1:$port" "$DATA/s3" >"$DATA/server.log" 2>&1 &
server=$!
# The restore target. It prints its URL and service key, then runs until its
# stdin (the coprocess pipe) closes: when this script ends.
coproc SUPABASE { exec "$BIN/demo-supabase" 2>"$DATA/supabase.log"; }
supabase_pid=$SUPABASE_PID
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true; kill $supabase_pid 2>/dev/null; wait $supabase_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

if ! read -r SUPABASE_URL <&"${SUPABASE[0]}" || ! read -r SUPABASE_KEY <&"${SUPABASE[0]}"; then
  echo "demo: the Supabase stand-in did not start; its log:" >&2
  cat "$DATA/supabase.log" >&2
  exit 1
fi
echo "== Supabase stand-in at $SUPABASE_URL (restores land in a throwaway database)"

if [[ ! -f "$DATA/.seeded" ]]; then
  echo "== seeding the demo archive in $DATA/s3"
  "$BIN/seed-demo" --users "${DEMO_USERS:-300}"
  touch "$DATA/.seeded"
fi

cli() { echo; echo "\$ archive-desk-cli $*"; "$BIN/archive-desk-cli" "$@"; }
cli users --details | head -n 6
cli show alice.smith@example.com a-plain | head -n 12

# The desktop app on the demo archive, with a ready "Demo" profile in a
# config dir of its own (the secrets go to the OS keychain). rclone ignores
# If-Match, so index writes (delete, repair) need the explicit override; safe
# here because no archiver writes to the demo bucket at the same time.
export ARCHIVE_DESK_CONFIG_DIR="$DATA/config" ARCHIVE_DESK_DATA_DIR="$DATA"
if ! "$BIN/archive-desk-cli" profile show Demo >/dev/null 2>&1; then
  "$BIN/archive-desk-cli" profile add Demo --bucket "$S3_BUCKET_NAME" >/dev/null
fi
"$BIN/archive-desk-cli" profile edit Demo --bucket "$S3_BUCKET_NAME" --endpoint "$ARCHIVE_DESK_ENDPOINT" \
  --region us-east-1 --access-key-id "$AWS_ACCESS_KEY_ID" \
  --supabase-url "$SUPABASE_URL" --restore-mode rest --rpc-function restore_archived_conversation \
  --allow-unsafe-index-writes true >/dev/null
printf '%s\n' "$AWS_SECRET_ACCESS_KEY" | "$BIN/archive-desk-cli" profile set-secret Demo aws-secret-access-key
printf '%s\n' "$SUPABASE_KEY" | "$BIN/archive-desk-cli" profile set-secret Demo supabase-key
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY SUPABASE_KEY
cli --profile Demo restore alice.smith@example.com a-plain
# The search catalog (the app uses the same file and refreshes it on open).
cli --profile Demo sync
cli --profile Demo search refund --limit 3

if [[ -n "${DISPLAY:-}" ]]; then
  echo "== Archive Desk is starting; close its window to stop the demo"
  "$BIN/archive-desk"
else
  # No display (a server, CI): run it under Xvfb and keep a screenshot.
  echo "== no display: running the app under Xvfb for 15 s; screenshot in $DATA/demo.png"
  xvfb-run -a -s "-screen 0 1280x800x24" bash -c "\"$BIN/archive-desk\" & app=\$!; sleep 15; import -window root \"$DATA/demo.png\"; kill \$app"
fi
