#!/usr/bin/env bash
# The cost of counting: the same article page from two release servers in
# one run, one with analytics on and one with it off, measured in turns
# (on, off, on, off, …) with wrk so that neighbours' load hits both alike.
# Target: counting costs at most 5% of throughput. Then the aggregator alone
# (bench/analytics.rs).
#
#   bench/analytics.sh                  # 3 rounds of 10 s each way
#   ROUNDS=5 DURATION=15s bench/analytics.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
ON_PORT=${ON_PORT:-18291}
OFF_PORT=${OFF_PORT:-18292}
PAGE=/articles/windows-update-stuck
UA="Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"

for tool in wrk curl sqlite3; do
  command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 1; }
done

echo "building the release binary"
cargo build --release --quiet --bin officecomms

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_up() {
  for _ in $(seq 200); do
    curl -fs "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "nothing answers on port $1" >&2
  exit 1
}

serve() { # port dir
  OFFICECOMMS_LOG=warn ./target/release/officecomms serve --bind "127.0.0.1:$1" \
    --data-dir "$2" >"$2.log" 2>&1 &
  PIDS+=($!)
  wait_up "$1"
}

serve "$ON_PORT" "$WORK/on"
# The off server: first start seeds the demo site, then the owner's switch.
serve "$OFF_PORT" "$WORK/off"
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'
sqlite3 "$WORK/off/officecomms.db" \
  "INSERT INTO settings (key, value) VALUES ('analytics.enabled', '0') ON CONFLICT (key) DO UPDATE SET value = '0'"
serve "$OFF_PORT" "$WORK/off"

rps() { # port
  wrk -t2 -c64 -d"$DURATION" -H "User-Agent: $UA" "http://127.0.0.1:$1$PAGE" \
    | awk '/Requests\/sec/ { print $2 } /Non-2xx/ { print "non-2xx: " $0 > "/dev/stderr" }'
}

echo "article page $PAGE, wrk -t2 -c64 -d$DURATION, $ROUNDS rounds each way, browser user agent"
wrk -t2 -c64 -d2s -H "User-Agent: $UA" "http://127.0.0.1:$ON_PORT$PAGE" >/dev/null
wrk -t2 -c64 -d2s -H "User-Agent: $UA" "http://127.0.0.1:$OFF_PORT$PAGE" >/dev/null
ON=(); OFF=()
for round in $(seq "$ROUNDS"); do
  ON+=("$(rps "$ON_PORT")")
  OFF+=("$(rps "$OFF_PORT")")
  printf 'round %d: on %10.0f req/s   off %10.0f req/s\n' "$round" "${ON[-1]}" "${OFF[-1]}"
done
printf '%s\n' "${ON[@]}" >"$WORK/on.txt"
printf '%s\n' "${OFF[@]}" >"$WORK/off.txt"
sleep 11 # one flush interval, so the counts below are in the database
COUNTED=$(sqlite3 "$WORK/on/officecomms.db" "SELECT COALESCE(SUM(views), 0) FROM analytics_counts WHERE dimension = 'total'")
NOT_COUNTED=$(sqlite3 "$WORK/off/officecomms.db" "SELECT COUNT(*) FROM analytics_counts")
awk -v counted="$COUNTED" -v off_rows="$NOT_COUNTED" '
  FNR == NR { on += $1; n_on++; next } { off += $1; n_off++ }
  END {
    a = on / n_on; b = off / n_off
    printf "mean: analytics on %.0f req/s, off %.0f req/s: on/off = %.3f, cost %.1f%% (target <= 5%%)\n", a, b, a / b, (1 - a / b) * 100
    printf "views counted by the on server: %d; rows written by the off server: %d\n", counted, off_rows
  }' "$WORK/on.txt" "$WORK/off.txt"

echo
cargo bench --quiet --bench analytics
