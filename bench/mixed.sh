#!/usr/bin/env bash
# RSS after 100,000 mixed requests (bench/mixed.lua: pages, search with
# ever new queries, feeds, forms shown) on the demo site, and what the
# caches hold according to /metrics.
#
#   bench/mixed.sh BINARY [REQUESTS]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$1
WANT=${2:-100000}
PORT=${PORT:-18295}
WORK=$(mktemp -d)
SERVER=
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
OFFICECOMMS_LOG=warn "$BIN" serve --bind "127.0.0.1:$PORT" --data-dir "$WORK/app" >"$WORK/app.log" 2>&1 &
SERVER=$!
for _ in $(seq 200); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
rss() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$SERVER/status"; }
echo "RSS before: $(rss) MB"
DONE=0
while [ "$DONE" -lt "$WANT" ]; do
  N=$(wrk -t2 -c16 -d5s -s bench/mixed.lua "http://127.0.0.1:$PORT" | awk '/requests in/ { print $1 }')
  DONE=$((DONE + N))
  echo "  $DONE requests, RSS $(rss) MB"
done
sleep 2
echo "requests: $DONE"
echo "RSS after: $(rss) MB"
CACHES=$(curl -fs "http://127.0.0.1:$PORT/metrics" | grep -E '^officecomms_[a-z_]*cache[a-z_]*bytes' | tr '\n' '|' || true)
echo "caches: ${CACHES:-no cache sizes in /metrics}"
