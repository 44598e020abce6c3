#!/usr/bin/env bash
# The cost of counting: the same article page from two release servers in
# one run, one with analytics on and one with it off, measured in turns
# (on, off, on, off, …) with wrk so that neighbours' load hits both alike.
# Target: counting costs at most 5% of throughput. Then the aggregator alone
# (bench/analytics.rs).
#
#   bench/analytics.sh                  # 3 rounds of 10 s each way
#   ROUNDS=5 DURATION=15s bench/analytics.sh
#   SKIP_BUILD=1 bench/analytics.sh     # use the release build as it is; no cargo bench
#   SKIP_CALLGRIND=1 bench/analytics.sh # without the instruction count (needs valgrind)
set -euo pipefail
cd "$(dirname "$0")/.."
# Where cargo puts the builds (CARGO_TARGET_DIR when set).
T=${CARGO_TARGET_DIR:-target}

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
ON_PORT=${ON_PORT:-18291}
OFF_PORT=${OFF_PORT:-18292}
PAGE=/articles/windows-update-stuck
UA="Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"

for tool in wrk curl sqlite3; do
  command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 1; }
done

if [ -z "${SKIP_BUILD:-}" ]; then
  echo "building the release binary"
  cargo build --release --quiet --bin officecomms
fi

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
  OFFICECOMMS_LOG=warn "$T"/release/officecomms serve --bind "127.0.0.1:$1" \
    --data-dir "$2" >"$2.log" 2>&1 &
  PIDS+=($!)
  wait_up "$1"
}

serve "$ON_PORT" "$WORK/on"
ON_PID=${PIDS[-1]}
# The off server: first start seeds the demo site, then the owner's switch.
serve "$OFF_PORT" "$WORK/off"
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'
sqlite3 "$WORK/off/officecomms.db" \
  "INSERT INTO settings (key, value) VALUES ('analytics.enabled', '0') ON CONFLICT (key) DO UPDATE SET value = '0'"
serve "$OFF_PORT" "$WORK/off"
OFF_PID=${PIDS[-1]}

# CPU time (user + system, in clock ticks) the server has used so far.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# One wrk run against a server: "req/s requests cpu_ticks".
run() { # port pid
  local before after out
  before=$(ticks "$2")
  out=$(wrk -t2 -c64 -d"$DURATION" -H "User-Agent: $UA" "http://127.0.0.1:$1$PAGE")
  after=$(ticks "$2")
  echo "$out" | awk -v cpu=$((after - before)) '
    /requests in/ { n = $1 } /Requests\/sec/ { r = $2 } /Non-2xx/ { print "non-2xx: " $0 > "/dev/stderr" }
    END { print r, n, cpu }'
}

HZ=$(getconf CLK_TCK)
echo "article page $PAGE, wrk -t2 -c64 -d$DURATION, $ROUNDS rounds each way, browser user agent"
wrk -t2 -c64 -d2s -H "User-Agent: $UA" "http://127.0.0.1:$ON_PORT$PAGE" >/dev/null
wrk -t2 -c64 -d2s -H "User-Agent: $UA" "http://127.0.0.1:$OFF_PORT$PAGE" >/dev/null
: >"$WORK/rounds.txt"
for round in $(seq "$ROUNDS"); do
  read -r ON_RPS ON_N ON_CPU < <(run "$ON_PORT" "$ON_PID")
  read -r OFF_RPS OFF_N OFF_CPU < <(run "$OFF_PORT" "$OFF_PID")
  echo "$ON_RPS $ON_N $ON_CPU $OFF_RPS $OFF_N $OFF_CPU" >>"$WORK/rounds.txt"
  awk -v hz="$HZ" -v a="$ON_RPS" -v an="$ON_N" -v ac="$ON_CPU" -v b="$OFF_RPS" -v bn="$OFF_N" -v bc="$OFF_CPU" 'BEGIN {
    printf "round: on %7.0f req/s %6.1f us CPU/req   off %7.0f req/s %6.1f us CPU/req\n", a, ac / hz / an * 1e6, b, bc / hz / bn * 1e6 }'
done
sleep 11 # one flush interval, so the counts below are in the database
COUNTED=$(sqlite3 "$WORK/on/officecomms.db" "SELECT COALESCE(SUM(views), 0) FROM analytics_counts WHERE dimension = 'total'")
NOT_COUNTED=$(sqlite3 "$WORK/off/officecomms.db" "SELECT COUNT(*) FROM analytics_counts")
awk -v hz="$HZ" -v counted="$COUNTED" -v off_rows="$NOT_COUNTED" '
  { ar += $1; an += $2; ac += $3; br += $4; bn += $5; bc += $6; k++ }
  END {
    a = ar / k; b = br / k
    printf "throughput: analytics on %.0f req/s, off %.0f req/s: on/off = %.3f, cost %.1f%% (target <= 5%%)\n", a, b, a / b, (1 - a / b) * 100
    ca = ac / hz / an * 1e6; cb = bc / hz / bn * 1e6
    printf "server CPU per request: on %.1f us, off %.1f us: cost %.1f%% (the neighbours load skews this less)\n", ca, cb, (ca / cb - 1) * 100
    printf "views counted by the on server: %d; rows written by the off server: %d\n", counted, off_rows
  }' "$WORK/rounds.txt"

# Instructions per request, counted by callgrind: the same for the same
# binary and requests whatever else the machine is doing, so a cost of a few
# percent is not lost in the wall clock's noise. Each server is restarted
# under valgrind on its own data; 200 requests warm it, then the counters are
# zeroed, N requests sent on one keep-alive connection, and the counters read.
if command -v valgrind >/dev/null && [ -z "${SKIP_CALLGRIND:-}" ]; then
  N=${CALLGRIND_REQUESTS:-2000}
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  PIDS=()
  cat >"$WORK/hit.py" <<'PY'
import http.client, sys
port, path, n, ua = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
c = http.client.HTTPConnection("127.0.0.1", port)
for _ in range(n):
    c.request("GET", path, headers={"User-Agent": ua})
    r = c.getresponse(); r.read()
    if r.status != 200: sys.exit(f"status {r.status}")
PY
  instructions() { # port dir -> instructions per request
    OFFICECOMMS_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$2.cg.%p" \
      "$T"/release/officecomms serve --bind "127.0.0.1:$1" --data-dir "$2" >"$2.cg.log" 2>&1 &
    local vpid=$!
    PIDS+=("$vpid")
    for _ in $(seq 600); do curl -fs "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
    python3 "$WORK/hit.py" "$1" "$PAGE" 200 "$UA"
    callgrind_control -z "$vpid" >/dev/null 2>&1
    python3 "$WORK/hit.py" "$1" "$PAGE" "$N" "$UA"
    callgrind_control -d "$vpid" >/dev/null 2>&1
    kill "$vpid"; wait "$vpid" 2>/dev/null || true
    awk -v n="$N" '/^summary:/ { printf "%.0f\n", $2 / n }' "$2.cg.$vpid.1"
  }
  ON_IR=$(instructions "$ON_PORT" "$WORK/on")
  OFF_IR=$(instructions "$OFF_PORT" "$WORK/off")
  awk -v a="$ON_IR" -v b="$OFF_IR" -v n="$N" 'BEGIN {
    printf "instructions per request (callgrind, %d requests each): on %d, off %d: cost %.1f%% (target <= 5%%)\n", n, a, b, (a / b - 1) * 100 }'
fi

if [ -z "${SKIP_BUILD:-}" ]; then
  echo
  cargo bench --quiet --bench analytics
fi
