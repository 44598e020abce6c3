#!/usr/bin/env bash
# Live chat under load: one officecomms instance (release build) holding
# 10,000 idle visitor WebSocket connections (its RSS is reported), then
# round trips (send -> the stored message back, through the writer and the
# fan-out) at 1,000 messages/s.
#
#   bench/chat.sh                          # SQLite
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bench/chat.sh
#   IDLE=2000 RATE=500 DURATION=5 bench/chat.sh
#
# Targets (issue 6): 10,000 connections under 300 MB RSS; p99 under 10 ms.
set -euo pipefail
cd "$(dirname "$0")/.."
# Where cargo puts the builds (CARGO_TARGET_DIR when set).
T=${CARGO_TARGET_DIR:-target}

IDLE=${IDLE:-10000}
RATE=${RATE:-1000}
DURATION=${DURATION:-10}
PORT=${PORT:-18291}
# Each connection is a file descriptor on both sides.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

echo "building the release binary and the load client"
[ -n "${SKIP_BUILD:-}" ] || cargo build --release --quiet --bin officecomms --example chat_load

WORK=$(mktemp -d)
SERVER=
DB_NAME=
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true
  if [ -n "$DB_NAME" ]; then psql "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null 2>&1 || true; fi
  [ -n "${KEEP_LOG:-}" ] && cp "$WORK/app.log" "$KEEP_LOG"; rm -rf "$WORK"
}
trap cleanup EXIT

URL_ENV=()
if [ -n "${DATABASE_URL:-}" ]; then
  DB_NAME="oc_chat_bench_$$"
  psql "$DATABASE_URL" -qc "CREATE DATABASE $DB_NAME" >/dev/null
  URL_ENV=(OFFICECOMMS_DATABASE_URL="${DATABASE_URL%/*}/$DB_NAME")
  echo "database: PostgreSQL ($DB_NAME)"
else
  echo "database: SQLite"
fi

env "${URL_ENV[@]}" OFFICECOMMS_LOG=warn "$T"/release/officecomms serve --no-demo \
  --bind "127.0.0.1:$PORT" --data-dir "$WORK/app" >"$WORK/app.log" 2>&1 &
SERVER=$!
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

"$T"/release/examples/chat_load "http://127.0.0.1:$PORT" "$SERVER" "$IDLE" "$RATE" "$DURATION"
