#!/usr/bin/env bash
# The JSON API's ticket list: p50/p99 at 8 connections (wrk -t2 -c8), with
# a token of an admin, over TICKETS tickets opened through the API, on the
# release build with SQLite (or PostgreSQL with DATABASE_URL=postgres://…).
# Each call decrypts a page of 50 tickets and writes its audit entry.
#
#   bench/api.sh                  # 15 s, 500 tickets
#   DURATION=30s TICKETS=2000 bench/api.sh
#   BIN=target/debug/officecomms bench/api.sh   # skip the release build
#
# Installs wrk and curl with apt when missing; listens on 127.0.0.1 only
# and stops what it started when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-15s}
TICKETS=${TICKETS:-500}
PORT=${PORT:-18291}
BIN=${BIN:-}
BASE="http://127.0.0.1:$PORT"

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ -z "$BIN" ]; then
  echo "building the release binary"
  cargo build --release --quiet --bin officecomms
  BIN=./target/release/officecomms
fi

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# No per-token limit in the way of the measurement.
echo 'api_per_minute = 100000000' >"$WORK/officecomms.toml"
export OFFICECOMMS_CONFIG="$WORK/officecomms.toml" OFFICECOMMS_LOG=warn
[ -n "${DATABASE_URL:-}" ] && export OFFICECOMMS_DATABASE_URL="$DATABASE_URL"
PASSWORD='bench passphrase, long enough'
echo "$PASSWORD" | "$BIN" user add --email bench@officecomms.test --role admin \
  --data-dir "$WORK/app" >/dev/null
"$BIN" serve --bind "127.0.0.1:$PORT" --data-dir "$WORK/app" >"$WORK/app.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -fs "$BASE/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

# A token, made the way a person makes one: sign in, then /admin/account.
JAR="$WORK/cookies"
csrf() { sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' | head -1; }
CSRF=$(curl -fs -c "$JAR" -b "$JAR" "$BASE/admin/login" | csrf)
curl -fs -o /dev/null -c "$JAR" -b "$JAR" --data-urlencode "csrf=$CSRF" \
  --data-urlencode email=bench@officecomms.test --data-urlencode "password=$PASSWORD" "$BASE/admin/login"
CSRF=$(curl -fs -c "$JAR" -b "$JAR" "$BASE/admin/account" | csrf)
TOKEN=$(curl -fs -c "$JAR" -b "$JAR" --data-urlencode "csrf=$CSRF" --data-urlencode name=bench \
  --data-urlencode scopes=tickets:read --data-urlencode scopes=tickets:write \
  --data-urlencode expires_days= "$BASE/admin/account/tokens" |
  sed -n 's/.*value="\(oc_[^"]*\)".*/\1/p' | head -1)
[ -n "$TOKEN" ] || { echo "no token made" >&2; exit 1; }

echo "opening $TICKETS tickets through the API"
for i in $(seq "$TICKETS"); do
  curl -fs -o /dev/null -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d "{\"requester_name\":\"Bench $i\",\"requester_email\":\"bench$i@example.com\",\"requester_birth_year\":1980,\"product\":\"Microsoft 365\",\"subject\":\"Bench ticket $i\",\"details\":\"Outlook asks for the password again and again.\"}" \
    "$BASE/api/v1/tickets"
done

URL="$BASE/api/v1/tickets?status=all&limit=50"
curl -fs -H "Authorization: Bearer $TOKEN" "$URL" | grep -q '"next_cursor"'
wrk -t2 -c8 -d3s -H "Authorization: Bearer $TOKEN" "$URL" >/dev/null # warm up
wrk --latency -t2 -c8 -d"$DURATION" -H "Authorization: Bearer $TOKEN" "$URL" >"$WORK/wrk.txt"
awk '
  function ms(v) {
    if (v ~ /us$/) return v / 1000;
    if (v ~ /ms$/) return v + 0;
    if (v ~ /s$/) return v * 1000;
    return v;
  }
  /Requests\/sec/ { rps = $2 }
  /^ +50%/ { p50 = ms($2) }
  /^ +99%/ { p99 = ms($2) }
  /Non-2xx/ { bad = $NF }
  END { printf "API ticket list (50 a page, 8 connections): %.0f req/s, p50 %.2f ms, p99 %.2f ms, non-2xx %d\n", rps, p50, p99, bad }
' "$WORK/wrk.txt"
