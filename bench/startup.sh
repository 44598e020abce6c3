#!/bin/bash
# Usage: bench/startup.sh BINARY [SEEDED_DATA_DIR]
# Start-up time: from exec to the first successful /healthz, on an empty
# data dir ("fresh": the demo site is created) and on the one it left
# ("existing"); with SEEDED_DATA_DIR (say 10,000 articles from the
# seed_articles example) also on that ("seeded"). Then the idle RSS of the
# demo site's server, two seconds after its start, and what it is made of.
BIN=$1
SEEDED=${2:-}
kinds="fresh existing"
[ -n "$SEEDED" ] && kinds="$kinds seeded"
for kind in $kinds; do
  dir=/tmp/oc-measure
  [ "$kind" = seeded ] && dir=$SEEDED
  for i in 1 2 3 4 5; do
    [ "$kind" = fresh ] && rm -rf /tmp/oc-measure
    start=$(date +%s%N)
    $BIN serve --data-dir "$dir" --bind 127.0.0.1:18099 >/dev/null 2>&1 &
    pid=$!
    until curl -sf http://127.0.0.1:18099/healthz >/dev/null; do sleep 0.002; done
    end=$(date +%s%N)
    echo "$kind run $i: $(( (end-start)/1000000 )) ms"
    if [ $i = 5 ] && [ "$kind" = existing ]; then
      sleep 2
      echo "idle RSS: $(grep VmRSS /proc/$pid/status)"
      # What it is made of: the heap and other private memory, and the
      # binary's pages mapped from the kernel's file cache (shared, clean).
      echo "idle RSS split: $(awk '/^RssAnon|^RssFile/ { printf "%s %s kB, ", $1, $2 }' /proc/$pid/status)cpu $(awk '{ print ($14 + $15) * 10 }' /proc/$pid/stat) ms"
    fi
    kill $pid; wait $pid 2>/dev/null
  done
done
rm -rf /tmp/oc-measure
