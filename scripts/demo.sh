#!/usr/bin/env bash
# The demo: a local S3 server (rclone `serve s3`, data kept on disk) seeded
# with a generated archive, and a tour of archive-desk-cli against it. In an
# interactive terminal it then opens a shell wired to the demo archive; the
# server stops when that shell exits. Installs what it needs; safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/archive-desk/target}"
TOOLS="${ARCHIVE_DESK_TOOLS:-$HOME/.cache/archive-desk/tools}"
DATA="${ARCHIVE_DESK_DEMO_DIR:-$HOME/.local/share/archive-desk/demo}"

scripts/install-tools.sh
echo "== building archive-desk-cli and the demo seeder"
cargo build --quiet --locked -p archive-desk-cli -p archive-desk-harness --bins
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
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

if [[ ! -f "$DATA/.seeded" ]]; then
  echo "== seeding the demo archive in $DATA/s3"
  "$BIN/seed-demo" --users "${DEMO_USERS:-300}"
  touch "$DATA/.seeded"
fi

cli() { echo; echo "\$ archive-desk-cli $*"; "$BIN/archive-desk-cli" "$@"; }
cli users --details | head -n 12
cli index alice.smith@example.com
cli show alice.smith@example.com a-plain | head -n 20
cli export alice.smith@example.com a-extra-fields -o "$DATA/a-extra-fields.json"
cli show malformed@example.com m-truncated-gz || true

if [[ -t 0 && -t 1 ]]; then
  echo
  echo "A shell on the demo archive: try 'archive-desk-cli users --details' or"
  echo "'archive-desk-cli show big@example.com big-10k | less'. Exit to stop the server."
  PATH="$BIN:$PATH" PS1="(archive-desk demo) \$ " bash --norc -i || true
fi
