#!/usr/bin/env bash
# Article page speed: officecomms (release build) against nginx serving the
# very same HTML from disk, in the same run, with wrk (64 connections,
# 2 threads). Then search latency with 10,000 articles.
#
#   bench/run.sh                 # 15 s per measurement
#   DURATION=30s bench/run.sh
#   ROUNDS=5 bench/run.sh        # article page: rounds of each server in turn
#   SKIP_SEARCH=1 bench/run.sh   # article page only
#
# Installs wrk and nginx with apt when missing. Everything listens on
# 127.0.0.1 and stops when the script ends.
set -euo pipefail
cd "$(dirname "$0")/.."
# Where cargo puts the builds (CARGO_TARGET_DIR when set).
T=${CARGO_TARGET_DIR:-target}

DURATION=${DURATION:-15s}
ROUNDS=${ROUNDS:-3}
APP_PORT=${APP_PORT:-18281}
NGINX_PORT=${NGINX_PORT:-18282}
SEARCH_PORT=${SEARCH_PORT:-18283}
BARE_PORT=${BARE_PORT:-18284}
ARTICLES=${ARTICLES:-10000}
PAGE=/articles/windows-update-stuck

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

echo "building the release binary"
cargo build --release --quiet --bin officecomms --example seed_articles --example bare_axum

WORK=$(mktemp -d)
chmod 755 "$WORK" # nginx's workers run as another user
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_up() {
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$1$2" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "nothing answers on port $1" >&2
  exit 1
}

# wrk's output -> "req/s p50_ms p99_ms"
summarise() {
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
    END { printf "%.0f %.2f %.2f %s\n", rps, p50, p99, (bad == "" ? 0 : bad) }'
}

measure() { # name url [wrk args...]
  local name=$1 url=$2
  shift 2
  wrk -t2 -c64 -d3s "$url" >/dev/null # warm up
  wrk --latency -d"$DURATION" "$@" "$url" >"$WORK/$name.txt"
  summarise <"$WORK/$name.txt"
}

echo "starting officecomms on 127.0.0.1:$APP_PORT"
OFFICECOMMS_LOG=warn "$T"/release/officecomms serve --bind "127.0.0.1:$APP_PORT" \
  --data-dir "$WORK/app" >"$WORK/app.log" 2>&1 &
PIDS+=($!)
wait_up "$APP_PORT" /healthz

mkdir -p "$WORK/www/articles" "$WORK/nginx"
curl -fs "http://127.0.0.1:$APP_PORT$PAGE" -o "$WORK/www$PAGE"
# What a browser asks for: both servers answer it in gzip, nginx from the
# file compressed beforehand (gzip_static), officecomms from its cache.
ACCEPT="Accept-Encoding: gzip, br"
gzip -9 -k "$WORK/www$PAGE"
BYTES=$(wc -c <"$WORK/www$PAGE")
GZ_BYTES=$(wc -c <"$WORK/www$PAGE.gz")
# nginx as its own documentation advises for static files: more
# connections per worker, keep-alive without a low cap, open files
# cached, sendfile with full packets, no access log, gzip_static.
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $WORK/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  open_file_cache max=1000 inactive=60s;
  open_file_cache_valid 60s;
  open_file_cache_min_uses 1;
  open_file_cache_errors on;
  gzip_static on;
  default_type text/html;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  server {
    listen 127.0.0.1:$NGINX_PORT reuseport;
    root $WORK/www;
  }
}
EOF
echo "nginx configuration:"
sed 's/^/    /' "$WORK/nginx/nginx.conf"
"$NGINX" -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" -g 'daemon on;'
wait_up "$NGINX_PORT" "$PAGE" || { cat "$WORK/nginx/error.log"; exit 1; }

# The framework's ceiling: axum answering with the same bytes and nothing else.
"$T"/release/examples/bare_axum "$WORK/www$PAGE" "127.0.0.1:$BARE_PORT" &
PIDS+=($!)
wait_up "$BARE_PORT" "$PAGE"

echo "article page $PAGE: $BYTES bytes of HTML ($GZ_BYTES in gzip), wrk -t2 -c64 -d$DURATION -H '$ACCEPT', $ROUNDS rounds in turn"
# The servers take turns, round after round, so that a neighbour's load
# falls on all of them alike; each figure is the mean over the rounds.
declare -A URL=(
  [nginx]="http://127.0.0.1:$NGINX_PORT$PAGE"
  [officecomms]="http://127.0.0.1:$APP_PORT$PAGE"
  [bare_axum]="http://127.0.0.1:$BARE_PORT$PAGE"
)
for name in nginx officecomms bare_axum; do wrk -t2 -c64 -d3s -H "$ACCEPT" "${URL[$name]}" >/dev/null; done
for round in $(seq "$ROUNDS"); do
  for name in nginx officecomms bare_axum; do
    wrk --latency -t2 -c64 -d"$DURATION" -H "$ACCEPT" "${URL[$name]}" >"$WORK/$name.$round.txt"
    summarise <"$WORK/$name.$round.txt" >>"$WORK/$name.rounds"
  done
  echo "round $round: nginx $(cut -d' ' -f1 <"$WORK/nginx.rounds" | tail -1) req/s," \
    "officecomms $(cut -d' ' -f1 <"$WORK/officecomms.rounds" | tail -1)," \
    "bare axum $(cut -d' ' -f1 <"$WORK/bare_axum.rounds" | tail -1)"
done
mean() { awk '{ r += $1; p50 += $2; p99 += $3; bad += $4; n++ } END { printf "%.0f %.2f %.2f %d\n", r / n, p50 / n, p99 / n, bad }' "$1"; }
read -r N_RPS N_P50 N_P99 N_BAD < <(mean "$WORK/nginx.rounds")
read -r A_RPS A_P50 A_P99 A_BAD < <(mean "$WORK/officecomms.rounds")
read -r B_RPS B_P50 B_P99 B_BAD < <(mean "$WORK/bare_axum.rounds")
printf '%-12s %10s %9s %9s %8s\n' "" "req/s" "p50 ms" "p99 ms" "non-2xx"
printf '%-12s %10s %9s %9s %8s\n' nginx "$N_RPS" "$N_P50" "$N_P99" "$N_BAD"
printf '%-12s %10s %9s %9s %8s\n' officecomms "$A_RPS" "$A_P50" "$A_P99" "$A_BAD"
printf '%-12s %10s %9s %9s %8s\n' "bare axum" "$B_RPS" "$B_P50" "$B_P99" "$B_BAD"
awk -v a="$A_RPS" -v b="$B_RPS" 'BEGIN { printf "officecomms / bare axum (same bytes, no site): %.2fx\n", a / b }'
awk -v a="$A_RPS" -v n="$N_RPS" -v ap="$A_P99" -v np="$N_P99" 'BEGIN {
  printf "officecomms / nginx: throughput %.2fx (target >= 1.0x), p99 %.2fx (target <= 2x)\n", a / n, ap / np }'

if [ -n "${SKIP_SEARCH:-}" ]; then exit 0; fi

echo
echo "seeding $ARTICLES synthetic articles for search"
"$T"/release/examples/seed_articles "$WORK/search" "$ARTICLES"
start_search() {
  OFFICECOMMS_LOG=warn "$T"/release/officecomms serve --bind "127.0.0.1:$SEARCH_PORT" \
    --data-dir "$WORK/search" >>"$WORK/search.log" 2>&1 &
  SEARCH_PID=$!
  PIDS+=("$SEARCH_PID")
  wait_up "$SEARCH_PORT" /healthz
}
start_search
echo "search over $ARTICLES articles, 24 queries in turn (bench/search.lua)"
printf '%-22s %10s %9s %9s %8s\n' "" "req/s" "p50 ms" "p99 ms" "non-2xx"
for c in 1 8; do
  read -r S_RPS S_P50 S_P99 S_BAD < <(measure "search-c$c" "http://127.0.0.1:$SEARCH_PORT/" -t1 -c$c -s bench/search.lua)
  printf '%-22s %10s %9s %9s %8s\n' "$c connection(s)" "$S_RPS" "$S_P50" "$S_P99" "$S_BAD"
done
# New queries (new combinations of the corpus's topic words), random
# result pages: nothing about the query is cached, its terms' matches are.
read -r S_RPS S_P50 S_P99 S_BAD < <(measure "search-cold" "http://127.0.0.1:$SEARCH_PORT/" -t1 -c8 -s bench/search_cold.lua)
printf '%-22s %10s %9s %9s %8s\n' "new queries, 8 conn." "$S_RPS" "$S_P50" "$S_P99" "$S_BAD"
# Terms nobody asked before: a restarted server (empty caches), each topic
# word asked once, alone, one request at a time (after one query that loads
# the live pieces, which every search shares).
kill "$SEARCH_PID"
wait "$SEARCH_PID" 2>/dev/null || true
start_search
curl -fs -o /dev/null "http://127.0.0.1:$SEARCH_PORT/search?q=zzzz"
for word in $(grep -o '"[a-z]*"' bench/search_cold.lua | tr -d '"'); do
  curl -fs -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$SEARCH_PORT/search?q=$word"
done | sort -n | awk '{ t[NR] = $1 * 1000 } END {
  i = int(NR * 0.99); if (i < 1) i = 1
  printf "%-22s %10s %9.2f %9.2f   (%d terms, max %.2f ms)\n", "new terms, 1 at a time", "-", t[int((NR + 1) / 2)], t[i], NR, t[NR] }'
